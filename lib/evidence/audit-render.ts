/**
 * The audit page's renderings (issue 11), below the host layer so that the evidence layer can
 * recompute them: `lib/host/html.ts` renders every output and Markdown cell of the notebook's copy
 * with these before nbconvert lays the page out, and `html-agreement.ts` renders each sealed output
 * again to hold the sealed page to the notebook.
 * - Markdown (outputs and cells) through `marked`, raw HTML escaped (backend text is hostile: a product
 *   title `<img src=x onerror=…>` shows as text), links followed only to http(s) or `#anchors`, images
 *   only from `data:` URLs;
 * - PNG and JPEG as `data:` URLs, SVG as a `data:` URL in an `<img>` (where it cannot run script);
 * - HTML, JavaScript or widgets from a kernel: not rendered (HTML is shown as escaped source);
 * - one representation per output, so each result is shown once.
 */
import { Marked, type Tokens } from "marked";

/** The line under the audit page's heading: what the auditor is reading (html-page.ts checks it is there). */
export const AUDIT_NOTE =
  "Audit export of the executed notebook: the code that ran and what it showed, each output once. Markdown is rendered with raw HTML shown as text; nothing on this page loads or runs.";

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

// ------------------------------------------------------------------------------ outputs

const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "");
const base64 = (v: unknown): string => text(v).replace(/[^A-Za-z0-9+/=]/g, "");

/** One HTML rendering of an output's bundle, chosen in the order the runbook's outputs use. */
export function renderBundle(data: Record<string, unknown>): string {
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
