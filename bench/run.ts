/**
 * `npm run bench [-- --smoke] [-- --only p1,p2,p3,p4]` (issue 7): P1 runbook overhead, P2
 * detection lag against a fixed 5 s curl loop, P3 evidence cost, P4 artefact size — all in one
 * run against one local sandbox, written to bench/RESULTS.md (smoke: bench/.work/).
 * Timings are never asserted; the exit code is 1 only when something could not be measured.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../lib/notebook/jupyter";
import { startSandbox } from "../sandbox/index";
import { runAnatomy, type Anatomy } from "./anatomy";
import { findings } from "./findings";
import { ZERO_DELAYS, runP1, type P1Result } from "./p1-overhead";
import { runP2, type P2Result } from "./p2-lag";
import { runP3, type P3Result } from "./p3-evidence";
import { runP4, type P4Result } from "./p4-size";
import { importAB, projectBuild, type ImportAB } from "./prebuilt";
import { machineInfo, renderResults, type AllResults } from "./results";

const MODES = {
  // whatIf: also run the notebook with the other lib import (sources vs precompiled), interleaved.
  full: {
    p1Runs: 5,
    whatIf: true,
    p2Orders: 16,
    p2Concurrency: 4,
    p3Calls: 1000,
    anatomyRounds: 3,
    out: "bench/RESULTS.md",
    budgetMs: 15 * 60 * 1000,
  },
  smoke: {
    p1Runs: 1,
    whatIf: false,
    p2Orders: 2,
    p2Concurrency: 2,
    p3Calls: 200,
    anatomyRounds: 0,
    out: "bench/.work/RESULTS.smoke.md",
    budgetMs: 5 * 60 * 1000,
  },
};
const SEED = 7; // the sandbox PRNG that draws P2's flip instants
const WORK_DIR = path.join(REPO_ROOT, "bench", ".work"); // git-ignored

async function main(): Promise<number> {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    console.log(
      "usage: npm run bench -- [--smoke] [--only p1,p2,p3,p4] [--out FILE]   (full run: bench/RESULTS.md; --smoke: bench/.work/)",
    );
    return 0;
  }
  const { values: a } = parseArgs({
    options: { smoke: { type: "boolean" }, only: { type: "string" }, out: { type: "string" } },
  });
  const mode = a.smoke ? "smoke" : "full";
  const cfg = MODES[mode];
  const only = new Set((a.only ?? "p1,p2,p3,p4").split(",").map((s) => s.trim().toLowerCase()));
  const log = (l: string) => console.log(`bench: ${l}`);
  // Bounded in time whatever happens: a hung kernel or loop must not hold CI.
  setTimeout(() => {
    console.error(`bench: over the ${cfg.budgetMs / 60000} min budget, giving up`);
    process.exit(1);
  }, cfg.budgetMs).unref();

  for (const d of ["p1", "p2", "p3", "lib-js"]) fs.rmSync(path.join(WORK_DIR, d), { recursive: true, force: true });
  fs.mkdirSync(WORK_DIR, { recursive: true });
  const t0 = performance.now();
  const machine = machineInfo(REPO_ROOT);
  log(`${mode} run on ${machine.cores} cores, Node ${machine.node}, commit ${machine.commit}`);

  // Today's notebook, plus (full mode) the other lib import, interleaved: see prebuilt.ts.
  const pb = projectBuild();
  log(`npm run build --if-present: exit ${pb.code} in ${Math.round(pb.ms)} ms (before timing anything)`);
  const ab: ImportAB = importAB(WORK_DIR, cfg.whatIf && only.has("p1"), log);

  const s0 = performance.now();
  const sb = await startSandbox({ quiet: true, seed: SEED, faults: ZERO_DELAYS });
  const sandboxStartMs = performance.now() - s0;
  log(`sandbox (${sb.backend}) started in ${Math.round(sandboxStartMs)} ms`);

  let p1: P1Result | null = null;
  let p2: P2Result | null = null;
  let p3: P3Result | null = null;
  let p4: P4Result | null = null;
  let anatomy: Anatomy | null = null;
  const problems: string[] = [];
  try {
    if (only.has("p1") || only.has("p4")) {
      p1 = await runP1({
        runs: cfg.p1Runs,
        variants: ab.variants,
        sandbox: sb,
        archiveDir: path.join(WORK_DIR, "p1", "archive"),
        log,
      });
      if (!p1.variants[0].runs.some((r) => r.allPassed)) problems.push("P1: no run passed every step");
    }
    if (only.has("p2")) {
      p2 = await runP2({
        sandbox: sb,
        orders: cfg.p2Orders,
        concurrency: cfg.p2Concurrency,
        workDir: WORK_DIR,
        seed: SEED,
        log,
      });
      if (!p2.samples.length) problems.push("P2: no flip was seen");
    }
    if (only.has("p3")) p3 = await runP3({ sandbox: sb, calls: cfg.p3Calls, workDir: WORK_DIR, log });
    const last = p1 ? [...p1.variants[0].runs].reverse().find((r) => r.allPassed) : undefined;
    if (only.has("p4") && last) p4 = runP4(last.dir, last.sessionId);
  } finally {
    await sb.stop();
  }
  // After the sandbox is gone, so its PGlite does not compete with what it measures.
  if (cfg.anatomyRounds > 0 && only.has("p1"))
    anatomy = runAnatomy({ rounds: cfg.anatomyRounds, compiledEntry: ab.compiledEntry, log });

  const all: AllResults = {
    mode,
    machine: { ...machine, loadEnd: os.loadavg() },
    sandboxStartMs,
    sandboxBackend: sb.backend,
    p1,
    build: ab.build,
    anatomy,
    p2,
    p3,
    p4,
    durationMs: performance.now() - t0,
  };
  const out = path.resolve(REPO_ROOT, a.out ?? cfg.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, renderResults(all, findings(all)));
  // The raw numbers too, for a second look without re-measuring (git-ignored).
  fs.writeFileSync(path.join(WORK_DIR, `results-${mode}.json`), JSON.stringify(all, null, 1));
  log(`results written to ${path.relative(REPO_ROOT, out)} in ${Math.round(all.durationMs / 1000)} s`);
  for (const p of problems) console.error(`bench: ${p}`);
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
