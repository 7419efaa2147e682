/**
 * P6 (issue 15 §5): in JupyterLab, the time from opening the notebook to the pre-flight result on
 * screen. One flow, shared by the operator UI test (test/ui/jupyterlab.test.ts, which records its
 * figure in test/.artifacts/ui/p6.json) and the bench (bench/p6-lab.ts, which runs it N times).
 * The clock starts when the browser is sent to the notebook's URL and stops when the pre-flight
 * cell shows its reply, with laps in between: cells shown, kernel idle, each cell run.
 * Timings are recorded, never asserted.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { notebookUrl } from "../../lib/host/lifecycle";
import { readNotebook } from "../../lib/host/nbfile";
import { type Lab, REPO } from "./jupyterlab";
import type { LabNotebook } from "./lab-page";

/** Where the UI test leaves its last P6 figure (git-ignored, like the screenshots). */
export const P6_FILE = path.join(REPO, "test", ".artifacts", "ui", "p6.json");

/** The cells run before the pre-flight result shows, by a piece of their source. */
export const P6_CELLS = {
  params: "let SESSION_ID",
  injected: "// Injected parameters",
  open: "openNotebook(",
  preflight: 'nb.run("preflight")',
} as const;

export interface P6Lap {
  what: string;
  ms: number;
}

export interface P6Sample {
  /** Opening the notebook's URL → the pre-flight cell's reply shown. */
  ms: number;
  laps: P6Lap[];
  /** The pre-flight cell's output as a person reads it. */
  preflight: string;
  passed: boolean;
  /** ISO time the sample was taken, and by what. */
  at: string;
  by: string;
}

export const lapsText = (laps: readonly P6Lap[]) => laps.map((l) => `${l.what} ${l.ms} ms`).join(", ");

/**
 * Opens `notebook` (a path under the server root) in `nb`'s page and runs the cells up to the
 * pre-flight with Shift+Enter, as an operator does: once the status bar says Idle, a click into the
 * parameters cell, then Shift+Enter down the notebook, each cell's reply on screen before the next.
 * Leaves the kernel running.
 */
export async function openToPreflight(nb: LabNotebook, lab: Lab, notebook: string, by: string): Promise<P6Sample> {
  const at = new Date().toISOString();
  const t0 = performance.now();
  const laps: P6Lap[] = [];
  const mark = (what: string) => laps.push({ what, ms: Math.round(performance.now() - t0) });
  // The URL `npm run session` prints: the session's own workspace, started empty, so notebooks opened
  // before (whose kernels are gone) do not reopen beside it and start kernels of their own.
  const rel = path.relative(REPO, notebook).split(path.sep).map(encodeURIComponent).join("/");
  const url = notebookUrl(lab.origin, "lab/tree", rel, lab.token, path.basename(path.dirname(notebook)));
  await nb.page.goto(url, { waitUntil: "domcontentloaded", timeout: 60_000 });
  await nb.loaded(readNotebook(notebook).cells.filter((c) => c.cell_type === "code").length, 60_000);
  mark("cells shown");
  // What an operator waits for: the status bar says the kernel is Idle (no further settling time).
  await nb.waitKernelIdle(90_000, 0);
  mark("kernel idle");
  // Then a click into the first code cell and Shift+Enter down the notebook, each reply read first.
  await nb.select(await nb.cell(P6_CELLS.params));
  const keys = ["params", "injected", "open", "preflight"] as const;
  const outs = await nb.runDown(
    keys.map((k) => P6_CELLS[k]),
    120_000,
    (needle) => needle !== P6_CELLS.preflight && mark(keys.find((k) => P6_CELLS[k] === needle)!),
  );
  const preflight = outs[outs.length - 1];
  const ms = Math.round(performance.now() - t0);
  return { ms, laps, preflight, passed: /✅\s*PASS/.test(preflight), at, by };
}

/** Writes the sample where the bench reads it (git-ignored); never fails the caller. */
export function recordP6(sample: P6Sample, file = P6_FILE): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(sample, null, 1)}\n`);
  } catch {
    // a figure that could not be written is not a test failure
  }
}

/** The UI test's last recorded sample, or null. */
export function lastRecordedP6(file = P6_FILE): P6Sample | null {
  try {
    const s = JSON.parse(fs.readFileSync(file, "utf8")) as P6Sample;
    return typeof s.ms === "number" ? s : null;
  } catch {
    return null;
  }
}
