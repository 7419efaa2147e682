// Issue 13 item 6: the executed notebook survives faults. The real notebook, executed headless by
// jupyter/execute.py (nbclient + tslab, saving after every cell), with the fault striking mid-run:
// the kernel SIGKILLed while step 3's POST /orders is in flight, the disk filling up, and the
// folder turning read-only. Each asserts that the .ipynb on disk is valid JSON and valid nbformat,
// holds the outputs up to the last finished cell and says so in its metadata, that journal and
// trace are intact, and that no second order or refund was created.
// Full disk and read-only folder (struck while step 8's refund is answered) need a tmpfs (mount, as root in CI): without it they report SKIP.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { verifyChain } from "../../../lib/evidence/chain";
import { TRACE_FILE, JOURNAL_FILE } from "../../../lib/evidence/files";
import { Journal, latestStepResults } from "../../../lib/evidence/journal";
import { EXECUTOR_EXIT, executeNotebook, pythonFor } from "../../../lib/host/jupyter";
import { sourceOf, type Notebook } from "../../../lib/host/nbfile";
import { prepareSession } from "../../../lib/host/prepare";
import { scratchDocs } from "../../../scripts/rehearse";
import { faultyProxy, ROUTE, type Scenario, type World } from "../harness";

/** nbformat's own validation of the file on disk (the Python of the executor): problems, or "". */
export function nbformatProblems(file: string): string {
  const r = spawnSync(
    pythonFor(),
    ["-c", "import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))", file],
    { encoding: "utf8", timeout: 60_000 },
  );
  return r.status === 0 ? "" : (r.stderr.trim().split("\n").slice(-1)[0] ?? `exit ${r.status}`);
}

/** Every journal line whole (newline-terminated), parsing, and numbered 1..n. */
export function journalProblems(dir: string): string {
  const text = fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8");
  if (!text.endsWith("\n")) return "torn last line";
  const lines = text.slice(0, -1).split("\n");
  for (let i = 0; i < lines.length; i++) {
    try {
      const e = JSON.parse(lines[i]) as { seq?: number };
      if (e.seq !== undefined && e.seq !== i + 1) return `line ${i + 1} has seq ${e.seq}`;
    } catch {
      return `line ${i + 1} does not parse`;
    }
  }
  return "";
}

const cellIndex = (nb: Notebook, call: string) =>
  nb.cells.findIndex((c) => c.cell_type === "code" && sourceOf(c).includes(call));

/**
 * The saved notebook is whole and honest: valid nbformat, `metadata.payment_e2e` says it stopped
 * after `through`, and every code cell up to it has its outputs while none after the stopping
 * cell does (outputs of an earlier run were cleared, so nothing shows as this run's that is not).
 */
function assertSavedThrough(file: string, through: number, stoppedIn: number | null): Notebook {
  const nb = JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
  assert.equal(nbformatProblems(file), "", "the saved notebook is valid nbformat");
  const meta = nb.metadata.payment_e2e as { executed_through: number; complete: boolean };
  assert.equal(meta.complete, false);
  assert.equal(meta.executed_through, through);
  nb.cells.forEach((c, i) => {
    if (c.cell_type !== "code" || !sourceOf(c).includes("nb.")) return;
    if (i <= through) assert.ok(c.outputs?.length, `cell ${i} (finished) has its outputs`);
    else if (stoppedIn === null || i > stoppedIn) assert.deepEqual(c.outputs, [], `cell ${i} never ran`);
  });
  const left = fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith(".saving~"));
  assert.deepEqual(left, [], "no temp file left behind");
  return nb;
}

function assertEvidenceIntact(dir: string): void {
  const chain = verifyChain(path.join(dir, TRACE_FILE));
  assert.ok(chain.ok, `trace chain broken: ${JSON.stringify(chain.firstBroken)}`);
  assert.equal(journalProblems(dir), "", "journal intact");
}

export async function prepare(w: World, archiveDir: string, params: Record<string, string | number | boolean>) {
  await w.freeSecond(); // the session id is made from the clock
  return prepareSession(
    "sandbox",
    {
      BASE_URL: w.sb.marketplaceUrl,
      HYPERSWITCH_URL: w.sb.hyperswitchUrl,
      OPERATOR_EMAIL: w.sb.operator.email,
      REFUND: true,
      AUTO_PAY: "success",
      DOCS_DIR: scratchDocs(path.join(w.archive, "docs")),
      ...params,
    },
    { archiveDir },
  );
}

/** The kernel is the executor's child (the kernelspec `exec`s node): found through /proc. */
function childrenOf(pid: number): number[] {
  return fs.readdirSync("/proc").flatMap((p) => {
    if (!/^\d+$/.test(p)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      return ppid === pid ? [Number(p)] : [];
    } catch {
      return [];
    }
  });
}

function kernelOf(executorPid: number): number {
  const kids = childrenOf(executorPid).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("tslab");
    } catch {
      return false;
    }
  });
  assert.equal(kids.length, 1, `one tslab kernel under the executor (pid ${executorPid}), found ${kids.length}`);
  return kids[0];
}

export const env = (w: World) => ({
  OPERATOR_PASSWORD: w.sb.operator.password,
  DATABASE_URL: w.sb.readonlyDsn,
  HYPERSWITCH_API_KEY: w.sb.apiKey,
});

export const kernelKilledNotebook: Scenario = {
  n: "2k",
  title: "real notebook: kernel SIGKILLed during step 3's POST /orders, notebook run again",
  timeoutMs: 300_000,
  async run({ w, delta }) {
    let hold = true;
    const proxy = await faultyProxy(w.sb.marketplaceUrl, (m, u) =>
      hold && m === "POST" && u.split("?")[0] === "/api/v1/orders" ? "hold" : "pass",
    );
    try {
      const prep = await prepare(w, w.archive, { BASE_URL: proxy.url });
      let executor = 0;
      let killed = 0;
      const held = proxy.held.then(() => {
        killed = kernelOf(executor);
        process.kill(killed, "SIGKILL");
      });
      const first = await executeNotebook(prep.notebook, env(w), { onStart: (pid) => (executor = pid) });
      await held;
      assert.ok(killed > 0);
      assert.equal(first.code, EXECUTOR_EXIT.dead, `executor exit ${first.code}: ${first.stderr.slice(-400)}`);
      assert.match(first.failure ?? "", /^the kernel died in cell \d+ \(cell-10\)/);
      const nb = JSON.parse(fs.readFileSync(prep.notebook, "utf8")) as Notebook;
      const order = cellIndex(nb, 'nb.run("order")');
      const product = cellIndex(nb, 'nb.run("product")');
      assertSavedThrough(prep.notebook, product, order);
      assert.equal((nb.metadata.payment_e2e as { stopped_in: number }).stopped_in, order);
      assertEvidenceIntact(prep.dir);
      const journal = Journal.open(prep.dir);
      assert.ok(journal.last("order_intent") && !journal.last("order_created"), "killed between intent and answer");

      hold = false;
      const again = await executeNotebook(prep.notebook, env(w));
      assert.equal(again.code, 0, again.failure ?? "");
      assert.deepEqual(again.saved, { executedThrough: nb.cells.length - 1, complete: true });
      assert.equal(nbformatProblems(prep.notebook), "");
      assertEvidenceIntact(prep.dir);
      const statuses = [...latestStepResults(Journal.open(prep.dir).all()).values()].map((r) => r.status);
      assert.deepEqual(statuses, Array(10).fill("PASS"));
      assert.match(fs.readFileSync(prep.notebook, "utf8"), /resumed order ord_\w+ created at/);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 2]);
      return {
        outcome: `killed in step 3 (exit ${first.code}, saved through cell ${product}); re-run: 0-9 PASS`,
        notes: "notebook valid nbformat through the last finished cell; trace + journal intact; one order, one refund",
      };
    } finally {
      await proxy.close();
    }
  },
};

/** A fresh tmpfs for one session folder, or the reason there cannot be one. */
function tmpfs(sizeKb: number): { dir: string; umount(): void } | { skip: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "faults-tmpfs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKb}k,mode=0755`, "tmpfs", dir], {
    encoding: "utf8",
  });
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})` };
  }
  return {
    dir,
    umount() {
      if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A loopback proxy in front of the marketplace that holds the answer to the first request `match`
 * accepts (the backend has acted) until `release()`: the fault strikes while that cell waits.
 */
async function gateProxy(target: string, match: (method: string, url: string) => boolean) {
  let gated = false;
  const p = await faultyProxy(target, (m, u) => {
    if (gated || !match(m, u)) return "pass";
    gated = true;
    return "gate";
  });
  return { url: p.url, reached: p.held, release: p.release, close: p.close };
}

const isRefundPost = (m: string, u: string) =>
  m === "POST" && /^\/api\/v1\/orders\/[^/]+\/refund$/.test(u.split("?")[0]);

/**
 * Runs the notebook with its session folder on a tmpfs and strikes (`fault`) while step 8's
 * POST /refund waits for its answer (the refund exists; the cell has not finished): the cell's
 * journal and trace lines come after the strike, then the executor's save.
 */
async function strikeDuringRefund(
  w: World,
  fault: (mount: string) => void,
  heal: (mount: string) => void,
): Promise<
  | { skip: string }
  | { prep: ReturnType<typeof prepareSession>; r: Awaited<ReturnType<typeof executeNotebook>>; nb: Notebook }
> {
  const disk = tmpfs(8 * 1024);
  if ("skip" in disk) return disk;
  const gate = await gateProxy(w.sb.marketplaceUrl, isRefundPost);
  try {
    const prep = await prepare(w, disk.dir, { BASE_URL: gate.url });
    const template = JSON.parse(fs.readFileSync(prep.notebook, "utf8")) as Notebook;
    const running = executeNotebook(prep.notebook, env(w));
    const struck = gate.reached.then(() => {
      try {
        fault(disk.dir);
      } finally {
        gate.release();
      }
    });
    const r = await running;
    await struck;
    const through = cellIndex(template, 'nb.run("transfer")');
    const nb = assertSavedThrough(prep.notebook, through, cellIndex(template, 'nb.run("refund")'));
    assertEvidenceIntact(prep.dir);

    // The operator frees the disk (or the folder) and runs the notebook again: it resumes.
    heal(disk.dir);
    const again = await executeNotebook(prep.notebook, env(w));
    assert.equal(again.code, 0, again.failure ?? "");
    assert.deepEqual(again.saved, { executedThrough: template.cells.length - 1, complete: true });
    assert.equal(nbformatProblems(prep.notebook), "");
    assertEvidenceIntact(prep.dir);
    const statuses = [...latestStepResults(Journal.open(prep.dir).all()).values()].map((x) => x.status);
    assert.deepEqual(statuses, Array(10).fill("PASS"));
    return { prep, r, nb };
  } finally {
    await gate.close();
    disk.umount();
  }
}

function assertLoudSave(r: Awaited<ReturnType<typeof executeNotebook>>, errno: string, paid: number): void {
  assert.equal(r.code, EXECUTOR_EXIT.save, `executor exit ${r.code}: ${r.stderr.slice(-400)}`);
  assert.match(
    r.failure ?? "",
    new RegExp(
      `^notebook not saved after cell \\d+ \\(cell-21\\): .+ \\(${errno}\\) writing .+ \\(the copy on disk is the one after cell ${paid} \\(cell-19\\)\\)`,
    ),
  );
}

export const diskFullNotebook: Scenario = {
  n: "2f",
  title: "real notebook: the disk fills up while step 8's POST /refund is answered",
  timeoutMs: 300_000,
  async run({ w, delta }) {
    // Room for the journal and trace lines step 8 appends (a page each), not for a whole new notebook.
    const out = await strikeDuringRefund(
      w,
      (mount) => {
        const free = Number(fs.statfsSync(mount).bavail) * Number(fs.statfsSync(mount).bsize);
        fs.writeFileSync(path.join(mount, "filler"), Buffer.alloc(Math.max(0, free - 12 * 1024)));
      },
      (mount) => fs.rmSync(path.join(mount, "filler")),
    );
    if ("skip" in out) return { outcome: `SKIP: ${out.skip}`, notes: "not run: needs a tmpfs" };
    assertLoudSave(out.r, "ENOSPC", (out.nb.metadata.payment_e2e as { executed_through: number }).executed_through);
    const d = await delta();
    // The re-run may send the refund again (same Idempotency-Key) when its answer was never journaled.
    assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 1]);
    return {
      outcome: `executor exit 3 (ENOSPC after step 8); saved through step 7's cell, execution stopped; freed, re-run: 0-9 PASS`,
      notes: "earlier copy valid nbformat, no temp file left; trace + journal intact; one order, one refund",
    };
  },
};

export const readOnlyNotebook: Scenario = {
  n: "2r",
  title: "real notebook: the session folder turns read-only while step 8's POST /refund is answered",
  timeoutMs: 300_000,
  async run({ w, delta }) {
    // Root ignores chmod: remount the tmpfs read-only (retried: EBUSY while a write is open).
    const out = await strikeDuringRefund(
      w,
      (mount) => {
        for (let i = 0; i < 50; i++) {
          if (spawnSync("mount", ["-o", "remount,ro", mount]).status === 0) return;
          spawnSync("sleep", ["0.05"]);
        }
        throw new Error(`could not remount ${mount} read-only`);
      },
      (mount) => assert.equal(spawnSync("mount", ["-o", "remount,rw", mount]).status, 0),
    );
    if ("skip" in out) return { outcome: `SKIP: ${out.skip}`, notes: "not run: needs a tmpfs" };
    assertLoudSave(out.r, "EROFS", (out.nb.metadata.payment_e2e as { executed_through: number }).executed_through);
    const d = await delta();
    // The re-run may send the refund again (same Idempotency-Key) when its answer was never journaled.
    assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 1]);
    return {
      outcome: `executor exit 3 (EROFS after step 8); saved through step 7's cell, execution stopped; freed, re-run: 0-9 PASS`,
      notes: "earlier copy valid nbformat, no temp file left; trace + journal intact; one order, one refund",
    };
  },
};

export const notebookSaveScenarios: Scenario[] = [kernelKilledNotebook, diskFullNotebook, readOnlyNotebook];
