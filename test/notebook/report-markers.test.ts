/**
 * The report cell's session block keeps its markers (`<!-- session:<id> -->`, `<!-- notes:<id> -->`)
 * machine-readable but hidden (issue 22): through the sink they used to be escaped into text that
 * JupyterLab (marked) and the audit HTML showed literally. A comment that is not a marker is still
 * shown, so nothing a backend sends can hide text.
 */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { test } from "node:test";
import { Marked } from "marked";
import { renderMarkdownSafe } from "../../lib/host/html";
import { hiddenMarkers, safeMarkdown } from "../../lib/notebook/sink";
import { loadEvidence } from "../../lib/report/evidence";
import { renderSessionBlock } from "../../lib/report/report";
import { makeSession, tmpArchive } from "../report/fixtures";

test("the report cell's markers are hidden in JupyterLab's renderer and the audit HTML, and still readable", () => {
  const dir = makeSession(tmpArchive(), { mode: "staging", scenario: "stuck" });
  const id = path.basename(dir);
  const block = renderSessionBlock(loadEvidence(dir));
  assert.match(block, new RegExp(`^<!-- session:${id} -->$`, "m"), "the block no longer carries its marker");
  // What the report cell shows (lib/notebook/index.ts report()).
  const shown = safeMarkdown(hiddenMarkers(block));
  for (const m of [`session:${id}`, `notes:${id}`, `/notes:${id}`, `/session:${id}`])
    assert.match(shown, new RegExp(`^\\[//\\]: # \\(${m.replace(/[/]/g, "\\/")}\\)$`, "m"), m);
  const lab = new Marked({ gfm: true }).parse(shown, { async: false }) as string;
  const audit = renderMarkdownSafe(shown);
  for (const [where, html] of [
    ["JupyterLab (marked)", lab],
    ["audit HTML", audit],
  ]) {
    assert.doesNotMatch(html, /&lt;!--|<!--|\[\/\/\]/, `${where} shows a marker`);
    assert.doesNotMatch(html, new RegExp(`(session|notes):${id}`), `${where} shows a marker`);
    assert.match(html, /Operator notes/, `${where} lost the text around the markers`);
  }
  // Any other comment, or a marker-shaped one with text after it, is shown as text.
  const other = safeMarkdown(hiddenMarkers("<!-- hide me -->\n<!-- session:x --> and more\n"));
  assert.match(renderMarkdownSafe(other), /&lt;!-- hide me --&gt;/);
  assert.match(renderMarkdownSafe(other), /session:x --&gt; and more/);
});
