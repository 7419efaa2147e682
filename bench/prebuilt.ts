/**
 * The what-if of the main P1 finding, measured rather than guessed: lib compiled once to
 * CommonJS + .d.ts (with the project's tsc and tslab's compile options), and a session notebook
 * whose open cell imports that build instead of lib's sources. Built under bench/.work (git-ignored);
 * lib/ and the template are untouched.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../lib/jupyter";
import { readNotebook, sourceOf, writeNotebook } from "../lib/nbfile";

const SOURCE_IMPORT = '"./lib/notebook"';

export interface Build {
  dir: string;
  ms: number;
  ok: boolean;
  error: string | null;
}

/** `tsc -p tsconfig.tslab.json` with emit on, CommonJS, declarations, into `dir`. */
export function buildLib(dir: string): Build {
  fs.rmSync(dir, { recursive: true, force: true });
  const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.tslab.json", "--noEmit", "false", "--module", "commonjs", "--declaration", "--outDir", dir], { cwd: REPO_ROOT, encoding: "utf8", timeout: 5 * 60 * 1000 });
  const ms = performance.now() - t0;
  // Type errors still emit (noEmitOnError is off); what matters is that the entry point exists.
  const ok = fs.existsSync(path.join(dir, "notebook.js")) && fs.existsSync(path.join(dir, "notebook.d.ts"));
  return { dir, ms, ok, error: ok ? null : (r.stdout || r.stderr || `tsc exit ${r.status}`).split("\n")[0] };
}

/** Returns a patch that points a session notebook's lib import at the build (kernel cwd = repo root). */
export function importFromBuild(build: Build): (notebook: string) => void {
  const spec = JSON.stringify(`./${path.relative(REPO_ROOT, path.join(build.dir, "notebook")).split(path.sep).join("/")}`);
  return (notebook) => {
    const nb = readNotebook(notebook);
    const cell = nb.cells.find((c) => c.cell_type === "code" && sourceOf(c).includes(SOURCE_IMPORT));
    if (!cell) throw new Error(`${notebook}: no cell imports ${SOURCE_IMPORT}; update bench/prebuilt.ts to the template`);
    cell.source = sourceOf(cell).replace(SOURCE_IMPORT, spec);
    writeNotebook(notebook, nb);
  };
}
