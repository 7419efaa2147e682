/**
 * Charts of the runbook: poll latency (steps 5 and 9) and a two-session comparison.
 *
 * Every chart is one standalone SVG (title and legend drawn in SVG, not in Plot's HTML
 * <figure>) so that the same string works in a browser, in a notebook and in resvg, plus
 * a PNG for viewers that sanitise SVG away (an untrusted notebook in JupyterLab).
 */
export { renderPollPlot } from "./poll";
export { renderComparisonPlot, type ComparisonRow } from "./comparison";
export { svgToPng } from "./png";
export type { PlotOptions, Rendered } from "./document";
