/**
 * What the notebook imports (`./build/lib/notebook`): `openNotebook` and the shape of what it
 * returns, declared with dependency-free types only. tslab type-checks every cell against the
 * declarations its imports reach; through the implementation's (./ui.ts: the Runbook, zod, undici,
 * pg, playwright) that was about 180 declaration files and most of the session cell's compile (bench
 * P1, issue 26). Here it is this file and ../params.ts. The cells stay fully typed against
 * `NotebookCells`, and ./ui.ts's NotebookUi is checked to implement it when lib is built.
 */
import "./compile-cache"; // first: everything below loads with Node's compile cache
import type { Params } from "../params";
import { openNotebook as openSession } from "./ui";

export type { Params };

/** The subset of tslab's Display the runbook uses (tslab is only importable inside the kernel). */
export interface Sink {
  markdown(s: string): void;
  html(s: string): void;
  svg(s: string): void;
  png(b: Uint8Array): void;
  text(s: string): void;
}

/** What the notebook passes in: tslab's module (only importable inside the kernel). */
export interface TslabLike {
  display: Sink;
  newDisplay(): Sink;
}

/** What a step cell may add: the operator's written reason to act before the checks it waits for (the refund). */
export interface RunOptions {
  reason?: string;
}

/** The cells' API: one call per cell; none of them throws into tslab (./ui.ts says why). */
export interface NotebookCells {
  /** Runs the step with this id (`"preflight"`, `"login"`, … as in the notebook) and shows its result. */
  run(id: string, opts?: RunOptions): Promise<void>;
  /** Step 4, first half: amount and a clickable payment link (or the headless payer's result). */
  pay(): Promise<void>;
  /** Step 4, second half ("paid" cell): what the operator saw on the checkout, last 4 digits and connector only. */
  paid(seen: { last4?: string; processor?: string }): Promise<void>;
  /** Step 7 by hand: psql's output pasted by the operator (no DATABASE_URL). */
  pasteTransfer(psqlOutput: string): Promise<void>;
  /** Poll latency plot, shown once as PNG. */
  plot(): Promise<void>;
  /** Final cell: the session block computed from the evidence. */
  report(): Promise<void>;
}

/**
 * Opens the session named by the parameters and binds it to the notebook; a bad parameter is
 * shown as one line, and every later cell then says "not started" (./ui.ts).
 */
export function openNotebook(params: Params, tslab: TslabLike): NotebookCells {
  return openSession(params, tslab);
}
