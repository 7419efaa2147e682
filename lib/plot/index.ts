/**
 * Charts of the runbook: poll latency (steps 5 and 9) and a two-session comparison.
 *
 * Every chart is one standalone SVG (title and legend drawn in SVG, not in Plot's HTML
 * <figure>) so that the same string works in a browser, in a notebook and in resvg, plus
 * a PNG for viewers that sanitise SVG away (an untrusted notebook in JupyterLab).
 */
import * as Plot from "@observablehq/plot";
import { Resvg } from "@resvg/resvg-js";
import { parseHTML } from "linkedom";
import * as fs from "node:fs";
import * as path from "node:path";
import type { PollSample } from "../types";
import { inRepo } from "../paths";

export interface Rendered {
  svg: string;
  png: Buffer;
  /** Size of the SVG in CSS pixels; the PNG is twice as large. */
  width: number;
  height: number;
}

export interface PlotOptions {
  width?: number;
  height?: number;
  title?: string;
}

export interface ComparisonRow {
  metric: string;
  session: string;
  value: number | null;
}

const DEFAULTS = {
  width: 720, // px
  pollHeight: 440, // px, two facets
  comparisonHeight: 300, // px with one row of panels, header included
  header: 52, // px: title line plus legend line
  pngZoom: 2, // PNG pixels per SVG pixel
  pollTitle: "Poll latency — steps 5 and 9",
  comparisonTitle: "Staging dry run vs live run",
  logRatio: 50, // max/min latency above which the y scale turns logarithmic
  panelsPerRow: 4,
};

const SVG_NS = "http://www.w3.org/2000/svg";
const FONT_FAMILY = "system-ui, sans-serif"; // Plot's own default, mapped to DejaVu Sans in PNGs

type Outcome = "ok" | "http 4xx" | "http 5xx" | "network error";
const OUTCOMES: Outcome[] = ["ok", "http 4xx", "http 5xx", "network error"];
// Shape as well as colour, so the outcome survives greyscale printing.
const OUTCOME_COLORS = ["#3ca951", "#efb118", "#e4572e", "#6b3fa0"];
const OUTCOME_SYMBOLS = ["circle", "diamond", "triangle", "square"];
const SESSION_COLORS = ["#4269d0", "#ff8ab7", "#97bbf5", "#9c6b4e", "#a463f2", "#6cc5b0"];
const STEP_TITLES: Record<number, string> = {
  5: "Step 5 — poll order until completed",
  9: "Step 9 — poll order until refunded",
};

/** Structural type: lib/ is also compiled by tslab without DOM types. */
interface SvgNode {
  outerHTML: string;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  querySelectorAll(selector: string): ArrayLike<{ remove(): void }>;
}

/**
 * Poll latency of steps 5 and 9, one facet per step, dots by outcome and a dashed rule
 * wherever the order status changed.
 * @example
 * const { svg, png } = renderPollPlot(samples);
 * tslab.display.png(png);
 */
export function renderPollPlot(samples: PollSample[], opts: PlotOptions = {}): Rendered {
  const { width, height, title } = checkOptions(opts, DEFAULTS.pollHeight, DEFAULTS.pollTitle);
  const doc = newDocument();
  const body = height - DEFAULTS.header;
  const rows = [...samples]
    .sort((a, b) => a.step - b.step || a.t - b.t || a.attempt - b.attempt)
    .map((s) => ({ step: s.step, t: s.t, latencyMs: s.latencyMs, outcome: outcomeOf(s) }));

  const counts = OUTCOMES.map((o) => rows.filter((r) => r.outcome === o).length);
  const legend = legendStrip(
    doc,
    OUTCOMES.map((o, i) => ({ label: `${o} (${counts[i]})`, color: OUTCOME_COLORS[i], symbol: OUTCOME_SYMBOLS[i] })),
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
  const changes = statusChanges(samples, (t) => xScale.apply(t), width - marginRight);
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
        text: (d: number) => STEP_TITLES[d] ?? `Step ${d}`,
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

/**
 * Grouped bars per metric, one bar per session, each metric on its own y scale (seconds and
 * counts do not share an axis). A missing value (null) is written "n/a" instead of a bar.
 * @example
 * renderComparisonPlot([{ metric: "seconds-to-completed", session: "staging", value: 12.4 }, …]);
 */
export function renderComparisonPlot(input: ComparisonRow[], opts: PlotOptions = {}): Rendered {
  const rows = input.map((r) => ({ metric: clean(r.metric), session: clean(r.session), value: r.value }));
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const sessions = [...new Set(rows.map((r) => r.session))];
  const cols = Math.max(1, Math.min(metrics.length, DEFAULTS.panelsPerRow));
  const gridRows = Math.max(1, Math.ceil(metrics.length / cols));
  const defaultHeight = DEFAULTS.header + gridRows * (DEFAULTS.comparisonHeight - DEFAULTS.header);
  const { width, height, title } = checkOptions(opts, defaultHeight, DEFAULTS.comparisonTitle);
  const doc = newDocument();
  const colors = sessions.map((_, i) => SESSION_COLORS[i % SESSION_COLORS.length]);
  const legend = legendStrip(
    doc,
    sessions.map((s, i) => ({ label: s, color: colors[i], symbol: "square" })),
  );
  const body = height - DEFAULTS.header;
  if (metrics.length === 0)
    return compose(width, height, title, legend, [[emptyPanel(doc, width, body, "no comparison rows"), 0, 0]]);

  // One value per (metric, session): the last row wins; NaN and ±Infinity count as missing.
  const value = new Map<string, number | null>();
  for (const r of rows)
    value.set(
      `${r.metric}\u0000${r.session}`,
      typeof r.value === "number" && Number.isFinite(r.value) ? r.value : null,
    );
  const panelWidth = Math.floor(width / cols);
  const panelHeight = Math.floor(body / gridRows);
  const panels: Array<[SvgNode, number, number]> = metrics.map((metric, i) => {
    const bars = sessions.map((session) => ({ session, value: value.get(`${metric}\u0000${session}`) ?? null }));
    const known = bars.filter((b) => b.value !== null);
    const missing = bars.filter((b) => b.value === null);
    const top = Math.max(0, ...known.map((b) => b.value as number));
    // Counts get whole-number ticks, not 0.5 steps.
    const counts = known.every((b) => Number.isInteger(b.value)) && top <= 10;
    const panel = Plot.plot({
      document: doc,
      width: panelWidth,
      height: panelHeight,
      marginTop: 30,
      marginLeft: 44,
      marginRight: 10,
      marginBottom: 14,
      x: { domain: sessions, axis: null, padding: 0.2 },
      y: {
        grid: true,
        label: null,
        nice: true,
        zero: true,
        insetTop: 14,
        domain: top > 0 ? undefined : [0, 1],
        ticks: counts ? Array.from({ length: Math.max(top, 1) + 1 }, (_, k) => k) : undefined,
        tickFormat: counts ? "d" : undefined,
      },
      color: { domain: sessions, range: colors },
      marks: [
        // A long metric name is cut with "…" rather than run into the next panel. lineWidth is
        // in ems as Plot estimates them; bold DejaVu Sans runs wider, hence 14 px, not 11.
        Plot.text([metric], {
          text: (d: string) => d,
          frameAnchor: "top",
          dy: -24,
          fontWeight: "bold",
          fontSize: 11,
          lineWidth: (panelWidth - 12) / 14,
          textOverflow: "ellipsis",
        }),
        Plot.barY(known, { x: "session", y: "value", fill: "session" }),
        Plot.text(known, { x: "session", y: "value", text: (d: { value: number }) => formatValue(d.value), dy: -6 }),
        Plot.text(missing, { x: "session", text: () => "n/a", frameAnchor: "bottom", dy: -6, fill: "#777" }),
        Plot.ruleY([0]),
      ],
    }) as unknown as SvgNode;
    return [panel, (i % cols) * panelWidth, Math.floor(i / cols) * panelHeight];
  });
  return compose(width, height, title, legend, panels);
}

/**
 * Rasterises an SVG with resvg on a white background.
 * @param width PNG width in pixels; default twice the SVG's own width.
 * @example fs.writeFileSync("poll.png", svgToPng(rendered.svg));
 */
export function svgToPng(svg: string, width?: number): Buffer {
  if (width !== undefined && !(Number.isFinite(width) && width >= 1))
    throw new RangeError(`invalid PNG width: ${width}`);
  const fitTo =
    width === undefined
      ? { mode: "zoom" as const, value: DEFAULTS.pngZoom }
      : { mode: "width" as const, value: Math.round(width) };
  return new Resvg(svg, { fitTo, background: "white", font: fontOptions(), logLevel: "error" }).render().asPng();
}

// ---------------------------------------------------------------------------------------

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

// DejaVu Sans at 10 px averages about 6 px per character.
function textWidth(text: string): number {
  return text.length * 6.2;
}

function outcomeOf(s: PollSample): Outcome {
  if (s.httpStatus === null) return "network error";
  if (s.httpStatus >= 500) return "http 5xx";
  if (s.httpStatus >= 400) return "http 4xx";
  return "ok";
}

function formatValue(v: number): string {
  return String(+v.toFixed(Math.abs(v) < 10 ? 2 : 1));
}

function checkOptions(opts: PlotOptions, defaultHeight: number, defaultTitle: string) {
  const width = opts.width ?? DEFAULTS.width;
  const height = opts.height ?? defaultHeight;
  if (!(Number.isFinite(width) && width >= 200)) throw new RangeError(`invalid width: ${width} (at least 200 px)`);
  if (!(Number.isFinite(height) && height >= DEFAULTS.header + 100))
    throw new RangeError(`invalid height: ${height} (at least ${DEFAULTS.header + 100} px)`);
  return { width: Math.round(width), height: Math.round(height), title: opts.title ?? defaultTitle };
}

// A fresh document per chart: nothing leaks from one render into the next.
function newDocument() {
  return parseHTML("<!DOCTYPE html><html><body></body></html>").document;
}

function emptyPanel(doc: unknown, width: number, height: number, message: string): SvgNode {
  return Plot.plot({
    document: doc as never,
    width,
    height,
    margin: 20,
    x: { axis: null, domain: [0, 1] },
    y: { axis: null, domain: [0, 1] },
    marks: [
      Plot.frame({ stroke: "#ccc" }),
      Plot.text([message], { text: (d: string) => d, frameAnchor: "middle", fontSize: 14, fill: "#777" }),
    ],
  }) as unknown as SvgNode;
}

interface LegendEntry {
  label: string;
  color: string;
  symbol: string;
}

/** A one-line legend drawn by Plot with identity scales (Plot's own legends are HTML). */
function legendStrip(doc: unknown, entries: LegendEntry[]): SvgNode {
  let x = 20;
  const placed = entries.map((e) => {
    const at = x;
    x += 22 + textWidth(e.label);
    return { ...e, x: at };
  });
  return Plot.plot({
    document: doc as never,
    width: Math.max(1, Math.ceil(x)),
    height: 18,
    margin: 0,
    x: { type: "identity", axis: null },
    y: { type: "identity", axis: null },
    color: { type: "identity" },
    symbol: { type: "identity" },
    marks: [
      Plot.dot(placed, { x: (d: { x: number }) => d.x + 5, y: 9, fill: "color", symbol: "symbol", r: 4 }),
      Plot.text(placed, { x: (d: { x: number }) => d.x + 13, y: 9, text: "label", textAnchor: "start" }),
    ],
  }) as unknown as SvgNode;
}

/** Title, legend and Plot panels in one standalone SVG; panels are [svg, x, y] below the header. */
function compose(
  width: number,
  height: number,
  title: string,
  legend: SvgNode,
  panels: Array<[SvgNode, number, number]>,
): Rendered {
  // The root is written by hand: linkedom serialises attributes the HTML way, leaving "<"
  // and "&" raw, which is not XML; the title is user text.
  const t = xmlEscape(title);
  const parts = [
    `<svg xmlns="${SVG_NS}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${t}"`,
    ` font-family="${FONT_FAMILY}" font-size="10" color="#222">`, // color: what Plot's currentColor resolves to
    `<title>${t}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`, // opaque even on a dark notebook theme
    `<text x="20" y="22" font-size="15" font-weight="bold" fill="currentColor">${t}</text>`,
  ];
  place(legend, 0, 30);
  parts.push(legend.outerHTML);
  for (const [panel, x, y] of panels) {
    place(panel, x, DEFAULTS.header + y);
    parts.push(panel.outerHTML);
  }
  parts.push("</svg>");
  const svg = parts.join("");
  // The PNG is rasterised on first read: it costs several times the SVG, and a caller that
  // only shows the SVG should not pay for it.
  let png: Buffer | undefined;
  return {
    svg,
    get png() {
      return (png ??= svgToPng(svg));
    },
    width,
    height,
  };
}

function xmlEscape(text: string): string {
  return clean(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Drops control characters, which XML 1.0 forbids even escaped (user text reaches the SVG). */
function clean(text: string): string {
  return String(text).replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "");
}

/** Nest a Plot <svg> at (x, y), without Plot's <style> and class (resvg cannot parse :where()). */
function place(svg: SvgNode, x: number, y: number): void {
  const styles = svg.querySelectorAll("style");
  for (let i = 0; i < styles.length; i++) styles[i].remove();
  svg.removeAttribute("class");
  svg.setAttribute("xmlns", SVG_NS);
  svg.setAttribute("x", String(x));
  svg.setAttribute("y", String(y));
}

// Fonts: text must show in the PNG on any machine. Prefer the distribution's DejaVu Sans,
// else the subset of it shipped in assets/fonts; system fonts stay loaded for other glyphs.
const SYSTEM_DEJAVU = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", // Debian, Ubuntu
  "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", // Fedora
  "/usr/share/fonts/TTF/DejaVuSans.ttf", // Arch
  "/usr/share/fonts/dejavu/DejaVuSans.ttf", // Alpine
];
const BUNDLED_FONT = path.join("assets", "fonts", "DejaVuSans-subset.ttf");

let fonts:
  | { loadSystemFonts: boolean; fontFiles: string[]; defaultFontFamily?: string; sansSerifFamily?: string }
  | undefined;

function fontOptions() {
  if (fonts) return fonts;
  const candidates = [
    ...SYSTEM_DEJAVU,
    inRepo(BUNDLED_FONT),
    path.resolve(process.cwd(), BUNDLED_FONT),
    path.resolve(process.cwd(), "..", BUNDLED_FONT),
  ];
  const file = candidates.find((f) => fs.existsSync(f));
  // Without any file resvg still renders, with whatever system font it finds (or no text).
  fonts = file
    ? { loadSystemFonts: true, fontFiles: [file], defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" }
    : { loadSystemFonts: true, fontFiles: [] };
  return fonts;
}
