/**
 * The kernel's own copy of what it displayed (issue 22 item 6), `outputs.jsonl`. JupyterLab can lose
 * the executed notebook (Close and Shut Down on an unsaved notebook, a lost terminal), and a notebook
 * whose outputs were stripped must not be sealed as if it were the record. So every output the cell
 * API shows is also appended here, redacted exactly as shown (the sink writes it), one JSON line:
 *
 *   {"v":1,"seq":1,"at":"…","event":"call","cell":"run:login","call":"<kernel>#3"}
 *   {"v":1,"seq":2,"at":"…","event":"output","cell":"run:login","call":"<kernel>#3","display":null,"kind":"markdown","data":"…"}
 *
 * `cell` names the notebook cell by the call it makes (`run:<step id>`, `pay`, `paid`, `paste`,
 * `plot`, `report`, `open`); `call` is one run of that cell (the notebook shows the latest); an
 * output with a `display` id is updatable and its latest line is what the cell shows. The archive
 * and verify compare the notebook with it (`outputsAgreement`), `--restore-outputs` writes it back
 * (`restoreOutputs`). The file is hashed into the manifest like every other file.
 * Over 300 lines: the writer, the reader and the comparison share one format.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { appendWhole } from "./append";
import { OUTPUTS_FILE, SESSION_NOTEBOOK } from "./files";

export type OutputKind = "markdown" | "text" | "png";

interface CallLine {
  v: 1;
  seq: number;
  at: string;
  event: "call";
  cell: string;
  call: string;
}
interface OutputLine {
  v: 1;
  seq: number;
  at: string;
  event: "output";
  cell: string;
  call: string;
  display: string | null;
  kind: OutputKind;
  data: string;
}

/** One output as a cell shows it: kind and text (PNG as base64 without whitespace). */
export interface Shown {
  kind: OutputKind;
  data: string;
}

/** `client_secret=…` in a URL, raw or URL-encoded (`client_secret%3D…`); the value up to a separator. */
/** The trace note `npm run archive --restore-outputs` writes (host/seal-rules.ts); the report lists it. */
export const OUTPUTS_RESTORED_EVENT = "outputs restored by npm run archive --restore-outputs";
/** How the trace note starts when the archive masked a pay link in the notebook (host/archive.ts); the report lists it. */
export const PAY_LINK_MASKED_EVENT = "pay link masked at seal";

export const PAY_LINK_SECRET = /(client_secret(?:=|%3D))([^\s"'<>()[\]{},;&|?#\\]+)/gi;
/** The checkout link's client secret masked, as the archive masks it in the notebook before sealing. */
export const maskPayLink = (s: string): string => s.replace(PAY_LINK_SECRET, (_m, key: string) => `${key}[REDACTED]`);

// ------------------------------------------------------------------------------ writing (the kernel)

/** Appends the kernel's copy; never throws (a cell must not fail because its copy could not be written). */
export class KernelCopy {
  private readonly file: string;
  private readonly kernel: string;
  private seq: number;
  private calls = 0;
  private displays = 0;
  /** The write that failed, if any (the archive then finds outputs the copy lacks, never the reverse). */
  failed: string | null = null;

  constructor(dir: string) {
    this.file = path.join(dir, OUTPUTS_FILE);
    this.kernel = `${process.pid}-${Date.now().toString(36)}`;
    this.seq = 0;
    try {
      if (fs.existsSync(this.file)) this.seq = fs.readFileSync(this.file, "utf8").split("\n").filter(Boolean).length;
    } catch (err) {
      this.failed = err instanceof Error ? err.message : String(err);
    }
  }

  /** A new run of the cell named `cell`; returns its call id. */
  begin(cell: string): string {
    const call = `${this.kernel}#${++this.calls}`;
    this.write({ event: "call", cell, call });
    return call;
  }

  /** A fresh id for an updatable output. */
  newDisplay(): string {
    return `${this.kernel}.d${++this.displays}`;
  }

  record(cell: string, call: string, display: string | null, kind: OutputKind, data: string): void {
    this.write({ event: "output", cell, call, display, kind, data: kind === "png" ? data : maskPayLink(data) });
  }

  private write(line: Omit<CallLine, "v" | "seq" | "at"> | Omit<OutputLine, "v" | "seq" | "at">): void {
    try {
      const text = `${JSON.stringify({ v: 1, seq: this.seq + 1, at: new Date().toISOString(), ...line })}\n`;
      const fd = fs.openSync(this.file, "a");
      try {
        appendWhole(fd, text, this.file);
      } finally {
        fs.closeSync(fd);
      }
      this.seq++;
    } catch (err) {
      this.failed = err instanceof Error ? err.message : String(err);
    }
  }
}

// ------------------------------------------------------------------------------ reading

/** What each cell shows after its latest call, by cell name (in the order cells were first run). */
export type CopyCells = Map<string, { call: string; outputs: Shown[] }>;

/** Reads outputs.jsonl into what each cell shows; null when the session has none. A torn line is skipped. */
export function readKernelCopy(dir: string): CopyCells | null {
  const file = path.join(dir, OUTPUTS_FILE);
  if (!fs.existsSync(file)) return null;
  const cells: CopyCells = new Map();
  const byDisplay = new Map<string, Shown>();
  for (const text of fs.readFileSync(file, "utf8").split("\n")) {
    if (!text.trim()) continue;
    let l: CallLine | OutputLine;
    try {
      l = JSON.parse(text);
    } catch {
      continue;
    }
    if (l.event === "call") {
      cells.delete(l.cell); // re-inserted: the order is that of the latest runs
      cells.set(l.cell, { call: l.call, outputs: [] });
      continue;
    }
    if (l.event !== "output") continue;
    const c = cells.get(l.cell);
    if (!c || c.call !== l.call) continue; // an update to an output of an earlier run, no longer shown
    const existing = l.display ? byDisplay.get(l.display) : undefined;
    if (existing) {
      existing.kind = l.kind;
      existing.data = l.data;
      continue;
    }
    const shown = { kind: l.kind, data: l.data };
    c.outputs.push(shown);
    if (l.display) byDisplay.set(l.display, shown);
  }
  return cells;
}

// ------------------------------------------------------------------------------ the notebook's side

interface NbOutput {
  output_type: string;
  data?: Record<string, unknown>;
  text?: string | string[];
  ename?: string;
}
interface NbCellLike {
  cell_type: string;
  id?: string;
  source: string | string[];
  outputs?: NbOutput[];
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
}
interface NbLike {
  cells: NbCellLike[];
  metadata: Record<string, unknown>;
}

const joined = (v: unknown): string => (Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "");
const src = (c: NbCellLike) => joined(c.source);

/** The cell name of a runbook cell from its source (`await nb.run("login")` → `run:login`), or null. */
export function cellKeyOf(source: string): string | null {
  const code = source.replace(/\/\/.*$/gm, "");
  const run = /\bnb\.run\(\s*["'`]([\w-]+)["'`]/.exec(code);
  if (run) return `run:${run[1]}`;
  for (const [key, re] of [
    ["paid", /\bnb\.paid\(/],
    ["pay", /\bnb\.pay\(/],
    ["paste", /\bnb\.pasteTransfer\(/],
    ["plot", /\bnb\.plot\(/],
    ["report", /\bnb\.report\(/],
    ["open", /\bopenNotebook\(/],
  ] as const)
    if (re.test(code)) return key;
  return null;
}

/** What a notebook cell shows, normalised like the kernel's copy (pay links masked). */
export function shownInCell(c: NbCellLike): Shown[] {
  return (c.outputs ?? []).flatMap((o): Shown[] => {
    if (o.output_type === "stream") return [{ kind: "text", data: maskPayLink(joined(o.text)) }];
    const d = o.data ?? {};
    if (d["text/markdown"] !== undefined) return [{ kind: "markdown", data: maskPayLink(joined(d["text/markdown"])) }];
    if (d["image/png"] !== undefined) return [{ kind: "png", data: joined(d["image/png"]).replace(/\s/g, "") }];
    if (d["text/plain"] !== undefined) return [{ kind: "text", data: maskPayLink(joined(d["text/plain"])) }];
    return [];
  });
}

/** The outcome a text shows in its banner ("Outcome: ✅ PASS"), or null. */
export function outcomeShown(texts: string[]): string | null {
  let found: string | null = null;
  for (const t of texts) for (const m of t.matchAll(/Outcome:\**\s*(?:\S+\s+)?(PASS|FAIL|PARTIAL)\b/g)) found = m[1];
  return found;
}

export interface OutputsAgreement {
  /** One line each; empty when the notebook agrees with the kernel's copy and the journal. */
  problems: string[];
  /** Cells lacking outputs the kernel displayed: `--restore-outputs` can put them back. */
  missing: Array<{ cell: string; missing: number; total: number }>;
}

/** A step result row as the notebook shows it: `| 1. Login | ✅ PASS |` (report/display.ts stepRow). */
function showsResult(text: string, r: { step: number; name?: unknown; status: string }): boolean {
  const label = `${r.step === 0 ? "" : `${r.step}. `}${String(r.name ?? "")}`.replace(/[|[\]<>\\]/g, "\\$&");
  return text.includes(`| ${label} | `) && new RegExp(`\\| ${escapeRe(label)} \\| \\S+ ${r.status} \\|`).test(text);
}
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Does the notebook on disk say what happened? Against the kernel's copy (every output it displayed,
 * in the cell that displayed it; the same outcome) and against the journal's step results (each
 * latest result, but INTERRUPTED, shown somewhere). `results`: the journal's latest result per step.
 * A session without a kernel copy (sealed by an older tool) is held to the journal only when its
 * runbook cells all show nothing; `strict` (the archive, before sealing) also when its open cell ran:
 * a notebook the cell API ran must show every result, even once outputs.jsonl is gone.
 */
export function outputsAgreement(
  dir: string,
  results: ReadonlyArray<{ step: number; name?: unknown; status: string }>,
  o: { strict?: boolean } = {},
): OutputsAgreement {
  const out: OutputsAgreement = { problems: [], missing: [] };
  const copy = readKernelCopy(dir);
  const file = path.join(dir, SESSION_NOTEBOOK);
  let nb: NbLike | null = null;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8")) as NbLike;
  } catch {
    nb = null;
  }
  const shownTotal = copy ? [...copy.values()].reduce((n, c) => n + c.outputs.length, 0) : 0;
  if (!nb || !Array.isArray(nb.cells)) {
    if (copy && shownTotal)
      out.problems.push(
        `${SESSION_NOTEBOOK} is missing or unreadable, and the kernel displayed ${shownTotal} output(s)`,
      );
    return out;
  }
  const runbookCells = nb.cells.filter((c) => c.cell_type === "code" && cellKeyOf(src(c)));
  if (copy) {
    const parts: string[] = [];
    let missingAll = 0;
    for (const [key, c] of copy) {
      if (!c.outputs.length) continue;
      // Every cell making that call (an operator may have copied one to run it again).
      const cells = runbookCells.filter((x) => cellKeyOf(src(x)) === key);
      const cell = cells[0];
      const have = cells.flatMap(shownInCell);
      const missing = c.outputs.filter((o) => !have.some((h) => h.kind === o.kind && h.data === o.data)).length;
      if (!missing) continue;
      missingAll += missing;
      out.missing.push({ cell: key, missing, total: c.outputs.length });
      parts.push(`${key} ${missing}/${c.outputs.length}${cell ? "" : " (no such cell)"}`);
    }
    if (missingAll)
      out.problems.push(
        `${SESSION_NOTEBOOK} lacks ${missingAll} of the ${shownTotal} output(s) the kernel displayed (${OUTPUTS_FILE}), by cell: ${parts.join(", ")}`,
      );
    // The banner at the top (the open cell's), as the kernel last set it and as the notebook shows it.
    const kernelOutcome = outcomeShown((copy.get("open")?.outputs ?? []).map((o) => o.data));
    const openCell = runbookCells.find((x) => cellKeyOf(src(x)) === "open");
    const nbOutcome = outcomeShown(openCell ? shownInCell(openCell).map((o) => o.data) : []);
    if (nbOutcome && kernelOutcome && nbOutcome !== kernelOutcome)
      out.problems.push(`${SESSION_NOTEBOOK} shows outcome ${nbOutcome}, the kernel displayed ${kernelOutcome}`);
  }
  // Held to the journal: a session with the kernel's copy, and any notebook whose runbook cells all
  // show nothing (closed without saving, or stripped), kernel's copy or not; strict, one whose open
  // cell ran (its copy deleted or never written: its results can no longer be edited out unseen).
  const blank = runbookCells.length > 0 && runbookCells.every((c) => !(c.outputs ?? []).length);
  const opened = runbookCells.some((c) => cellKeyOf(src(c)) === "open" && (c.outputs ?? []).length > 0);
  if (copy || blank || (o.strict && opened)) {
    const text = nb.cells.flatMap((c) => shownInCell(c).map((o) => o.data)).join("\n");
    const expected = results.filter((r) => r.status !== "INTERRUPTED");
    const absent = expected.filter((r) => !showsResult(text, r));
    if (absent.length)
      out.problems.push(
        `${SESSION_NOTEBOOK} shows ${expected.length - absent.length} of the journal's ${expected.length} step result(s); not shown: ${absent.map((r) => `step ${r.step} ${r.status}`).join(", ")}`,
      );
  }
  return out;
}

/**
 * The notebook with each cell the kernel's copy knows showing the outputs of its latest call (the
 * other cells untouched), and the cells that changed. The caller writes it and records that it did.
 */
export function restoreOutputs<T extends NbLike>(nb: T, copy: CopyCells): { notebook: T; cells: string[] } {
  const cells: string[] = [];
  const restored = nb.cells.map((c) => {
    const key = c.cell_type === "code" ? cellKeyOf(src(c)) : null;
    const k = key ? copy.get(key) : undefined;
    if (!key || !k?.outputs.length) return c;
    const have = shownInCell(c);
    if (
      k.outputs.length === have.length &&
      k.outputs.every((o, i) => o.kind === have[i].kind && o.data === have[i].data)
    )
      return c;
    cells.push(key);
    const mime = { markdown: "text/markdown", text: "text/plain", png: "image/png" } as const;
    return {
      ...c,
      outputs: k.outputs.map((o) => ({ output_type: "display_data", data: { [mime[o.kind]]: o.data }, metadata: {} })),
    };
  });
  return { notebook: { ...nb, cells: restored }, cells };
}
