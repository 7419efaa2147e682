/**
 * `npm run bench [-- --smoke] [-- --only p1,p2,p3,p4,p5,p6,redaction]` (issues 7, 14, 15): P1
 * runbook overhead, P2 detection lag against a fixed 5 s curl loop and for flips at set times after
 * payment, P3 evidence cost, P4 artefact size, P5 requests over a stuck 5-minute window, P6
 * JupyterLab open → pre-flight, redaction time on 10 KB / 1 MB / 10 MB bodies and on a body nested
 * 100 000 levels — all in one run against one local sandbox, written to bench/RESULTS.md (smoke:
 * bench/.work/). P2's timed flips and P5 poll in the background from the end of P1 until after P3,
 * so their long windows add little to the run. Smoke leaves P6 out unless `--only` names it (it
 * needs JupyterLab and Chromium).
 * Timings are never asserted; the exit code is 1 only when something could not be measured.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../lib/host/jupyter";
import { startSandbox } from "../sandbox/index";
import { runAnatomy, type Anatomy } from "./anatomy";
import { findings } from "./findings";
import { ZERO_DELAYS, eagerPlotImports, runP1, wholeDeclarations, type P1Result, type P1Variant } from "./p1-overhead";
import { runP2, type P2Result } from "./p2-lag";
import { runP3, type P3Result } from "./p3-evidence";
import { runP4, type P4Result } from "./p4-size";
import { openWindows, type WindowsResult } from "./p5-windows";
import { p6Unavailable, runP6, type P6Result } from "./p6-lab";
import { runRedaction, type RedactionResult } from "./redaction";
import { importAB, projectBuild, type ImportAB } from "./prebuilt";
import { machineInfo, renderResults, type AllResults } from "./results";
import { USAGE, wantsHelp } from "./usage";

const MODES = {
  // whatIf: also run the notebook with the other lib import (sources vs precompiled), interleaved.
  full: {
    p1Runs: 5,
    whatIf: true,
    p2Orders: 16,
    p2Concurrency: 4,
    p2FlipsPerTime: 4, // timed flips per delay (1, 5, 30, 120 s)
    p3Calls: 1000,
    anatomyRounds: 3,
    p6Runs: 3,
    redactionRuns: 5,
    only: "p1,p2,p3,p4,p5,p6,redaction",
    out: "bench/RESULTS.md",
    budgetMs: 25 * 60 * 1000,
  },
  smoke: {
    p1Runs: 1,
    whatIf: false,
    p2Orders: 2,
    p2Concurrency: 2,
    p2FlipsPerTime: 2, // 1 and 5 s only
    p3Calls: 200,
    anatomyRounds: 0,
    p6Runs: 1,
    redactionRuns: 1,
    only: "p1,p2,p3,p4,p5,redaction",
    out: "bench/.work/RESULTS.smoke.md",
    budgetMs: 8 * 60 * 1000,
  },
};
const SEED = 7; // the sandbox PRNG that draws P2's flip instants
const WORK_DIR = path.join(REPO_ROOT, "bench", ".work"); // git-ignored

async function main(): Promise<number> {
  if (wantsHelp(process.argv.slice(2))) {
    console.log(USAGE);
    return 0;
  }
  const { values: a } = parseArgs({
    options: { smoke: { type: "boolean" }, only: { type: "string" }, out: { type: "string" } },
  });
  const mode = a.smoke ? "smoke" : "full";
  const cfg = MODES[mode];
  const only = new Set((a.only ?? cfg.only).split(",").map((s) => s.trim().toLowerCase()));
  const log = (l: string) => console.log(`bench: ${l}`);
  // Bounded in time whatever happens: a hung kernel or loop must not hold CI.
  setTimeout(() => {
    console.error(`bench: over the ${cfg.budgetMs / 60000} min budget, giving up`);
    process.exit(1);
  }, cfg.budgetMs).unref();

  for (const d of ["p1", "p2", "p3", "p5", "p6", "lib-js"])
    fs.rmSync(path.join(WORK_DIR, d), { recursive: true, force: true });
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
  let windows: WindowsResult | null = null;
  let anatomy: Anatomy | null = null;
  let p6: P6Result | null = null;
  let redaction: RedactionResult | null = null;
  const problems: string[] = [];
  try {
    if (only.has("p1") || only.has("p4")) {
      // Issue 15's cheap findings, each undone in one what-if, interleaved with today's runs.
      const today = ab.variants[0];
      const before: P1Variant[] = [
        {
          name: "HTML export by a second Python (before)",
          precompiled: today.precompiled,
          patch: today.patch,
          oneProcessExport: false,
        },
        {
          name: "archive after the kernel's shutdown (before)",
          precompiled: today.precompiled,
          patch: today.patch,
          overlapShutdown: false,
        },
        {
          name: "plot packages loaded with lib (before)",
          precompiled: today.precompiled,
          patch: (nb) => {
            today.patch?.(nb);
            eagerPlotImports(nb);
          },
        },
        {
          name: "cells checked against lib's whole declarations (before)",
          precompiled: today.precompiled,
          patch: (nb) => {
            today.patch?.(nb);
            wholeDeclarations(nb);
          },
        },
      ];
      p1 = await runP1({
        runs: cfg.p1Runs,
        variants: [...ab.variants, ...before],
        sandbox: sb,
        archiveDir: path.join(WORK_DIR, "p1", "archive"),
        log,
        floor: true,
      });
      if (!p1.variants[0].runs.some((r) => r.allPassed)) problems.push("P1: no run passed every step");
    }
    // Opened after P1 (whose timings they would disturb), closed after P3.
    const opened =
      only.has("p2") || only.has("p5")
        ? await openWindows({
            sandbox: sb,
            flips: only.has("p2"),
            stuck: only.has("p5"),
            smoke: mode === "smoke",
            perFlip: cfg.p2FlipsPerTime,
            workDir: WORK_DIR,
            log,
          })
        : null;
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
    if (opened) {
      windows = await opened.finish();
      if (only.has("p2") && !windows.flips.length) problems.push("P2: no timed flip was seen");
      if (only.has("p5") && !windows.p5) problems.push("P5: the stuck window was not measured");
      for (const m of windows.missing) problems.push(`P2/P5: ${m}`);
    }
    const last = p1 ? [...p1.variants[0].runs].reverse().find((r) => r.allPassed) : undefined;
    if (only.has("p4") && last) p4 = runP4(last.dir, last.sessionId);
    if (only.has("p6")) {
      const why = p6Unavailable();
      if (why) problems.push(`P6: cannot measure, ${why}`);
      else {
        p6 = await runP6({ runs: cfg.p6Runs, sandbox: sb, workDir: WORK_DIR, log });
        if (!p6.runs.some((r) => r.passed)) problems.push("P6: no run showed a passing pre-flight");
      }
    }
  } finally {
    await sb.stop();
  }
  // After the sandbox is gone, so its PGlite does not compete with what it measures.
  if (cfg.anatomyRounds > 0 && only.has("p1"))
    anatomy = runAnatomy({ rounds: cfg.anatomyRounds, compiledEntry: ab.compiledEntry, log });
  if (only.has("redaction")) {
    redaction = runRedaction({ runs: cfg.redactionRuns });
    for (const x of redaction.rows)
      log(
        `redaction ${x.label}: ${Math.round(x.fullMs)} ms whole text, ${Math.round(x.tracedMs)} ms as traced${x.walkMs !== undefined ? `, ${Math.round(x.walkMs)} ms redact() of the parsed value` : ""}`,
      );
    problems.push(...redaction.problems);
  }

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
    windows,
    p6,
    redaction,
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
