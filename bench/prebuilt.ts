/**
 * P1's A/B on the session cell's import, measured rather than guessed. The template's open cell
 * imports lib either from its sources (`./lib/notebook`: tslab type-checks every lib file in the
 * kernel) or precompiled to CommonJS + .d.ts (`./build/lib/notebook`, `npm run build`). The bench
 * runs the other one too, interleaved: before the build step existed, the what-if of adopting it;
 * since, what it still buys. Only session copies are patched; lib/ and the template are untouched.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../lib/host/jupyter";
import { TEMPLATE, readNotebook, sourceOf, writeNotebook } from "../lib/host/nbfile";
import type { P1Variant } from "./p1-overhead";

/**
 * `npm run build --if-present`: brings the project's own lib build up to date before anything is
 * timed, so that a rebuild after a lib edit does not land inside the first measured run.
 */
export function projectBuild(): { ms: number; code: number } {
  const t0 = performance.now();
  const r = spawnSync("npm", ["run", "--silent", "build", "--if-present"], {
    cwd: REPO_ROOT,
    stdio: "ignore",
    timeout: 5 * 60 * 1000,
  });
  return { ms: performance.now() - t0, code: r.status ?? 1 };
}

export const SOURCE_SPEC = "./lib/notebook";
const OPEN_IMPORT = /import\s*\{\s*openNotebook\s*\}\s*from\s*"([^"]+)"/;

export interface Build {
  dir: string;
  ms: number;
  ok: boolean;
  error: string | null;
}

/** The module the template's open cell imports openNotebook from, or null when there is none. */
export function templateImport(): string | null {
  for (const c of readNotebook(path.join(REPO_ROOT, TEMPLATE)).cells) {
    const m = c.cell_type === "code" ? OPEN_IMPORT.exec(sourceOf(c)) : null;
    if (m) return m[1];
  }
  return null;
}

/** `tsc -p tsconfig.tslab.json` with emit on, CommonJS and declarations, into `dir` (bench/.work). */
export function buildLib(dir: string): Build {
  fs.rmSync(dir, { recursive: true, force: true });
  const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [tsc, "-p", "tsconfig.tslab.json", "--noEmit", "false", "--module", "commonjs", "--declaration", "--outDir", dir],
    { cwd: REPO_ROOT, encoding: "utf8", timeout: 5 * 60 * 1000 },
  );
  const ms = performance.now() - t0;
  // Type errors still emit (noEmitOnError is off); what matters is that the entry point exists.
  const ok = fs.existsSync(path.join(dir, "notebook.js")) && fs.existsSync(path.join(dir, "notebook.d.ts"));
  return { dir, ms, ok, error: ok ? null : (r.stdout || r.stderr || `tsc exit ${r.status}`).split("\n")[0] };
}

/** A patch that points a session notebook's open-cell import at `to` (kernel cwd = repo root). */
function retarget(from: string, to: string): (notebook: string) => void {
  return (notebook) => {
    const nb = readNotebook(notebook);
    const cell = nb.cells.find((c) => c.cell_type === "code" && sourceOf(c).includes(`"${from}"`));
    if (!cell) throw new Error(`${notebook}: no cell imports "${from}"; update bench/prebuilt.ts to the template`);
    cell.source = sourceOf(cell).replace(`"${from}"`, JSON.stringify(to));
    writeNotebook(notebook, nb);
  };
}

export interface ImportAB {
  variants: P1Variant[];
  /** Our own build, when the template still imports sources. */
  build: Build | null;
  /** The compiled notebook module the precompiled variant loads (for the require-floor measure). */
  compiledEntry: string | null;
}

/**
 * Today's notebook first, then (with `compare`) the other import; `workDir` receives a build when
 * the template still imports sources.
 */
export function importAB(workDir: string, compare: boolean, log: (l: string) => void): ImportAB {
  const spec = templateImport();
  if (!spec) return { variants: [{ name: "today", precompiled: false }], build: null, compiledEntry: null };
  if (spec !== SOURCE_SPEC) {
    // No "lib from sources" what-if any more (issue 26 item 2): it failed every run since lib was
    // split into folders (lib/notebook/index.ts, …). tslab 1.0.22 loads the TypeScript files a cell
    // imports from its own compiled outputs, resolving an import `<id>` only as `<id>.js`, never as
    // `<id>/index.js`: the session cell's `./lib/notebook` is "Cannot find module", and with
    // `./lib/notebook/index` lib's own folder imports (`../plot`) fail the same way. Running lib from
    // its sources would need every lib import spelled `…/index` or a patched tslab; the notebook has
    // imported build/lib (kept fresh automatically) since issue 15, so there is nothing to compare.
    // The compiled entry is a folder's index.js since the same split (the require floor read n/a).
    const file = path.join(REPO_ROOT, `${spec}.js`);
    return {
      variants: [{ name: "precompiled lib (today)", precompiled: true }],
      build: null,
      compiledEntry: fs.existsSync(file) ? file : path.join(REPO_ROOT, spec, "index.js"),
    };
  }
  if (!compare)
    return { variants: [{ name: "lib from sources (today)", precompiled: false }], build: null, compiledEntry: null };
  const build = buildLib(path.join(workDir, "lib-js"));
  log(
    `lib built to JS + .d.ts in ${Math.round(build.ms)} ms${build.ok ? "" : ` — FAILED (${build.error}), no what-if runs`}`,
  );
  const variants: P1Variant[] = [{ name: "lib from sources (today)", precompiled: false }];
  const to = `./${path.relative(REPO_ROOT, path.join(build.dir, "notebook")).split(path.sep).join("/")}`;
  if (build.ok) variants.push({ name: "precompiled lib (what-if)", precompiled: true, patch: retarget(spec, to) });
  return { variants, build, compiledEntry: build.ok ? path.join(build.dir, "notebook.js") : null };
}
