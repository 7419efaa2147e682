/**
 * Markdown that can neither run nor load anything (issue 14 §2): the one escaping rule for every
 * piece of backend or operator text the runbook writes, in a notebook output (lib/notebook/sink.ts,
 * which also redacts) or in a file an auditor opens (report.md, the docs report and the comparison,
 * through the template engine's `{{value}}`). Raw HTML outside code spans is shown literally, and
 * links and images are limited to the web, in-page anchors and relative files. The runbook's own
 * HTML (the report's `<a id>` anchor and `<sub>`) is kept.
 */

/** Where a link or image may point: the web, an anchor in the page, or a file beside it. */
export function safeHref(href: string): boolean {
  const h = href.trim();
  // An entity before the first slash may spell a scheme once decoded (`javascript&colon;…`).
  if (/&[#\w]/.test(h.split("/")[0])) return false;
  if (/^https?:\/\//i.test(h)) return true;
  if (h.startsWith("#")) return true;
  // Relative file names (poll-latency.png): no scheme before the first slash, no protocol-relative //.
  return !h.startsWith("//") && !/^[^/?#]*:/.test(h);
}

/** The runbook's own tags, kept as they are; any other `<` is shown literally. */
const OWN_TAG = /^<(?:sub>|\/sub>|a id="[A-Za-z0-9_-]{1,80}"><\/a>|a id="[A-Za-z0-9_-]{1,80}">|\/a>)/;

/**
 * Splits Markdown into code spans (kept verbatim: nothing in them is HTML) and the text around
 * them (escaped). A run of n backticks opens a span that the next run of exactly n closes.
 */
function mapOutsideCode(md: string, f: (text: string) => string): string {
  let out = "";
  let at = 0;
  let textFrom = 0;
  while (at < md.length) {
    if (md[at] !== "`") {
      at++;
      continue;
    }
    let n = 1;
    while (md[at + n] === "`") n++;
    const fence = "`".repeat(n);
    // The closing run must be exactly n backticks long.
    let close = md.indexOf(fence, at + n);
    while (close >= 0 && (md[close + n] === "`" || md[close - 1] === "`")) {
      let end = close;
      while (md[end] === "`") end++;
      close = md.indexOf(fence, end);
    }
    if (close < 0) {
      at += n; // an unmatched run is literal text
      continue;
    }
    out += f(md.slice(textFrom, at)) + md.slice(at, close + n);
    at = close + n;
    textFrom = at;
  }
  return out + f(md.slice(textFrom));
}

/** `<` that is not one of the runbook's own tags, and not already backslash-escaped, becomes `&lt;`. */
function escapeRawHtml(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "<") {
      out += c;
      continue;
    }
    let slashes = 0;
    for (let j = i - 1; j >= 0 && text[j] === "\\"; j--) slashes++;
    const own = OWN_TAG.exec(text.slice(i, i + 100));
    if (slashes % 2 === 1) out += c;
    else if (own) {
      out += own[0];
      i += own[0].length - 1;
    } else out += "&lt;";
  }
  return out;
}

/** Inline links and images `[t](href)`, `![a](src)`, and reference definitions `[r]: href`. */
// A destination may hold balanced parentheses one deep, as CommonMark allows (`javascript:f(1)`).
const INLINE_LINK = /(!?)\[([^\]\n]*)\]\(\s*<?((?:[^()\s>]|\([^()\s>]*\))*)>?((?:\s+"[^"\n]*")?)\s*\)/g;
const REF_DEF = /^( {0,3}\[[^\]\n]+\]:\s*)<?(\S+?)>?(\s|$)/gm;

/** Links to anything but the web, an anchor or a file lose their target; images load only from files. */
function neutraliseLinks(text: string): string {
  return text
    .replace(INLINE_LINK, (m, bang: string, label: string, href: string) => {
      if (bang)
        return /^https?:/i.test(href) || !safeHref(href) ? `[image not loaded: ${label || "no description"}]` : m;
      return safeHref(href) ? m : `${label} (link removed: not a web address)`;
    })
    .replace(REF_DEF, (m, head: string, href: string, tail: string) =>
      safeHref(href) ? m : `${head}#link-removed${tail}`,
    );
}

/**
 * Markdown made inert: raw HTML escaped outside code spans, links and images checked. Idempotent.
 * @example inertMarkdown('Product <img src=x onerror=alert(1)>') // 'Product &lt;img src=x onerror=alert(1)>'
 */
export function inertMarkdown(md: string): string {
  return mapOutsideCode(md, (t) => neutraliseLinks(escapeRawHtml(t)));
}
