/**
 * The staging dry run compared with the live run, step by step (issue 6 §6): status, duration,
 * HTTP 5xx and anomalies per step, then seconds-to-completed / seconds-to-refunded and totals,
 * as a Markdown table and as a plot (lib/plot/) written beside the live session's report.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { cell } from "./display";
import { COMPARISON_FILE } from "../evidence/files";
import { ReportError, displayDir, listSessions, loadEvidence, resolveSessionDir, type Evidence } from "./evidence";
import { passedDryRuns } from "../run/guards";
import { renderComparisonPlot, type ComparisonRow } from "../plot";
import { pollSteps } from "../run/steps";
import { factNumber } from "../run/step-model";
import { fillTemplate } from "./template";

const SERIES = { staging: "staging dry run", live: "live run" };

export interface Metric {
  metric: string;
  staging: number | null;
  live: number | null;
}

export interface Comparison {
  stagingId: string;
  liveId: string;
  /** Both Markdown tables (steps, then metrics). */
  table: string;
  metrics: Metric[];
  /** Rows for renderComparisonPlot. */
  plotRows: ComparisonRow[];
  /** Where the plot files are, without extension, as shown in reports. */
  plot: string;
}

const fmt = (v: number | null) => (v === null ? "n/a" : String(Math.round(v * 10) / 10));
const pair = (a: string, b: string) => `${a} → ${b}`;
const delta = (d: number) => (Math.round(d * 10) === 0 ? "0" : `${d > 0 ? "+" : ""}${fmt(d)}`);

function metricsOf(ev: Evidence): Record<string, number | null> {
  // One metric per poll step of the table: its seconds fact, under the fact's seed label.
  const polls = pollSteps(ev.table).map((d) => [
    d.facts[d.poll!.secondsFact]?.label ?? d.poll!.secondsFact,
    factNumber(ev.steps[d.n]?.observed, d.poll!.secondsFact),
  ]);
  return {
    ...Object.fromEntries(polls),
    "HTTP 5xx": ev.counters.http5xx,
    anomalies: ev.anomalies.length,
    "poll attempts": ev.samples.length,
  };
}

/**
 * Compares two sessions' evidence; pure (no files).
 * @example compareSessions(loadEvidence(stagingDir), loadEvidence(liveDir)).table
 */
export function compareSessions(staging: Evidence, live: Evidence): Comparison {
  const side = (ev: Evidence, n: number) => {
    const r = ev.steps[n];
    return {
      status: r ? r.status : "NOT RUN",
      duration: r ? fmt(r.durationMs / 1000) : "n/a",
      http5xx: String(ev.counters.http5xxByStep[n] ?? 0),
      anomalies: String(ev.anomalies.filter((a) => a.step === n).length),
    };
  };
  const steps = live.table.map((d) => {
    const s = side(staging, d.n);
    const l = side(live, d.n);
    return {
      label: cell(d.n === 0 ? d.name : `${d.n}. ${d.name}`),
      status: pair(s.status, l.status),
      duration: pair(s.duration, l.duration),
      http5xx: pair(s.http5xx, l.http5xx),
      anomalies: pair(s.anomalies, l.anomalies),
    };
  });
  const ms = metricsOf(staging);
  const ml = metricsOf(live);
  const metrics: Metric[] = Object.keys(ms).map((metric) => ({ metric, staging: ms[metric], live: ml[metric] }));
  const table = fillTemplate("comparison.md", {
    steps,
    metrics: metrics.map((m) => ({
      metric: m.metric,
      staging: fmt(m.staging),
      live: fmt(m.live),
      delta: m.staging === null || m.live === null ? "n/a" : delta(m.live - m.staging),
    })),
  }).trimEnd();
  const plotRows: ComparisonRow[] = metrics
    .filter((m) => m.metric !== "poll attempts")
    .flatMap((m) => [
      { metric: m.metric, session: SERIES.staging, value: m.staging },
      { metric: m.metric, session: SERIES.live, value: m.live },
    ]);
  return {
    stagingId: staging.sessionId,
    liveId: live.sessionId,
    table,
    metrics,
    plotRows,
    plot: `${displayDir(live.dir)}/${COMPARISON_FILE}`,
  };
}

/** Writes comparison.md, .svg and .png into `dir` (the live session folder). */
export function writeComparisonFiles(c: Comparison, dir: string): { md: string; svg: string; png: string } {
  const base = path.join(dir, COMPARISON_FILE);
  const plot = renderComparisonPlot(c.plotRows, { title: `Staging dry run ${c.stagingId} vs live run ${c.liveId}` });
  fs.writeFileSync(
    `${base}.md`,
    `# Dry run vs live\n\nStaging \`${c.stagingId}\` → live \`${c.liveId}\`\n\n${c.table}\n\n![comparison](${COMPARISON_FILE}.png)\n`,
  );
  fs.writeFileSync(`${base}.svg`, plot.svg);
  fs.writeFileSync(`${base}.png`, plot.png);
  return { md: `${base}.md`, svg: `${base}.svg`, png: `${base}.png` };
}

/** The latest staging dry run of an archive: the newest fully passed one, else the newest at all. */
export function latestStagingDir(archiveDir: string): string | null {
  const passed = passedDryRuns(archiveDir)[0];
  if (passed) return passed.dir;
  const all = listSessions(archiveDir, "staging");
  return all.length ? path.join(archiveDir, all[all.length - 1]) : null;
}

/** For a live session's report: compare with the archive's latest staging run and write the plot (unless told not to: a sealed folder). */
export function comparisonForLive(live: Evidence, o: { write?: boolean } = {}): Comparison | null {
  const stagingDir = latestStagingDir(path.dirname(path.resolve(live.dir)));
  if (!stagingDir) return null;
  const c = compareSessions(loadEvidence(stagingDir), live);
  if (o.write !== false) writeComparisonFiles(c, live.dir);
  return c;
}

/**
 * `npm run compare -- [--staging <id>] [--live <id>]`: defaults to the latest of each.
 * @example runCompare({ archiveDir: "archive/payment-e2e" }).files.png
 */
export function runCompare(o: { archiveDir: string; staging?: string; live?: string }): {
  comparison: Comparison;
  files: { md: string; svg: string; png: string };
} {
  const lives = listSessions(o.archiveDir, "live");
  const liveDir = o.live
    ? resolveSessionDir(o.live, o.archiveDir)
    : lives.length
      ? path.join(o.archiveDir, lives[lives.length - 1])
      : null;
  if (!liveDir)
    throw new ReportError(
      "E2E_COMPARE",
      `no live session in ${o.archiveDir}; run the live session first or pass --live <session-id>`,
    );
  const stagingDir = o.staging ? resolveSessionDir(o.staging, o.archiveDir) : latestStagingDir(o.archiveDir);
  if (!stagingDir)
    throw new ReportError(
      "E2E_COMPARE",
      `no staging session in ${o.archiveDir}; run a staging dry run first or pass --staging <session-id>`,
    );
  const comparison = compareSessions(loadEvidence(stagingDir), loadEvidence(liveDir));
  return { comparison, files: writeComparisonFiles(comparison, liveDir) };
}
