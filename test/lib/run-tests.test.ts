/**
 * npm test's runner (scripts/dev/run-tests.mjs) compiles the TypeScript once and runs the compiled
 * test files. These tests hold the compiled code to its source's behaviour where a mirror could
 * differ: `__dirname`, extensionless dynamic imports, stack lines, and stale or broken sources.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");
const RUNNER = path.join(ROOT, "scripts", "dev", "run-tests.mjs");
const runner = require(RUNNER) as {
  MIRROR: string;
  compileAll(root?: string): Promise<number>;
  compiledOf(source: string, root?: string): string;
};

/** A folder laid out as the repository: lib/ and test/ sources, and a mirror under build/test-js. */
function project(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "run-tests-"));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const node = (file: string, ...flags: string[]) =>
  spawnSync(process.execPath, [...flags, file], { encoding: "utf8", cwd: path.dirname(file) });

test("a compiled file reads __dirname and __filename as its source's, and imports an extensionless module", async () => {
  const root = project({
    "lib/where.ts": "export const where = (): string => __dirname;\nexport const file: string = __filename;\n",
    "test/probe.ts": [
      'import { where, file } from "../lib/where";',
      "async function main(): Promise<void> {",
      '  const late = await import("../lib/where");',
      "  console.log(JSON.stringify({ here: __dirname, where: where(), file, same: late.where === where }));",
      "}",
      "void main();",
    ].join("\n"),
  });
  assert.equal(await runner.compileAll(root), 2);
  const compiled = runner.compiledOf(path.join(root, "test", "probe.ts"), root);
  assert.equal(compiled, path.join(root, runner.MIRROR, "test", "probe.js"));
  const r = node(compiled);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    here: path.join(root, "test"),
    where: path.join(root, "lib"),
    file: path.join(root, "lib", "where.ts"),
    same: true,
  });
});

test("with source maps a failure names the .ts line, not the compiled one", async () => {
  const root = project({
    "test/fails.ts": "type T = { a: number };\nconst t: T = { a: 1 };\n\nif (t.a) throw new Error('here');\n",
  });
  await runner.compileAll(root);
  const r = node(runner.compiledOf(path.join(root, "test", "fails.ts"), root), "--enable-source-maps");
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    new RegExp(`${path.join(root, "test", "fails.ts").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:4`),
  );
});

test("an unchanged source is not written again; a removed source's compiled file goes with it", async () => {
  const root = project({ "lib/a.ts": "export const a = 1;\n", "lib/b.ts": "export const b = 2;\n" });
  assert.equal(await runner.compileAll(root), 2);
  const a = runner.compiledOf(path.join(root, "lib", "a.ts"), root);
  const before = fs.statSync(a).mtimeMs;
  fs.rmSync(path.join(root, "lib", "b.ts"));
  fs.writeFileSync(path.join(root, "lib", "c.ts"), "export const c = 3;\n");
  assert.equal(await runner.compileAll(root), 1, "only c.ts is new");
  assert.equal(fs.statSync(a).mtimeMs, before, "a.js untouched");
  assert.ok(!fs.existsSync(runner.compiledOf(path.join(root, "lib", "b.ts"), root)), "b.js removed with its source");
  assert.ok(fs.existsSync(runner.compiledOf(path.join(root, "lib", "c.ts"), root)));
});

test("a source that does not parse: one line naming the file, line and column, and the fix", async () => {
  const root = project({ "lib/ok.ts": "export const ok = 1;\n", "lib/broken.ts": "export const x = ;\n" });
  await assert.rejects(runner.compileAll(root), (err: Error) => {
    assert.match(err.message, /^run-tests: lib\/broken\.ts:1:\d+: .+ — fix the source/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
});

test("the runner refuses a test file that does not exist, in one line, before running anything", () => {
  const r = spawnSync(process.execPath, [RUNNER, "test/no-such.test.ts"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), "run-tests: no such test file: test/no-such.test.ts — give a path under test/");
  assert.doesNotMatch(r.stdout, /^ℹ tests/m, "node --test never started");
});
