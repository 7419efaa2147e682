/**
 * The headless executor (jupyter/execute.py) and the notebook writers: every save is atomic, so a
 * full disk or a read-only folder leaves the earlier notebook intact (no temp file left behind) and
 * the failure is loud; a kernel that dies leaves the notebook as it was after the last finished
 * cell. Full disk and read-only use a small tmpfs (mount, as root); without it those tests skip.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { EXECUTOR, EXECUTOR_EXIT, executeNotebook, pythonFor } from "../../lib/host/jupyter";
import { readNotebook, writeNotebook, type Notebook } from "../../lib/host/nbfile";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "executor-"));
const mounts: string[] = [];
after(() => {
  for (const m of mounts) if (spawnSync("umount", [m]).status !== 0) spawnSync("umount", ["-l", m]);
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** A tmpfs of `kb` KiB, or null when this machine cannot mount one. */
function tmpfs(kb: number): string | null {
  const dir = fs.mkdtempSync(path.join(scratch, "tmpfs-"));
  if (spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kb}k`, "tmpfs", dir]).status !== 0) return null;
  mounts.push(dir);
  return dir;
}
const canMount = (() => {
  const d = tmpfs(64);
  return d ? false : "cannot mount a tmpfs here (needs root)";
})();

/** jupyter/execute.py's atomic_write, called from its own Python: {ok} or the SaveError's errno name. */
function pyAtomicWrite(file: string, bytes: number): { ok: boolean; code?: string } {
  const code = [
    "import json, sys",
    "sys.path.insert(0, sys.argv[1])",
    "import execute",
    "try:",
    "    execute.atomic_write(sys.argv[2], 'x' * int(sys.argv[3]))",
    "    print(json.dumps({'ok': True}))",
    "except execute.SaveError as e:",
    "    print(json.dumps({'ok': False, 'code': e.code}))",
  ].join("\n");
  const r = spawnSync(pythonFor(), ["-c", code, path.dirname(EXECUTOR), file, String(bytes)], {
    encoding: "utf8",
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" }, // no __pycache__ in jupyter/
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { ok: boolean; code?: string };
}

const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes(".saving"));

test("the driver's atomic write replaces the file whole and leaves no temp file", () => {
  const file = path.join(scratch, "a.ipynb");
  fs.writeFileSync(file, "old");
  assert.deepEqual(pyAtomicWrite(file, 5000), { ok: true });
  assert.equal(fs.readFileSync(file, "utf8"), "x".repeat(5000));
  assert.deepEqual(leftovers(scratch), []);
});

test("a full disk: ENOSPC, the earlier file intact, the temp file removed", { skip: canMount }, () => {
  const dir = tmpfs(64)!;
  const file = path.join(dir, "nb.ipynb");
  fs.writeFileSync(file, "earlier good copy");
  assert.deepEqual(pyAtomicWrite(file, 200 * 1024), { ok: false, code: "ENOSPC" });
  assert.equal(fs.readFileSync(file, "utf8"), "earlier good copy");
  assert.deepEqual(leftovers(dir), []);
  // The lib's writer (session preparation, audit copies) behaves the same.
  const big: Notebook = { nbformat: 4, nbformat_minor: 5, metadata: { pad: "y".repeat(200 * 1024) }, cells: [] };
  assert.throws(() => writeNotebook(file, big), /ENOSPC/);
  assert.equal(fs.readFileSync(file, "utf8"), "earlier good copy");
  assert.deepEqual(leftovers(dir), []);
});

test("a read-only folder: EROFS, the earlier file intact", { skip: canMount }, () => {
  const dir = tmpfs(64)!;
  const file = path.join(dir, "nb.ipynb");
  fs.writeFileSync(file, "earlier good copy");
  assert.equal(spawnSync("mount", ["-o", "remount,ro", dir]).status, 0);
  assert.deepEqual(pyAtomicWrite(file, 100), { ok: false, code: "EROFS" });
  assert.throws(() => writeNotebook(file, readNotebookish()), /EROFS/);
  assert.equal(fs.readFileSync(file, "utf8"), "earlier good copy");
});

function readNotebookish(): Notebook {
  return { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [] };
}

const code = (id: string, source: string) => ({
  cell_type: "code" as const,
  id,
  metadata: {},
  source,
  outputs: [],
  execution_count: null,
});

function tinyNotebook(file: string, cells: Notebook["cells"]): void {
  writeNotebook(file, {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "tslab", display_name: "TypeScript (tslab, runbook)", language: "typescript" } },
    cells,
  });
}

test("a folder that cannot take the notebook stops the run before the kernel starts", { skip: canMount }, async () => {
  const dir = tmpfs(64)!;
  const file = path.join(dir, "nb.ipynb");
  tinyNotebook(file, [code("c1", 'console.log("must not run")')]);
  const before = fs.readFileSync(file, "utf8");
  assert.equal(spawnSync("mount", ["-o", "remount,ro", dir]).status, 0);
  const r = await executeNotebook(file, {}, { cellTimeoutS: 30 });
  assert.equal(r.code, EXECUTOR_EXIT.save);
  assert.match(
    r.failure ?? "",
    /^notebook not saved before the first cell: Read-only file system \(EROFS\) writing .*nb\.ipynb; nothing ran/,
  );
  assert.equal(fs.readFileSync(file, "utf8"), before);
});

test("an unreadable notebook: exit 2, named", async () => {
  const file = path.join(scratch, "broken.ipynb");
  fs.writeFileSync(file, '{"cells": [');
  const r = await executeNotebook(file, {});
  assert.equal(r.code, EXECUTOR_EXIT.usage);
  assert.match(r.failure ?? "", /cannot read .*broken\.ipynb/);
});

/** The venv's Python (nbclient 0.11) and Debian's (python3-nbclient 0.7.2), when installed. */
const DEBIAN_PYTHON = "/usr/bin/python3";
/**
 * Each with its nbclient's version, asked once, from the installed package's metadata: importing
 * nbclient 0.11 costs about a second of CPU, the metadata 0.05 s (an install that does not import
 * fails the run below instead of skipping it).
 */
const PYTHONS = [...new Set([pythonFor(), DEBIAN_PYTHON])].flatMap((python) => {
  const r = spawnSync(python, ["-c", "import importlib.metadata as m; print(m.version('nbclient'))"], {
    encoding: "utf8",
  });
  return r.status === 0 ? [{ python, nbclient: r.stdout.trim() }] : [];
});

for (const { python, nbclient } of PYTHONS)
  test(`tslab run (${python}): saved after every cell, marked complete; a dying kernel leaves the last finished cell`, {
    timeout: 120_000,
  }, async () => {
    const file = path.join(scratch, `tiny-${nbclient}.ipynb`);
    tinyNotebook(file, [
      { cell_type: "markdown", id: "m0", metadata: {}, source: "# tiny" },
      code("c1", 'console.log("one")'),
      code("c2", 'console.log("two")'),
    ]);
    const ok = await executeNotebook(file, {}, { cellTimeoutS: 60, python });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.failure, null);
    assert.deepEqual(ok.saved, { executedThrough: 2, complete: true });
    const nb = readNotebook(file);
    assert.match(JSON.stringify(nb.cells[2].outputs), /two/);
    assert.deepEqual(leftovers(scratch), []);

    // Run again with a cell that kills its own kernel: the earlier run's outputs are cleared, the
    // notebook holds cell 1's outputs and says where it stopped.
    nb.cells.push(code("c3", 'console.log("never")'));
    nb.cells[2] = code("c2", 'console.log("dying"); process.kill(process.pid, "SIGKILL")');
    writeNotebook(file, nb);
    const dead = await executeNotebook(file, {}, { cellTimeoutS: 60, python });
    assert.equal(dead.code, EXECUTOR_EXIT.dead, dead.stderr);
    assert.match(dead.failure ?? "", /^the kernel died in cell 2 \(c2\); the notebook is saved through cell 1 \(c1\)/);
    const left = readNotebook(file);
    assert.deepEqual(left.metadata.payment_e2e, {
      executed_through: 1,
      complete: false,
      stopped_in: 2,
      reason: "the kernel died",
    });
    assert.match(JSON.stringify(left.cells[1].outputs), /one/);
    assert.deepEqual(left.cells[3].outputs, []);
  });
