/**
 * P1, runbook overhead (issue 7): full headless runs (pre-flight, 9 steps, plot, report, HTML
 * export, archive) with every artificial sandbox delay at 0, on one shared sandbox so its start
 * is not counted. Each run is split into kernel start, each cell, kernel shutdown and archive,
 * and set against the sandbox's own service time for the same run. Variants (e.g. lib
 * precompiled) run interleaved with today's notebook, round by round, so load hits both alike.
 * The floor (issue 26 item 2): each round also runs a bare notebook of three trivial cells through
 * the same executor and kernel, so that P1 reads as a ratio to what any notebook costs here.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { executeNotebook, exportHtml } from "../lib/host/jupyter";
import { readNotebook, sourceOf, writeNotebook } from "../lib/host/nbfile";
import { SESSION_NOTEBOOK, TRACE_FILE } from "../lib/evidence/files";
import { rehearse } from "../scripts/rehearse";
import type { Faults, Sandbox } from "../sandbox/index";
import { cellTimings, hitWatchRace, type CellTiming } from "./nbtiming";
import { median, sum } from "./stats";

/** All artificial delays off: what is left is the runbook's own time plus the sandbox's service time. */
export const ZERO_DELAYS: Partial<Faults> = {
  completionDelayMs: 0,
  completionJitterMs: 0,
  refundDelayMs: 0,
  refundJitterMs: 0,
  latencyMs: 0,
  latencySpikeMs: 0,
  latencySpikeRate: 0,
  errorRate: 0,
  resetRate: 0,
};

const P1_DEFAULTS = {
  extraAttempts: 3, // a run spoiled by tslab's file-watch race is discarded and re-run, at most this many times
  pollDeadlineS: 60, // the delays are 0: a poll that needs a minute is a failure, not a slow run
};

export interface P1Variant {
  name: string;
  /** Whether the open cell imports lib precompiled (JS + .d.ts) rather than its sources. */
  precompiled: boolean;
  /** Edits the prepared session notebook before nbconvert runs it. */
  patch?: (notebook: string) => void;
  /** false: the HTML export runs a second Python (nbconvert's command line), as before issue 15. */
  oneProcessExport?: boolean;
  /** false: the archive starts, and its page is made, after the kernel's shutdown, as before. */
  overlapShutdown?: boolean;
}

/** The packages lib/plot loads on the first chart since issue 15, and at lib's import before. */
export const PLOT_PACKAGES = ["@observablehq/plot", "linkedom", "@resvg/resvg-js"];

/**
 * A patch for the what-if "plot packages loaded with lib": the session cell imports them for their
 * side effect right after lib, as lib/plot's static imports did before they became lazy.
 */
export function eagerPlotImports(notebook: string): void {
  const nb = readNotebook(notebook);
  const cell = nb.cells.find((c) => c.cell_type === "code" && /import \{ openNotebook \}/.test(sourceOf(c)));
  if (!cell) throw new Error(`${notebook}: no session cell importing openNotebook to patch`);
  cell.source = sourceOf(cell).replace(
    /^(import \{ openNotebook \}[^\n]*\n)/m,
    `$1${PLOT_PACKAGES.map((p) => `import "${p}";`).join(" ")}\n`,
  );
  writeNotebook(notebook, nb);
}

/**
 * A patch for the what-if "cells checked against lib's whole declarations": the session cell imports
 * openNotebook from the implementation (lib/notebook/ui), whose declarations reach zod, undici and pg
 * (and playwright's, until the payer stopped using it), as the notebook's import did before
 * lib/notebook/index.ts declared a narrow API.
 */
export function wholeDeclarations(notebook: string): void {
  const nb = readNotebook(notebook);
  const cell = nb.cells.find((c) => c.cell_type === "code" && /import \{ openNotebook \}/.test(sourceOf(c)));
  if (!cell) throw new Error(`${notebook}: no session cell importing openNotebook to patch`);
  cell.source = sourceOf(cell).replace(/(import \{ openNotebook \} from "[^"]*\/notebook)"/, '$1/ui"');
  if (!sourceOf(cell).includes('/notebook/ui"'))
    throw new Error(`${notebook}: the session cell's import was not retargeted`);
  writeNotebook(notebook, nb);
}

export interface P1Run {
  n: number;
  variant: string;
  sessionId: string;
  dir: string;
  notebook: string;
  allPassed: boolean;
  /** rehearse() call to return: prepare + nbconvert execute + archive (HTML export, scan, manifest). */
  totalMs: number;
  /** Session folder + notebook (and, since the build step, a lib rebuild when the sources changed). */
  prepareMs: number;
  executeMs: number;
  archiveMs: number;
  /** Who wrote the audit HTML: the executor (one Python process) or nbconvert's command line. */
  htmlVia: string | null;
  /** nbconvert start (Python) + tslab kernel start, up to the first cell going busy. */
  kernelStartMs: number;
  cells: CellTiming[];
  /** Between cells: nbclient's own bookkeeping. */
  gapsMs: number;
  /** Last cell idle → nbconvert exit: writing the notebook, kernel shutdown. */
  shutdownMs: number;
  /** The sandbox's own time for this run's requests (sb.stats().serviceMs delta) and their count. */
  serviceMs: number;
  requests: number;
  failure: string | null;
}

export interface P1Result {
  /** Today's notebook first, then the other import (see prebuilt.ts). */
  variants: Array<{ name: string; precompiled: boolean; runs: P1Run[] }>;
  /** The bare notebook's runs, one a round (empty when not asked for). */
  floor: FloorRun[];
  discarded: string[];
  /** One extra `nbconvert --to html` of the last good notebook: the export's share of the archive. */
  htmlExportMs: number | null;
}

/** One run of the bare notebook: the executor's whole call, and its kernel start as P1 counts it. */
export interface FloorRun {
  n: number;
  /** executeNotebook() call to return: Python start, kernel start, three cells, save, shutdown. */
  totalMs: number;
  /** Executor start → the first cell going busy. */
  kernelStartMs: number;
  ok: boolean;
}

/** Three trivial cells in the session notebook's kernel: what every notebook pays on this machine. */
export const FLOOR_CELLS = ["let a = 1;", "a + 1;", 'console.log("ok");'];

/** The bare notebook, written afresh for each run (the executor saves outputs into it). */
function writeBareNotebook(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    `${JSON.stringify(
      {
        cells: FLOOR_CELLS.map((source, i) => ({
          cell_type: "code",
          execution_count: null,
          id: `floor-${i}`,
          metadata: {},
          outputs: [],
          source,
        })),
        metadata: {
          kernelspec: { display_name: "TypeScript (tslab, runbook)", language: "typescript", name: "tslab" },
          language_info: { name: "typescript" },
        },
        nbformat: 4,
        nbformat_minor: 5,
      },
      null,
      1,
    )}\n`,
  );
}

async function floorRun(n: number, dir: string): Promise<FloorRun> {
  const file = path.join(dir, `bare-${n}.ipynb`);
  writeBareNotebook(file);
  const execStart = Date.now();
  const t0 = performance.now();
  const r = await executeNotebook(file, {}, { cellTimeoutS: 120, timeoutMs: 5 * 60 * 1000 });
  const totalMs = performance.now() - t0;
  const first = cellTimings(file, path.join(dir, "no-trace.jsonl"))[0];
  return { n, totalMs, kernelStartMs: first ? first.busy - execStart : NaN, ok: r.code === 0 && !r.failure };
}

/** Passing runs of variant i (0 = today's notebook); empty when the variant did not run. */
export function passing(p1: P1Result, i: number): P1Run[] {
  return p1.variants[i]?.runs.filter((x) => x.allPassed) ?? [];
}

/** Median of each cell's timings across the good runs, keyed by label, in notebook order. */
export function cellMedians(
  runs: readonly P1Run[],
): Array<{ label: string; kind: string; ms: number; httpMs: number; overheadMs: number }> {
  const good = runs.filter((r) => r.allPassed);
  if (!good.length) return [];
  return good[0].cells.map((c) => {
    const same = good.map((r) => r.cells.find((x) => x.label === c.label)).filter((x): x is CellTiming => !!x);
    return {
      label: c.label,
      kind: c.kind,
      ms: median(same.map((x) => x.ms)),
      httpMs: median(same.map((x) => x.httpMs)),
      overheadMs: median(same.map((x) => x.overheadMs)),
    };
  });
}

/** Per run: the median over its step cells of (cell wall − HTTP round trips). */
export const stepOverheadMedian = (r: P1Run) =>
  median(r.cells.filter((c) => c.kind === "step").map((c) => c.overheadMs));

export async function runP1(o: {
  runs: number;
  variants: P1Variant[];
  sandbox: Sandbox;
  archiveDir: string;
  log: (l: string) => void;
  /** Also run the bare notebook once a round, interleaved (issue 26 item 2). */
  floor?: boolean;
}): Promise<P1Result> {
  const result: P1Result = {
    variants: o.variants.map((v) => ({ name: v.name, precompiled: v.precompiled, runs: [] })),
    floor: [],
    discarded: [],
    htmlExportMs: null,
  };
  let floorLast: (() => Promise<void>) | null = null;
  for (let round = 1; round <= o.runs; round++) {
    if (o.floor) {
      // First in odd rounds, last in even ones: neither always follows the same run.
      const f = () =>
        floorRun(round, path.join(path.dirname(o.archiveDir), "floor")).then((x) => {
          result.floor.push(x);
          o.log(
            `P1 floor (bare notebook) run ${round}/${o.runs}: ${Math.round(x.totalMs)} ms, kernel start ${Math.round(x.kernelStartMs)} ms${x.ok ? "" : ", FAILED"}`,
          );
        });
      if (round % 2) await f();
      else floorLast = f;
    }
    for (const [i, v] of o.variants.entries()) {
      for (let attempt = 0; attempt <= P1_DEFAULTS.extraAttempts; attempt++) {
        const run = await oneRun(o.sandbox, v, round, o.archiveDir);
        if (run === "race") {
          result.discarded.push(
            `${v.name}, round ${round}: tslab "Unexpected pending rebuildTimer" (a lib file changed mid-run)`,
          );
          o.log(`P1 ${v.name} run discarded (tslab file-watch race), retrying`);
          continue;
        }
        result.variants[i].runs.push(run);
        o.log(
          `P1 ${v.name} run ${round}/${o.runs}: ${Math.round(run.totalMs)} ms total, kernel start ${Math.round(run.kernelStartMs)} ms, ${run.allPassed ? "all steps PASS" : `FAILED (${run.failure})`}`,
        );
        break;
      }
    }
    await floorLast?.();
    floorLast = null;
  }
  const lastGood = [...result.variants[0].runs].reverse().find((r) => r.allPassed);
  if (lastGood) {
    const t0 = performance.now();
    await exportHtml(lastGood.notebook);
    result.htmlExportMs = performance.now() - t0;
  }
  return result;
}

async function oneRun(sb: Sandbox, v: P1Variant, n: number, archiveDir: string): Promise<P1Run | "race"> {
  const before = sb.stats();
  let execStart = NaN;
  let execEnd = NaN;
  const t0 = performance.now();
  const wallStart = Date.now();
  const r = await rehearse({
    sandbox: sb,
    faults: ZERO_DELAYS,
    archiveDir,
    params: { POLL_DEADLINE_S: P1_DEFAULTS.pollDeadlineS, REFUND_DEADLINE_S: P1_DEFAULTS.pollDeadlineS },
    oneProcessExport: v.oneProcessExport,
    overlapShutdown: v.overlapShutdown,
    // rehearse() logs "session <id> → <dir>" after writing the session notebook and right before
    // nbconvert starts, and "notebook executed…" right after it exits: the seam where a variant
    // patches the notebook, and the wall-clock bounds the kernel's cell times are set against.
    log: (l) => {
      if (l.startsWith("session ")) {
        v.patch?.(path.join(l.split(" → ")[1], SESSION_NOTEBOOK));
        execStart = Date.now();
      } else if (l.startsWith("notebook executed")) execEnd = Date.now();
    },
  });
  const totalMs = performance.now() - t0;
  await sb.drainWebhooks();
  const after = sb.stats();
  if (hitWatchRace(r.notebook)) return "race";
  const cells = cellTimings(r.notebook, path.join(r.dir, TRACE_FILE));
  const first = cells[0];
  const last = cells[cells.length - 1];
  let gapsMs = 0;
  for (let i = 1; i < cells.length; i++) gapsMs += cells[i].busy - cells[i - 1].idle;
  const failed = [...r.statuses].filter(([, s]) => s !== "PASS").map(([k, s]) => `step ${k} ${s}`);
  const failure =
    r.allPassed && !r.archiveError
      ? null
      : [
          ...failed,
          r.archiveError ? `archive: ${r.archiveError}` : "",
          r.execute.code ? `nbconvert exit ${r.execute.code}` : "",
        ]
          .filter(Boolean)
          .join("; ") || "not every step passed";
  return {
    n,
    variant: v.name,
    sessionId: r.sessionId,
    dir: r.dir,
    notebook: r.notebook,
    allPassed: r.allPassed && !r.archiveError,
    totalMs,
    prepareMs: execStart - wallStart,
    executeMs: r.timings.execute ?? r.execute.ms,
    archiveMs: r.timings.archive ?? NaN,
    htmlVia: r.archive?.htmlVia ?? null,
    kernelStartMs: first ? first.busy - execStart : NaN,
    cells,
    gapsMs,
    shutdownMs: last ? execEnd - last.idle : NaN,
    serviceMs: after.serviceMs - before.serviceMs,
    requests: after.requests - before.requests,
    failure,
  };
}

/** Sum of every cell's wall time in a run. */
export const cellsMs = (r: P1Run) => sum(r.cells.map((c) => c.ms));

/** After the last cell went idle, to the rehearsal's return: the executor's end and the archive, overlapping. */
export const afterCellsMs = (r: P1Run) => r.totalMs - r.prepareMs - r.kernelStartMs - cellsMs(r) - r.gapsMs;
