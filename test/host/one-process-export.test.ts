/**
 * One Python process for execute and HTML export (issue 15): the executor stays, nbconvert loaded,
 * for the notebook's one export; the page it writes is byte for byte the one nbconvert's command
 * line writes from the same audit copy, and passes the same checks. Real tslab kernel, tiny notebook.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { executeNotebook, REPO_ROOT } from "../../lib/host/jupyter";
import { readNotebook, TEMPLATE, writeNotebook, type Notebook } from "../../lib/host/nbfile";
import { exportHtml } from "../../lib/host/jupyter";
import { alive } from "../../lib/procs";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "one-process-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function tinyNotebook(dir: string): string {
  const template = readNotebook(path.join(REPO_ROOT, TEMPLATE));
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: template.metadata.kernelspec, language_info: template.metadata.language_info },
    cells: [
      { cell_type: "markdown", id: "m1", metadata: {}, source: "# Tiny <script>alert(1)</script>" },
      {
        cell_type: "code",
        id: "c1",
        metadata: {},
        source: 'console.log("hello from the kernel")',
        outputs: [],
        execution_count: null,
      },
      { cell_type: "code", id: "c2", metadata: {}, source: "1 + 1", outputs: [], execution_count: null },
    ],
  };
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "tiny.ipynb");
  writeNotebook(file, nb);
  return file;
}

/**
 * One run of the tiny notebook with the executor kept for the export, then its two exports (the
 * executor's, then nbconvert's command line once the executor is gone), shared by the three tests
 * that look at such a run: each asserts its own facts about it; the kernel and the Python processes
 * are started once instead of three times. Its temporary folder is its own (TMPDIR while it runs), so
 * that the no-scratch-folder check sees what the run and its exports left.
 */
interface SharedRun {
  file: string;
  tmp: string;
  pid: number;
  r: Awaited<ReturnType<typeof executeNotebook>>;
  atDone: { text: string; mtimeMs: number; executorAlive: boolean; kernels: number } | null;
  /** Right after executeNotebook returned. */
  saved: string;
  savedMtimeMs: number;
  executorAliveAfterRun: boolean;
  one: Awaited<ReturnType<typeof exportHtml>>;
  onePage: string;
  /** The notebook's text right after the first export. */
  afterOne: string;
  two: Awaited<ReturnType<typeof exportHtml>>;
  twoPage: string;
}
let shared: Promise<SharedRun> | undefined;
const sharedRun = () => (shared ??= runShared());
async function runShared(): Promise<SharedRun> {
  const tmp = fs.mkdtempSync(path.join(scratch, "shared-tmp-"));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    const file = tinyNotebook(path.join(scratch, "a"));
    let pid = 0;
    let atDone: SharedRun["atDone"] = null;
    const r = await executeNotebook(
      file,
      {},
      {
        exportAfter: true,
        cellTimeoutS: 120,
        onStart: (p) => (pid = p),
        onCellsDone: () => {
          atDone = {
            text: fs.readFileSync(file, "utf8"),
            mtimeMs: fs.statSync(file).mtimeMs,
            executorAlive: alive(pid),
            kernels: childrenOf(pid).length,
          };
        },
      },
    );
    const saved = fs.readFileSync(file, "utf8");
    const savedMtimeMs = fs.statSync(file).mtimeMs;
    const executorAliveAfterRun = alive(pid);
    const one = await exportHtml(file);
    const onePage = fs.readFileSync(one.html, "utf8");
    const afterOne = fs.readFileSync(file, "utf8");
    const two = await exportHtml(file); // the executor is gone: nbconvert's command line, same copy
    const twoPage = fs.readFileSync(two.html, "utf8");
    return {
      file,
      tmp,
      pid,
      r,
      atDone,
      saved,
      savedMtimeMs,
      executorAliveAfterRun,
      one,
      onePage,
      afterOne,
      two,
      twoPage,
    };
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
}

test("the executor exports the page itself, identical to nbconvert's command line, then exits", {
  timeout: 180_000,
}, async () => {
  const { r, pid, executorAliveAfterRun, one, onePage: served, two, twoPage } = await sharedRun();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.failure, null);
  assert.doesNotMatch(r.stderr, /execute\.py-executed/, "the protocol line is not the operator's");
  assert.ok(executorAliveAfterRun, "the executor waits for the export");

  assert.equal(one.via, "executor");
  assert.match(served, /hello from the kernel/);
  assert.match(served, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);

  assert.equal(two.via, "nbconvert"); // the executor is gone: nbconvert's command line
  assert.equal(served, twoPage, "the same page either way");
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((res) => setTimeout(res, 100));
  assert.ok(!alive(pid), "the executor exited after its export");
});

test("an executor never asked to export lets go when told, and an export naming its Jupyter uses nbconvert", {
  timeout: 180_000,
}, async () => {
  const file = tinyNotebook(path.join(scratch, "b"));
  let pid = 0;
  const r = await executeNotebook(file, {}, { exportAfter: true, cellTimeoutS: 120, onStart: (p) => (pid = p) });
  assert.equal(r.code, 0, r.stderr);
  const page = await exportHtml(file, { jupyter: path.join(REPO_ROOT, ".venv", "bin", "jupyter") });
  assert.equal(page.via, "nbconvert");
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((res) => setTimeout(res, 100));
  assert.ok(!alive(pid), "the waiting executor exited when its stdin closed");
});

test("a kernel that never launched: the executor still serves the export (its exporter loads after the run)", {
  timeout: 180_000,
}, async () => {
  const file = tinyNotebook(path.join(scratch, "c"));
  // No tslab kernelspec on this path: the launch fails before any kernel process exists, which is
  // where the executor otherwise starts loading nbconvert.
  const noKernels = path.join(scratch, "no-kernels");
  fs.mkdirSync(noKernels, { recursive: true });
  const r = await executeNotebook(file, { JUPYTER_PATH: noKernels }, { exportAfter: true, cellTimeoutS: 120 });
  assert.notEqual(r.code, 0, "the run failed");
  assert.match(r.stderr, /before the first cell/);
  const page = await exportHtml(file);
  assert.equal(page.via, "executor");
  assert.match(fs.readFileSync(page.html, "utf8"), /Tiny &lt;script&gt;/);
});

test("the page is made while the kernel shuts down, from the very copy the export asks for, and taken only then", {
  timeout: 240_000,
}, async () => {
  // This test's own temporary folder: the scratch folders of the export made ahead are all removed.
  const tmp = fs.mkdtempSync(path.join(scratch, "tmp-"));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    const { r, pid, saved, afterOne, one, onePage: ahead, two: again, twoPage, tmp: sharedTmp } = await sharedRun();
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /execute\.py-cells-done/, "the protocol line is not the operator's");
    assert.deepEqual((JSON.parse(saved) as Notebook).metadata.payment_e2e, { executed_through: 2, complete: true });

    assert.equal(one.via, "executor");
    assert.equal(one.ahead, true, "the page made during the kernel's shutdown is taken");
    assert.equal(afterOne, saved, "the notebook is not touched");
    assert.equal(again.via, "nbconvert"); // the executor is gone: nbconvert's command line, same copy
    assert.equal(again.ahead, false);
    assert.equal(ahead, twoPage, "byte for byte the page asked for now");
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((res) => setTimeout(res, 100));
    assert.ok(!alive(pid), "the executor exited after its export");
    for (let i = 0; i < 50 && fs.readdirSync(sharedTmp).length; i++) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(fs.readdirSync(sharedTmp), [], "no scratch folder left behind by that run");

    // A different note (a seal exception) or a notebook changed since: the page is made afresh.
    const file2 = tinyNotebook(path.join(scratch, "e"));
    assert.equal((await executeNotebook(file2, {}, { exportAfter: true, cellTimeoutS: 120 })).code, 0);
    const noted = await exportHtml(file2, { sealedAs: "Sealed as incomplete, for the test." });
    assert.equal(noted.via, "executor");
    assert.equal(noted.ahead, false, "made from another copy: not taken");
    assert.match(fs.readFileSync(noted.html, "utf8"), /Sealed as incomplete, for the test\./);

    const file3 = tinyNotebook(path.join(scratch, "f"));
    assert.equal((await executeNotebook(file3, {}, { exportAfter: true, cellTimeoutS: 120 })).code, 0);
    const nb = readNotebook(file3);
    nb.cells[0].source = "# Tiny, masked since";
    writeNotebook(file3, nb);
    const changed = await exportHtml(file3);
    assert.equal(changed.via, "executor");
    assert.equal(changed.ahead, false, "the notebook changed since: not taken");
    assert.match(fs.readFileSync(changed.html, "utf8"), /Tiny, masked since/);

    for (let i = 0; i < 50 && fs.readdirSync(tmp).length; i++) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(fs.readdirSync(tmp), [], "no scratch folder left behind");
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
});

test("the notebook is final when the executor says its cells are done: nothing is written after, while its kernel shuts down", {
  timeout: 180_000,
}, async () => {
  const { r, atDone, saved, savedMtimeMs, one: page } = await sharedRun();
  assert.equal(r.code, 0, r.stderr);
  assert.ok(atDone, "onCellsDone was called before executeNotebook returned");
  const done = atDone as unknown as { text: string; mtimeMs: number; executorAlive: boolean; kernels: number };
  assert.ok(done.executorAlive, "the executor was still there");
  // The kernel's shutdown starts as the line is written, and this process reads it when it is next
  // scheduled: on a loaded machine (6 test files on 2 cores) the kernel can be gone by then. What this
  // test holds is that nothing is written after the line, kernel or not.
  assert.ok(done.kernels <= 1, `one kernel at most, found ${done.kernels}`);
  assert.deepEqual((JSON.parse(done.text) as Notebook).metadata.payment_e2e, { executed_through: 2, complete: true });
  assert.equal(saved, done.text, "not written after: the shutdown changed nothing on disk");
  assert.equal(savedMtimeMs, done.mtimeMs);
  assert.equal(page.ahead, true); // its export
});

/** The direct children of a process (the executor's kernel launcher). */
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
