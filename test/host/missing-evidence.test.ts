/**
 * Evidence that would go missing without a word: OPERATOR_NOTES typed in the notebook's parameters
 * cell after the session cell last ran (shown in the notebook and its HTML export, never traced, so
 * report.md would lack it: the seal refuses, naming how to record it); and a living-report block not
 * published because publishing failed after the seal (archiving again publishes it).
 * Fixture sessions (test/report/fixtures.ts) sealed by the real archive.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { ArchiveRuleRefused, ReportError } from "../../lib/errors";
import { REPORT_FILE, SESSION_NOTEBOOK, TRACE_FILE } from "../../lib/evidence/files";
import { Journal, latestStepResults } from "../../lib/evidence/journal";
import { Trace } from "../../lib/evidence/trace";
import { archiveSession } from "../../lib/host/archive";
import { formatVerify, verifySession } from "../../lib/evidence/verify";
import { reseal } from "../evidence/format-v2";
import { notesInNotebook } from "../../lib/evidence/operator-notes";
import type { Notebook } from "../../lib/host/nbfile";
import { stepMarkdown } from "../../lib/report/display";
import type { StepResult } from "../../lib/types";
import { makeSession, tmpArchive } from "../report/fixtures";
import { docsOf } from "./seal-rules-run";

const NOTE = "refunded twice from the Hyperswitch dashboard, ticket OPS-9";

/** A run notebook whose parameters cell (and, when given, injected-parameters cell) hold these sources. */
function notebookWith(dir: string, params: string, injected?: string): void {
  const results = [...latestStepResults(Journal.open(dir).all()).values()] as StepResult[];
  const cell = (id: string, source: string, shown: string[], tags?: string[]) => ({
    cell_type: "code",
    id,
    metadata: tags ? { tags } : {},
    execution_count: shown.length ? 1 : null,
    source,
    outputs: shown.map((s) => ({ output_type: "display_data", data: { "text/markdown": s }, metadata: {} })),
  });
  const nb = {
    cells: [
      cell("params", params, [], ["parameters"]),
      ...(injected === undefined ? [] : [cell("injected-parameters", injected, [], ["injected-parameters"])]),
      ...results.map((r) => cell(`s${r.step}`, `await nb.run("${r.id}");`, [stepMarkdown(r)])),
      ...["plot", "report"].map((m) => cell(m, `await nb.${m}();`, [`${m} shown`])),
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), `${JSON.stringify(nb, null, 1)}\n`);
}

describe("OPERATOR_NOTES shown in the notebook reach the sealed report", () => {
  test("a note typed after the session cell ran (never traced): refused, naming the cells to re-run; once recorded, report.md holds it", async () => {
    const dir = makeSession(tmpArchive(), { mode: "sandbox", scenario: "pass" });
    notebookWith(dir, `let MODE = "sandbox";\nlet OPERATOR_NOTES = ${JSON.stringify(NOTE)};        // free text\n`);
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir) }), (e: unknown) => {
      assert.ok(e instanceof ArchiveRuleRefused, String(e));
      assert.equal(e.code, "E2E_ARCHIVE_OUTPUTS");
      assert.match(e.message, /OPERATOR_NOTES/);
      assert.match(e.message, /run the parameters cell and the session cell/);
      assert.ok(!e.message.includes("OPS-9"), "the note itself is not printed");
      return true;
    });
    assert.ok(!fs.existsSync(path.join(dir, REPORT_FILE)), "nothing sealed");
    // What re-running the parameters and session cells does (lib/run/session.ts): the note is traced.
    const t = Trace.open(path.join(dir, TRACE_FILE));
    t.append("note", { source: "operator", text: NOTE });
    t.close();
    const r = await archiveSession(dir, { html: false, docsDir: docsOf(dir) });
    assert.equal(r.outcome, "PASS");
    assert.match(fs.readFileSync(path.join(dir, REPORT_FILE), "utf8"), /ticket OPS-9/);
    assert.ok(verifySession(dir).ok, "the recorded note verifies");
  });

  test("verify, on a folder sealed before the seal refused it: an unrecorded note is an error (NOTES_UNRECORDED), never quoted; an expression, a warning", async () => {
    const dir = makeSession(tmpArchive(), { mode: "sandbox", scenario: "pass" });
    notebookWith(dir, `let OPERATOR_NOTES = "";\n`);
    await archiveSession(dir, { html: false, docsDir: docsOf(dir) });
    // As an older tool sealed it: the note typed afterwards, the manifest over the notebook as it is.
    notebookWith(dir, `let OPERATOR_NOTES = ${JSON.stringify(NOTE)};\n`);
    reseal(dir);
    const v = verifySession(dir);
    assert.equal(v.ok, false);
    const f = v.findings.find((x) => x.code === "NOTES_UNRECORDED");
    assert.equal(f?.subject, SESSION_NOTEBOOK);
    assert.match(String(f?.message), /^OPERATOR_NOTES \(\d+ characters\) is in neither the journal nor the trace/);
    assert.ok(!formatVerify(v).join("\n").includes("OPS-9"), "the note itself is not printed");
    notebookWith(dir, `let OPERATOR_NOTES = "a" + "b";\n`);
    reseal(dir);
    const w = verifySession(dir);
    assert.ok(w.ok, formatVerify(w).join("\n"));
    assert.ok(w.findings.some((x) => x.level === "warning" && /OPERATOR_NOTES is not a plain string/.test(x.message)));
  });

  test("no note, or the note the session recorded at creation: seals as before", async () => {
    const dir = makeSession(tmpArchive(), { mode: "sandbox", scenario: "pass", operatorNotes: NOTE });
    notebookWith(dir, `let OPERATOR_NOTES = "";\n`, `OPERATOR_NOTES = ${JSON.stringify(NOTE)};\nvoid 0;`);
    const r = await archiveSession(dir, { html: false, docsDir: docsOf(dir) });
    assert.equal(r.outcome, "PASS");
  });

  test("the notebook's value: the last assignment wins; quotes, templates and escapes are read; an expression is not", () => {
    const nb = (...sources: string[]) =>
      ({
        cells: sources.map((s, i) => ({
          cell_type: "code",
          metadata: { tags: [i === 0 ? "parameters" : "injected-parameters"] },
          source: s.split(/(?<=\n)/),
        })),
        metadata: {},
        nbformat: 4,
        nbformat_minor: 5,
      }) as Notebook;
    assert.deepEqual(notesInNotebook(nb(`let OPERATOR_NOTES = "";`)), { value: "" });
    assert.deepEqual(notesInNotebook(nb(`let OPERATOR_NOTES = 'it\\'s "done"';`)), { value: `it's "done"` });
    assert.deepEqual(notesInNotebook(nb("let OPERATOR_NOTES = `line 1\nline 2`;")), { value: "line 1\nline 2" });
    assert.deepEqual(notesInNotebook(nb(`let OPERATOR_NOTES = "a\\nb \\u00e9";`)), { value: "a\nb é" });
    assert.deepEqual(notesInNotebook(nb(`let OPERATOR_NOTES = "x";`, `OPERATOR_NOTES = "y";`)), { value: "y" });
    assert.deepEqual(notesInNotebook(nb(`let OPERATOR_NOTES = \`at $\{new Date()}\`;`)), { value: null });
    assert.deepEqual(notesInNotebook(nb(`let OPERATOR_NOTES = "a" + "b";`)), { value: null });
    assert.equal(notesInNotebook(nb(`let MODE = "sandbox";`)), null);
  });
});

describe("the living report's block after a seal whose publishing failed", () => {
  test("the docs report lost its end marker: sealed, publishing refused; once restored, archiving again publishes the block", async () => {
    const dir = makeSession(tmpArchive(), { mode: "staging", scenario: "pass" });
    notebookWith(dir, `let OPERATOR_NOTES = "";\n`);
    const docs = docsOf(dir);
    fs.mkdirSync(docs, { recursive: true });
    fs.copyFileSync(path.join(__dirname, "../../docs/GO_NO_GO_CHECKLIST.md"), path.join(docs, "GO_NO_GO_CHECKLIST.md"));
    const live = path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md");
    fs.writeFileSync(live, "# Payment E2E live report\n\nan edit removed the end marker\n");
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docs }), (e: unknown) => {
      assert.ok(e instanceof ReportError, String(e));
      assert.equal(e.code, "E2E_REPORT_MARKERS");
      return true;
    });
    assert.ok(fs.existsSync(path.join(dir, "manifest.json")), "the folder was sealed before publishing failed");
    fs.rmSync(live); // restored: the next publish creates it from the template
    const r = await archiveSession(dir, { html: false, docsDir: docs });
    assert.equal(r.status, "already-sealed");
    assert.equal(r.docsReport, live, "published now");
    assert.match(fs.readFileSync(live, "utf8"), new RegExp(`<!-- session:${path.basename(dir)} -->`));
    // The sealed folder was left as sealed, and a third archive has nothing to publish.
    const again = await archiveSession(dir, { html: false, docsDir: docs });
    assert.equal(again.status, "already-sealed");
    assert.equal(again.docsReport, null);
  });
});
