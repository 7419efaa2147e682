/**
 * Issue 25 §2: untrusted text is text. Each hostile string of the corpus goes through each door by
 * which backend or operator text reaches the notebook's outputs, report.md and the living report;
 * the result is rendered with `marked` with no sanitiser (as JupyterLab renders a live kernel's
 * trusted Markdown) and the HTML is parsed: no element may carry an event handler, none may be a
 * script, iframe, object, embed or svg, no href or src may be javascript:, data: or vbscript:, no
 * link or image may form at all from the text, and the visible text must still hold every original
 * character.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parseHTML } from "linkedom";
import { Marked } from "marked";
import { TRACE_FILE } from "../../lib/evidence/files";
import { shownControls } from "../../lib/evidence/outcome-stated";
import { Trace } from "../../lib/evidence/trace";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { safeMarkdown } from "../../lib/notebook/sink";
import { banner, cell, stepMarkdown } from "../../lib/report/display";
import { loadEvidence } from "../../lib/report/evidence";
import { inertText, markdownProblems } from "../../lib/report/inert";
import { appendToReport, writeSessionReport } from "../../lib/report/report";
import { renderTemplate } from "../../lib/report/template";
import type { StepResult } from "../../lib/types";
import { makeSession, tmpArchive } from "./fixtures";
import { CORPUS, problems } from "./hostile-corpus";

const ACCESS = "opaque-access-Zk29fQx81LmNa0";
const result = (reason: string): StepResult =>
  ({
    step: 8,
    name: "Refund",
    status: "FAIL",
    reason,
    observed: { refund_id: reason },
    startedAt: "2026-11-26T15:44:00.000Z",
    endedAt: "2026-11-26T15:44:01.000Z",
    durationMs: 1000,
    trace: null,
  }) as unknown as StepResult;

/** Each door, from the untrusted text to the Markdown that is shown or written. */
const DOORS: Record<string, (s: string) => string> = {
  "the escaper, mid-line": (s) => `Refund refused: ${inertText(s)}`,
  "the escaper, lines kept (own paragraph)": (s) => inertText(s, { lines: true }),
  "a table cell": (s) => `| h |\n| --- |\n| ${cell(s)} |`,
  "a report template value (list item)": (s) => renderTemplate("- noted: {{v}}\n", { v: s }),
  "a report template value (own line)": (s) => renderTemplate("{{v}}\n", { v: s }),
  "a step's reason in the notebook (row + FAIL banner, through the sink)": (s) => {
    const r = result(s);
    const reg = new SecretRegistry();
    reg.add(ACCESS, "access_token");
    return safeMarkdown(`${stepMarkdown(r)}\n\n${banner("❌ Step 8 FAILED", [cell(s)])}`, reg);
  },
};

// The sink's backstop on Markdown the runbook composed: raw hostile text that skipped inertText still
// cannot run or leave the page (it is shown as a fenced block; a web link may stay a link).
test("the backstop: raw corpus text given to the sink as if it were the runbook's Markdown runs and loads nothing", () => {
  const failed: string[] = [];
  for (const [name, text] of Object.entries(CORPUS)) {
    const p = problems(safeMarkdown(text, new SecretRegistry()), null);
    if (p.length) failed.push(`${name}: ${p.join("; ")}`);
  }
  assert.deepEqual(failed, []);
});

describe("untrusted text is text: the corpus through every door, rendered by marked", () => {
  for (const [door, through] of Object.entries(DOORS))
    test(door, () => {
      const failed: string[] = [];
      for (const [name, text] of Object.entries(CORPUS)) {
        const p = problems(through(text), text);
        if (p.length) failed.push(`${name}: ${p.join("; ")}`);
      }
      assert.deepEqual(failed, [], `${failed.length} of ${Object.keys(CORPUS).length} forms:\n${failed.join("\n")}`);
    });
});

// The files an auditor opens: report.md and the living report, with OPERATOR_NOTES and the dry-run
// override (operator text) carrying the whole corpus.
test("report.md and the living report carry the corpus as text: rendered, nothing runs or loads, every character shows", () => {
  const notes = Object.values(CORPUS).join("\n");
  const override =
    CORPUS["javascript: link, parentheses two deep"] + CORPUS["HTML after a blank line inside a code span"];
  const archive = tmpArchive();
  const dir = makeSession(archive, { mode: "live", scenario: "stuck", operatorNotes: notes, dryRunOverride: override });
  const docs = path.join(path.dirname(path.dirname(archive)), "PAYMENT_E2E_LIVE_REPORT.md");
  const { markdown } = writeSessionReport(dir);
  appendToReport(docs, loadEvidence(dir));
  for (const [name, md] of [
    ["report.md", fs.readFileSync(path.join(dir, "report.md"), "utf8")],
    ["the living report", fs.readFileSync(docs, "utf8")],
  ]) {
    assert.equal(md.includes(markdown.trim()), true, `${name} holds the block`);
    assert.deepEqual(problems(md, null), [], name);
    assert.deepEqual(markdownProblems(md), [], `${name}: no raw HTML but the block's own, no link leaving the page`);
    const shown = problems(md, notes).filter((p) => p.startsWith("visible text"));
    assert.deepEqual(shown, [], `${name}: the notes show as written`);
  }
});

// The cross-id trail is a table whose Id column shows backend ids (order, payment, refund, webhook
// event ids read from response bodies) as code. GFM splits a row at a `|` behind an even run of
// backslashes before it reads code spans, so an id `a\|<img …>` ended its cell and the rest became
// raw HTML in report.md and the living report.
test("backend ids in the trail table's Id column stay in their cell as text, whatever they hold", () => {
  const archive = tmpArchive();
  const dir = makeSession(archive, { mode: "staging" });
  const ids = [
    "a\\|<img src=x onerror=alert(1)>",
    "b\\\\|<svg onload=alert(2)>",
    "c|[x](javascript:alert(3))",
    ...Object.values(CORPUS).filter((s) => !s.includes("\n")),
  ];
  const t = Trace.open(path.join(dir, TRACE_FILE));
  t.append("request", {
    endpoint: "GET /webhooks/events",
    method: "GET",
    url: "http://127.0.0.1:8080/api/v1/webhooks/events",
    attempt: 1,
    headers: {},
    body: null,
  });
  t.append("response", {
    endpoint: "GET /webhooks/events",
    attempt: 1,
    status: 200,
    headers: {},
    body: { event_ids: ids },
  });
  t.close();
  const { markdown } = writeSessionReport(dir);
  assert.deepEqual(problems(markdown, null), []);
  assert.deepEqual(markdownProblems(markdown), []);
  const row = markdown.split("\n").find((l) => l.startsWith("| webhook events |"));
  assert.ok(row, markdown);
  const html = new Marked({ gfm: true }).parse(`| Link | Id | Source |\n| --- | --- | --- |\n${row}\n`, {
    async: false,
  }) as string;
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const cells = [...document.querySelectorAll("tbody td")].map((c) => c.textContent ?? "");
  assert.equal(cells.length, 3, html);
  // As written: a line break as a space, an invisible character (an escape, a bidi override) as its escape.
  const written = (id: string) => shownControls(id.replace(/\s*(?:\r\n|\r|\n)\s*/g, " "));
  assert.equal(cells[1], ids.map(written).join(", "), "the Id cell shows every id as written");
  assert.match(cells[2], /^response bodies, trace L\d+(, L\d+)*$/);
});
