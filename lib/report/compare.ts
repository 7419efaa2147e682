/**
 * The staging dry run compared with the live run, step by step (issue 6 §6): status, duration,
 * HTTP 5xx and anomalies per step, then seconds-to-completed / seconds-to-refunded and totals,
 * as a Markdown table and as a plot (lib/plot/) written under `<archive>/comparisons/<staging>--<live>/`,
 * never into a session folder. The staging side is the dry run the live pre-flight recorded.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { cell } from "./display";
import { COMPARISON_FILE, JOURNAL_FILE, MANIFEST_FILE } from "../evidence/files";
import { ReportError, displayDir, listSessions, loadEvidence, resolveSessionDir, type Evidence } from "./evidence";
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
      label: cell(d.gate ? d.name : `${d.n}. ${d.name}`),
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
    plot: `${displayDir(comparisonDir(path.dirname(path.resolve(live.dir)), staging.sessionId, live.sessionId))}/${COMPARISON_FILE}`,
  };
}

/** Where the comparisons of an archive live: beside the session folders, never inside one. */
export const COMPARISONS_DIR = "comparisons";

/**
 * The folder of one comparison: `<archive>/comparisons/<staging-id>--<live-id>/`. Not a session
 * folder (no journal), so listSessions, the dry-run gate and the retention list never see it.
 */
export function comparisonDir(archiveDir: string, stagingId: string, liveId: string): string {
  return path.join(archiveDir, COMPARISONS_DIR, `${stagingId}--${liveId}`);
}

/**
 * Writes comparison.md, .svg and .png into `dir` (a comparison folder, see comparisonDir).
 * Refuses a session folder: a sealed folder is never written to, and an unsealed one would be
 * sealed with a file no session step produced.
 */
export function writeComparisonFiles(c: Comparison, dir: string): { md: string; svg: string; png: string } {
  if (fs.existsSync(path.join(dir, JOURNAL_FILE)) || fs.existsSync(path.join(dir, MANIFEST_FILE)))
    throw new ReportError(
      "E2E_COMPARE",
      `${dir} is a session folder; comparisons are written under ${COMPARISONS_DIR}/ beside the sessions`,
    );
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, COMPARISON_FILE);
  const plot = renderComparisonPlot(c.plotRows, { title: `Staging dry run ${c.stagingId} vs live run ${c.liveId}` });
  writeIfChanged(
    `${base}.md`,
    `# Dry run vs live\n\nStaging \`${c.stagingId}\` → live \`${c.liveId}\`\n\n${c.table}\n\n![comparison](${COMPARISON_FILE}.png)\n`,
  );
  writeIfChanged(`${base}.svg`, plot.svg);
  writeIfChanged(`${base}.png`, plot.png);
  return { md: `${base}.md`, svg: `${base}.svg`, png: `${base}.png` };
}

/** Re-rendering the same comparison leaves the files (and their times) as they were. */
function writeIfChanged(file: string, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? Buffer.from(data) : Buffer.from(data);
  if (fs.existsSync(file) && fs.readFileSync(file).equals(bytes)) return;
  fs.writeFileSync(file, bytes);
}

/**
 * The staging dry run a live session's pre-flight recorded (journal `preflight`, `observed.dry_run`),
 * as a folder of the same archive; null when it recorded none (an override) or the folder is gone.
 */
export function recordedDryRunDir(live: Evidence): string | null {
  const ref = live.dryRun.reference;
  if (!ref) return null;
  const dir = path.join(path.dirname(path.resolve(live.dir)), ref);
  return fs.existsSync(path.join(dir, JOURNAL_FILE)) ? dir : null;
}

/** For a live session's report: compare with the dry run its pre-flight recorded, and write the plot beside the sessions. */
export function comparisonForLive(live: Evidence, o: { write?: boolean } = {}): Comparison | null {
  const stagingDir = recordedDryRunDir(live);
  if (!stagingDir) return null;
  const c = compareSessions(loadEvidence(stagingDir), live);
  if (o.write !== false)
    writeComparisonFiles(c, comparisonDir(path.dirname(path.resolve(live.dir)), c.stagingId, c.liveId));
  return c;
}

/**
 * `npm run compare -- [--staging <id>] [--live <id>]`: the live session defaults to the latest; the
 * staging one to the dry run its pre-flight recorded (`--staging` overrides, with a notice).
 * @example runCompare({ archiveDir: "archive/payment-e2e" }).files.png
 */
export function runCompare(o: { archiveDir: string; staging?: string; live?: string }): {
  comparison: Comparison;
  files: { md: string; svg: string; png: string };
  /** Set when --staging replaced the recorded dry run: one line saying so. */
  notice: string | null;
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
  const live = loadEvidence(liveDir);
  const recorded = recordedDryRunDir(live);
  const stagingDir = o.staging ? resolveSessionDir(o.staging, o.archiveDir) : recorded;
  if (!stagingDir)
    throw new ReportError(
      "E2E_COMPARE",
      live.dryRun.reference
        ? `the dry run ${live.dryRun.reference} that ${live.sessionId}'s pre-flight recorded is not in ${o.archiveDir}; restore it, or pass --staging <session-id>`
        : `${live.sessionId}'s pre-flight recorded no staging dry run (${live.dryRun.override ? `overridden: "${live.dryRun.override}"` : "none"}); pass --staging <session-id> to compare with one anyway`,
    );
  const staging = loadEvidence(stagingDir);
  const notice =
    o.staging && (!recorded || path.resolve(recorded) !== path.resolve(stagingDir))
      ? `--staging ${staging.sessionId} replaces the dry run ${live.sessionId}'s pre-flight recorded (${live.dryRun.reference ?? "none"})`
      : null;
  const comparison = compareSessions(staging, live);
  const files = writeComparisonFiles(comparison, comparisonDir(o.archiveDir, staging.sessionId, live.sessionId));
  return { comparison, files, notice };
}
