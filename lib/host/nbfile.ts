/**
 * Notebook files: parameter injection (papermill's convention: a cell tagged
 * `injected-parameters` right after the cell tagged `parameters`), the template-hygiene check,
 * and reading outputs back for tests and the archive.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ToolError } from "../errors";
import { cellKeyOf } from "../evidence/outputs";

export interface NbCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  metadata: { tags?: string[]; [k: string]: unknown };
  source: string | string[];
  outputs?: Array<{
    output_type: string;
    data?: Record<string, unknown>;
    text?: string | string[];
    name?: string;
    ename?: string;
    metadata?: unknown;
  }>;
  execution_count?: number | null;
}

export interface Notebook {
  cells: NbCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export const TEMPLATE = "notebooks/payment-e2e.ipynb";

export function readNotebook(file: string): Notebook {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
}

/**
 * Writes a notebook atomically (as jupyter/execute.py saves one): a temp file in the same folder,
 * fsynced, renamed over the target, the folder fsynced. A reader sees the old file or the whole
 * new one; on a failure (ENOSPC, EROFS, …) the temp file is removed, the old file is untouched and
 * the error is thrown.
 */
export function writeNotebook(file: string, nb: Notebook): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.saving~`);
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeFileSync(fd, `${JSON.stringify(nb, null, 1)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the original error is the one to report
    }
    throw err;
  }
  const dir = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

export const sourceOf = (c: NbCell) => (Array.isArray(c.source) ? c.source.join("") : c.source);

/**
 * Code cells of an executed notebook that produced no output at all, by id (or index). Every
 * runbook cell shows something; a silent one means the kernel skipped it — tslab drops its queue
 * after a throwing cell and nbconvert still exits 0 (docs/platform.md). The parameter cells are exempt.
 */
export function silentCells(nb: Notebook): string[] {
  return nb.cells.flatMap((c, i) => {
    if (c.cell_type !== "code") return [];
    const tags = c.metadata.tags ?? [];
    if (tags.includes("parameters") || tags.includes("injected-parameters")) return [];
    if (
      !sourceOf(c)
        .replace(/\/\/.*$/gm, "")
        .trim()
    )
      return [];
    return (c.outputs ?? []).length ? [] : [c.id ?? `#${i}`];
  });
}

/**
 * Why an executed session notebook is not a complete run, one phrase each, or [] (issue 22 item 7):
 * the executor stopped (its `metadata.payment_e2e.complete` is false), a cell threw (an `error`
 * output), or a runbook cell never ran (no output: tslab skips every cell after a throwing one).
 * Only the runbook's own cells count as "never ran"; any cell that threw counts.
 */
export function incompleteReasons(nb: Notebook): string[] {
  const out: string[] = [];
  const meta = nb.metadata?.payment_e2e as
    | {
        complete?: boolean;
        executed_through?: number | null;
        stopped_in?: number | null;
        reason?: string;
        errored?: string[];
      }
    | undefined;
  // A run whose cells all ran but one threw says so in `errored`; the cells say the rest.
  if (meta && meta.complete === false && (meta.stopped_in != null || meta.reason || !("errored" in meta))) {
    const where = meta.stopped_in != null ? ` in cell ${meta.stopped_in}` : "";
    out.push(
      `the executor stopped${meta.reason ? ` (${meta.reason})` : ""}${where}; saved through cell ${meta.executed_through ?? "none"}`,
    );
  }
  const name = (c: NbCell, i: number) => c.id ?? `#${i}`;
  // An `error` output, or the executor's word (tslab shows a throw on stderr only, its reply says error).
  const threw = nb.cells.flatMap((c, i) => {
    const err = (c.outputs ?? []).find((o) => o.output_type === "error");
    if (err) return [`${name(c, i)} (${err.ename ?? "error"})`];
    return meta?.errored?.includes(name(c, i)) ? [name(c, i)] : [];
  });
  if (threw.length) out.push(`a cell threw: ${threw.join(", ")}`);
  const silent = nb.cells.flatMap((c, i) =>
    c.cell_type === "code" && cellKeyOf(sourceOf(c)) && !(c.outputs ?? []).length ? [name(c, i)] : [],
  );
  if (silent.length) out.push(`never ran: ${silent.join(", ")}`);
  return out;
}

/** A TypeScript literal for a parameter value (strings, numbers, booleans only). */
function literal(name: string, v: unknown): string {
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return JSON.stringify(v);
  throw new ToolError("E2E_PARAMS", `parameter ${name} must be a string, number or boolean`);
}

/**
 * Returns a copy of the notebook with an `injected-parameters` cell after the `parameters` cell.
 * Secrets are refused here: they travel in the environment, never in a notebook.
 */
export function injectParameters(nb: Notebook, params: Record<string, unknown>): Notebook {
  const idx = nb.cells.findIndex((c) => c.metadata.tags?.includes("parameters"));
  if (idx < 0) throw new ToolError("E2E_PARAMS", "the notebook has no cell tagged `parameters`");
  for (const k of Object.keys(params)) {
    if (/PASSWORD|API_KEY|SECRET|TOKEN|DATABASE_URL/i.test(k))
      throw new ToolError("E2E_PARAMS", `${k} is a secret: pass it in the environment, never as a notebook parameter`);
  }
  const lines = [
    "// Injected parameters",
    ...Object.entries(params).map(([k, v]) => `${k} = ${literal(k, v)};`),
    // tslab prints a cell's last expression: end on one without a value, so nothing stray shows.
    "void 0;",
  ];
  const cell: NbCell = {
    cell_type: "code",
    id: "injected-parameters",
    metadata: { tags: ["injected-parameters"] },
    source: lines.join("\n"),
    outputs: [],
    execution_count: null,
  };
  const cells = nb.cells.filter((c) => !c.metadata.tags?.includes("injected-parameters"));
  const at = cells.findIndex((c) => c.metadata.tags?.includes("parameters"));
  cells.splice(at + 1, 0, cell);
  return { ...nb, cells };
}

/** Why a template is not clean (outputs, execution counts, volatile metadata), or [] when it is. */
export function hygieneProblems(nb: Notebook): string[] {
  const out: string[] = [];
  nb.cells.forEach((c, i) => {
    if (c.outputs?.length) out.push(`cell ${i} has ${c.outputs.length} output(s)`);
    if (c.execution_count != null) out.push(`cell ${i} has an execution count`);
    for (const k of Object.keys(c.metadata)) if (k !== "tags") out.push(`cell ${i} has volatile metadata \`${k}\``);
  });
  for (const k of Object.keys(nb.metadata))
    if (!["kernelspec", "language_info"].includes(k)) out.push(`notebook metadata \`${k}\` is volatile`);
  return out;
}
