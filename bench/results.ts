/**
 * bench/RESULTS.md: the figures (P1–P6, redaction) side by side with their targets, the machine,
 * date and commit, and for every missed target a one-line reason and the next step (issues 7, 14,
 * 15). No absolute paths: the file is committed. Over 300 lines: one renderer per section, and the
 * summary, the missed-target reasons and the findings read the same figures; P2's timed flips and
 * P5 already render in p5-windows.ts.
 */
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import type { Anatomy } from "./anatomy";
import {
  FLOOR_CELLS,
  afterCellsMs,
  cellMedians,
  cellsMs,
  passing,
  stepOverheadMedian,
  type P1Result,
  type P1Run,
} from "./p1-overhead";
import { P2_DEFAULTS, lagSummary, type P2Result } from "./p2-lag";
import type { P3Result } from "./p3-evidence";
import type { P4Result } from "./p4-size";
import { WINDOWS_DEFAULTS, flipSummary, windowsSection, type WindowsResult } from "./p5-windows";
import type { P6Sample } from "../test/ui/p6";
import type { P6Result } from "./p6-lab";
import type { RedactionResult } from "./redaction";
import type { Build } from "./prebuilt";
import { bytes, fmt, median, ratio, sec, table, verdict } from "./stats";

export const TARGETS = {
  p1TotalMs: 6 * 1000, // ≤ 6 s median for a full headless run on 2 cores (issue 15; was 12 s in issue 7)
  p1FloorRatio: 2, // the full run ≤ 2× a bare notebook's run, same executor, kernel and machine, interleaved (issue 26)
  p6Ms: 5 * 1000, // ≤ 5 s in JupyterLab from opening the notebook to the pre-flight result (issue 26; 3 s in issue 15)
  p6AfterShownMs: 1500, // P6 minus the time to show the cells: what the operator waits for beyond the page (issue 26)
  p1StepOverheadMs: 300, // median step-cell overhead
  p2MedianMs: 250,
  p2P95Ms: 600,
  p2ReqPerS: 4,
  p3DiffP50Ms: 1,
  p2EarlyMedianMs: 250, // flips in the first 10 s after payment: median lag
  p2LatePct: 10, // later flips: median lag as % of the time elapsed since payment
  p5Requests: 150, // requests per stuck 5-minute window
};

export interface Machine {
  date: string;
  commit: string;
  cores: number;
  cpu: string;
  memoryGb: number;
  node: string;
  os: string;
  loadStart: number[];
  loadEnd: number[];
}

export function machineInfo(root: string): Omit<Machine, "loadEnd"> {
  const git = (args: string[]) => {
    try {
      return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      return "";
    }
  };
  const dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
  return {
    date: new Date().toISOString(),
    commit: `${git(["rev-parse", "--short", "HEAD"]) || "unknown"}${dirty ? " (with uncommitted changes)" : ""}`,
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? "unknown",
    memoryGb: os.totalmem() / 1e9,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadStart: os.loadavg(),
  };
}

export interface AllResults {
  mode: "full" | "smoke";
  machine: Machine;
  sandboxStartMs: number;
  sandboxBackend: string;
  p1: P1Result | null;
  build: Build | null;
  anatomy: Anatomy | null;
  p2: P2Result | null;
  p3: P3Result | null;
  p4: P4Result | null;
  /** P2's timed flips and P5's stuck window (bench/p5-windows.ts). */
  windows: WindowsResult | null;
  /** Absent in results written before issue 15. */
  p6?: P6Result | null;
  redaction?: RedactionResult | null;
  durationMs: number;
}

interface Row {
  measure: string;
  result: string;
  target: string;
  ok: boolean | null;
  /** One line each: why it missed, and the next step (only read when ok is false). */
  why?: string;
  next?: string;
}

const ms = (n: number) => `${fmt(n)} ms`;
const loads = (l: number[]) => l.map((x) => fmt(x, 2)).join(" / ");

/** Index of the what-if that imports lib the other way (sources vs precompiled), or -1. */
export function importVariant(p1: P1Result): number {
  return p1.variants.findIndex((v, i) => i > 0 && v.precompiled !== p1.variants[0].precompiled);
}

/** Indexes of the what-ifs that undo one of issue 15's findings ("… (before)"). */
export const beforeVariants = (p1: P1Result): number[] =>
  p1.variants.flatMap((v, i) => (i > 0 && v.name.endsWith("(before)") ? [i] : []));

function summaryRows(r: AllResults): Row[] {
  const rows: Row[] = [];
  if (r.p1) {
    const good = passing(r.p1, 0);
    const total = median(good.map((x) => x.totalMs));
    const kernel = median(good.map((x) => x.kernelStartMs));
    const cells = cellMedians(good);
    const open = cells.find((c) => c.label.startsWith("open session"));
    const pay = cells.find((c) => c.label.startsWith("step 4 pay"));
    const archive = median(good.map((x) => x.archiveMs));
    const today = r.p1.variants[0];
    const other = r.p1.variants[importVariant(r.p1)];
    const otherRuns = passing(r.p1, importVariant(r.p1));
    const totalOther = median(otherRuns.map((x) => x.totalMs));
    const openOther = cellMedians(otherRuns).find((c) => c.label.startsWith("open session"));
    const fixed = `kernel start ${sec(kernel)} + the session cell (lib import${today.precompiled ? ", precompiled" : ", compiled by tslab"}) ${sec(open?.ms ?? NaN)}; then the rehearsal's headless Chromium payer ${sec(pay?.ms ?? NaN)} and archive ${sec(archive)} (HTML export by the executor, one Python process; nbconvert's command line alone takes ${sec(r.p1.htmlExportMs ?? NaN)}).`;
    rows.push({
      measure: `P1 full headless run, ${today.name}, median of ${good.length}`,
      result: sec(total),
      target: `≤ ${sec(TARGETS.p1TotalMs)}`,
      ok: good.length ? total <= TARGETS.p1TotalMs : null,
      why: `fixed costs before step 0 dominate: ${fixed}`,
      next: today.precompiled
        ? `the kernel start is tslab's own ("Findings and proposed lib changes" 5); read the run without the rehearsal-only payer (item 4).`
        : otherRuns.length
          ? `import lib precompiled to JS + .d.ts (measured in this run: session cell ${sec(open?.ms ?? NaN)} → ${sec(openOther?.ms ?? NaN)}, run ${sec(total)} → ${sec(totalOther)}), see "Findings and proposed lib changes" 1.`
          : `import lib precompiled to JS + .d.ts (see "Findings and proposed lib changes" 1); the full bench measures the gain.`,
    });
    const floor = (r.p1.floor ?? []).filter((x) => x.ok);
    if (floor.length) {
      const floorMs = median(floor.map((x) => x.totalMs));
      const floorKernel = median(floor.map((x) => x.kernelStartMs));
      const sessionCell = open?.ms ?? NaN;
      const payMs = pay?.ms ?? NaN;
      const rest = total - floorMs - (kernel - floorKernel) - sessionCell - payMs - archive;
      rows.push({
        measure: `P1 full headless run ÷ a bare notebook's run (three trivial cells, same executor and kernel, interleaved), median of ${good.length} and ${floor.length}`,
        result: `${ratio(total, floorMs)} (${sec(total)} ÷ ${sec(floorMs)})`,
        target: `≤ ${TARGETS.p1FloorRatio}×`,
        ok: good.length ? total <= TARGETS.p1FloorRatio * floorMs : null,
        why: `beyond the floor: the session cell (lib import, and the rehearsal's payer browser launched ahead) ${sec(sessionCell)}, the pay cell (headless Chromium paying the checkout) ${sec(payMs)}, archive ${sec(archive)}, kernel start ${sec(kernel)} against the floor's ${sec(floorKernel)}, and ${sec(rest)} for the other cells, the session folder and the saves.`,
        next: "The rehearsal's payer drives Chromium over its DevTools pipe (lib/clients/cdp.ts) rather than importing playwright-core, which cost the kernel about 0.25 s of CPU in the session and pre-flight cells (issue 26; paying from a child process had been tried before and dropped: Chromium's start is CPU-bound on the 2 cores either way). The archive now starts while the kernel shuts down, and the audit page is made then (\"after the last cell\" above). What is left beyond the floor is mostly the rehearsal-only payer (Chromium's start competing with the first step cells, then the payment itself; a person pays in a live run, item 4), the plot cell's lazy imports (about 0.15 s; warming them during the pay cell only moved the cost while Chromium holds the second core) and per-cell costs (tslab's compile of each cell, the evidence's fsyncs, the executor's save after every cell).",
      });
    }
    if (other && otherRuns.length) {
      rows.push({
        measure: `P1 same runs, ${other.name}, median of ${otherRuns.length}`,
        result: `${sec(totalOther)} (session cell ${sec(openOther?.ms ?? NaN)})`,
        target: other.precompiled ? `≤ ${sec(TARGETS.p1TotalMs)}` : "reference",
        ok: other.precompiled ? totalOther <= TARGETS.p1TotalMs : null,
        why: `what remains: kernel start ${sec(median(otherRuns.map((x) => x.kernelStartMs)))}, the Chromium payer and the archive.`,
        next: `"Findings and proposed lib changes" 5 (kernel start), and read it without the rehearsal-only payer (item 4).`,
      });
    }
    for (const i of beforeVariants(r.p1)) {
      const runs = passing(r.p1, i);
      const cellsB = cellMedians(runs);
      const cell = (cs: typeof cells, l: string) => cs.find((c) => c.label.startsWith(l))?.ms ?? NaN;
      const floorRuns = (r.p1.floor ?? []).filter((x) => x.ok);
      const floorMs = floorRuns.length ? median(floorRuns.map((x) => x.totalMs)) : NaN;
      const totalB = median(runs.map((x) => x.totalMs));
      const shutdown = (xs: P1Run[]) => ms(median(xs.map((x) => x.shutdownMs)));
      const after = (xs: P1Run[]) => ms(median(xs.map(afterCellsMs)));
      rows.push({
        measure: `P1 same runs, ${r.p1.variants[i].name}, median of ${runs.length}`,
        result: `${sec(totalB)}${floorRuns.length ? `, ${ratio(totalB, floorMs)} the floor` : ""} (after the last cell ${after(runs)}: archive ${ms(median(runs.map((x) => x.archiveMs)))}, write + shutdown ${shutdown(runs)}; session cell ${sec(cell(cellsB, "open session"))}, plot cell ${sec(cell(cellsB, "plot"))}; today: ${sec(total)}${floorRuns.length ? `, ${ratio(total, floorMs)}` : ""}, ${after(good)}: ${ms(archive)}, ${shutdown(good)}; ${sec(open?.ms ?? NaN)}, ${sec(cell(cells, "plot"))})`,
        target: "reference",
        ok: null,
      });
    }
    const over = median(good.map(stepOverheadMedian));
    rows.push({
      measure: "P1 step-cell overhead (cell wall − HTTP round trips), median",
      result: ms(over),
      target: "≤ 300 ms",
      ok: good.length ? over <= TARGETS.p1StepOverheadMs : null,
      why: `slowest step cells: ${cells
        .filter((c) => c.kind === "step")
        .sort((a, b) => b.overheadMs - a.overheadMs)
        .slice(0, 3)
        .map((c) => `${c.label} ${ms(c.overheadMs)}`)
        .join(", ")}.`,
      next: "profile those cells' lib calls (trace mono_ms gaps between events show where).",
    });
  }
  if (r.p2) {
    const rb = lagSummary(r.p2.samples, "runbook");
    rows.push({
      measure: `P2 detection lag, runbook poller, median (${rb.n} flips)`,
      result: ms(rb.median),
      target: "≤ 250 ms",
      ok: rb.n ? rb.median <= TARGETS.p2MedianMs : null,
      why: `poll period 250 ms + round trip + evidence append; the machine's load (${loads(r.machine.loadStart)}) stretches each.`,
      next: "re-run on a quiet machine; if it persists, time each probe's parts from the trace (mono_ms).",
    });
    rows.push({
      measure: "P2 detection lag, runbook poller, p95",
      result: ms(rb.p95),
      target: "≤ 600 ms",
      ok: rb.n ? rb.p95 <= TARGETS.p2P95Ms : null,
      why: "slow probes under load (see max lag).",
      next: "as above.",
    });
    const bl = lagSummary(r.p2.samples, "baseline");
    rows.push({
      measure: `P2 baseline, fixed 5 s ${r.p2.baseline} loop: median · p95 lag (× the runbook's), rate`,
      result: `${ms(bl.median)} · ${ms(bl.p95)} (${ratio(bl.median, rb.median)} · ${ratio(bl.p95, rb.p95)}), ${fmt(bl.steadyRate, 2)} req/s`,
      target: "reference",
      ok: null,
    });
    rows.push({
      measure: "P2 runbook poller request rate (steady · peak in any 1 s)",
      result: `${fmt(rb.steadyRate, 2)} req/s · ${rb.peak}`,
      target: "≤ 4 req/s",
      ok: rb.n ? rb.steadyRate <= TARGETS.p2ReqPerS && rb.peak <= TARGETS.p2ReqPerS : null,
      why: "the schedule's 250 ms pause starts after each response, so only a ~0 ms round trip reaches 4/s.",
      next: "no change needed unless the peak exceeds 4.",
    });
  }
  if (r.windows) rows.push(...windowRows(r.windows, r.mode));
  if (r.p3) {
    const d = r.p3.traced.p50 - r.p3.raw.p50;
    const fsync = r.p3.parts.find((p) => p.part.startsWith("open + write + fsync"));
    rows.push({
      measure: `P3 evidence cost per call, p50 difference (${r.p3.calls} calls each)`,
      result: `${fmt(d, 2)} ms`,
      target: "≤ 1 ms",
      ok: d <= TARGETS.p3DiffP50Ms,
      why: `Trace.append inside the calls took ${fmt(r.p3.appendInCall.p50, 2)} ms p50; two appends with fsync alone ${fmt(fsync?.p50 ?? NaN, 2)} ms on this disk at the same time.`,
      next: 'sync the trace at step boundaries rather than per line, see "Findings and proposed lib changes" 2.',
    });
  }
  rows.push(...p6Rows(r), ...redactionRows(r));
  if (r.p4) {
    for (const f of r.p4.files.filter((x) => x.target !== null)) {
      const top = r.p4.notebookByMime[0];
      rows.push({
        measure: `P4 ${f.name}`,
        result: bytes(f.bytes),
        target: `≤ ${bytes(f.target!)}`,
        ok: f.bytes <= f.target!,
        why: `largest output type: ${top ? `${top.mime} ${bytes(top.bytes)}` : "n/a"}.`,
        next: "drop the duplicate SVG output next to the PNG, or downscale the PNG.",
      });
    }
    for (const f of r.p4.files.filter((x) => x.name === "trace.jsonl" || x.name === "manifest.json")) {
      rows.push({ measure: `P4 ${f.name}`, result: bytes(f.bytes), target: "(reported)", ok: null });
    }
  }
  return rows;
}

/** Median of passing samples' P6 minus their "cells shown" lap, ms. */
function afterShown(xs: P6Sample[]): number {
  const good = xs.filter((x) => x.passed);
  return median(good.map((x) => x.ms - (x.laps.find((l) => l.what === "cells shown")?.ms ?? NaN)));
}

function p6Rows(r: AllResults): Row[] {
  if (!r.p6) return [];
  const p6 = r.p6;
  const good = p6.runs.filter((x) => x.passed);
  const lapMedian = (what: string) => median(good.map((x) => x.laps.find((l) => l.what === what)?.ms ?? NaN));
  const shown = lapMedian("cells shown");
  const idle = lapMedian("kernel idle");
  const open = lapMedian("open");
  const after = afterShown(p6.runs);
  const cold = p6.cold ?? [];
  const coldGood = cold.filter((x) => x.passed);
  const why = `cells shown at ${sec(shown)}, kernel idle at ${sec(idle)}, the session cell done at ${sec(open)}, pre-flight at ${sec(p6.medianMs)}.`;
  return [
    {
      measure: `P6 JupyterLab: open the notebook → pre-flight result shown, kernel started ahead (lib/host/prestart.ts), median of ${good.length}`,
      result: sec(p6.medianMs),
      target: `≤ ${sec(TARGETS.p6Ms)}`,
      ok: good.length ? p6.medianMs <= TARGETS.p6Ms : null,
      why,
      next: "JupyterLab's own page load (cells shown) is most of it: the kernel is up with lib imported before the URL is printed.",
    },
    {
      measure: "P6 minus the time to show the cells, kernel started ahead, median",
      result: sec(after),
      target: `≤ ${sec(TARGETS.p6AfterShownMs)}`,
      ok: good.length ? after <= TARGETS.p6AfterShownMs : null,
      why,
      next: "JupyterLab connecting the page to the running kernel (cells shown → Idle), then the cells' own run times (parameters, session cell, pre-flight): see the P6 section's laps.",
    },
    ...(cold.length
      ? [
          {
            measure: `P6 same, kernel started by the browser (before), interleaved, median of ${coldGood.length}`,
            result: `${sec(p6.coldMedianMs)} (after the cells are shown: ${sec(afterShown(cold))})`,
            target: "reference",
            ok: null,
          },
        ]
      : []),
  ];
}

function redactionRows(r: AllResults): Row[] {
  return (r.redaction?.rows ?? []).map((x) => ({
    measure: `redaction ${x.label} (${x.tracedAs} when traced), median of ${x.runs}`,
    result: `${ms(x.fullMs)} whole text · ${ms(x.tracedMs)} as traced${x.walkMs !== undefined ? ` · ${ms(x.walkMs)} redact() of the parsed value` : ""}`,
    target: "(reported)",
    ok: null,
  }));
}

function p1Section(r: AllResults): string[] {
  const p1 = r.p1!;
  const n = p1.variants[0].runs.length;
  const out = ["## P1 — runbook overhead", ""];
  out.push(
    `${n} full headless runs (real Jupyter: jupyter/execute.py with nbclient, tslab kernel, pre-flight + 9 steps + plot + report, then archive: HTML export, secret scan, manifest), all sandbox delays 0, one sandbox reused (its start, ${sec(r.sandboxStartMs)} on ${r.sandboxBackend}, is not counted). Cell times are the kernel's busy → idle messages that nbclient records in \`metadata.execution\` (tslab sends no execute_input, so there is no \`shell.execute_reply.started\`); HTTP is the sum of the client-side round trips the session trace records inside each cell. Since the archive starts once the kernel has given the session's lock up (as it exits), "write + shutdown" (last cell idle → the executor's end) and "archive" overlap; "total" is the rehearsal's wall time.`,
    "",
  );
  if (importVariant(p1) > 0)
    out.push(
      `What-if "${p1.variants[importVariant(p1)].name}", interleaved round by round with today's runs so that load hits both alike, differing only in where the session cell imports lib from: its sources (\`./lib/notebook\`, which tslab type-checks and compiles in the kernel) or lib precompiled to CommonJS + .d.ts (${r.build ? `built by \`tsc -p tsconfig.tslab.json\` into bench/.work in ${sec(r.build.ms)}` : "`npm run build`, build/lib"}). Only the session copies are patched; lib/ and the template are untouched.`,
      "",
    );
  if (beforeVariants(p1).length)
    out.push(
      `Issue 15's and 26's findings, each undone in one what-if, interleaved the same way: ${beforeVariants(p1)
        .map((i) => `"${p1.variants[i].name}"`)
        .join(
          ", ",
        )} (the HTML export by nbconvert's command line in a second Python, as before; the archive starting, and the executor making its audit page, only once the executor has shut the kernel down, rather than while the kernel shuts down; the session cell importing @observablehq/plot, linkedom and @resvg/resvg-js right after lib, as lib/plot's static imports did; the session cell importing openNotebook from lib/notebook/ui, whose declarations reach zod, undici, pg and playwright, as the notebook's import did before lib/notebook/index.ts declared the cells' API on its own).`,
      "",
    );
  const rows: Array<Array<string | number>> = [];
  for (const [i, v] of p1.variants.entries()) {
    for (const x of v.runs) {
      rows.push([
        v.name,
        x.n,
        sec(x.totalMs),
        ms(x.prepareMs),
        sec(x.kernelStartMs),
        sec(cellsMs(x)),
        ms(x.gapsMs),
        ms(x.shutdownMs),
        ms(x.archiveMs),
        ms(x.serviceMs),
        x.requests,
        ms(stepOverheadMedian(x)),
        x.allPassed ? "PASS" : `FAIL: ${x.failure}`,
      ]);
    }
    const good = passing(p1, i);
    const med = (f: (x: P1Run) => number) => median(good.map(f));
    rows.push([
      `**${v.name}**`,
      "**median**",
      sec(med((x) => x.totalMs)),
      ms(med((x) => x.prepareMs)),
      sec(med((x) => x.kernelStartMs)),
      sec(med(cellsMs)),
      ms(med((x) => x.gapsMs)),
      ms(med((x) => x.shutdownMs)),
      ms(med((x) => x.archiveMs)),
      ms(med((x) => x.serviceMs)),
      med((x) => x.requests),
      ms(med(stepOverheadMedian)),
      `${good.length}/${v.runs.length} passed`,
    ]);
  }
  out.push(
    table(
      [
        "variant",
        "run",
        "total",
        "prepare",
        "kernel start",
        "cells",
        "between cells",
        "write + shutdown",
        "archive (HTML export, scan, manifest)",
        "sandbox service time",
        "requests",
        "median step-cell overhead",
        "steps",
      ],
      rows,
    ),
    "",
  );
  const good = passing(p1, 0);
  const total = median(good.map((x) => x.totalMs));
  const service = median(good.map((x) => x.serviceMs));
  out.push(
    `Runbook time against the backend's own: a median run takes ${sec(total)} for ${ms(service)} of sandbox service time (${ratio(total, service)}). The sandbox's \`serviceMs\` covers its marketplace routes (webhooks included), not the orchestrator double's.`,
    "",
  );
  if (p1.floor?.length)
    out.push(
      `The floor (issue 26): a bare notebook of three trivial cells (${FLOOR_CELLS.map((c) => `\`${c}\``).join(", ")}), run by the same executor (jupyter/execute.py) with the same tslab kernel, once a round, interleaved with the runs above:`,
      "",
      table(
        ["round", "executor call", "kernel start (executor start → first cell busy)", "result"],
        p1.floor.map((x) => [x.n, sec(x.totalMs), sec(x.kernelStartMs), x.ok ? "ok" : "FAILED"]),
      ),
      "",
    );
  if (p1.htmlExportMs !== null)
    out.push(
      `HTML export alone (one more \`nbconvert --to html\` of the last notebook): ${sec(p1.htmlExportMs)} of the archive stage.`,
      "",
    );
  if (p1.discarded.length) out.push(`Discarded and re-run: ${p1.discarded.join("; ")}.`, "");
  out.push("Per cell, median over the passing runs:", "");
  const others = p1.variants
    .map((v, i) => ({ name: v.name, cells: new Map(cellMedians(passing(p1, i)).map((c) => [c.label, c])) }))
    .filter((o, i) => i > 0 && o.cells.size > 0);
  out.push(
    table(
      ["cell", "wall", "HTTP round trips", "overhead (wall − HTTP)", ...others.map((o) => `wall, ${o.name}`)],
      cellMedians(good).map((c) => [
        c.label,
        ms(c.ms),
        ms(c.httpMs),
        ms(c.overheadMs),
        ...others.map((o) => ms(o.cells.get(c.label)?.ms ?? NaN)),
      ]),
    ),
    "",
  );
  const a = r.anatomy;
  if (a) {
    out.push(
      "### Where the fixed time goes (each part timed alone)",
      "",
      `Outside any notebook, ${a.rounds} rounds, medians.`,
      "",
    );
    out.push(
      table(
        ["part", "time", "what it is"],
        [
          [
            "Python imports nbconvert + nbclient + jupyter_client",
            ms(a.pythonImportMs),
            "paid twice per run: execute, then HTML export",
          ],
          [
            "tslab process, whole (node start → converter ready)",
            ms(a.tslab.processMs),
            "kernel start, before the kernel answers",
          ],
          ["… loading tslab's TypeScript 5.0.4", ms(a.tslab.typescriptRequireMs), ""],
          ["… createConverter (compiler host over lib.es2020 + @types/node)", ms(a.tslab.createConverterMs), ""],
          ["Node alone requiring the compiled lib (no type-check)", ms(a.runtimeRequireMs), "the session cell's floor"],
          ...a.packages
            .slice(0, 6)
            .map((p) => [`… \`${p.name}\` (first load, its dependencies included)`, ms(p.ms), ""]),
          ...(r.build
            ? [["tsc build of lib to JS + .d.ts", ms(r.build.ms), "the build step, once per change of lib"]]
            : []),
        ],
      ),
      "",
    );
  }
  return out;
}

/** P2's timed flips, one row per flip time, and P5's "N requests" row. */
function windowRows(w: WindowsResult, mode: AllResults["mode"]): Row[] {
  const rows: Row[] = [];
  const sums = flipSummary(w);
  for (const atS of w.flipsAtS.length ? WINDOWS_DEFAULTS.flipsAtS : []) {
    const f = sums.find((x) => x.atS === atS);
    const early = atS < 10;
    const measure = `P2 flip ${atS} s after payment, median lag${f ? ` (${f.n} flips)` : ""}`;
    const target = early ? `≤ ${TARGETS.p2EarlyMedianMs} ms` : `≤ ${TARGETS.p2LatePct} % of elapsed`;
    if (!f?.n) {
      rows.push({ measure, result: f ? "not seen" : `not in ${mode} (full bench only)`, target, ok: f ? false : null });
      continue;
    }
    rows.push({
      measure,
      result: `${ms(f.medianLagMs)} (${fmt(f.medianPct, 1)} % of elapsed)`,
      target,
      ok: early ? f.medianLagMs <= TARGETS.p2EarlyMedianMs : f.medianPct <= TARGETS.p2LatePct,
      why: `the poll interval in force at ${atS} s (${early ? "250 ms" : atS < 60 ? "~1 s" : "~5 s"}, + 0–20 % jitter) plus the round trip, on a loaded machine.`,
      next: "compare the poll_attempt events' planned pauses in bench/.work/p5 with the observed gaps.",
    });
  }
  const p5 = w.p5;
  if (p5) {
    const x = p5.extrapolated;
    rows.push({
      measure: x
        ? `P5 stuck 5-minute window, extrapolated from the schedule (a ${p5.windowS} s window against the sandbox sent ${p5.requests}; the real poller over ${x.windowS} s on a simulated clock, median of 5 draws, shortest draws ${x.requestsShortestDraws})`
        : `P5 stuck ${p5.windowS / 60}-minute window, real poller against the sandbox`,
      result: `${x ? x.requests : p5.requests} requests`,
      target: `≤ ${TARGETS.p5Requests}`,
      ok: (x ? Math.max(x.requests, x.requestsShortestDraws) : p5.requests) <= TARGETS.p5Requests,
      why: "the schedule in lib/run/poll.ts POLL_DEFAULTS allows at most 40 + 50 + 48 requests (+ the one at the deadline).",
      next: "check that every pause in the P5 trace is ≥ the schedule's interval.",
    });
  }
  return rows;
}

function p2Section(r: AllResults): string[] {
  const p2 = r.p2!;
  const rb = lagSummary(p2.samples, "runbook");
  const bl = lagSummary(p2.samples, "baseline");
  const out = ["## P2 — detection lag", ""];
  out.push(
    `${p2.orders} orders, ${p2.flips} flips (each order flips to \`completed\` after payment and to \`refunded\` after the refund request) at ${P2_DEFAULTS.flipDelayMs} ms + a seeded random 0–${P2_DEFAULTS.flipJitterMs} ms (sandbox seed ${p2.seed ?? "default"}; the window is as wide as the baseline's period, so every flip lands at a random phase of both loops). Both watchers poll the same order at the same time: the runbook's poller (\`pollUntil\` + traced \`ApiClient\`, lib driven directly) and the baseline, ${p2.baseline === "curl" ? "`bench/curl-loop.sh` (curl, then `sleep 5`)" : "a fetch + 5 s sleep loop (curl is not installed here)"}. Lag = the first response showing the new state − the flip time the sandbox recorded (same machine clock; the runbook side uses performance.now() in the sandbox's own process).`,
    "",
  );
  const row = (name: string, s: typeof rb) => [
    name,
    s.n,
    ms(s.median),
    ms(s.p95),
    ms(s.min),
    ms(s.max),
    s.requests,
    fmt(s.steadyRate, 2),
    s.peak,
  ];
  out.push(
    table(
      [
        "watcher",
        "flips seen",
        "median lag",
        "p95 lag",
        "min",
        "max",
        "requests",
        "steady req/s",
        "peak requests in any 1 s",
      ],
      [row("runbook poller", rb), row(`fixed 5 s ${p2.baseline} loop`, bl)],
    ),
    "",
  );
  out.push(
    `Ratio, fixed loop ÷ runbook: median lag ${ratio(bl.median, rb.median)}, p95 ${ratio(bl.p95, rb.p95)}; the runbook sends ${ratio(rb.steadyRate, bl.steadyRate)} the requests per second. Sandbox-side count of \`GET /orders/:id\` during P2: ${p2.serverOrderGets} (watchers' own count: ${rb.requests + bl.requests}${r.windows ? "; the timed flips and P5 poll beside P2, so the sandbox's count includes theirs" : ""}).`,
    "",
  );
  if (p2.missing.length) out.push(`Not measured: ${p2.missing.join("; ")}.`, "");
  out.push(
    "A negative lag of a few ms is possible: the sandbox records a flip just after its transaction commits, so a GET can see the new state first.",
    "",
  );
  return out;
}

function p3Section(r: AllResults): string[] {
  const p3 = r.p3!;
  const out = ["## P3 — evidence cost", ""];
  out.push(
    `${p3.calls} calls each to the sandbox's \`GET /api/v1/status\` (no database work), interleaved pairwise (the order alternates), after ${50} warm-up calls each. Raw = undici \`request\` + JSON parse on its own keep-alive agent; traced = \`ApiClient.call\` (request and response redacted, hash-chained and appended to a trace file with fsync, envelope checked with zod). Trace bytes per call: ${bytes(p3.traceBytesPerCall)}.`,
    "",
  );
  const d2 = (d: { n: number; p50: number; p95: number }) => [d.n, `${fmt(d.p50, 2)} ms`, `${fmt(d.p95, 2)} ms`];
  out.push(
    table(
      ["client", "calls", "p50", "p95"],
      [
        ["raw undici", ...d2(p3.raw)],
        ["traced ApiClient", ...d2(p3.traced)],
        ["… of which inside Trace.append (2 events)", ...d2(p3.appendInCall)],
        ["… the rest (undici + headers + JSON + zod + Date skew check)", ...d2(p3.tracedWithoutAppend)],
      ],
    ),
    "",
  );
  out.push(
    `p50 difference: **${fmt(p3.traced.p50 - p3.raw.p50, 2)} ms** (median of the per-pair differences: ${fmt(p3.pairedDiffP50, 2)} ms; ratio of p50s ${ratio(p3.traced.p50, p3.raw.p50)}).`,
    "",
  );
  out.push("The traced call's parts, each timed alone (per call: one request and one response event):", "");
  out.push(
    table(
      ["part", "p50", "p95"],
      p3.parts.map((p) => [p.part, `${fmt(p.p50, 3)} ms`, `${fmt(p.p95, 3)} ms`]),
    ),
    "",
  );
  return out;
}

function p4Section(r: AllResults): string[] {
  const p4 = r.p4!;
  const out = ["## P4 — artefact size", ""];
  out.push(`One full session folder (\`${p4.sessionId}\`, the last passing P1 run):`, "");
  out.push(
    table(
      ["file", "bytes", "", "target"],
      p4.files.map((f) => [
        f.name,
        f.bytes,
        bytes(f.bytes),
        f.target ? `≤ ${bytes(f.target)} ${verdict(f.bytes <= f.target)}` : "",
      ]),
    ),
    "",
  );
  out.push("The notebook's outputs by type (JSON-encoded bytes):", "");
  out.push(
    table(
      ["output type", "bytes"],
      p4.notebookByMime.map((m) => [m.mime, bytes(m.bytes)]),
    ),
    "",
  );
  return out;
}

function p6Table(xs: P6Sample[], whats: string[]): string {
  return table(
    ["run", "P6", ...whats, "pre-flight"],
    xs.map((x, i) => [
      i + 1,
      ms(x.ms),
      ...whats.map((w) => ms(x.laps.find((l) => l.what === w)?.ms ?? NaN)),
      x.passed ? "PASS" : "not PASS",
    ]),
  );
}

function p6Section(p6: P6Result): string[] {
  const whats = p6.runs[0]?.laps.map((l) => l.what) ?? [];
  const cold = p6.cold ?? [];
  const ahead = (p6.prestarts ?? []).map((k, i) =>
    "error" in k
      ? `run ${i + 1}: not started ahead (${k.error})`
      : `run ${i + 1}: session created in ${ms(k.startMs)}, lib imported ${ms(k.warmMs)} later (${k.warm})`,
  );
  const out = [
    "## P6 — JupyterLab, open → pre-flight",
    "",
    `${p6.runs.length} run(s) of the operator UI test's flow (test/ui/p6.ts): headless Chromium opens a fresh session notebook in real JupyterLab (project venv, tslab kernel, this bench's sandbox) at the URL \`npm run session\` prints (the session's own workspace, started empty), waits until the status bar says Idle, clicks into the parameters cell and goes down the notebook with Shift+Enter (parameters, injected parameters, the session cell, pre-flight), each reply on screen before the next key. The clock runs from sending the browser to the notebook's URL to the pre-flight cell's reply on screen; each run has a fresh browser context and its own kernel. JupyterLab's own start (${sec(p6.labStartMs)}) is not counted. Laps are the time since opening.`,
    "",
    `Kernel started ahead (issue 26, \`npm run session\`'s path): lib/host/prestart.ts, the notebook's Jupyter session is created (POST /api/sessions) and its kernel warmed (the session cell's imports, over the kernel's websocket) before the URL is printed; the browser opens the URL as soon as the warm-up answered, and P6 counts from there${cold.length ? `; interleaved round by round with ${cold.length} run(s) where opening the notebook starts the kernel (before)` : ""}.`,
    "",
    p6Table(p6.runs, whats),
    "",
  ];
  if (ahead.length) out.push(`Kernel started ahead: ${ahead.join("; ")}.`, "");
  if (cold.length) out.push("Kernel started by the browser (before):", "", p6Table(cold, whats), "");
  if (p6.uiTest)
    out.push(
      `The operator UI test's last figure (\`npm run test:ui\`, ${p6.uiTest.at}): ${ms(p6.uiTest.ms)}, the same flow inside the whole operator session.`,
      "",
    );
  return out;
}

function redactionSection(red: RedactionResult): string[] {
  return [
    "## Redaction — 10 KB, 1 MB, 10 MB bodies (issue 14), a body nested 100 000 levels (issue 25)",
    "",
    "Realistic JSON made by bench/redaction.ts from a seeded PRNG: orders with ids, mixed letters and digits, hex digests, 2 000-character base64 blobs, bearer and JWT-shaped tokens, a secret the registry knows and a Luhn-valid card-like number made at run time. *Whole text* is `redactString` over the entire body (the linear-time claim); *as traced* is what the trace does with a response body: parsed and `redact`ed whole up to the kept length, else only the redacted prefix it keeps. Every output was checked: the card-like number and the secret never survive. The nested body is arrays 100 000 levels deep with the card-like number innermost: as traced it is refused unwalked (its redacted first characters and a note); *redact()* is `redact` of the parsed value, cut at 200 levels with a note.",
    "",
    table(
      ["body", "bytes", "masked spans", "whole text", "per MB", "as traced", "traced as", "redact()", "runs"],
      red.rows.map((x) => [
        x.label,
        x.bytes,
        x.masked,
        ms(x.fullMs),
        ms(x.fullMs / (x.bytes / 1e6)),
        ms(x.tracedMs),
        x.tracedAs,
        x.walkMs !== undefined ? ms(x.walkMs) : "—",
        x.runs,
      ]),
    ),
    "",
  ];
}

export function renderResults(r: AllResults, findings: string[]): string {
  const m = r.machine;
  const rows = summaryRows(r);
  const out = [
    "# Benchmarks (issue 7)",
    "",
    `Written by \`npm run bench${r.mode === "smoke" ? " -- --smoke" : ""}\` (${r.mode}) on ${m.date} at commit ${m.commit}, in ${sec(r.durationMs)}.`,
    `Machine: ${m.os}, ${m.cores} cores (${m.cpu}), ${fmt(m.memoryGb, 1)} GB memory, Node ${m.node}. Load average (1/5/15 min) at start ${loads(m.loadStart)}, at end ${loads(m.loadEnd)}: a shared machine, so read ratios measured in the same run rather than absolute times. Timings are reported, never asserted: the bench fails only when it cannot measure.`,
    "",
    "## Summary",
    "",
    table(
      ["measure", "result", "target", ""],
      rows.map((x) => [x.measure, x.result, x.target, verdict(x.ok)]),
    ),
    "",
  ];
  const missed = rows.filter((x) => x.ok === false);
  if (missed.length) {
    out.push("### Missed targets: reason and next step", "");
    for (const x of missed)
      out.push(`- **${x.measure}** (${x.result}, target ${x.target}). Why: ${x.why} Next: ${x.next}`);
    out.push("");
  }
  if (findings.length) out.push("## Findings and proposed lib changes", "", ...findings, "");
  if (r.p1) out.push(...p1Section(r));
  if (r.p2) out.push(...p2Section(r));
  if (r.windows) out.push(...windowsSection(r.windows));
  if (r.p3) out.push(...p3Section(r));
  if (r.p4) out.push(...p4Section(r));
  if (r.p6) out.push(...p6Section(r.p6));
  if (r.redaction) out.push(...redactionSection(r.redaction));
  out.push(
    "## Reproduce",
    "",
    "```",
    "npm run bench              # full: 2 × 5 notebook runs, 16 orders / 32 flips + 16 timed flips, a 5-minute P5 window beside P2 and P3, 1000 + 1000 calls, anatomy, 3 P6 runs, the redactor (~10–14 min)",
    "npm run bench -- --smoke   # CI: 1 notebook run, 2 orders / 4 flips + 4 timed flips, a 20 s P5 window, 200 + 200 calls, the redactor (~1–2 min), written to bench/.work/",
    "npm run bench -- --only p2,p5   # a subset (p4 needs p1)",
    "npm run bench -- --smoke --only p6,redaction   # P6 once (JupyterLab + Chromium) and the redactor",
    "```",
    "",
  );
  return out.join("\n");
}
