/**
 * Edits of a real exported audit page that keep every output's text but change what the auditor reads
 * (an input, a Markdown cell, an output hidden, a block forged, cells swapped): test/host/html.test.ts
 * makes them on the fixture's page, test/host/seal-rules-run.ts on the rehearsal's.
 */
import { strict as assert } from "node:assert";

/** The page with `at`'s first match (from `from`) replaced by `to` (a function of the match). */
function once(page: string, at: RegExp, to: (m: RegExpExecArray) => string, from = 0): string {
  const re = new RegExp(at.source, "g");
  re.lastIndex = from;
  const m = re.exec(page);
  assert.ok(m, `the page holds ${at}`);
  return page.slice(0, m.index) + to(m) + page.slice(m.index + m[0].length);
}

/** The page's cells (`<div class="jp-Cell …">` to the next or to `</main>`) and what is around them. */
function cellsOf(page: string): { head: string; cells: string[]; tail: string } {
  const starts = [...page.matchAll(/<div class="jp-Cell /g)].map((m) => m.index ?? 0);
  const end = page.lastIndexOf("</main>");
  return {
    head: page.slice(0, starts[0]),
    cells: starts.map((s, i) => page.slice(s, starts[i + 1] ?? end)),
    tail: page.slice(end),
  };
}

/**
 * Edits of a real exported page that leave every output's text as it was but change what the auditor
 * reads: [what, page]. Each is refused at the seal and named by both verifiers.
 */
export function frameEdits(page: string): Array<[string, string]> {
  const firstOutput = /class="jp-OutputArea-child"/;
  const styled = (css: string) => once(page, firstOutput, (m) => `style="${css}" ${m[0]}`);
  const { head, cells, tail } = cellsOf(page);
  const i = cells.findIndex((c, j) => c.includes("jp-CodeCell") && cells[j + 1]?.includes("jp-CodeCell"));
  assert.ok(i >= 0, "two code cells in a row");
  const swapped = [...cells];
  [swapped[i], swapped[i + 1]] = [cells[i + 1], cells[i]];
  // A Markdown cell and the code cell after it: the code cells' order is kept (the outputs alone agree).
  const k = cells.findIndex((c, j) => c.includes("jp-MarkdownCell") && cells[j + 1]?.includes("jp-CodeCell"));
  assert.ok(k >= 0, "a Markdown cell before a code cell");
  const mdSwapped = [...cells];
  [mdSwapped[k], mdSwapped[k + 1]] = [cells[k + 1], cells[k]];
  const input = page.indexOf("jp-Cell-inputWrapper");
  const markdown = page.indexOf("jp-MarkdownOutput");
  return [
    ["a code input's identifier", once(page, /(<span class="nx">)(\w+)/, (m) => `${m[1]}${m[2]}X`, input)],
    ["a Markdown cell's heading", once(page, /(<h[1-6][^>]*>)/, (m) => `${m[1]}NOT `, markdown)],
    [
      "an output hidden by a rule added to the stylesheet",
      once(page, /<\/style>/, () => ".jp-OutputArea-child{display:none}</style>"),
    ],
    [
      "an output hidden by a second <style> in the body",
      once(page, /<main>/, () => "<main><style>.jp-OutputArea-child{display:none}</style>"),
    ],
    ["an output hidden by style display:none", styled("display:none")],
    ["an output hidden by style visibility:hidden", styled("visibility:hidden")],
    ["an output hidden by style font-size:0", styled("font-size:0")],
    ["an output coloured as the background", styled("color:#fff")],
    ["an output moved off-screen", styled("position:absolute;left:-9999px")],
    ["an output hidden by the hidden attribute", once(page, firstOutput, (m) => `hidden ${m[0]}`)],
    [
      "an output hidden by a class the stylesheet hides",
      once(page, firstOutput, () => 'class="jp-OutputArea-child jp-OutputPrompt"'),
    ],
    [
      "a forged PASS block between two cells",
      head +
        cells[0] +
        '<div class="jp-RenderedHTMLCommon"><h3>✅ Outcome: PASS</h3></div>' +
        cells.slice(1).join("") +
        tail,
    ],
    [
      "a forged PASS line in an output area, outside its outputs",
      once(page, firstOutput, (m) => `>✅ PASS</div><div ${m[0]}`),
    ],
    [`cells ${k + 1} (Markdown) and ${k + 2} (code) swapped`, head + mdSwapped.join("") + tail],
    [`cells ${i + 1} and ${i + 2} (code) swapped`, head + swapped.join("") + tail],
  ];
}

/**
 * Edits that keep each part's text and markup allowed but lay it out in other elements (smaller,
 * struck through, another heading level): refused at the seal and by `npm run verify`, which render
 * the notebook's side; not seen by the Python verifier, which has no Markdown renderer.
 */
export function layoutEdits(page: string): Array<[string, string]> {
  const markdown = page.indexOf("jp-MarkdownOutput");
  return [
    [
      "a table cell's text shrunk by nested <sub>",
      once(page, /(<td>)([^<]+)(<\/td>)/, (m) => `${m[1]}${"<sub>".repeat(6)}${m[2]}${"</sub>".repeat(6)}${m[3]}`),
    ],
    [
      "a table cell's text struck through",
      once(page, /(<td>)([^<]+)(<\/td>)/, (m) => `${m[1]}<del>${m[2]}</del>${m[3]}`),
    ],
    [
      "a Markdown cell's heading made the smallest",
      once(page, /<h([1-5])>([^<]*)<\/h\1>/, (m) => `<h6>${m[2]}</h6>`, markdown),
    ],
  ];
}
