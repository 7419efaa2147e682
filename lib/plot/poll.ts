/**
 * The poll latency chart of the runbook's polling steps (the step table's `poll` steps), with the order status changes
 * laid out as labels that do not overlap.
 */
import { STEPS, pollSteps } from "../run/steps";
import type { StepTable } from "../run/step-model";
import type { PollSample } from "../types";
import type { PlotOptions, Rendered, SvgNode } from "./document";
import {
  CHART,
  checkOptions,
  clean,
  compose,
  emptyPanel,
  legendStrip,
  newDocument,
  plotLib,
  textWidth,
} from "./document";

const DEFAULTS = {
  height: 440, // px, two facets
  logRatio: 50, // max/min latency above which the y scale turns logarithmic
};

type Outcome = "ok" | "http 4xx" | "http 5xx" | "network error" | "schema mismatch";
const OUTCOMES: Outcome[] = ["ok", "http 4xx", "http 5xx", "network error", "schema mismatch"];
// Shape as well as colour, so the outcome survives greyscale printing.
const OUTCOME_COLORS = ["#3ca951", "#efb118", "#e4572e", "#6b3fa0", "#1f77b4"];
const OUTCOME_SYMBOLS = ["circle", "diamond", "triangle", "square", "cross"];
/** Listed in the legend only when some attempt had it (a contract mismatch is rare, and stops the poll). */
const RARE: ReadonlySet<Outcome> = new Set(["schema mismatch"]);

/** "Poll latency — steps 5 and 9", from the table's poll steps. */
export function pollTitle(table: StepTable = STEPS): string {
  const ns = pollSteps(table).map((d) => d.n);
  return `Poll latency — step${ns.length === 1 ? "" : "s"} ${ns.slice(0, -1).join(", ")}${ns.length > 1 ? " and " : ""}${ns[ns.length - 1] ?? ""}`;
}

/**
 * Poll latency of the poll steps (5 and 9 in STEPS), one facet per step, dots by outcome and a dashed rule
 * wherever the order status changed.
 * @example
 * const { svg, png } = renderPollPlot(samples);
 * tslab.display.png(png);
 */
export function renderPollPlot(samples: PollSample[], opts: PlotOptions & { table?: StepTable } = {}): Rendered {
  const Plot = plotLib();
  const table = opts.table ?? STEPS;
  const { width, height, title } = checkOptions(opts, DEFAULTS.height, pollTitle(table));
  const facetTitle = (n: number) => {
    const d = table[n];
    return d?.poll ? `Step ${n} — ${d.poll.title}` : `Step ${n}`;
  };
  const doc = newDocument();
  const body = height - CHART.header;
  // One poll window per step: its latest run (an interrupted run's window restarts at t = 0 and would
  // draw over it). The attempts of earlier runs stay in the trace and the report's counters.
  const latestRun = new Map<number, number>();
  for (const s of samples) latestRun.set(s.step, Math.max(latestRun.get(s.step) ?? 1, s.run ?? 1));
  const plotted = samples.filter((s) => (s.run ?? 1) === latestRun.get(s.step));
  const rows = [...plotted]
    .sort((a, b) => a.step - b.step || a.t - b.t || a.attempt - b.attempt)
    .map((s) => ({ step: s.step, t: s.t, latencyMs: s.latencyMs, outcome: outcomeOf(s) }));

  const counts = OUTCOMES.map((o) => rows.filter((r) => r.outcome === o).length);
  const legend = legendStrip(
    doc,
    OUTCOMES.flatMap((o, i) =>
      RARE.has(o) && !counts[i]
        ? []
        : [{ label: `${o} (${counts[i]})`, color: OUTCOME_COLORS[i], symbol: OUTCOME_SYMBOLS[i] }],
    ),
  );
  if (rows.length === 0)
    return compose(width, height, title, legend, [[emptyPanel(doc, width, body, "no poll samples"), 0, 0]]);

  const steps = [...new Set(rows.map((r) => r.step))];
  const marginLeft = 64;
  const marginRight = 20;
  const maxT = Math.max(...rows.map((r) => r.t));
  // The x scale is built first so that status labels can be laid out in pixels.
  const xScale = Plot.scale({
    x: { domain: [0, Math.max(1, maxT)], nice: true, range: [marginLeft, width - marginRight] },
  });
  const changes = statusChanges(plotted, (t) => xScale.apply(t), width - marginRight);
  // A time-out of seconds next to polls of tens of ms flattens a linear axis: go logarithmic.
  const positive = rows.map((r) => r.latencyMs).filter((v) => v > 0);
  const [lo, hi] = [Math.max(1, Math.min(...positive)), Math.max(...positive)];
  const log = positive.length > 0 && hi / lo > DEFAULTS.logRatio;
  const y = log ? (r: { latencyMs: number }) => Math.max(1, r.latencyMs) : "latencyMs";
  const yScale = log
    ? { type: "log" as const, domain: [lo, hi], ticks: logTicks(lo, hi), tickFormat: (d: number) => String(d) }
    : { type: "linear" as const, zero: true, nice: true };

  const chart = Plot.plot({
    document: doc,
    width,
    height: body,
    marginTop: 22,
    marginLeft,
    marginRight,
    marginBottom: 36,
    x: { label: "seconds since the poll window opened →", grid: true, domain: xScale.domain, labelAnchor: "right" },
    y: {
      label: log ? "latency (ms, log scale)" : "latency (ms)",
      labelAnchor: "center",
      grid: true,
      insetTop: 28,
      ...yScale,
    },
    fy: { domain: steps, axis: null, paddingInner: steps.length > 1 ? 0.22 : 0, paddingOuter: 0.04 },
    color: { domain: OUTCOMES, range: OUTCOME_COLORS },
    symbol: { domain: OUTCOMES, range: OUTCOME_SYMBOLS },
    marks: [
      Plot.frame({ stroke: "#ccc" }),
      Plot.text(steps, {
        fy: (d: number) => d,
        text: (d: number) => facetTitle(d),
        frameAnchor: "top-left",
        dy: -12,
        fontWeight: "bold",
        fontSize: 11,
      }),
      Plot.ruleX(changes, { x: "t", fy: "step", stroke: "#777", strokeDasharray: "4,3" }),
      ...[0, 1].flatMap((row) =>
        [false, true].map((end) =>
          Plot.text(
            changes.filter((c) => c.row === row && c.end === end),
            {
              x: "t",
              fy: "step",
              text: "status",
              frameAnchor: "top",
              lineAnchor: "top",
              textAnchor: end ? "end" : "start",
              dx: end ? -3 : 3,
              dy: 4 + row * 12,
              fill: "#333",
            },
          ),
        ),
      ),
      Plot.lineY(rows, { x: "t", y, fy: "step", z: "step", stroke: "#bbb", strokeWidth: 1 }),
      Plot.dot(rows, {
        x: "t",
        y,
        fy: "step",
        fill: "outcome",
        symbol: "outcome",
        r: 3.5,
        stroke: "white",
        strokeWidth: 0.6,
      }),
    ],
  }) as unknown as SvgNode;
  return compose(width, height, title, legend, [[chart, 0, 0]]);
}

interface StatusChange {
  step: number;
  t: number;
  status: string;
  /** Label line, 0 or 1: a label that would overlap the previous one drops a line. */
  row: number;
  /** Label left of the rule, where it would run past the right edge. */
  end: boolean;
  /** Horizontal extent of the label in pixels. */
  x0: number;
  x1: number;
}

/**
 * Samples whose order status differs from the last status seen in the same step. A failed
 * attempt (status null) tells nothing, so it neither starts nor ends a status; the first
 * status of a step is the starting point, not a change.
 */
function statusChanges(samples: PollSample[], xPx: (t: number) => number, right: number): StatusChange[] {
  const out: StatusChange[] = [];
  const sorted = [...samples].sort((a, b) => a.step - b.step || a.t - b.t || a.attempt - b.attempt);
  let step: number | undefined;
  let prev: StatusChange | undefined;
  let last: string | null = null;
  for (const s of sorted) {
    if (s.step !== step) [step, prev, last] = [s.step, undefined, null];
    if (s.orderStatus === null) continue;
    if (last !== null && s.orderStatus !== last) {
      const status = clean(s.orderStatus);
      const [x, w] = [xPx(s.t), textWidth(status) + 3];
      const end = x + w > right;
      const [x0, x1] = end ? [x - w, x] : [x, x + w];
      const row = prev && x0 < prev.x1 + 6 ? 1 - prev.row : 0;
      prev = { step: s.step, t: s.t, status, row, end, x0, x1 };
      out.push(prev);
    }
    last = s.orderStatus;
  }
  return out;
}

/** 1, 2, 5, 10, 20, 50, … within [lo, hi], plus the ends when the range holds fewer than two. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** p;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks.length >= 2 ? ticks : [lo, hi].map((v) => Math.round(v));
}

function outcomeOf(s: PollSample): Outcome {
  if (s.errorKind === "schema") return "schema mismatch";
  if (s.httpStatus === null) return "network error";
  if (s.httpStatus >= 500) return "http 5xx";
  if (s.httpStatus >= 400) return "http 4xx";
  return "ok";
}
