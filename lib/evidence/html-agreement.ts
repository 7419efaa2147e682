/**
 * The HTML export says what the notebook says. The auditor opens `payment-e2e.html` first, and the
 * seal hashes it beside the notebook; so the archive (before the manifest) and `npm run verify` read
 * the page back and hold each code cell's outputs, in order, to the sealed notebook's (which are held
 * to the kernel's copy, outputs.ts). An export made from an older save, edited before a seal, or a
 * notebook saved after its export, is named by cell and first difference.
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
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as LinkedomModule from "linkedom";
import { escapeHtml, renderBundle } from "./audit-render";
import { SESSION_HTML, SESSION_NOTEBOOK } from "./files";
import { quoted } from "./outcome-stated";
import { cellKeyOf, maskPayLink } from "./outputs";

/** One output as a page shows it: its text and its images' SHA-256, in document order. */
export interface PageOutput {
  text: string;
  images: string[];
}

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

/** Structural DOM types: lib/ is also compiled by tslab without DOM types (as lib/plot/document.ts). */
interface DomNode {
  nodeType: number;
  childNodes: ArrayLike<DomNode>;
}
interface DomElement extends DomNode {
  tagName: string;
  children: ArrayLike<DomElement>;
  classList: { contains(name: string): boolean };
  parentElement: DomElement | null;
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
}
interface DomDocument {
  body: DomElement | null;
  querySelector(selector: string): DomElement | null;
}

let linkedom: typeof LinkedomModule | undefined;
/** Parsed lazily (as lib/plot/document.ts does): linkedom costs ~200 ms to load. */
function parse(html: string): DomDocument {
  linkedom ??= require("linkedom") as typeof LinkedomModule;
  return linkedom.parseHTML(html).document as unknown as DomDocument;
}

/** The bytes of a `data:` URL (base64 or percent-encoded), hashed; a URL that is not `data:` is hashed as text. */
function imageHash(src: string): string {
  const m = /^data:([^,]*),(.*)$/s.exec(src.trim());
  let bytes: Buffer;
  if (!m) bytes = Buffer.from(`not a data: URL ${src}`);
  else if (/;base64$/i.test(m[1])) bytes = Buffer.from(m[2].replace(/\s/g, ""), "base64");
  else {
    try {
      bytes = Buffer.from(decodeURIComponent(m[2]));
    } catch {
      bytes = Buffer.from(m[2]);
    }
  }
  return crypto.createHash("sha256").update(bytes).digest("hex");
}

/** What an element shows: its text nodes in order (script and style text included: on a page they are a difference) and its images. */
function shownBy(el: DomElement): PageOutput {
  const texts: string[] = [];
  const images: string[] = [];
  const walk = (n: DomNode): void => {
    if (n.nodeType === 3) texts.push((n as DomNode & { data: string }).data);
    else if (n.nodeType === 1) {
      const e = n as DomElement;
      if (e.tagName.toLowerCase() === "img") images.push(imageHash(e.getAttribute("src") ?? ""));
      for (const c of Array.from(e.childNodes)) walk(c);
    }
  };
  walk(el);
  return { text: texts.join("").trim(), images };
}

/** What a fragment of HTML shows, read by the page's parser. */
function shownByFragment(html: string): PageOutput {
  const doc = parse(`<!DOCTYPE html><html><body><div>${html}</div></body></html>`);
  return shownBy(doc.querySelector("body > div") as DomElement);
}

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
  const doc = parse(html);
  const main = doc.querySelector("main") ?? doc.body;
  if (!main) return [];
  return Array.from(main.children)
    .filter((c) => c.classList.contains("jp-CodeCell"))
    .map((cell) =>
      Array.from(cell.querySelectorAll(".jp-OutputArea-child"))
        .filter((child) => child.parentElement?.classList.contains("jp-OutputArea"))
        .map(shownBy),
    );
}

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
 * Null when the page shows, cell by cell, what the notebook shows; else the first difference in one
 * line, naming the code cell (its position and the call it makes) and the output. Pay links are masked
 * on both sides first (the archive masks the notebook's before it exports).
 */
export function htmlDisagreement(html: string, nb: { cells: NbCellLike[] }): string | null {
  const cells = (nb.cells ?? []).filter((c) => c.cell_type === "code");
  const page = pageCodeCells(maskPayLink(html));
  if (page.length !== cells.length)
    return `${SESSION_HTML} shows ${page.length} code cell(s), ${SESSION_NOTEBOOK} has ${cells.length}`;
  for (let i = 0; i < cells.length; i++) {
    const masked = {
      ...cells[i],
      outputs: (cells[i].outputs ?? []).map((o) => JSON.parse(maskPayLink(JSON.stringify(o))) as NbOutput),
    };
    const plain = expectedOutputs(masked);
    const d = cellDifference(page[i], plain);
    if (!d) continue;
    // nbconvert 6 merges consecutive streams: the cell agrees when it matches that form (and its
    // difference is the one named when the page has that form's number of outputs).
    const merged = expectedOutputs(masked, true);
    const dm = cellDifference(page[i], merged);
    if (!dm) continue;
    const first = merged.length === page[i].length && plain.length !== page[i].length ? dm : d;
    const key = cellKeyOf(joined(cells[i].source));
    return `${SESSION_HTML} disagrees with ${SESSION_NOTEBOOK} at code cell ${i + 1}${key ? ` (${key})` : ""}, ${first}`;
  }
  return null;
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
