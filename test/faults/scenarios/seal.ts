// Issue 22 items 6–7: the seal rules, through the real notebook (jupyter/execute.py + tslab, the
// headless payer) and the real archive. 2e: the notebook loses every output after the run (JupyterLab's
// Close and Shut Down without saving): refused naming the missing outputs, restored from the kernel's
// copy and sealed. 2u: money moved and REFUND off: refused until --unrefunded "<reason>", and the
// sealed report says so. 2i: an operator's cell throws, tslab skips every later cell: the notebook's
// metadata says so, and the archive refuses until --incomplete (and --unrefunded), never as PASS.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ArchiveRuleRefused } from "../../../lib/errors";
import { REPORT_FILE } from "../../../lib/evidence/files";
import { verifySession } from "../../../lib/evidence/verify";
import { archiveSession } from "../../../lib/host/archive";
import { executeNotebook } from "../../../lib/host/jupyter";
import { type NbCell, readNotebook, sourceOf, writeNotebook } from "../../../lib/host/nbfile";
import type { Scenario, World } from "../harness";
import { env, prepare } from "./notebook-save";

async function executed(
  w: World,
  params: Record<string, string | number | boolean> = {},
  edit?: (cells: NbCell[]) => void,
) {
  const prep = await prepare(w, w.archive, params);
  if (edit) {
    const nb = readNotebook(prep.notebook);
    edit(nb.cells);
    writeNotebook(prep.notebook, nb);
  }
  const r = await executeNotebook(prep.notebook, env(w));
  const docsDir = path.join(w.archive, "docs");
  return { prep, r, docsDir };
}

/** The archive's refusal code, or "sealed". */
async function archiveCode(dir: string, o: Parameters<typeof archiveSession>[1]): Promise<string> {
  try {
    await archiveSession(dir, { html: false, ...o });
    return "sealed";
  } catch (err) {
    if (err instanceof ArchiveRuleRefused) return err.code;
    throw err;
  }
}

export const emptyNotebookSeal: Scenario = {
  n: "2e",
  title: "empty-notebook seal: the executed notebook lost every output (closed without saving)",
  timeoutMs: 300_000,
  async run({ w, delta }) {
    const { prep, r, docsDir } = await executed(w);
    assert.equal(r.code, 0, r.failure ?? r.stderr.slice(-400));
    const nb = readNotebook(prep.notebook);
    for (const c of nb.cells) if (c.cell_type === "code") c.outputs = [];
    writeNotebook(prep.notebook, nb);
    assert.equal(await archiveCode(prep.dir, { docsDir }), "E2E_ARCHIVE_OUTPUTS");
    assert.ok(!fs.existsSync(path.join(prep.dir, "manifest.json")), "not sealed");
    const sealed = await archiveSession(prep.dir, { html: false, docsDir, restoreOutputs: true });
    assert.equal(sealed.outcome, "PASS");
    assert.ok(verifySession(prep.dir).ok);
    const d = await delta();
    assert.deepEqual([d.orders, d.payments, d.refunds], [1, 1, 1]);
    return {
      outcome:
        "archive refused (E2E_ARCHIVE_OUTPUTS); --restore-outputs restored the kernel's copy, sealed PASS, verify OK",
      notes: "one order, one payment, one refund",
    };
  },
};

export const unrefundedSeal: Scenario = {
  n: "2u",
  title: "money moved with no refund at seal (REFUND off)",
  timeoutMs: 300_000,
  async run({ w, delta }) {
    const { prep, r, docsDir } = await executed(w, { REFUND: false });
    assert.equal(r.code, 0, r.failure ?? r.stderr.slice(-400));
    assert.equal(await archiveCode(prep.dir, { docsDir }), "E2E_ARCHIVE_UNREFUNDED");
    const sealed = await archiveSession(prep.dir, {
      html: false,
      docsDir,
      unrefunded: "fault suite: REFUND off on purpose, refunded at the orchestrator",
    });
    assert.notEqual(sealed.outcome, "PASS");
    const report = fs.readFileSync(path.join(prep.dir, REPORT_FILE), "utf8");
    assert.match(report, /\*\*Not refunded\*\*/);
    assert.doesNotMatch(report, /Refund now|it resumes\)/);
    const d = await delta();
    assert.deepEqual([d.orders, d.payments, d.refunds], [1, 1, 0]);
    return {
      outcome: `archive refused (E2E_ARCHIVE_UNREFUNDED); sealed with --unrefunded as ${sealed.outcome}, report says "Not refunded"`,
      notes: "one order, one payment, no refund",
    };
  },
};

export const incompleteSeal: Scenario = {
  n: "2i",
  title: "incomplete run at seal: an operator's cell throws, tslab skips every later cell",
  timeoutMs: 300_000,
  async run({ w, delta }) {
    const { prep, r, docsDir } = await executed(w, {}, (cells) => {
      const at = cells.findIndex((c) => sourceOf(c).includes('nb.run("transfer")'));
      cells.splice(at, 0, {
        cell_type: "code",
        id: "operator-edit",
        metadata: {},
        source: 'throw new Error("an operator\'s edit");',
        outputs: [],
        execution_count: null,
      });
    });
    const meta = readNotebook(prep.notebook).metadata.payment_e2e as { complete: boolean; errored?: string[] };
    assert.equal(meta.complete, false, "the metadata says the run is not complete");
    assert.deepEqual(meta.errored, ["operator-edit"]);
    assert.equal(await archiveCode(prep.dir, { docsDir }), "E2E_ARCHIVE_INCOMPLETE");
    const reason = "fault suite: a cell threw; accepted as incomplete";
    assert.equal(await archiveCode(prep.dir, { docsDir, incomplete: reason }), "E2E_ARCHIVE_UNREFUNDED");
    const sealed = await archiveSession(prep.dir, { html: false, docsDir, incomplete: reason, unrefunded: reason });
    assert.notEqual(sealed.outcome, "PASS");
    assert.match(
      fs.readFileSync(path.join(prep.dir, REPORT_FILE), "utf8"),
      /run incomplete \(a cell threw: operator-edit/,
    );
    const d = await delta();
    assert.deepEqual([d.orders, d.payments, d.refunds], [1, 1, 0]);
    return {
      outcome: `metadata complete: false (errored operator-edit); refused (E2E_ARCHIVE_INCOMPLETE, then E2E_ARCHIVE_UNREFUNDED); sealed with both as ${sealed.outcome} (exit ${r.code})`,
      notes: "one order, one payment, no refund (the refund cell never ran)",
    };
  },
};

export const sealScenarios: Scenario[] = [emptyNotebookSeal, unrefundedSeal, incompleteSeal];
