/** Markdown rendering of step results for the notebook display. */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { cell, stepMarkdown } from "../../lib/report/display";
import { stepResult } from "../run/fixtures";

test("Markdown cells escape pipes and newlines", () => {
  assert.equal(cell("a|b\nc"), "a\\|b c");
  assert.equal(cell(null), "—");
  const md = stepMarkdown({
    ...stepResult(5, "FAIL", "order completed not reached within 6 s"),
    observed: { "seconds-to-completed": null },
  });
  assert.match(md, /\| 5\. Poll \/orders\/:id until completed \| ❌ FAIL \| seconds-to-completed: — \| trace L1–L2 \|/);
  assert.match(md, /\*\*❌ FAIL:\*\* order completed not reached within 6 s/);
});
