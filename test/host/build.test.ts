/**
 * build/lib, the notebook's precompiled lib: rebuilt when the sources change, and never seen half
 * written by a second process that finds it stale at the same moment (two real processes, real tsc,
 * on a small copy of the repository's layout).
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { buildIsFresh, ensureBuilt } from "../../lib/host/build";
import { inRepo } from "../../lib/paths";

const MODULES = 12;

/** A repository-shaped folder: lib/ with MODULES files, the two tsconfigs, node_modules linked. */
function smallRepo(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "build-"));
  fs.mkdirSync(path.join(root, "lib"));
  for (let i = 0; i < MODULES; i++)
    fs.writeFileSync(
      path.join(root, "lib", `m${i}.ts`),
      `import * as fs from "node:fs";\nexport const m${i} = (p: string): boolean => fs.existsSync(p) && ${i} >= 0;\n`,
    );
  for (const f of ["tsconfig.tslab.json", "tsconfig.build.json"]) fs.copyFileSync(inRepo(f), path.join(root, f));
  fs.symlinkSync(inRepo("node_modules"), path.join(root, "node_modules"));
  return root;
}

/** One process calling ensureBuilt(root), then listing what it may now import. */
function builder(root: string): Promise<{ code: number | null; out: string }> {
  const script = `
    const fs = require("node:fs"), path = require("node:path");
    const { ensureBuilt } = require(${JSON.stringify(inRepo("lib", "host", "build.ts"))});
    const built = ensureBuilt(${JSON.stringify(root)});
    const dir = path.join(${JSON.stringify(root)}, "build", "lib");
    const js = fs.readdirSync(dir).filter((f) => f.endsWith(".js")).length;
    const stamp = fs.existsSync(path.join(dir, ".source-sha256"));
    console.log(JSON.stringify({ built, js, stamp }));`;
  const child = spawn(process.execPath, ["--import", "tsx", "--eval", script], {
    cwd: inRepo(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, out })));
}

test("ensureBuilt: a build is keyed by the sources (an edit makes it stale, a rebuild fresh again), and a dead build's lock is taken over", () => {
  const root = smallRepo();
  try {
    assert.equal(buildIsFresh(root), false);
    // A lock left by a build that died (a pid above the kernel's pid_max cannot be running) is taken over.
    fs.mkdirSync(path.join(root, "build", ".lock"), { recursive: true });
    fs.writeFileSync(path.join(root, "build", ".lock", "pid"), "4194305");
    assert.equal(ensureBuilt(root), true);
    assert.equal(buildIsFresh(root), true);
    assert.equal(ensureBuilt(root), false, "a fresh build is not built again");
    fs.appendFileSync(path.join(root, "lib", "m0.ts"), "export const edited = 1;\n");
    assert.equal(buildIsFresh(root), false);
    assert.equal(ensureBuilt(root), true);
    assert.match(fs.readFileSync(path.join(root, "build", "lib", "m0.js"), "utf8"), /edited/);
    assert.deepEqual(
      fs.readdirSync(path.join(root, "build")).sort(),
      ["lib"],
      "no lock or temporary build is left behind",
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("ensureBuilt: two processes finding the build stale at once both see it whole when they return", async () => {
  const root = smallRepo();
  try {
    const first = builder(root);
    // The second starts while the first is compiling (tsc alone takes longer than this).
    await new Promise((r) => setTimeout(r, 400));
    const second = builder(root);
    const results = await Promise.all([first, second]);
    const seen = results.map(({ code, out }) => {
      assert.equal(code, 0, out);
      return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { built: boolean; js: number; stamp: boolean };
    });
    for (const s of seen) assert.deepEqual({ js: s.js, stamp: s.stamp }, { js: MODULES, stamp: true });
    assert.equal(seen.filter((s) => s.built).length, 1, "one process built; the other waited and found it fresh");
    assert.equal(buildIsFresh(root), true);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
