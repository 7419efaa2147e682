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
import { REPO_ROOT } from "../lib/host/jupyter";
import { median } from "./stats";

export interface Anatomy {
  rounds: number;
  pythonImportMs: number;
  tslab: { processMs: number; typescriptRequireMs: number; createConverterMs: number };
  /** Node alone requiring the compiled lib's notebook module; NaN without one. */
  runtimeRequireMs: number;
  /** The packages lib requires directly, by first-load time (their own dependencies included), slowest first. */
  packages: Array<{ name: string; ms: number }>;
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

/** Times the whole require of `entry`, and each package that a file under `entry`'s folder loads first. */
const requireProbe = (entry: string) =>
  [
    `const dir = ${JSON.stringify(entry.replace(/[^/]+$/, ""))};`,
    'const M = require("module"); const load = M._load; const pk = {};',
    "M._load = function (req, parent) {",
    "  const t = performance.now();",
    "  try { return load.apply(this, arguments); } finally {",
    '    if (!req.startsWith(".") && !req.startsWith("node:") && !(req in pk) && parent && String(parent.filename).startsWith(dir)) pk[req] = performance.now() - t;',
    "  }",
    "};",
    `const t = performance.now(); require(${JSON.stringify(entry)});`,
    "console.log(JSON.stringify({ total: performance.now() - t, pk }));",
  ].join("\n");

/** Each part `rounds` times, medians (a busy machine doubles a single sample now and then). */
export function runAnatomy(o: { rounds: number; compiledEntry: string | null; log: (l: string) => void }): Anatomy {
  const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const py: number[] = [];
  const proc: number[] = [];
  const ts: number[] = [];
  const conv: number[] = [];
  const req: number[] = [];
  const pkgs = new Map<string, number[]>();
  for (let i = 0; i < o.rounds; i++) {
    py.push(timed(python, ["-c", "import nbconvert, nbclient, jupyter_client"]).ms);
    const t = timed<{ ts: number; conv: number }>(process.execPath, ["-e", TSLAB_PROBE]);
    proc.push(t.ms);
    ts.push(t.json?.ts ?? NaN);
    conv.push(t.json?.conv ?? NaN);
    if (o.compiledEntry && fs.existsSync(o.compiledEntry)) {
      const r = timed<{ total: number; pk: Record<string, number> }>(process.execPath, [
        "-e",
        requireProbe(o.compiledEntry),
      ]).json;
      req.push(r?.total ?? NaN);
      for (const [name, ms] of Object.entries(r?.pk ?? {})) pkgs.set(name, [...(pkgs.get(name) ?? []), ms]);
    }
  }
  const a: Anatomy = {
    rounds: o.rounds,
    pythonImportMs: median(py),
    tslab: { processMs: median(proc), typescriptRequireMs: median(ts), createConverterMs: median(conv) },
    runtimeRequireMs: req.length ? median(req) : NaN,
    packages: [...pkgs].map(([name, xs]) => ({ name, ms: median(xs) })).sort((x, y) => y.ms - x.ms),
  };
  o.log(
    `anatomy: python imports ${Math.round(a.pythonImportMs)} ms, tslab process ${Math.round(a.tslab.processMs)} ms, compiled lib require ${Math.round(a.runtimeRequireMs)} ms`,
  );
  return a;
}
