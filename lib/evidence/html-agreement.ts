/**
 * The HTML export says what the notebook says. The auditor opens `payment-e2e.html` first, and the
 * seal hashes it beside the notebook; so the archive (before the manifest) and `npm run verify` read
 * the page back and hold every cell, in order, to the sealed notebook's: its kind, a code cell's input
 * and outputs (held in turn to the kernel's copy, outputs.ts), a Markdown or raw cell's content; and
 * the page's frame to the template's (html-page.ts: head, stylesheet, markup, nothing outside the
 * cells), so that no CSS or markup hides or adds what the comparison does not see. An export made
 * from an older save, edited before a seal, or a notebook saved after its export, is named by cell
 * and first difference.
 *
 * What a cell shows is compared as text and image bytes, never as markup: each output's text (the
 * DOM's text nodes, as the page's parser reads them) and the SHA-256 of each `data:` image's bytes.
 * The notebook's side is rendered the way the page was made: display outputs by the audit page's own
 * renderer (`renderBundle`, the copy `lib/host/html.ts` hands nbconvert), streams and errors as
 * nbconvert writes them (HTML-escaped, ANSI codes removed by its `ansi2html` pattern), then parsed by
 * the same parser as the page. So hostile text (markup, `<script>`, ANSI escapes) is text on both
 * sides, and text that became markup on the page is a difference. Ends of each output's text are
 * trimmed (template whitespace); Debian's nbconvert 6 merges consecutive streams, so a cell matches
 * either form.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { escapeHtml, renderBundle, renderMarkdownSafe } from "./audit-render";
import { SESSION_HTML, SESSION_NOTEBOOK } from "./files";
import { type PageCell, type PageOutput, readPage, shownByFragment } from "./html-page";
import { quoted } from "./outcome-stated";
import { cellKeyOf, maskPayLink } from "./outputs";

export type { PageOutput };

interface NbOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  traceback?: string[];
}
interface NbCellLike {
  cell_type: string;
  source: string | string[];
  outputs?: NbOutput[];
}

const joined = (v: unknown): string => (Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "");

/** nbconvert's `ansi2html`: markupsafe's escaping, then every `ESC [ … final byte` removed (only colours are kept, as markup). */
const ANSI = /\x1b\[(.*?)([@-~])/g;
const markupsafeEscape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&#39;").replace(/"/g, "&#34;");
const asNbconvertText = (s: string): string => `<pre>${markupsafeEscape(s).replace(ANSI, "")}</pre>`;
/** Debian's nbconvert 6 merges consecutive streams and applies carriage-return overwrites. */
const CR_OVERWRITE = /.*\r(?=[^\n])/g;

/** A code cell's outputs as the audit page renders them; `merged`: streams as nbconvert 6 merges them. */
export function expectedOutputs(cell: NbCellLike, merged = false): PageOutput[] {
  const outs: NbOutput[] = [];
  for (const o of cell.outputs ?? []) {
    const last = outs[outs.length - 1];
    if (merged && o.output_type === "stream" && last?.output_type === "stream" && last.name === o.name)
      outs[outs.length - 1] = { ...last, text: joined(last.text) + joined(o.text) };
    else outs.push(o);
  }
  return outs.flatMap((o): PageOutput[] => {
    if (o.output_type === "stream") {
      if (o.name === "stdin") return [{ text: "", images: [] }]; // an empty output: nbconvert shows no stdin
      let t = joined(o.text);
      if (merged) t = t.replace(CR_OVERWRITE, "");
      return [shownByFragment(asNbconvertText(t))];
    }
    if (o.output_type === "error") return [shownByFragment(asNbconvertText((o.traceback ?? []).join("\n")))];
    if (o.output_type === "display_data" || o.output_type === "execute_result")
      return [shownByFragment(renderBundle(o.data ?? {}))];
    return [shownByFragment(`<pre>${escapeHtml(`[${o.output_type} output]`)}</pre>`)];
  });
}

/** The page's code cells (the template's `main > .jp-CodeCell`), each its outputs (`.jp-OutputArea-child`) in order. */
export function pageCodeCells(html: string): PageOutput[][] {
  return readPage(html)
    .cells.filter((c) => c.kind === "code")
    .map((c) => c.outputs);
}

/** What a cell other than its outputs shows, rendered as the page was made: a code cell's source (Pygments keeps its text), a Markdown cell by the audit renderer, a raw cell escaped. */
export function expectedShown(cell: NbCellLike): PageOutput {
  const source = joined(cell.source);
  if (cell.cell_type === "markdown") return shownByFragment(renderMarkdownSafe(source));
  return shownByFragment(`<pre>${escapeHtml(source)}</pre>`);
}

const KIND: Record<string, PageCell["kind"]> = { code: "code", markdown: "markdown", raw: "raw" };
const KIND_NAME: Record<PageCell["kind"], string> = {
  code: "code",
  markdown: "Markdown",
  raw: "raw",
  other: "non-cell",
};
/** An extended-colour escape (256 colours or RGB): the only text nbconvert writes a style attribute for. */
const EXTENDED_COLOUR = /\x1b\[[\d;]*[34]8;/;

/** A value for a one-line message: 80 characters from 30 before `at`, JSON-quoted, invisible and bidi controls shown. */
function excerpt(s: string, at: number): string {
  const from = Math.max(0, at - 30);
  return `${from > 0 ? "…" : ""}${quoted(s.slice(from, from + 80), 80)}${from + 80 < s.length ? "…" : ""}`;
}

/** The first difference between two outputs in words, or null when they show the same. */
function outputDifference(page: PageOutput, nb: PageOutput): string | null {
  if (page.text !== nb.text) {
    let i = 0;
    while (i < page.text.length && i < nb.text.length && page.text[i] === nb.text[i]) i++;
    return `at character ${i + 1} the HTML shows ${excerpt(page.text, i)}, the notebook ${excerpt(nb.text, i)}`;
  }
  if (page.shape !== undefined && nb.shape !== undefined && page.shape !== nb.shape) {
    let i = 0;
    while (i < page.shape.length && page.shape[i] === nb.shape[i]) i++;
    return `the HTML lays the same text out in other elements (${excerpt(page.shape, i)}, the notebook's rendering ${excerpt(nb.shape, i)})`;
  }
  if (page.images.join() !== nb.images.join())
    return `the HTML shows ${page.images.length} image(s) (sha256 ${page.images.map((h) => h.slice(0, 12)).join(", ") || "none"}), the notebook ${nb.images.length} (sha256 ${nb.images.map((h) => h.slice(0, 12)).join(", ") || "none"})`;
  return null;
}

function cellDifference(page: PageOutput[], nb: PageOutput[]): string | null {
  for (let i = 0; i < Math.min(page.length, nb.length); i++) {
    const d = outputDifference(page[i], nb[i]);
    if (d) return `output ${i + 1} of ${nb.length}: ${d}`;
  }
  if (page.length !== nb.length) return `the HTML shows ${page.length} output(s), the notebook ${nb.length}`;
  return null;
}

/**
 * Null when the page is the template's frame around the notebook's cells and shows, cell by cell, what
 * the notebook shows (each cell's kind in order, each code cell's input and outputs, each Markdown and
 * raw cell); else the first difference in one line, naming the cell (code cells by their position
 * among code cells and the call they make). Pay links are masked on both sides first (the archive
 * masks the notebook's before it exports).
 */
export function htmlDisagreement(html: string, nb: { cells: NbCellLike[] }): string | null {
  const all = (nb.cells ?? []).map((c) => JSON.parse(maskPayLink(JSON.stringify(c))) as NbCellLike);
  const page = readPage(maskPayLink(html));
  if (page.problem)
    return `${SESSION_HTML} is not the audit template's page around ${SESSION_NOTEBOOK}: ${page.problem}`;
  const codes = all.filter((c) => c.cell_type === "code");
  const pageCodes = page.cells.filter((c) => c.kind === "code");
  if (pageCodes.length !== codes.length)
    return `${SESSION_HTML} shows ${pageCodes.length} code cell(s), ${SESSION_NOTEBOOK} has ${codes.length}`;
  if (page.cells.length !== all.length)
    return `${SESSION_HTML} shows ${page.cells.length} cell(s), ${SESSION_NOTEBOOK} has ${all.length}`;
  let code = 0;
  for (let i = 0; i < all.length; i++) {
    const cell = all[i];
    const shown = page.cells[i];
    const isCode = cell.cell_type === "code";
    if (isCode) code++;
    const key = isCode ? cellKeyOf(joined(cell.source)) : null;
    const name = isCode
      ? `code cell ${code}${key ? ` (${key})` : ""}`
      : `cell ${i + 1} (${KIND_NAME[KIND[cell.cell_type] ?? "other"]})`;
    const at = `${SESSION_HTML} disagrees with ${SESSION_NOTEBOOK} at ${name}`;
    if (shown.kind !== (KIND[cell.cell_type] ?? "other"))
      return `${at}: the HTML shows a ${KIND_NAME[shown.kind]} cell there (cells missing, added or reordered)`;
    const d = outputDifference(shown.shown, expectedShown(cell));
    if (d) return `${at}, its ${isCode ? "input" : "text"}: ${d}`;
    if (!isCode) continue;
    const first = outputsDifference(shown, cell);
    if (first) return `${at}, ${first}`;
  }
  return page.stray && `${SESSION_HTML} is not the audit template's page around ${SESSION_NOTEBOOK}: ${page.stray}`;
}

/** A code cell's outputs against the page's: the plain or (nbconvert 6) merged form; colour styles only where the notebook has such a colour. */
function outputsDifference(shown: PageCell, cell: NbCellLike): string | null {
  const plain = expectedOutputs(cell);
  const d = cellDifference(shown.outputs, plain);
  let form: "plain" | "merged" = "plain";
  let first = d;
  if (d) {
    // nbconvert 6 merges consecutive streams: the cell agrees when it matches that form (and its
    // difference is the one named when the page has that form's number of outputs).
    const merged = expectedOutputs(cell, true);
    const dm = cellDifference(shown.outputs, merged);
    if (dm) return merged.length === shown.outputs.length && plain.length !== shown.outputs.length ? dm : d;
    form = "merged";
    first = null;
  }
  const texts = outputTexts(cell, form === "merged");
  for (const i of shown.styled)
    if (!EXTENDED_COLOUR.test(texts[i] ?? ""))
      return `output ${i + 1} of ${texts.length}: the HTML colours its text with a style the notebook's text has no escape for (text can be coloured as the background)`;
  return first;
}

/** Each output's raw text (streams and tracebacks), in the plain or merged form. */
function outputTexts(cell: NbCellLike, merged: boolean): string[] {
  const out: string[] = [];
  let last: NbOutput | undefined;
  for (const o of cell.outputs ?? []) {
    const t =
      o.output_type === "stream" ? joined(o.text) : o.output_type === "error" ? (o.traceback ?? []).join("\n") : "";
    if (merged && o.output_type === "stream" && last?.output_type === "stream" && last.name === o.name)
      out[out.length - 1] += t;
    else out.push(t);
    last = o;
  }
  return out;
}

/**
 * The session folder's page against its notebook; null when either is absent or they agree. A page
 * beside a notebook that is not one (not JSON, no cells) shows what no notebook of the folder shows.
 */
export function htmlAgreement(dir: string): string | null {
  const htmlFile = path.join(dir, SESSION_HTML);
  const nbFile = path.join(dir, SESSION_NOTEBOOK);
  if (!fs.existsSync(htmlFile) || !fs.existsSync(nbFile)) return null;
  let nb: { cells: NbCellLike[] } | null = null;
  try {
    nb = JSON.parse(fs.readFileSync(nbFile, "utf8"));
  } catch {
    nb = null;
  }
  if (!Array.isArray(nb?.cells))
    return `${SESSION_NOTEBOOK} is not a readable notebook (not JSON, or no cells): ${SESSION_HTML} cannot be its export`;
  try {
    return htmlDisagreement(fs.readFileSync(htmlFile, "utf8"), nb as { cells: NbCellLike[] });
  } catch (err) {
    // A cell or output of an unexpected shape: never read as agreement.
    return `${SESSION_HTML} cannot be compared with ${SESSION_NOTEBOOK}: ${err instanceof Error ? err.message : String(err)}`;
  }
}
