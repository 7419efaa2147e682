/**
 * Over 300 lines, not split: one schema per entry kind is the journal's format, read in one place; split, a kind's schema and its look-ups would drift apart.
 *
 * What each journal entry holds (issue 21 item 3): one zod schema per kind, and the entry type as
 * a union discriminated by `kind`. The journal (./journal.ts) checks every entry against its
 * kind's schema when it writes it and when it reads it back, so readers use typed fields and never
 * cast or coerce. The schemas are exact (strict objects): a field the code does not write is a
 * finding on the line that holds it, not something carried along unread. A field is optional only
 * where the code may leave it out, or where a session written by an older runbook lacks it (said
 * at the field). The money these entries describe is read by lib/run/ledger.ts; this module knows
 * no step ids and no payment rules. A little over 300 lines: the schemas, the check of one line
 * against them and the typed look-ups over entries are one description of what an entry is.
 */
import { z } from "zod";
import { Product } from "../contract";
import { MoneySchema } from "../money";
import type { StepResult } from "../types";

const Mode = z.enum(["sandbox", "staging", "live"]);
export const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, "not a lowercase hex SHA-256");
const Text = z.string().min(1);

/** One step fact (lib/types.ts FactValue); which facts a step has is checked against the step table by the report. */
const FactValue = z.union([z.string(), z.number(), z.boolean(), z.null(), MoneySchema]);
const Facts = z.record(z.string(), FactValue);

/** Where a source reported an amount: the reconciliation's sources (lib/run/ledger.ts). */
export const MONEY_SOURCES = ["marketplace API", "orchestrator", "database"] as const;
/** Which amount a source reported (lib/run/ledger.ts reads them). */
export const MONEY_WHATS = ["charged", "captured", "refunded", "transfer", "reversal"] as const;
/** Who stated an outcome (`outcome_stated`): the notebook's report cell, or the seal writing report.md. */
export const OUTCOME_STATED_BY = ["report_cell", "seal"] as const;

/**
 * An entry's data as a strict object of `shape`. Any entry may carry `truncated_from` (the journal
 * adds it when it cut a long string: each cut string's path and its length before the cut).
 */
function data<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject({ ...shape, truncated_from: z.record(z.string(), z.number().int().nonnegative()).optional() });
}

/** A step's outcome as journaled (lib/types.ts StepResult). */
const StepResultData = data({
  step: z.number().int().nonnegative(),
  id: Text,
  name: z.string(),
  status: z.enum(["PASS", "FAIL", "SKIPPED", "INTERRUPTED"]),
  observed: Facts,
  reason: z.string().optional(),
  trace: z.strictObject({ from: z.number().int(), to: z.number().int() }).nullable(),
  startedAt: z.string(),
  endedAt: z.string(),
  durationMs: z.number(),
});

/**
 * A journaled step result as the StepResult the runbook and the report share, field by field: the
 * notebook kernel compiles lib/ without strict null checks, where zod infers every field optional,
 * so the typed data is not handed on as a StepResult itself.
 */
export function stepResultOf(d: z.output<typeof StepResultData>): StepResult {
  return {
    step: d.step,
    id: d.id,
    name: d.name,
    status: d.status,
    observed: d.observed,
    ...(d.reason === undefined ? {} : { reason: d.reason }),
    trace: d.trace,
    startedAt: d.startedAt,
    endedAt: d.endedAt,
    durationMs: d.durationMs,
  };
}

/**
 * What pre-flight recorded about the live gate's dry-run requirement (issue 21 item 4), as data:
 * the report reads the reference and the override from here, never from the words of the
 * `dry_run` fact (lib/run/dry-run.ts makes both).
 */
export const DryRunRef = z.discriminatedUnion("kind", [
  /** A staging or sandbox run: the requirement does not apply. */
  z.strictObject({ kind: z.literal("not_required") }),
  z.strictObject({ kind: z.literal("passed"), session_id: Text }),
  z.strictObject({ kind: z.literal("overridden"), reason: z.string() }),
  z.strictObject({ kind: z.literal("none") }),
]);

/** The data schema of every kind. The order is the order kinds were introduced; it means nothing. */
export const ENTRY_DATA = {
  session_created: data({
    sessionId: Text,
    mode: Mode,
    /** Optional: sessions created before the creation time and nonce were journaled lack them. */
    created_at: z.string().optional(),
    nonce: z.string().optional(),
    base_url: z.string().nullable().optional(),
    /** `npm run session --new-anyway`: the unsettled sessions this one was created beside. */
    new_anyway_beside: z.array(z.string()).optional(),
    operator: z.string().optional(),
    operator_notes: z.string().optional(),
    dry_run_override: z.string().optional(),
    /** `npm run session --via-tunnel "<why>"`: why a staging or live session's backend is this machine's
     * loopback (an SSH tunnel to the real origin); stated before the run, never added after it. */
    via_tunnel: z.string().optional(),
    /** The notebook the host wrote into the folder with the journal (npm run session, the demo): a
     * session made this way is sealed with it, never from its journal alone. Absent: a headless session. */
    notebook: z.string().optional(),
  }),
  preflight: data({
    ok: z.boolean(),
    refusals: z.array(z.string()),
    warnings: z.array(z.string()),
    observed: Facts,
    /** The parameters a passed pre-flight pins (issue 22 §4), as text; absent when it did not pass. */
    params: z.record(z.string(), z.string()).optional(),
    /** The dry-run requirement as data; optional: sessions journaled before issue 21 lack it. */
    dry_run: DryRunRef.optional(),
    /**
     * The orchestrator's processor mode as `/status` said it (`services.hyperswitch.mode`: "live"
     * moves real money), null when the pre-flight stopped before `/status` answered. Optional:
     * pre-flights journaled before it was recorded lack it (confirm-bank then reads the fact, strictly).
     */
    hyperswitch_mode: z.string().nullable().optional(),
  }),
  /** The product as the marketplace returned it (its contract lets the backend add fields). */
  product_selected: data({ product: Product, total_minor: z.number().int() }),
  order_intent: data({ idempotency_key: Text, product_id: Text, total_minor: z.number().int() }),
  order_created: data({
    order_id: Text,
    payment_id: z.string(),
    payment_url: z.string(),
    total_cents: z.number().int(),
    currency: z.string(),
    created_at: z.string(),
    http_status: z.number().int(),
  }),
  payment_confirmed: data({
    at: z.string(),
    /** The backend's own payment time; null when none was seen. Optional: older sessions lack it. */
    paid_at: z.string().nullable().optional(),
    paid_at_source: z.string().nullable().optional(),
    last4: z.string().regex(/^\d{4}$/, "not 4 digits"),
    processor: z.string(),
    via: z.string(),
    /** What the orchestrator captured (issue 23). Optional: sessions before amounts were checked lack it. */
    captured: MoneySchema.nullable().optional(),
    captured_source: z.string().nullable().optional(),
  }),
  payment_uncertain: data({
    at: z.string(),
    payment_id: z.string().nullable(),
    seen: z.string(),
    why: z.string().optional(),
    captured: MoneySchema.nullable().optional(),
    captured_source: z.string().nullable().optional(),
  }),
  payment_checked: data({
    at: z.string(),
    order_id: Text,
    /** Null when the check failed (then `error` says why). */
    seen: z.string().nullable(),
    paid: z.boolean().nullable(),
    by: z.string().optional(),
    error: z.string().optional(),
  }),
  payment_held: data({
    at: z.string(),
    payment_id: z.string(),
    status: z.string(),
    amount_capturable: z.number().nullable(),
    currency: z.string(),
  }),
  transfer_pasted: data({ text: z.string() }),
  refund_intent: data({
    idempotency_key: Text,
    order_id: Text,
    /** Optional: sessions before refunds were numbered lack it (attempt 1). */
    attempt: z.number().int().positive().optional(),
    /** Absent: "the rest" (the contract's default). */
    amount_cents: z.number().int().optional(),
  }),
  refund_created: data({
    refund_id: Text,
    status: z.string(),
    http_status: z.number().int(),
    /** Optional: sessions before refunds were numbered lack it (attempt 1). */
    attempt: z.number().int().positive().optional(),
    /** Optional: sessions before the backend's refund time was journaled lack it. */
    created_at: z.string().nullable().optional(),
    /** Absent (not null) in sessions written before refunds carried amounts: the ledger reads that. */
    amount_cents: z.number().int().nullable().optional(),
    /**
     * The POST answer's `Date` header (null without one) and when this machine received it: the
     * bound a future `created_at` is held to. Optional: sessions before the check lack them.
     */
    server_date: z.string().nullable().optional(),
    received_at: z.string().optional(),
  }),
  refund_status: data({
    refund_id: Text,
    /** Optional: sessions before refunds were numbered lack it (the ledger finds the attempt by refund_id). */
    attempt: z.number().int().positive().optional(),
    status: z.string(),
    source: z.string(),
    amount: z.number().optional(),
  }),
  /**
   * A refund a source says is not this order's (another payment, refund id or currency): the ledger
   * never counts it as returned, whatever status it reaches; steps 8 and 9 FAIL naming `why`.
   */
  refund_foreign: data({
    refund_id: Text,
    attempt: z.number().int().positive().optional(),
    why: Text,
  }),
  step_result: StepResultData,
  /** Written by nothing today; an entry of this kind (tests write it as a plain marker) holds nothing. */
  archived: data({}),
  bank_confirmed: data({
    date: z.string().regex(/^\d{4}-\d\d-\d\d$/, "not a YYYY-MM-DD date"),
    note: z.string().nullable(),
    refund_id: z.string().nullable(),
    confirmed_by: z.literal("operator"),
  }),
  journal_repaired: data({ bytes: z.number().int().positive(), sha256: Hex64, quarantine_file: z.string() }),
  /** Sealed against a seal rule on purpose (npm run archive --unrefunded / --incomplete "<reason>"). */
  seal_exception: data({
    rule: z.enum(["unrefunded", "incomplete"]),
    reason: Text,
    what: z.array(z.string()).optional(),
  }),
  /** An amount a source reported (marketplace API, orchestrator, database): read by lib/run/ledger.ts. */
  money_seen: data({
    what: z.enum(MONEY_WHATS),
    source: z.enum(MONEY_SOURCES),
    amount: z.number().int(),
    currency: z.string(),
    ref: z.string(),
  }),
  /**
   * An amount a step went to read and could not compare (no DSN, an unreadable paste, a split the
   * marketplace does not report): read by lib/run/ledger.ts, whose row then says NOT CHECKED and is not balanced.
   */
  money_unchecked: data({ what: z.enum(MONEY_WHATS), why: Text }),
  /**
   * A gate's clock a step would have read from a backend time that cannot be true (before a time
   * it must follow, in the future of the answer that carried it, or not a time): `what` is the
   * interval not measured, `why` the one-line reason. The verdict is never PASS over one.
   */
  time_impossible: data({ step: z.number().int().nonnegative().nullable(), what: Text, why: Text }),
  /**
   * An outcome the tool stated to the auditor, as it stated it: by the notebook's report cell (what
   * its block, its outcome line and the banner show) or by the seal (what report.md says). Both
   * verifiers compare what the files show with it, and `npm run verify` this entry with the verdict
   * derived from the journal before it (lib/report/outcome-check.ts). Absent in sessions sealed before.
   */
  outcome_stated: data({
    by: z.enum(OUTCOME_STATED_BY),
    outcome: z.enum(["PASS", "FAIL", "PARTIAL"]),
    reason: z.string(),
    /** The ledger's moneyMoved when it was stated (what "before money moved" in the reason rests on). */
    money_moved: z.boolean(),
  }),
} as const;

export type JournalKind = keyof typeof ENTRY_DATA;
export const JOURNAL_KINDS = Object.keys(ENTRY_DATA) as readonly JournalKind[] as readonly [
  JournalKind,
  ...JournalKind[],
];

/** The data an entry of kind K holds, as read back. */
export type DataOf<K extends JournalKind> = z.output<(typeof ENTRY_DATA)[K]>;
/** The data `append` takes for kind K (what is written; a number may be NaN until it is written as null). */
export type DataIn<K extends JournalKind> = z.input<(typeof ENTRY_DATA)[K]>;

/** One journal entry of kind K. */
export interface EntryOf<K extends JournalKind> {
  seq: number;
  at: string;
  kind: K;
  data: DataOf<K>;
  /** Absent only in a journal written before entries were chained (`chained: false`). */
  prev?: string;
  hash?: string;
}

/** Any journal entry: narrow it by `kind` to read its data. */
export type JournalEntry = { [K in JournalKind]: EntryOf<K> }[JournalKind];

// ------------------------------------------------------------------------------------ one line as an entry

const EntryBase = z.object({
  seq: z.number().int().positive(),
  at: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "not a UTC ISO time"),
  kind: z.enum(JOURNAL_KINDS),
  data: z.record(z.string(), z.unknown()),
});
const Chained = { prev: Hex64, hash: Hex64 };
const ChainedBase = EntryBase.extend(Chained).strict();

/**
 * Every kind's entry with its own data schema (their types make up JournalEntry). An entry of a
 * kind not listed is refused (the base schema names `kind`): no session written by this tool's
 * predecessors holds another kind, so an unknown one means an edited or foreign journal.
 */
function entrySchemas(chained: boolean) {
  const one = <K extends JournalKind>(kind: K) =>
    z.strictObject({
      seq: EntryBase.shape.seq,
      at: EntryBase.shape.at,
      kind: z.literal(kind),
      data: ENTRY_DATA[kind],
      ...(chained ? Chained : { prev: Hex64.optional(), hash: Hex64.optional() }),
    });
  return new Map(JOURNAL_KINDS.map((k) => [k, one(k)]));
}
const CHAINED = entrySchemas(true);
const UNCHAINED = entrySchemas(false);

/**
 * Why `json` is not a journal entry of its kind, or null: the first problem, as one line naming
 * the field ("not a journal entry: data.status: …"). `chained`: prev and hash required.
 */
function entryProblem(json: unknown, chained: boolean): string | null {
  // Every line of every journal read comes through here (a kernel reads its journal at each cell). An
  // entry its kind's own schema accepts passes the base schema too (same fields, stricter data), so
  // that one parse decides; only a refused entry is parsed again in order, for the first problem.
  const schemas = chained ? CHAINED : UNCHAINED;
  const kind = typeof json === "object" && json !== null ? (json as { kind?: unknown }).kind : undefined;
  const mine = typeof kind === "string" ? schemas.get(kind as JournalKind) : undefined;
  if (mine?.safeParse(json).success) return null;
  const base = (chained ? ChainedBase : EntryBase).safeParse(json);
  if (!base.success) return problemText(base.error.issues[0]);
  const own = schemas.get(base.data.kind)?.safeParse(json);
  return own && !own.success ? problemText(own.error.issues[0]) : null;
}

/**
 * `json` as a journal entry of its kind, or why it is not one. The kind's own schema is the type
 * guard: what it accepts is the entry type the schemas above describe, unchanged.
 */
export function parseEntry(json: unknown, chained: boolean): { entry: JournalEntry } | { problem: string } {
  const verdict = { problem: "" };
  const accepted = (j: unknown): j is JournalEntry => {
    verdict.problem = entryProblem(j, chained) ?? "";
    return verdict.problem === "";
  };
  return accepted(json) ? { entry: json } : { problem: verdict.problem };
}

const problemText = (issue: z.ZodError["issues"][number]) =>
  `not a journal entry: ${issue.path.join(".") || "(entry)"}: ${issue.message}`;

// ------------------------------------------------------------------------------------ typed readings

/** Narrows an entry to its kind: the discriminant check, for a kind known only as a type parameter. */
export function isKind<K extends JournalKind>(e: JournalEntry, kind: K): e is EntryOf<K> & JournalEntry {
  return e.kind === kind;
}

/** The latest entry of a kind in `entries` (optionally matching a predicate), typed by its kind. */
export function lastOf<K extends JournalKind>(
  entries: readonly JournalEntry[],
  kind: K,
  where?: (e: EntryOf<K>) => boolean,
): EntryOf<K> | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (isKind(e, kind) && (!where || where(e))) return e;
  }
  return undefined;
}

/** The first entry of a kind in `entries`, typed by its kind (`session_created`: the session's identity). */
export function firstOf<K extends JournalKind>(entries: readonly JournalEntry[], kind: K): EntryOf<K> | undefined {
  for (const e of entries) if (isKind(e, kind)) return e;
  return undefined;
}

/** Every entry of a kind in `entries`, oldest first, typed by its kind. */
export function allOf<K extends JournalKind>(entries: readonly JournalEntry[], kind: K): EntryOf<K>[] {
  return entries.filter((e): e is EntryOf<K> & JournalEntry => isKind(e, kind));
}
