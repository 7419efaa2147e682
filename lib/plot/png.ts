/**
 * SVG → PNG with resvg, for viewers that sanitise SVG away (an untrusted notebook in JupyterLab).
 * Text must show on any machine, so the fonts are chosen here rather than left to the system.
 */
import type * as ResvgModule from "@resvg/resvg-js";
import * as fs from "node:fs";
import * as path from "node:path";
import { inRepo } from "../paths";

let resvgModule: typeof ResvgModule | undefined;

const DEFAULTS = {
  zoom: 2, // PNG pixels per SVG pixel
};

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
      ? { mode: "zoom" as const, value: DEFAULTS.zoom }
      : { mode: "width" as const, value: Math.round(width) };
  // Required here, on the first PNG, not when lib is imported (see plotLib in document.ts).
  resvgModule ??= require("@resvg/resvg-js") as typeof ResvgModule;
  return new resvgModule.Resvg(svg, { fitTo, background: "white", font: fontOptions(), logLevel: "error" })
    .render()
    .asPng();
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
