/**
 * A staging dry run against a live run: grouped bars per metric, one bar per session.
 */
import type { PlotOptions, Rendered, SvgNode } from "./document";
import { CHART, checkOptions, clean, compose, emptyPanel, legendStrip, newDocument, plotLib } from "./document";

export interface ComparisonRow {
  metric: string;
  session: string;
  value: number | null;
}

const DEFAULTS = {
  height: 300, // px with one row of panels, header included
  title: "Staging dry run vs live run",
  panelsPerRow: 4,
};

const SESSION_COLORS = ["#4269d0", "#ff8ab7", "#97bbf5", "#9c6b4e", "#a463f2", "#6cc5b0"];

/**
 * Grouped bars per metric, one bar per session, each metric on its own y scale (seconds and
 * counts do not share an axis). A missing value (null) is written "n/a" instead of a bar.
 * @example
 * renderComparisonPlot([{ metric: "seconds-to-completed", session: "staging", value: 12.4 }, …]);
 */
export function renderComparisonPlot(input: ComparisonRow[], opts: PlotOptions = {}): Rendered {
  const Plot = plotLib();
  const rows = input.map((r) => ({ metric: clean(r.metric), session: clean(r.session), value: r.value }));
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const sessions = [...new Set(rows.map((r) => r.session))];
  const cols = Math.max(1, Math.min(metrics.length, DEFAULTS.panelsPerRow));
  const gridRows = Math.max(1, Math.ceil(metrics.length / cols));
  const defaultHeight = CHART.header + gridRows * (DEFAULTS.height - CHART.header);
  const { width, height, title } = checkOptions(opts, defaultHeight, DEFAULTS.title);
  const doc = newDocument();
  const colors = sessions.map((_, i) => SESSION_COLORS[i % SESSION_COLORS.length]);
  const legend = legendStrip(
    doc,
    sessions.map((s, i) => ({ label: s, color: colors[i], symbol: "square" })),
  );
  const body = height - CHART.header;
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

function formatValue(v: number): string {
  return String(+v.toFixed(Math.abs(v) < 10 ? 2 : 1));
}
