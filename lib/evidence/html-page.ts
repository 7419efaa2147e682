/**
 * What the sealed audit page shows, read back (html-agreement.ts holds it to the notebook): the page's
 * frame must be exactly what the project's template (`templates/nbconvert/audit`) makes, so that
 * nothing on it can show, hide or reorder text that the cell-by-cell comparison does not see.
 * - the head: the template's metas, a title, and one `<style>` whose text is one of the project's own
 *   stylesheets (`KNOWN_STYLESHEETS`, the SHA-256 of each version of audit.css, ends trimmed);
 * - the body: the template's header (heading = title, note = AUDIT_NOTE and what the archive adds)
 *   and `<main>` holding only cells (`.jp-Cell`), one per notebook cell, in order;
 * - every text node and image is inside a compared part (header, a Markdown cell's rendering, a code
 *   cell's input, one of its outputs, a raw cell): a block inserted anywhere else is named;
 * - only the elements and attributes the renderer and nbconvert write: no `style` (but nbconvert's own
 *   ANSI colour spans, where the notebook's text has such a colour), no `hidden`, no `<details>`,
 *   no class that audit.css hides (`jp-Collapser`, prompts) around any text.
 * What an element shows: its text nodes in order, plus what its attributes show (a task box ticked or
 * not, an ordered list's first number, a link's destination), each image's bytes' SHA-256, and the
 * shape of the elements that lay the text out (nested tag names, spans aside: `<sub>`, `<del>`, a
 * heading level are what the auditor reads too).
 */
import * as crypto from "node:crypto";
import type * as LinkedomModule from "linkedom";
import { AUDIT_NOTE } from "./audit-render";

/** One part of the page as shown: its text and its images' SHA-256, in document order. */
export interface PageOutput {
  text: string;
  images: string[];
  /** The elements inside, as nested tag names (`p(strong())table(…)`); spans left out (they only colour or wrap). */
  shape?: string;
}

/** A cell of the page: its kind (from its class) and what each of its compared parts shows. */
export interface PageCell {
  kind: "code" | "markdown" | "raw" | "other";
  /** Code: the input; Markdown: its rendering; raw: its text. */
  shown: PageOutput;
  /** Code: each output, in order. */
  outputs: PageOutput[];
  /** Code: output indexes holding an nbconvert ANSI colour style (allowed only where the notebook has one). */
  styled: number[];
}

/** Structural DOM types: lib/ is also compiled by tslab without DOM types (as lib/plot/document.ts). */
export interface DomNode {
  nodeType: number;
  childNodes: ArrayLike<DomNode>;
}
export interface DomElement extends DomNode {
  tagName: string;
  children: ArrayLike<DomElement>;
  classList: { contains(name: string): boolean };
  parentElement: DomElement | null;
  attributes: ArrayLike<{ name: string; value: string }>;
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
}
interface DomDocument {
  documentElement: DomElement | null;
  querySelector(selector: string): DomElement | null;
}

let linkedom: typeof LinkedomModule | undefined;
/** Parsed lazily (as lib/plot/document.ts does): linkedom costs ~200 ms to load. */
export function parse(html: string): DomDocument {
  linkedom ??= require("linkedom") as typeof LinkedomModule;
  return linkedom.parseHTML(html).document as unknown as DomDocument;
}

/** SHA-256 of each audit.css the project has shipped (ends trimmed); test/host/html.test.ts holds the current one here. */
export const KNOWN_STYLESHEETS = new Set([
  "138abc08578d797b373958342ae6edec473cceb12f2f37cdd52feb31db18caed",
  "123f0216ff2822561d800770b858880892bffacc8ba8f5788b182a218e4e4b78",
]);
/** The template's head, in order: tag and attributes (name=value, sorted). */
const HEAD = [
  ["meta", 'charset="utf-8"'],
  [
    "meta",
    `content="default-src 'none'; img-src data:; style-src 'unsafe-inline'" http-equiv="Content-Security-Policy"`,
  ],
  ["meta", 'content="no-referrer" name="referrer"'],
  ["meta", 'content="width=device-width, initial-scale=1" name="viewport"'],
  ["title", ""],
  ["style", ""],
];
/** Elements the renderer (marked, audit-render.ts), Pygments and the template write in the body. */
const BODY_TAGS = new Set(
  "header main div span pre code p h1 h2 h3 h4 h5 h6 ul ol li blockquote table thead tbody tr th td strong em del a img br hr input sub".split(
    " ",
  ),
);
/** Attributes they write, by element (`*`: any element). */
const ATTRS: Record<string, string[]> = {
  "*": ["class"],
  div: ["id", "data-mime-type", "data-type"],
  a: ["id", "href", "rel"],
  img: ["src", "alt"],
  input: ["type", "checked", "disabled"],
  ol: ["start"],
  th: ["align"],
  td: ["align"],
  span: ["style"],
};
/** A code cell's input area as the template writes it (nbconvert 6 and 7), spans (Pygments') left out. */
const INPUT_SHAPE = "div(div()div(div(div(div(pre())))))";
/** Classes audit.css hides (`display: none`): only ever on empty elements. */
const HIDING_CLASSES = ["jp-Collapser", "jp-InputPrompt", "jp-OutputPrompt"];
/** nbconvert's ansi2html style for 256-colour and RGB escapes. */
const ANSI_STYLE =
  /^(?:color: rgb\(\d{1,3},\d{1,3},\d{1,3}\)(?:; |$))?(?:background-color: rgb\(\d{1,3},\d{1,3},\d{1,3}\))?$/;

const lower = (e: DomElement) => e.tagName.toLowerCase();
const elements = (e: DomElement) => Array.from(e.children);
const hasClass = (e: DomElement, c: string) => e.classList.contains(c);

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

/** What an element shows: text nodes, what attributes show (boxes, list numbers, link targets), images. */
export function shownBy(el: DomElement): PageOutput {
  const texts: string[] = [];
  const images: string[] = [];
  const walk = (n: DomNode): void => {
    if (n.nodeType === 3) texts.push((n as DomNode & { data: string }).data);
    else if (n.nodeType === 1) {
      const e = n as DomElement;
      const tag = lower(e);
      if (tag === "img") images.push(imageHash(e.getAttribute("src") ?? ""));
      if (tag === "input") texts.push(e.getAttribute("checked") !== null ? "[x]" : "[ ]");
      if (tag === "ol" && e.getAttribute("start") !== null) texts.push(`⟨list from ${e.getAttribute("start")}⟩`);
      for (const c of Array.from(e.childNodes)) walk(c);
      if (tag === "a" && e.getAttribute("href") !== null) texts.push(`⟨→ ${e.getAttribute("href")}⟩`);
    }
  };
  walk(el);
  return { text: texts.join("").replace(/\r\n?/g, "\n").trim(), images };
}

/** The elements of `els` and inside them as nested tag names, spans left out (their children kept). */
export function shapeOf(els: DomElement[]): string {
  return els.map((e) => (lower(e) === "span" ? shapeOf(elements(e)) : `${lower(e)}(${shapeOf(elements(e))})`)).join("");
}

/** What a fragment of HTML shows, read by the page's parser, with the shape of its elements. */
export function shownByFragment(html: string): PageOutput {
  const doc = parse(`<!DOCTYPE html><html><body><div>${html}</div></body></html>`);
  const root = doc.querySelector("body > div") as DomElement;
  return { ...shownBy(root), shape: shapeOf(elements(root)) };
}

const attrsOf = (e: DomElement) =>
  Array.from(e.attributes)
    .map((a) => `${a.name.toLowerCase()}="${a.value}"`)
    .sort()
    .join(" ");

/** Why the head is not the template's, or null. */
function headProblem(head: DomElement): string | null {
  const got = elements(head);
  const sig = (e: DomElement) => `<${lower(e)}${attrsOf(e) ? ` ${attrsOf(e)}` : ""}>`;
  if (got.length !== HEAD.length || got.some((e, i) => lower(e) !== HEAD[i][0] || attrsOf(e) !== HEAD[i][1]))
    return `its head is not the audit template's (${got.map(sig).join("").slice(0, 200)})`;
  const css = shownBy(got[5]).text;
  const sha = crypto.createHash("sha256").update(css).digest("hex");
  if (!KNOWN_STYLESHEETS.has(sha)) return `its stylesheet is not the audit template's (sha256 ${sha.slice(0, 12)})`;
  return null;
}

/**
 * The page's cells and what each shows, or the first reason its frame (head, header, main) is not
 * the template's (`problem`, one line); `stray`: the first text or image outside every compared part,
 * or markup the template never writes (asked after the cells are compared, so that a cell's edit is
 * named by its cell first).
 */
export function readPage(html: string): { problem: string | null; cells: PageCell[]; stray: string | null } {
  const doc = parse(html);
  const root = doc.documentElement;
  const fail = (problem: string) => ({ problem, cells: [] as PageCell[], stray: null });
  const top = root ? elements(root) : [];
  if (!root || top.length !== 2 || lower(top[0]) !== "head" || lower(top[1]) !== "body")
    return fail("it is not one head and one body");
  if (attrsOf(root) !== 'lang="en"') return fail(`its <html> element carries ${attrsOf(root).slice(0, 80)}`);
  const hp = headProblem(top[0]);
  if (hp) return fail(hp);
  const body = top[1];
  const [header, main] = elements(body);
  if (elements(body).length !== 2 || lower(header) !== "header" || lower(main) !== "main")
    return fail("its body is not the audit template's header and main");
  const title = shownBy(top[0].children[4]).text;
  const [h1, note] = elements(header);
  if (!h1 || lower(h1) !== "h1" || shownBy(h1).text !== title)
    return fail("its heading is not its title (the session it shows)");
  if (elements(header).length > 2 || (note && (lower(note) !== "p" || !shownBy(note).text.startsWith(AUDIT_NOTE))))
    return fail(`its header says more than the audit note ("${AUDIT_NOTE.slice(0, 40)}…")`);

  const compared = new Set<DomElement>([h1, ...(note ? [note] : [])]);
  const cells: PageCell[] = [];
  for (const cell of elements(main)) {
    const kind = !hasClass(cell, "jp-Cell")
      ? "other"
      : hasClass(cell, "jp-CodeCell")
        ? "code"
        : hasClass(cell, "jp-MarkdownCell")
          ? "markdown"
          : hasClass(cell, "jp-RawCell")
            ? "raw"
            : "other";
    const parts = elements(cell);
    const c: PageCell = { kind, shown: { text: "", images: [] }, outputs: [], styled: [] };
    if (kind === "code") {
      const input = parts.find((p) => hasClass(p, "jp-Cell-inputWrapper"));
      if (input) {
        compared.add(input);
        // The template's input area around Pygments' <pre>: shown as the notebook's source in a <pre>.
        c.shown = { ...shownBy(input), shape: shapeOf([input]) === INPUT_SHAPE ? "pre()" : shapeOf([input]) };
      }
      const outs = Array.from(cell.querySelectorAll(".jp-OutputArea-child")).filter(
        (o) => o.parentElement && hasClass(o.parentElement, "jp-OutputArea") && !compared.has(o.parentElement),
      );
      outs.forEach((o, i) => {
        compared.add(o);
        // Each output in the template's one wrapper (`.jp-OutputArea-output`), the rendering inside it.
        const kids = elements(o);
        const inner = kids.length === 1 && lower(kids[0]) === "div" ? elements(kids[0]) : kids;
        c.outputs.push({ ...shownBy(o), shape: shapeOf(inner) });
        if (Array.from(o.querySelectorAll("span[style]")).length) c.styled.push(i);
      });
    } else if (kind === "markdown" || kind === "raw") {
      const part = parts.length === 1 ? parts[0] : undefined;
      if (part) {
        compared.add(part);
        c.shown = { ...shownBy(part), shape: shapeOf(kind === "raw" ? [part] : elements(part)) };
      }
    }
    cells.push(c);
  }
  return { problem: null, cells, stray: strayContent(body, main, compared) };
}

/** The first text or image outside every compared part, or markup the template never writes. */
function strayContent(body: DomElement, main: DomElement, compared: Set<DomElement>): string | null {
  let found: string | null = null;
  let cell = 0;
  const walk = (n: DomNode, inside: boolean): void => {
    if (found) return;
    if ((n as DomElement).parentElement === main && n.nodeType === 1) cell++;
    if (n.nodeType === 3) {
      const t = (n as DomNode & { data: string }).data;
      if (!inside && t.trim()) found = `it shows text outside every cell's compared parts: "${t.trim().slice(0, 60)}"`;
      return;
    }
    if (n.nodeType !== 1) return;
    const e = n as DomElement;
    const tag = lower(e);
    if (e !== body && !BODY_TAGS.has(tag)) found = `it holds a <${tag}> element the audit template never writes`;
    for (const a of Array.from(e.attributes)) {
      const name = a.name.toLowerCase();
      if (e === body || !(ATTRS["*"].includes(name) || ATTRS[tag]?.includes(name)))
        found ??= `it holds a ${name}= attribute on <${tag}> the audit template never writes`;
      else if (name === "style" && !ANSI_STYLE.test(a.value))
        found ??= `it holds a style="${a.value.slice(0, 60)}" the audit template never writes`;
      else if (name === "type" && a.value !== "checkbox")
        found ??= `it holds an <input type="${a.value.slice(0, 20)}">`;
    }
    if (HIDING_CLASSES.some((c) => hasClass(e, c)) && (elements(e).length || shownBy(e).text))
      found ??= `it holds content in an element the stylesheet hides (class ${HIDING_CLASSES.find((c) => hasClass(e, c))})`;
    if (tag === "img" && !inside) found ??= "it shows an image outside every cell's compared parts";
    const within = inside || compared.has(e);
    for (const c of Array.from(e.childNodes)) walk(c, within);
  };
  walk(body, false);
  return found && cell ? `${found} (in or after the page's cell ${cell})` : found;
}
