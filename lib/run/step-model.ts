/**
 * The step model: what a step declaration is (facts with their kinds and labels, acceptance boxes,
 * poll series, notebook cells), how a table is numbered, how facts are validated and read back.
 * The one table of the runbook's steps is lib/run/steps.ts; tests build copies with `defineSteps`.
 */
import { z } from "zod";
import { MoneySchema } from "../money";
import type { Config } from "../config";
import type { Facts } from "../types";
import type { StepContext, StepOutcome } from "./step-context";

/** What a fact is, and so how it is validated and shown. */
export type FactKind = "id" | "text" | "int" | "seconds" | "percent" | "time" | "money" | "bool" | "json";

export interface FactDef {
  /** The label the seed's "Observed" column uses. */
  label: string;
  kind: FactKind;
  /** A cross-id of the report's trail (order ↔ payment ↔ refund ↔ licence ↔ seller_transfer). */
  link?: "order" | "payment" | "refund" | "licence" | "seller_transfer";
  /** How a boolean reads (defaults "yes" / "no"). */
  yes?: string;
  no?: string;
}

/** How an acceptance box is decided from the step's recorded facts. */
export type BoxCheck =
  | { type: "passed" }
  /** `why`: the fact that says how the seconds were counted, or why they were not (an unticked box says it). */
  | { type: "within"; fact: string; limitS: number; why?: string }
  | { type: "present"; fact: string; prefix?: string }
  | { type: "http2xx"; fact: string }
  | { type: "true"; fact: string };

export interface BoxDef {
  /** Short name for reasons: "completed ≤ 5 min". */
  short: string;
  /** The seed's checkbox text; `{mode}` is replaced by the session's mode. */
  label: string;
  check: BoxCheck;
}

export interface StepDef {
  /** The position in the table, for display only (code addresses steps by id). */
  n: number;
  /** Stable id, used by code and in the journal. */
  id: string;
  /** Heading of the step in the notebook. */
  title: string;
  /** The seed's row label. */
  name: string;
  /** The seed's "Observed" column, as a hint of what the row records. */
  observed: string;
  /** Ids of the steps that must have PASSed before this one may act. */
  requires: string[];
  /** The facts the step records, in display order. */
  facts: Record<string, FactDef>;
  /**
   * A PASS is final: re-running the cell keeps the recorded result instead of measuring again,
   * because the world has moved on (after the refund the licence is gone by design, and a second
   * poll would report a meaningless seconds-to-completed).
   */
  finalOnPass?: boolean;
  /** A poll step: its plot facet title and the seconds fact its window measures. */
  poll?: { title: string; secondsFact: string };
  /** The acceptance boxes this step decides, in the seed's order. */
  boxes?: BoxDef[];
  /** Heading prose under the step's title in the notebook (Markdown). */
  intro?: string;
  /** What the operator does to run the step, for "has not run yet" reasons (default: run its cell). */
  runHint?: string;
  /** The notebook cells that run the step (`nb` is the NotebookUi). */
  cells: string[];
  /** Money may have moved once this step passed (the payment step). */
  movesMoney?: boolean;
  /** The step that gives the money back: available whenever money moved. */
  returnsMoney?: boolean;
  /**
   * Once money moved, the steps that must have had their chance before this one acts (issue 22 §3):
   * it acts when all of them PASSed, or one of them FAILED (that failure is recorded as its reason);
   * otherwise only with the operator's written reason (`await nb.run(id, { reason: "…" })`).
   */
  waitsFor?: string[];
  /** A reason to SKIP the step before it checks anything, from the parameters (the refund while REFUND is off). */
  skipReason?: (cfg: Config) => string | undefined;
  /** The gate every other step runs behind: it pins the parameters the others run with (pre-flight). */
  gate?: boolean;
  /** Its PASS is the proof that the refund settled (the report's "refund confirmed" rule). */
  confirmsRefund?: boolean;
  /**
   * The step's behaviour, like a Plot mark's `render`: it fills `ctx.facts` (the facts declared
   * above) and returns nothing for PASS, or an outcome; throwing FAILs with the error's one line.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a step body returns an outcome, or nothing for PASS
  run: (ctx: StepContext) => Promise<StepOutcome | void>;
}

export type StepTable = readonly StepDef[];

/** Every step may say it resumed earlier work; a note, not a measurement. */
const COMMON_FACTS: Record<string, FactDef> = { resumed: { label: "resumed", kind: "text" } };

export const WITHIN_S = 5 * 60; // the seed's "within 5 minutes" for completed and refunded

/** Numbers the steps by position, so a copy with a step added or removed stays consistent. */
export function defineSteps(defs: ReadonlyArray<Omit<StepDef, "n">>): StepTable {
  const ids = new Set<string>();
  const out = defs.map((d, n) => {
    if (ids.has(d.id)) throw new RangeError(`step id ${d.id} is declared twice`);
    ids.add(d.id);
    return Object.freeze({ ...d, n, facts: { ...d.facts, ...COMMON_FACTS } });
  });
  for (const d of out)
    for (const r of [...d.requires, ...(d.waitsFor ?? [])])
      if (!ids.has(r)) throw new RangeError(`step ${d.id} requires unknown step ${r}`);
  return Object.freeze(out);
}

/** "step 5 (Poll /orders/:id until completed)": how a message names another step, from the table. */
export function stepLabel(def: Pick<StepDef, "n" | "name">): string {
  return `step ${def.n} (${def.name})`;
}

/** "step 3": how a message names the step with this id, its number from the table. */
export function stepNo(table: StepTable, id: string): string {
  const d = table.find((s) => s.id === id);
  return d ? `step ${d.n}` : `the ${id} step`;
}

/** "step 8": the step that gives the money back (`returnsMoney`), numbered by the table. */
export function refundStepNo(table: StepTable): string {
  const d = table.find((s) => s.returnsMoney);
  return d ? `step ${d.n}` : "the refund step";
}

/** `14:02:11Z` from an ISO time, for one-line reasons. */
export function clock(iso: string): string {
  return `${iso.slice(11, 19)}Z`;
}

/**
 * Which clock a time shown to the auditor was read from when it is not a backend's: the times this
 * tool takes itself (a step's start and end, the session's creation, a pre-flight's pin, an
 * anomaly) come from the machine that ran it, whose clock may be off (the trace's Date headers say
 * by how much). A backend's time (a payment's, an order's) is shown as it came, unlabelled.
 */
export const MACHINE_CLOCK = "this machine's clock";

/** `14:02:11Z (this machine's clock)`: `clock` for a time this machine took. */
export function machineClock(iso: string): string {
  return `${clock(iso)} (${MACHINE_CLOCK})`;
}

/** Shorthands for the table below: a fact of a kind, with its seed label. */
export const fact = {
  id: (label: string, link?: FactDef["link"]): FactDef => (link ? { label, kind: "id", link } : { label, kind: "id" }),
  text: (label: string): FactDef => ({ label, kind: "text" }),
  int: (label: string): FactDef => ({ label, kind: "int" }),
  seconds: (label: string): FactDef => ({ label, kind: "seconds" }),
  percent: (label: string): FactDef => ({ label, kind: "percent" }),
  time: (label: string): FactDef => ({ label, kind: "time" }),
  money: (label: string): FactDef => ({ label, kind: "money" }),
  json: (label: string): FactDef => ({ label, kind: "json" }),
};

/** The seed's "Order reaches `status=…` within 5 minutes." box. */
export const within5min = (status: string, secondsFact: string, why?: string): BoxDef => ({
  short: `${status} ≤ 5 min`,
  label: `Order reaches \`status=${status}\` within 5 minutes.`,
  check: { type: "within", fact: secondsFact, limitS: WITHIN_S, ...(why ? { why } : {}) },
});

// ------------------------------------------------------------------------------------ facts

const FACT_SCHEMA: Record<FactKind, z.ZodType> = {
  id: z.string(),
  text: z.string(),
  int: z.number().int(),
  seconds: z.number().finite(),
  percent: z.number().finite(),
  time: z.string().datetime({ offset: false }),
  money: MoneySchema,
  bool: z.boolean(),
  json: z.string(),
};

const schemas = new WeakMap<StepDef, z.ZodType<Facts>>();

/** The zod schema of a step's facts: every fact optional (a FAIL records what it saw), no others. */
export function factsSchema(def: StepDef): z.ZodType<Facts> {
  let s = schemas.get(def);
  if (!s) {
    const shape: Record<string, z.ZodType> = {};
    for (const [k, f] of Object.entries(def.facts)) shape[k] = FACT_SCHEMA[f.kind].nullable().optional();
    s = z.object(shape).strict() as unknown as z.ZodType<Facts>;
    schemas.set(def, s);
  }
  return s;
}

/** A fact read back as a number, or null (absent, null or not a number). */
export function factNumber(facts: Facts | undefined, key: string): number | null {
  const v = facts?.[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** A fact read back as a non-empty string (an id, a text fact), or null; display text is report/display.ts's factText. */
export function factString(facts: Facts | undefined, key: string): string | null {
  const v = facts?.[key];
  return typeof v === "string" && v !== "" ? v : null;
}
