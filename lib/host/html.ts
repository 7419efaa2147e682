/**
 * The HTML an auditor reads (issue 11). nbconvert lays the cells out (inputs highlighted, outputs in
 * order) with the project's template, `templates/nbconvert/audit`; but every output and every
 * Markdown cell is rendered here first, on a copy of the notebook, so what reaches the page is HTML
 * this module wrote:
 * - Markdown (outputs and cells) through `marked`, raw HTML escaped (backend text is hostile: a product
 *   title `<img src=x onerror=…>` shows as text), links followed only to http(s) or `#anchors`, images
 *   only from `data:` URLs;
 * - PNG and JPEG as `data:` URLs, SVG as a `data:` URL in an `<img>` (where it cannot run script);
 * - HTML, JavaScript or widgets from a kernel: not rendered (HTML is shown as escaped source);
 * - one representation per output, so each result is shown once.
 * Why not nbconvert's own Markdown: Debian's nbconvert 6 writes text/markdown outputs out raw (one
 * paragraph of pipes and hashes), nbconvert 7 renders them but passes raw HTML through.
 * The page then must pass `selfContainedProblems`: nothing on it may load or run.
 */
import { Marked, type Tokens } from "marked";
import type { NbCell, Notebook } from "./nbfile";

/** The page's Content-Security-Policy: nothing loads but `data:` images, nothing runs. Also in the template. */
export const AUDIT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/** The line under the page's heading: what the auditor is reading. */
export const AUDIT_NOTE =
  "Audit export of the executed notebook: the code that ran and what it showed, each output once. Markdown is rendered with raw HTML shown as text; nothing on this page loads or runs.";

/** Metadata key that tells the template a cell or output was rendered here (anything else is escaped). */
export const AUDIT_MARK = "payment_e2e_audit";

type Output = NonNullable<NbCell["outputs"]>[number];

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

// ------------------------------------------------------------------------------ Markdown

/**
 * The only raw HTML the runbook's own Markdown writes: the session block's anchor and `<sub>` lines
 * (lib/report). Harmless if a backend sends them too. Marker comments are dropped (invisible in
 * every Markdown viewer); any other comment is shown, so nothing a backend sends can hide text.
 */
const ALLOWED_TAG = /^(?:<sub>|<\/sub>|<a id="[\w-]+">|<\/a>|<a id="[\w-]+"><\/a>)$/;
const MARKER_COMMENT = /^<!--\s*\/?(?:session|sessions|notes):[^<>]*-->$/;

function rawHtml(text: string, block: boolean): string {
  const one = (s: string): { html: string; escaped: boolean } => {
    const t = s.trim();
    if (t === "" || MARKER_COMMENT.test(t)) return { html: "", escaped: false };
    if (ALLOWED_TAG.test(t)) return { html: t, escaped: false };
    return { html: escapeHtml(s), escaped: true };
  };
  if (!block) return one(text).html;
  const lines = text.replace(/\n+$/, "").split("\n").map(one);
  const html = lines
    .map((l) => l.html)
    .filter(Boolean)
    .join("\n");
  return lines.some((l) => l.escaped) ? `<div class="escaped-html">${html}</div>\n` : html ? `${html}\n` : "";
}

/** An http(s) URL (normalised, so it carries no quote or space) or an in-page `#anchor`; else null. */
export function normalisedHref(href: string): string | null {
  const h = href.trim();
  if (/^#[\w.:-]*$/.test(h)) return h;
  try {
    const u = new URL(h);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

const DATA_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/;

/** Escapes text the way Markdown shows it: an entity the author wrote (`&amp;`) stays an entity. */
const escapeText = (s: string): string =>
  s
    .replace(/&(?!#?\w+;)/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");

/**
 * Runs of 30+ characters without a space (hashes, paths, JSON facts) may break anywhere; words and ids
 * keep their width. So a table shrinks the columns holding long runs to fit the page, not the short ones.
 */
const LONG_RUN = /\S{30,}/g;
const breakable = (escaped: string): string => escaped.replace(LONG_RUN, (m) => `<span class="brk">${m}</span>`);

interface Inline {
  parser: { parseInline(tokens: Tokens.Generic[]): string };
}

const marked = new Marked({
  gfm: true,
  renderer: {
    html: ({ text, block }: Tokens.HTML | Tokens.Tag) => rawHtml(text, Boolean(block)),
    text(this: Inline, token: Tokens.Text | Tokens.Escape) {
      if ("tokens" in token && token.tokens) return this.parser.parseInline(token.tokens);
      return breakable("escaped" in token && token.escaped ? token.text : escapeText(token.text));
    },
    codespan: ({ text }: Tokens.Codespan) =>
      text.length >= 30 ? `<code class="brk">${escapeText(text)}</code>` : `<code>${escapeText(text)}</code>`,
    link(this: Inline, { href, tokens, text, autolink }: Tokens.Link) {
      const shown = autolink ? breakable(escapeText(text)) : this.parser.parseInline(tokens);
      const safe = normalisedHref(href);
      if (safe) return `<a href="${escapeHtml(safe)}" rel="noopener noreferrer nofollow">${shown}</a>`;
      // An address written as text (autolinked `mailto:`) stays text; a written link says where it pointed.
      return autolink ? shown : `${shown} <span class="neutralised">(link not followed: ${escapeHtml(href)})</span>`;
    },
    image: ({ href, text }: Tokens.Image) =>
      DATA_IMAGE.test(href)
        ? `<img src="${href}" alt="${escapeHtml(text)}">`
        : `<span class="neutralised">[image not loaded: ${escapeHtml(text || "no description")} — ${escapeHtml(href)}]</span>`,
  },
});

/**
 * Markdown to HTML for the audit page: GFM, raw HTML escaped (but the runbook's anchor and `<sub>`),
 * links only to http(s) or `#anchors`, images only from `data:` URLs.
 * @example renderMarkdownSafe("| a |\n| - |\n| <script>x</script> |") // the script shows as text
 */
export function renderMarkdownSafe(md: string): string {
  return marked.parse(md, { async: false }) as string;
}

// ------------------------------------------------------------------------------ the notebook copy

const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "");
const base64 = (v: unknown): string => text(v).replace(/[^A-Za-z0-9+/=]/g, "");

/** One HTML rendering of an output's bundle, chosen in the order the runbook's outputs use. */
function renderBundle(data: Record<string, unknown>): string {
  if ("text/markdown" in data) return renderMarkdownSafe(text(data["text/markdown"]));
  for (const [mime, label] of [
    ["image/png", "PNG"],
    ["image/jpeg", "JPEG"],
  ] as const)
    if (mime in data) return `<img alt="${label} output" src="data:${mime};base64,${base64(data[mime])}">`;
  if ("image/svg+xml" in data)
    return `<img alt="SVG output" src="data:image/svg+xml;base64,${Buffer.from(text(data["image/svg+xml"])).toString("base64")}">`;
  if ("text/plain" in data) return `<pre>${escapeHtml(text(data["text/plain"]))}</pre>`;
  if ("text/html" in data)
    return `<p class="omitted">HTML output, shown as source (not rendered in this export):</p><pre class="escaped">${escapeHtml(text(data["text/html"]))}</pre>`;
  const kinds = Object.keys(data);
  return `<p class="omitted">[${escapeHtml(kinds.join(", ") || "empty")} output not shown: nothing runs in this export]</p>`;
}

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
