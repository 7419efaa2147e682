// §7.2 again, through the real notebook: the session notebook executed headless by Jupyter
// (jupyter/execute.py + the project's tslab kernel, Chromium paying the checkout) with the stuck-order
// fault. The lib is what stops later steps (the executor allows errors), so this checks that the
// notebook shows it: step 5's FAIL banner, the money-moved banner, SKIPPED cells, and the executed
// notebook saved next to the evidence.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TRACE_FILE } from "../../../lib/evidence/files";
import { sourceOf, type Notebook } from "../../../lib/host/nbfile";
import { verifyChain } from "../../../lib/evidence/chain";
import { rehearse, type Rehearsal } from "../../../scripts/rehearse";
import { ROUTE, type Scenario } from "../harness";

const DEADLINE_S = 6;
/** tslab recompiles when lib/*.ts changes under it; another engineer's edit is not this suite's failure. */
const KERNEL_FLAKE = /Unexpected pending rebuildTimer/;

/** All text a cell shows (Markdown, plain text, streams). */
function shown(cell: Notebook["cells"][number]): string {
  const outs =
    (cell as { outputs?: Array<{ text?: string | string[]; data?: Record<string, string | string[]> }> }).outputs ?? [];
  return outs
    .map((o) => [o.text, o.data?.["text/markdown"], o.data?.["text/plain"]].flat().filter(Boolean).join(""))
    .join("\n");
}

export const stuckNotebook: Scenario = {
  n: "2n",
  title: "stuck order through the real notebook (executor + tslab)",
  timeoutMs: 240_000,
  async run({ w, delta, restart }) {
    let r: Rehearsal | null = null;
    for (let attempt = 1; attempt <= 2; attempt++) {
      await w.freeSecond(); // the notebook's session id is made from the clock
      r = await rehearse({
        sandbox: w.sb,
        archiveDir: w.archive,
        faults: { stuckProcessing: true },
        params: { POLL_DEADLINE_S: DEADLINE_S, REFUND_DEADLINE_S: DEADLINE_S },
      });
      if (!KERNEL_FLAKE.test(r.execute.stderr)) break;
      console.log(`fault suite: tslab rebuilt under the notebook (lib edited meanwhile); running it again`);
      await restart();
    }
    assert.ok(r);
    assert.deepEqual(r.execute.saved?.complete, true, "the notebook is marked complete");
    assert.equal(
      r.execute.code,
      0,
      `executor failed: ${r.execute.failure} ${r.execute.stderr.split("\n").slice(-5).join(" / ")}`,
    );
    const want = ["PASS", "PASS", "PASS", "PASS", "PASS", "FAIL", "SKIPPED", "SKIPPED", "FAIL", "SKIPPED"];
    assert.deepEqual(
      [...Array(10).keys()].map((n) => r!.statuses.get(n) ?? "not run"),
      want,
    );

    // The executed notebook is saved, with what the operator saw in each cell.
    assert.ok(fs.existsSync(r.notebook));
    const nb = JSON.parse(fs.readFileSync(r.notebook, "utf8")) as Notebook;
    const cellOf = (call: string) => nb.cells.find((c) => c.cell_type === "code" && sourceOf(c).includes(call));
    const s5 = shown(cellOf('nb.run("completed")')!);
    assert.match(s5, /❌ FAIL:\*\* order completed not reached within 6 s \(last status: processing\)/);
    assert.match(s5, /Step 5 FAILED/);
    assert.match(s5, /Money has moved/);
    // The banner names the amount step 4 recorded, and where it came from (issue 23).
    assert.match(
      s5,
      /Money moved: \*\*\d+\.\d\d EUR\*\* \(the order's total: the orchestrator reported no captured amount yet\)/,
    );
    assert.match(shown(cellOf('nb.run("licence")')!), /⏭️ SKIPPED:\*\* step 5 failed at/);
    assert.match(
      shown(cellOf('nb.run("refund")')!),
      /answered 409: order is processing; only completed orders can be refunded/,
    );
    assert.ok(fs.existsSync(path.join(r.dir, "state.jsonl")));
    const chain = verifyChain(path.join(r.dir, TRACE_FILE));
    assert.ok(chain.ok, `trace chain broken: ${JSON.stringify(chain.firstBroken)}`);

    const d = await delta();
    assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 0, 1]);
    const outcome = want
      .map((s, n) => `${n} ${s}`)
      .join(" · ")
      .replace(/0 PASS · 1 PASS · 2 PASS · 3 PASS · 4 PASS/, "0-4 PASS")
      .replace("6 SKIPPED · 7 SKIPPED", "6-7 SKIPPED");
    return {
      outcome: `${outcome} (executor exit 0, notebook complete)`,
      notes: `executed notebook saved with FAIL + money-moved banners; trace chain ok; archive: ${r.archive ? "sealed" : `not sealed (${r.archiveError})`}`,
    };
  },
};
