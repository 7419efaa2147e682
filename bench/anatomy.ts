/**
 * Where P1's fixed costs go (issue 7: "per-cell TypeScript compile in tslab, imports, kernel
 * start"), each part timed alone, outside any notebook:
 * - kernel start: Python importing nbconvert/nbclient, and the tslab process loading its own
 *   TypeScript and building its compiler (createConverter) before it can answer;
 * - imports: plain Node loading the compiled lib, the run-time floor of the session cell
 *   (undici, zod, Plot, linkedom, pg…) once tslab no longer type-checks lib.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { REPO_ROOT } from "../lib/jupyter";
import { median } from "./stats";

export interface Anatomy {
  rounds: number;
  pythonImportMs: number;
  tslab: { processMs: number; typescriptRequireMs: number; createConverterMs: number };
  /** Node alone requiring the compiled lib's notebook module; NaN without one. */
  runtimeRequireMs: number;
}

/** Runs a command to completion; its wall time and the JSON of its last stdout line. */
function timed<T>(cmd: string, args: string[]): { ms: number; json: T | null } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: "utf8", timeout: 2 * 60 * 1000 });
  const ms = performance.now() - t0;
  try {
    return { ms, json: JSON.parse((r.stdout ?? "").trim().split("\n").pop() ?? "") as T };
  } catch {
    return { ms, json: null };
  }
}

const TSLAB_PROBE = [
  "const t0 = performance.now();",
  'require("@tslab/typescript-for-tslab");',
  "const t1 = performance.now();",
  'const c = require("tslab/dist/converter").createConverter();',
  "const t2 = performance.now();",
  "c.close();",
  "console.log(JSON.stringify({ ts: t1 - t0, conv: t2 - t1 }));",
].join(" ");

/** Each part `rounds` times, medians (a busy machine doubles a single sample now and then). */
export function runAnatomy(o: { rounds: number; compiledEntry: string | null; log: (l: string) => void }): Anatomy {
  const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const py: number[] = [];
  const proc: number[] = [];
  const ts: number[] = [];
  const conv: number[] = [];
  const req: number[] = [];
  for (let i = 0; i < o.rounds; i++) {
    py.push(timed(python, ["-c", "import nbconvert, nbclient, jupyter_client"]).ms);
    const t = timed<{ ts: number; conv: number }>(process.execPath, ["-e", TSLAB_PROBE]);
    proc.push(t.ms);
    ts.push(t.json?.ts ?? NaN);
    conv.push(t.json?.conv ?? NaN);
    if (o.compiledEntry && fs.existsSync(o.compiledEntry)) {
      const entry = JSON.stringify(o.compiledEntry);
      req.push(timed<number>(process.execPath, ["-e", `const t = performance.now(); require(${entry}); console.log(performance.now() - t);`]).json ?? NaN);
    }
  }
  const a: Anatomy = {
    rounds: o.rounds,
    pythonImportMs: median(py),
    tslab: { processMs: median(proc), typescriptRequireMs: median(ts), createConverterMs: median(conv) },
    runtimeRequireMs: req.length ? median(req) : NaN,
  };
  o.log(`anatomy: python imports ${Math.round(a.pythonImportMs)} ms, tslab process ${Math.round(a.tslab.processMs)} ms, compiled lib require ${Math.round(a.runtimeRequireMs)} ms`);
  return a;
}
