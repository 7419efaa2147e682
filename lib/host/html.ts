/**
 * The HTML an auditor reads (issue 11). nbconvert lays the cells out (inputs highlighted, outputs in
 * order) with the project's template, `templates/nbconvert/audit`; but every output and every
 * Markdown cell is rendered here first, on a copy of the notebook, so what reaches the page is HTML
 * this project wrote (`lib/evidence/audit-render.ts`: Markdown with raw HTML escaped, links only to
 * http(s), images only `data:`, one representation per output; the evidence layer renders the sealed
 * outputs again with it to hold the sealed page to the notebook, `lib/evidence/html-agreement.ts`).
 * Why not nbconvert's own Markdown: Debian's nbconvert 6 writes text/markdown outputs out raw (one
 * paragraph of pipes and hashes), nbconvert 7 renders them but passes raw HTML through.
 * The page then must pass `selfContainedProblems`: nothing on it may load or run.
 */
import { AUDIT_NOTE, escapeHtml, normalisedHref, renderBundle, renderMarkdownSafe } from "../evidence/audit-render";
import type { NbCell, Notebook } from "./nbfile";

export { AUDIT_NOTE, escapeHtml, normalisedHref, renderMarkdownSafe };

/** The page's Content-Security-Policy: nothing loads but `data:` images, nothing runs. Also in the template. */
export const AUDIT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/** Metadata key that tells the template a cell or output was rendered here (anything else is escaped). */
export const AUDIT_MARK = "payment_e2e_audit";

type Output = NonNullable<NbCell["outputs"]>[number];

const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "");

function auditOutput(o: Output): Output {
  if (o.output_type !== "display_data" && o.output_type !== "execute_result") return o;
  return {
    ...o,
    data: { "text/html": renderBundle(o.data ?? {}) },
    metadata: { [AUDIT_MARK]: true },
  };
}

export interface AuditOptions {
  /** Page title and heading, e.g. `payment-e2e.ipynb — session 20261129T004015Z-sandbox`. */
  title: string;
  /** One line under the heading. */
  note?: string;
}

/**
 * The copy nbconvert exports: each display output reduced to one HTML rendering made here, each
 * Markdown cell rendered here, both marked for the template; code inputs, streams and errors kept
 * (nbconvert highlights and escapes them). The notebook itself is never changed.
 */
export function auditCopy(nb: Notebook, opts: AuditOptions): Notebook {
  const cells = nb.cells.map((c): NbCell => {
    if (c.cell_type === "markdown")
      return {
        ...c,
        source: renderMarkdownSafe(text(c.source)),
        metadata: { ...c.metadata, [AUDIT_MARK]: true },
      };
    if (c.cell_type === "code") return { ...c, outputs: (c.outputs ?? []).map(auditOutput) };
    return c;
  });
  return {
    ...nb,
    cells,
    metadata: { ...nb.metadata, [AUDIT_MARK]: { title: opts.title, note: opts.note ?? "" } },
  };
}

// ------------------------------------------------------------------------------ the check

/** Attributes whose value is fetched by the browser: only `data:` is allowed. */
const LOADING_ATTRS = new Set(["src", "srcset", "poster", "background", "data", "action", "formaction", "ping"]);
/** Elements that load, embed, run or redirect. */
const FORBIDDEN_TAGS = new Set([
  "script",
  "link",
  "iframe",
  "frame",
  "frameset",
  "object",
  "embed",
  "applet",
  "base",
  "form",
  "portal",
  "video",
  "audio",
  "source",
  "track",
  "svg",
  "math",
  "template",
]);
const TAG = /<([a-zA-Z][\w:-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/g;
const ATTR = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

/**
 * Line numbers for offsets met in increasing order, counting only the text since the last one: a
 * page has about a thousand tags, and counting from the start for each was quadratic (about 0.1 s
 * of the archive on a 150 kB page, bench P1).
 */
function lineCounter(html: string): (i: number) => number {
  let at = 0;
  let line = 1;
  return (i) => {
    if (i < at) {
      at = 0;
      line = 1;
    }
    for (let j = html.indexOf("\n", at); j !== -1 && j < i; j = html.indexOf("\n", j + 1)) line++;
    at = i;
    return line;
  };
}

function cssProblems(css: string, where: string): string[] {
  const out: string[] = [];
  if (/@import/i.test(css)) out.push(`${where}: a CSS @import`);
  for (const m of css.matchAll(/url\(\s*(['"]?)([^'")]*)/gi))
    if (!/^data:/i.test(m[2].trim())) out.push(`${where}: CSS url(${m[2].slice(0, 60)})`);
  return out;
}

/**
 * Why a page is not self-contained, or [] when nothing on it can load or run: no script, link, frame,
 * object or form element, no event handler, no fetched attribute but `data:`, links only to http(s) or
 * `#anchors`, CSS without @import or url() but `data:`, and the audit Content-Security-Policy in place.
 * Text is never inspected: escaped hostile text is fine.
 */
export function selfContainedProblems(html: string): string[] {
  const out: string[] = [];
  const csp: string[] = [];
  let lineAt = lineCounter(html);
  for (const m of html.matchAll(TAG)) {
    const tag = m[1].toLowerCase();
    const at = `line ${lineAt(m.index ?? 0)}`;
    if (FORBIDDEN_TAGS.has(tag)) out.push(`${at}: a <${tag}> element`);
    const attrs = [...m[2].matchAll(ATTR)].map((a) => [a[1].toLowerCase(), (a[2] ?? a[3] ?? a[4] ?? "").trim()]);
    const equiv = attrs.find(([n]) => n === "http-equiv")?.[1].toLowerCase();
    if (tag === "meta" && equiv === "content-security-policy")
      csp.push(attrs.find(([n]) => n === "content")?.[1] ?? "");
    else if (tag === "meta" && equiv) out.push(`${at}: a meta http-equiv="${equiv}"`);
    for (const [name, value] of attrs) {
      if (name.startsWith("on")) out.push(`${at}: an event handler ${name}= on <${tag}>`);
      else if (name === "style") out.push(...cssProblems(value, `${at} <${tag} style>`));
      else if (LOADING_ATTRS.has(name) && !/^data:/i.test(value))
        out.push(`${at}: <${tag} ${name}="${value.slice(0, 60)}"> loads a file or the network`);
      else if ((name === "href" || name === "xlink:href") && !(tag === "a" && normalisedHref(value) !== null))
        out.push(`${at}: <${tag} ${name}="${value.slice(0, 60)}">`);
    }
  }
  lineAt = lineCounter(html);
  for (const m of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/gi))
    out.push(...cssProblems(m[1], `line ${lineAt(m.index ?? 0)} <style>`));
  if (csp.length !== 1 || csp[0] !== AUDIT_CSP)
    out.push(`the page needs one Content-Security-Policy meta "${AUDIT_CSP}" (found ${csp.length})`);
  return out;
}
