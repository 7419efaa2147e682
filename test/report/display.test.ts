/** Markdown rendering of step results for the notebook display. */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { cell, pollLine, stepMarkdown } from "../../lib/report/display";
import { renderPollPlot } from "../../lib/plot";
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

test("a sample the contract refused is a schema mismatch in the progress line and the plot, never a network error", () => {
  const s = {
    step: 5,
    attempt: 3,
    at: "2026-11-26T14:02:03.000Z",
    t: 2,
    latencyMs: 12,
    httpStatus: 200,
    orderStatus: null,
    error: 'field `status`: got "authorized", expected one of …',
    errorKind: "schema" as const,
  };
  assert.match(pollLine(s, 2, 300), /\*\*schema mismatch\*\*$/);
  assert.doesNotMatch(pollLine(s, 2, 300), /network error|HTTP 200/);
  const svg = renderPollPlot([s]).svg;
  assert.match(svg, />schema mismatch \(1\)</);
  assert.doesNotMatch(svg, />network error \(1\)</);
});

test("a poll's progress line says its times are this machine's clock", () => {
  // The schema test's sample, answered this time, with the next check planned.
  const line = pollLine(
    {
      step: 5,
      attempt: 2,
      at: "2026-11-26T14:02:02.000Z",
      t: 2,
      latencyMs: 40,
      httpStatus: 200,
      orderStatus: "processing",
      pauseMs: 5000,
      nextAt: "2026-11-26T14:02:07.000Z",
    },
    2,
    300,
  );
  assert.match(
    line,
    /^⏳ step 5 · attempt 2 · 2026-11-26T14:02:02\.000Z \(this machine's clock\) · 2\.0 s \/ 300 s · 40 ms · \*\*processing\*\* · next check 14:02:07Z \(in 5 s\)$/,
  );
});
