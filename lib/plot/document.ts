/**
 * The standalone SVG every chart is drawn into: size checks, a fresh DOM per render, the header
 * (title and a legend drawn in SVG, not in Plot's HTML <figure>) and the Plot panels nested below
 * it, so that the same string works in a browser, in a notebook and in resvg.
 */
import type * as PlotModule from "@observablehq/plot";
import type * as LinkedomModule from "linkedom";
import { svgToPng } from "./png";

// Loaded on the first chart, not when lib is imported: Observable Plot and linkedom take ~200 ms
// to load that the notebook's session cell (and every CLI that never draws) need not wait for.
let plotModule: typeof PlotModule | undefined;
let linkedomModule: typeof LinkedomModule | undefined;

/** Observable Plot, required on first use. */
export function plotLib(): typeof PlotModule {
  plotModule ??= require("@observablehq/plot") as typeof PlotModule;
  return plotModule;
}

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

/** Shared by every chart. */
export const CHART = {
  width: 720, // px
  header: 52, // px: title line plus legend line
};

const SVG_NS = "http://www.w3.org/2000/svg";
const FONT_FAMILY = "system-ui, sans-serif"; // Plot's own default, mapped to DejaVu Sans in PNGs

/** Structural type: lib/ is also compiled by tslab without DOM types. */
export interface SvgNode {
  outerHTML: string;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  querySelectorAll(selector: string): ArrayLike<{ remove(): void }>;
}

/** Width, height and title of a chart, defaults filled in; throws RangeError on a size too small to draw. */
export function checkOptions(opts: PlotOptions, defaultHeight: number, defaultTitle: string) {
  const width = opts.width ?? CHART.width;
  const height = opts.height ?? defaultHeight;
  if (!(Number.isFinite(width) && width >= 200)) throw new RangeError(`invalid width: ${width} (at least 200 px)`);
  if (!(Number.isFinite(height) && height >= CHART.header + 100))
    throw new RangeError(`invalid height: ${height} (at least ${CHART.header + 100} px)`);
  return { width: Math.round(width), height: Math.round(height), title: opts.title ?? defaultTitle };
}

// A fresh document per chart: nothing leaks from one render into the next.
export function newDocument() {
  linkedomModule ??= require("linkedom") as typeof LinkedomModule;
  return linkedomModule.parseHTML("<!DOCTYPE html><html><body></body></html>").document;
}

// DejaVu Sans at 10 px averages about 6 px per character.
export function textWidth(text: string): number {
  return text.length * 6.2;
}

/** Drops control characters, which XML 1.0 forbids even escaped (user text reaches the SVG). */
export function clean(text: string): string {
  return String(text).replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "");
}

export function emptyPanel(doc: unknown, width: number, height: number, message: string): SvgNode {
  const Plot = plotLib();
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

export interface LegendEntry {
  label: string;
  color: string;
  symbol: string;
}

/** A one-line legend drawn by Plot with identity scales (Plot's own legends are HTML). */
export function legendStrip(doc: unknown, entries: LegendEntry[]): SvgNode {
  let x = 20;
  const placed = entries.map((e) => {
    const at = x;
    x += 22 + textWidth(e.label);
    return { ...e, x: at };
  });
  const Plot = plotLib();
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
export function compose(
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
    place(panel, x, CHART.header + y);
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
      png ??= svgToPng(svg);
      return png;
    },
    width,
    height,
  };
}

function xmlEscape(text: string): string {
  return clean(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
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
