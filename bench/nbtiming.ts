/**
 * Per-cell timing read back from an executed notebook. nbclient's record_timing stores the
 * kernel's message times in `metadata.execution`; tslab sends no execute_input, so only
 * `iopub.status.busy`, `iopub.status.idle` and `shell.execute_reply` are there (ms resolution),
 * and the cell's wall time is busy → idle.
 */
import * as fs from "node:fs";
import { readNotebook, sourceOf, type NbCell } from "../lib/host/nbfile";
import type { TraceEvent } from "../lib/evidence/chain";

export type CellKind = "setup" | "step" | "plot" | "report";

export interface CellTiming {
  label: string;
  kind: CellKind;
  busy: number; // epoch ms
  idle: number;
  ms: number;
  /** Sum of the HTTP round trips (client-side latency_ms) the cell's trace responses record. */
  httpMs: number;
  /** Wall time minus HTTP round trips: what the runbook itself adds. */
  overheadMs: number;
  /** A tslab/TypeScript error printed by the cell (stderr stream), if any. */
  error: string | null;
}

// Which step each notebook call belongs to (the cells are one call each): `nb.run("<id>")` since
// steps are dispatched through the table (issue 21), the older direct `nb.rb.<method>(` calls too.
const step = (id: string, method: string) => new RegExp(`nb\\.run\\("${id}"|nb\\.rb\\.${method}\\(`);
const CALLS: Array<[RegExp, string, CellKind]> = [
  [/openNotebook\(/, "open session (imports lib)", "setup"],
  [step("preflight", "preflight"), "step 0 pre-flight", "step"],
  [step("login", "login"), "step 1 login", "step"],
  [step("product", "pickProduct"), "step 2 products", "step"],
  [step("order", "createOrder"), "step 3 create order", "step"],
  [/nb\.pay\(/, "step 4 pay (headless payer)", "step"],
  [/nb\.paid\(/, "step 4 paid cell", "step"],
  [step("completed", "pollCompleted"), "step 5 poll completed", "step"],
  [step("licence", "checkLicense"), "step 6 licence", "step"],
  [/nb\.run\("transfer"|nb\.(rb\.)?(checkTransfer|pasteTransfer)\(/, "step 7 seller transfer", "step"],
  [step("refund", "refund"), "step 8 refund", "step"],
  [step("refunded", "pollRefunded"), "step 9 poll refunded", "step"],
  [/nb\.plot\(/, "plot", "plot"],
  [/nb\.report\(/, "report", "report"],
];

function labelOf(c: NbCell, i: number): { label: string; kind: CellKind } {
  const tags = c.metadata.tags ?? [];
  if (tags.includes("parameters")) return { label: "parameters", kind: "setup" };
  if (tags.includes("injected-parameters")) return { label: "injected parameters", kind: "setup" };
  const src = sourceOf(c);
  for (const [re, label, kind] of CALLS) if (re.test(src)) return { label, kind };
  return { label: `cell ${i}`, kind: "setup" };
}

function errorOf(c: NbCell): string | null {
  for (const o of c.outputs ?? []) {
    if (o.output_type === "error") return "error output";
    if (o.output_type === "stream" && o.name === "stderr") {
      const text = Array.isArray(o.text) ? o.text.join("") : (o.text ?? "");
      return text.split("\n")[0].slice(0, 200);
    }
  }
  return null;
}

function readTraceLines(file: string): TraceEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TraceEvent);
}

/**
 * The code cells of an executed notebook with their wall time and HTTP share.
 * Example: cellTimings("…/payment-e2e.ipynb", "…/trace.jsonl").find((c) => c.label === "step 1 login")
 */
export function cellTimings(notebook: string, traceFile: string): CellTiming[] {
  const responses = readTraceLines(traceFile)
    .filter((e) => e.type === "response")
    .map((e) => ({ at: Date.parse(e.time), ms: Number((e.payload as { latency_ms?: number }).latency_ms ?? 0) }));
  const out: CellTiming[] = [];
  readNotebook(notebook).cells.forEach((c, i) => {
    if (c.cell_type !== "code") return;
    const m = (c.metadata.execution ?? {}) as Record<string, string>;
    const busy = Date.parse(m["iopub.status.busy"] ?? "");
    const idle = Date.parse(m["iopub.status.idle"] ?? "");
    if (!Number.isFinite(busy) || !Number.isFinite(idle)) return;
    const { label, kind } = labelOf(c, i);
    // Kernel message times have ms resolution: allow 1 ms either side.
    const httpMs = responses.filter((r) => r.at >= busy - 1 && r.at <= idle + 1).reduce((a, r) => a + r.ms, 0);
    out.push({
      label,
      kind,
      busy,
      idle,
      ms: idle - busy,
      httpMs,
      overheadMs: Math.max(0, idle - busy - httpMs),
      error: errorOf(c),
    });
  });
  return out;
}

/** True when a cell hit tslab's file-watch race (another process edited lib/*.ts mid-run). */
export function hitWatchRace(notebook: string): boolean {
  return fs.existsSync(notebook) && fs.readFileSync(notebook, "utf8").includes("Unexpected pending rebuildTimer");
}
