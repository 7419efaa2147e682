/**
 * Untrusted text is text (issue 14 §2, issue 25 §2). Backend and operator text (a product title, a
 * refund error, OPERATOR_NOTES, an id) reaches a notebook output, report.md or the living report
 * only through `inertText` (or `inertCode` for a code span): every character that could start or
 * close a Markdown, GFM or HTML construct is backslash-escaped, so no tag, link, image, autolink,
 * entity, code span, emphasis, heading, list, table cell or math can form from it at all. A
 * backslash escape renders as the plain character, so a reader sees the text as it was sent.
 * JupyterLab renders a live kernel's Markdown outputs as trusted (raw HTML is not sanitised away),
 * which is why no parser-like rule is tried here: nothing in the text is interpreted. A character no
 * reader sees as itself (a terminal escape, which `cat report.md` would obey; a bidi override; a
 * zero-width character) is written as its `\uXXXX` escape (`shownControls`, lib/evidence/outcome-stated.ts).
 *
 * `inertMarkdown` is the backstop on whole Markdown the runbook composed (lib/notebook/sink.ts):
 * it lexes it with `marked` and, if any raw HTML other than the runbook's own anchor, `<sub>` and
 * marker comments, or any link or image outside the web, anchors and relative files is found,
 * shows the whole output as a fenced block (plain text) instead. It never fires when untrusted
 * parts went through `inertText`; it fails closed when one did not.
 */
import { Marked, type Token } from "marked";
import { shownControls } from "../evidence/outcome-stated";

/** Where a link or image may point: the web, an anchor in the page, or a file beside it. */
export function safeHref(href: string): boolean {
  const h = href.trim();
  // An entity before the first slash may spell a scheme once decoded (`javascript&colon;…`).
  if (/&[#\w]/.test(h.split("/")[0])) return false;
  if (/^https?:\/\//i.test(h)) return true;
  if (h.startsWith("#")) return true;
  // Relative file names (poll-latency.png): no scheme before the first slash, no protocol-relative //,
  // no control character or percent-encoding before it either.
  return !h.startsWith("//") && !/^[^/?#]*[:%\\\u0000-\u001f]/.test(h);
}

/**
 * Always escaped: backslash, code spans and fences (`` ` ``, `~`), emphasis (`*`), links, images and
 * footnotes (`[`, `]`, `!`), HTML, autolinks and quotes (`<`, `>`), entities (`&`), table cells (`|`),
 * JupyterLab math (`$`, `{`, `}`), e-mail autolinks (`@`). `_` is escaped unless inside a word, where
 * it can never open or close emphasis (`ord_123` stays readable).
 */
const ALWAYS = /[\\`~*[\]!<>&|${}@]|(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/gu;
/** GFM's bare autolinks: `scheme://` (the colon) and `www.` (the dot). */
const AUTOLINK = /:(?=\/\/)|(?<=\bwww)\./gi;
/** A line's first characters that could open a block: heading, list, quote, rule, setext line. */
const LINE_START = /^([ \t]*)(?:([#+=-])|(\d{1,9})([.)]))/;

function escapeLine(line: string, atLineStart: boolean): string {
  let s = line.replace(ALWAYS, "\\$&").replace(AUTOLINK, "\\$&");
  if (atLineStart) {
    // Leading blanks would make an indented code block; they carry nothing a reader needs.
    s = s
      .replace(/^[ \t]+/, "")
      .replace(LINE_START, (_m, _sp, mark?: string, num?: string, dot?: string) =>
        mark ? `\\${mark}` : `${num}\\${dot}`,
      );
  }
  return s;
}

/**
 * Untrusted text as Markdown that renders exactly as that text, inert in Markdown and in HTML.
 * Line breaks become spaces (it may sit in a table cell or mid-line). With `lines`, it is meant to
 * start a line (a list item, its own paragraph): each line is also guarded against opening a block,
 * blank lines are dropped and the lines are kept apart with hard line breaks (operator notes).
 * @example inertText("<img src=x onerror=alert(1)>") // "\\<img src=x onerror=alert(1)\\>"
 */
export function inertText(text: string, o: { lines?: boolean } = {}): string {
  const s = shownControls(String(text).replace(/\u0000/g, "\uFFFD"));
  if (!o.lines) return escapeLine(s.replace(/\s*(?:\r\n|\r|\n)\s*/g, " "), false);
  return s
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => escapeLine(l, true))
    .join("\\\n");
}

/** The longest run of backticks in `s`. */
const longestTicks = (s: string) => Math.max(0, ...(s.match(/`+/g) ?? []).map((r) => r.length));

/**
 * Untrusted text as a code span (an id, a path): fenced by more backticks than any run inside, so
 * it cannot close early; nothing in a code span is HTML. Line breaks become spaces.
 * @example inertCode("a`b") // "`` a`b ``"
 */
export function inertCode(text: string): string {
  const s = shownControls(String(text).replace(/\s*(?:\r\n|\r|\n)\s*/g, " "));
  const fence = "`".repeat(longestTicks(s) + 1);
  const pad = s.startsWith("`") || s.endsWith("`") || /^ .* $/.test(s) ? " " : "";
  return `${fence}${pad}${s}${pad}${fence}`;
}

/**
 * Untrusted text in a GFM table cell, as a code span where that is safe. GFM splits a row at each
 * `|` behind an even run of backslashes before it reads code spans, so in a code span `a\|<img …>`
 * (the `\|` an escape) still ends the cell and what follows is raw HTML. Text with a `|` in it is
 * therefore shown as escaped text (`inertText`, which escapes every backslash and pipe), else as code.
 * @example inertCodeCell("ord_1") // "`ord_1`"; inertCodeCell("a\\|b") // "a\\\\\\|b"
 */
export function inertCodeCell(text: string): string {
  const s = shownControls(String(text).replace(/\s*(?:\r\n|\r|\n)\s*/g, " "));
  return s.includes("|") ? inertText(s) : inertCode(s);
}

/**
 * A sentence the runbook composed around untrusted text (an action item, a box's evidence): the
 * runbook writes commands in backticks, so each `…` span becomes an `inertCode` span and the rest
 * `inertText`. Whatever the text holds, the result is inert; a backtick pair inside untrusted text
 * shows as code rather than as backticks.
 * @example inertSentence("run `npm run verify` <b>") // "run `npm run verify` \\<b\\>"
 */
export function inertSentence(text: string): string {
  let out = "";
  let at = 0;
  for (const m of String(text).matchAll(/`([^`\n]+)`/g)) {
    const from = m.index ?? 0;
    out += inertText(text.slice(at, from)) + inertCode(m[1]);
    at = from + m[0].length;
  }
  return out + inertText(text.slice(at));
}

/** Text shown as a fenced block, its fence longer than any run of backticks inside. */
export function fencedBlock(text: string): string {
  const fence = "`".repeat(Math.max(3, longestTicks(text) + 1));
  return `${fence}text\n${text.replace(/\n+$/, "")}\n${fence}`;
}

// ------------------------------------------------------------------------------ the backstop

/** The runbook's own HTML: the session block's anchor, `<sub>` lines, and its marker comments. */
const OWN_HTML =
  /^(?:<sub>|<\/sub>|<a id="[\w-]{1,80}">|<\/a>|<a id="[\w-]{1,80}"><\/a>|<!--\s*\/?(?:session|sessions|notes):[\w:-]*\s*-->)$/;

const lexer = new Marked({ gfm: true });

/** What in the Markdown is not the runbook's own: raw HTML, links or images that leave the page. */
export function markdownProblems(md: string): string[] {
  const out: string[] = [];
  lexer.walkTokens(lexer.lexer(md), (t: Token) => {
    if (t.type === "html") {
      for (const line of t.raw.split("\n").map((l) => l.trim()))
        if (line && !OWN_HTML.test(line)) out.push(`raw HTML ${JSON.stringify(line.slice(0, 60))}`);
    } else if (t.type === "link" && !safeHref(t.href)) out.push(`link to ${JSON.stringify(t.href.slice(0, 60))}`);
    else if (t.type === "image" && (!safeHref(t.href) || /^https?:/i.test(t.href)))
      out.push(`image from ${JSON.stringify(t.href.slice(0, 60))}`);
  });
  return out;
}

/**
 * The runbook's Markdown as is when nothing in it can run or load; otherwise the whole of it as a
 * fenced block (a missed `inertText` shows as plain text, never as HTML).
 * @example inertMarkdown("**Amount:** 5.00 EUR") // unchanged
 */
export function inertMarkdown(md: string): string {
  return markdownProblems(md).length ? fencedBlock(md) : md;
}
