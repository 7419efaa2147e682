/**
 * The one door between the runbook and the notebook's outputs (issue 14 §1–2). Every string the
 * notebook shows passes `safeMarkdown`: it is redacted as a whole (a reason, a banner, a fact, the
 * report: nothing can be shown unmasked by forgetting a call), raw HTML is escaped (outputs made
 * by the running kernel are trusted by JupyterLab, so a product title `<img onerror=…>` would run
 * in the operator's browser), and links and images are limited to http(s), in-page anchors and
 * relative files. The runbook's own HTML (the report's `<a id>` anchor and `<sub>`) is kept.
 *
 * The single exception is the checkout link of step 4, which must carry its client secret to be
 * paid: `link()` shows it unmasked, after checking it is an http(s) URL, in an output that the paid
 * cell overwrites with a redacted copy (and that the archive checks at seal time).
 */
import { redactString } from "../evidence/redact";
import { type SecretRegistry, secrets } from "../evidence/secrets";
import { safeHref, type Sink } from "../report/display";

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
const INLINE_LINK = /(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?((?:\s+"[^"\n]*")?)\s*\)/g;
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
 * Markdown made safe to show: redacted, raw HTML escaped outside code spans, links checked.
 * @example safeMarkdown('Product <img src=x onerror=alert(1)>') // 'Product &lt;img src=x onerror=alert(1)>'
 */
export function safeMarkdown(md: string, registry: SecretRegistry = secrets): string {
  return mapOutsideCode(redactString(md, registry), (t) => neutraliseLinks(escapeRawHtml(t)));
}

/** A sink that can also show the checkout link unmasked (the only unredacted output). */
export interface GuardedSink extends Sink {
  /** `[label](url)` with the URL as is: refused (shown as text) unless it is http(s). */
  link(label: string, url: string, after?: string): void;
}

/**
 * Wraps a tslab display: Markdown and text through `safeMarkdown`; HTML and SVG from the runbook are
 * shown as escaped text (the runbook shows Markdown and PNG only); PNG as is.
 */
export function guardSink(inner: Sink, registry: SecretRegistry = secrets): GuardedSink {
  return {
    markdown: (s) => inner.markdown(safeMarkdown(s, registry)),
    text: (s) => inner.text(redactString(s, registry)),
    html: (s) => inner.text(redactString(s, registry)),
    svg: (s) => inner.text(redactString(s, registry)),
    png: (b) => inner.png(b),
    link: (label, url, after = "") => {
      let ok = false;
      try {
        ok = ["https:", "http:"].includes(new URL(url).protocol);
      } catch {
        ok = false;
      }
      const tail = safeMarkdown(after, registry);
      if (!ok) {
        inner.markdown(
          `${safeMarkdown(label, registry)} (the checkout link is not a web address and is not shown)${tail}`,
        );
        return;
      }
      // Parentheses, spaces and angle brackets would end the Markdown link early: percent-encode them.
      const href = url.replace(/[()\s<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
      inner.markdown(`[${safeMarkdown(label, registry).replace(/[[\]]/g, "\\$&")}](${href})${tail}`);
    },
  };
}
