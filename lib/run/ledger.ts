/**
 * The ledger: the one place that decides what happened to the money, by amount (issue 23). It reads
 * only the journal, so the notebook's banner, step 8's next refund, step 9 and the report cannot
 * disagree. Money moved: a payment was confirmed, or may have been. What was captured: the
 * orchestrator's `amount_received` when it was read, else the order's total. What was refunded: the
 * sum of the refunds that SUCCEEDED, each by its own amount. Outstanding: captured − refunded; a
 * partial refund leaves money outstanding ("0.01 EUR of 5.00 EUR refunded"), and more refunded than
 * captured is an over-refund (an anomaly, never "settled").
 *
 * The reconciliation table (charged, captured, refunded, outstanding, transfer, reversal, each per
 * source) is built here too, from `money_seen` entries the steps journal as they read each source.
 * Every reading of money from the journal is here (issue 21 item 3: the evidence layer only types the
 * entries), including what step 4 or 5 recorded as captured (`capturedFromJournal`).
 * A little over 300 lines: the table reads the same rules, and apart they could disagree.
 */
import { type JournalEntry, lastOf, latestStepResults } from "../evidence/journal";
import { MONEY_SOURCES, type MONEY_WHATS } from "../evidence/journal-entries";
import { formatMoney, type Money } from "../money";

/**
 * Money left the operator's card, or may have: the payment was confirmed (journaled before step 4
 * passes), or the orchestrator put it in a state only an operator can settle (`payment_uncertain`,
 * e.g. `conflicted`): the record must never say no money moved when it may have.
 */
export function moneyMoved(entries: readonly JournalEntry[]): boolean {
  return entries.some((e) => e.kind === "payment_confirmed" || e.kind === "payment_uncertain");
}

/** A refund was created for this session's order. */
export function refundRequested(entries: readonly JournalEntry[]): boolean {
  return entries.some((e) => e.kind === "refund_created");
}

/** One refund attempt: its intent (key), the refund the backend created, its latest status and amount. */
export interface RefundAttempt {
  attempt: number;
  key: string | null;
  refundId: string | null;
  /** The latest status recorded for it (POST answer, orchestrator, step 9), or null before the POST answered. */
  status: string | null;
  /** Where that status came from ("POST answer", "orchestrator", "step 9"). */
  source: string | null;
  createdAt: string | null;
  /** Its amount in minor units as last reported (POST answer, then the orchestrator), or null when never said. */
  amount: number | null;
  /** The amount step 8 asked for (null: "the rest", the contract's default). */
  asked: number | null;
  /** Its refund_created entry has no `amount_cents` key at all: written before refunds carried amounts. */
  oldFormat: boolean;
  /**
   * Why a source says this refund is not this order's (another payment, refund or currency:
   * `refund_foreign`), or null. Such a refund is never counted as returned, whatever its status.
   */
  foreign: string | null;
}

/**
 * The session's refund attempts, oldest first. Attempt 1 is the session's first refund; a failed
 * refund, or a partial one that left money outstanding, lets step 8 create the next attempt with a
 * new Idempotency-Key (`<session>:refund:2`). Entries written before attempts were numbered count as 1.
 */
export function refundAttempts(entries: readonly JournalEntry[]): RefundAttempt[] {
  const out: RefundAttempt[] = [];
  const of = (n: number) => {
    let a = out.find((x) => x.attempt === n);
    if (!a) {
      a = {
        attempt: n,
        key: null,
        refundId: null,
        status: null,
        source: null,
        createdAt: null,
        amount: null,
        asked: null,
        oldFormat: false,
        foreign: null,
      };
      out.push(a);
    }
    return a;
  };
  for (const e of entries) {
    if (e.kind === "refund_intent") {
      const a = of(e.data.attempt ?? 1);
      a.key = e.data.idempotency_key;
      a.asked = e.data.amount_cents ?? null;
    } else if (e.kind === "refund_created") {
      const a = of(e.data.attempt ?? 1);
      a.refundId = e.data.refund_id;
      a.status = e.data.status;
      a.source = "POST answer";
      a.createdAt = e.at;
      a.amount = e.data.amount_cents ?? a.amount;
      // Absent (not null): written before refunds carried amounts (the schema keeps the difference).
      a.oldFormat = e.data.amount_cents === undefined;
    } else if (e.kind === "refund_status") {
      const a = out.find((x) => x.refundId === e.data.refund_id);
      if (a) {
        a.status = e.data.status;
        a.source = e.data.source;
        a.amount = e.data.amount ?? a.amount;
      }
    } else if (e.kind === "refund_foreign") {
      const a = out.find((x) => x.refundId === e.data.refund_id);
      if (a) a.foreign = a.foreign ?? e.data.why;
    }
  }
  return out.sort((a, b) => a.attempt - b.attempt);
}

/**
 * What moved, as the journal recorded it: the captured amount and its source ("the orchestrator's
 * amount_received", or the order's total when nothing captured was reported). The latest
 * `payment_uncertain` or `payment_confirmed` with an amount wins, by journal position: a paid cell
 * re-run that confirms the whole amount after a refused partial capture is what was captured.
 * Null when no payment is recorded, or it was recorded without an amount.
 */
export function capturedFromJournal(entries: readonly JournalEntry[]): { money: Money; source: string } | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.kind !== "payment_uncertain" && e.kind !== "payment_confirmed") continue;
    const m = e.data.captured;
    if (m) return { money: m, source: e.data.captured_source ?? LEGACY.capturedSource };
  }
  return null;
}

/**
 * Journals of the older formats name things as the step table of their time did. These are facts
 * about written history, not about today's table: every session written since records the captured
 * amount's source itself (`captured_source`) and the refund's amount, so neither is read for it.
 */
const LEGACY = {
  /** The paid step recorded a captured amount without saying where it came from: it was step 4's. */
  capturedSource: "step 4",
  /** The step whose PASS meant "the order was refunded" before refunds carried amounts. */
  confirmsRefundId: "refunded",
} as const;

/** The money of a session, by amount. */
export interface Ledger {
  moved: boolean;
  currency: string | null;
  /** What the order charged (marketplace total), in minor units. */
  charged: number | null;
  /** What was captured: the orchestrator's amount_received when read, else the order's total. */
  captured: number | null;
  capturedSource: string | null;
  /** Sum of the succeeded refunds' amounts. */
  refunded: number;
  /** A succeeded refund whose amount was never reported (a journal from before refunds by amount). */
  unknownAmount: boolean;
  /** captured − refunded (never below 0), or null when nothing is known to have been captured. */
  outstanding: number | null;
  /** More refunded than captured, in minor units (0 when not). */
  overRefund: number;
  /** Money moved and every captured unit is back (by amount), and no over-refund. */
  settled: boolean;
}

/** The ledger of a journal: the one reading of the money every other module asks. */
export function ledgerOf(entries: readonly JournalEntry[]): Ledger {
  const moved = moneyMoved(entries);
  const order = lastOf(entries, "order_created");
  const charged = order?.data.total_cents ?? null;
  const seenCaptured = seen(entries, "captured", "orchestrator");
  const currency = order ? order.data.currency : (seenCaptured?.currency ?? null);
  // What step 4/5 recorded as captured (the orchestrator's amount_received, issue 23 item 1) when no
  // later step saw it: a partial capture or a surcharge must not be read as the order's total.
  const paid = seenCaptured ? null : capturedFromJournal(entries);
  const captured = seenCaptured?.amount ?? paid?.money.minor ?? (moved ? charged : null);
  const capturedSource = seenCaptured
    ? "the orchestrator's amount_received"
    : paid
      ? paid.source
      : captured !== null
        ? "order total"
        : null;
  const attempts = refundAttempts(entries);
  // A refund a source says is another payment's (or order's, or currency's) returned nothing here.
  const succeeded = attempts.filter((a) => a.status === "succeeded" && a.foreign === null);
  const unknownAmount = succeeded.some((a) => a.amount === null);
  let refunded = succeeded.reduce((s, a) => s + (a.amount ?? 0), 0);
  // What the marketplace and the orchestrator say was refunded in all (step 9 journals both).
  const reported = REPORTERS.flatMap((s) => {
    const r = seen(entries, "refunded", s);
    return r ? [r.amount] : [];
  });
  // A succeeded refund whose answer said "amount: null" is unknown, never "all of it": the sources'
  // own totals say how much came back, or nothing is counted for it.
  if (unknownAmount && reported.length) refunded = Math.max(refunded, Math.min(...reported));
  // A journal written before refunds carried amounts (no `amount_cents` key at all): a succeeded
  // refund (or step 9's PASS, which then meant the order was refunded) counts as the whole captured
  // amount, as it was read then.
  const legacy =
    succeeded.some((a) => a.amount === null && a.oldFormat) ||
    (succeeded.length === 0 &&
      attempts.every((a) => a.amount === null && a.oldFormat && a.foreign === null) &&
      [...latestStepResults(entries).values()].some((r) => r.id === LEGACY.confirmsRefundId && r.status === "PASS"));
  if (legacy && captured !== null) refunded = Math.max(refunded, captured);
  const outstanding = captured === null ? null : Math.max(0, captured - refunded);
  const overRefund = captured !== null && refunded > captured ? refunded - captured : 0;
  // Settled also needs every source that reported a refunded total to say all of it came back.
  const sourcesAgree = reported.every((r) => captured === null || r >= captured);
  const settled = moved && sourcesAgree && (legacy || (outstanding === 0 && overRefund === 0 && refunded > 0));
  return {
    moved,
    currency,
    charged,
    captured,
    capturedSource,
    refunded,
    unknownAmount,
    outstanding,
    overRefund,
    settled,
  };
}

/**
 * A refund has SUCCEEDED for the whole captured amount, on evidence (by amount: a partial refund
 * does not settle the payment). Requested is not returned.
 */
export function refundSucceeded(entries: readonly JournalEntry[]): boolean {
  return ledgerOf(entries).settled;
}

/** Money left the operator's card and has not all come back yet: the refund must stay in sight. */
export function moneyOutstanding(entries: readonly JournalEntry[]): boolean {
  const l = ledgerOf(entries);
  return l.moved && !l.settled;
}

/** "0.01 EUR of 5.00 EUR refunded (4.99 EUR outstanding)", or null before anything was captured. */
export function refundedText(l: Ledger): string | null {
  if (l.captured === null || !l.currency) return null;
  const f = (n: number) => formatMoney(n, l.currency!);
  const tail =
    l.overRefund > 0
      ? ` — ${f(l.overRefund)} MORE than was captured`
      : l.outstanding
        ? ` (${f(l.outstanding)} outstanding)`
        : "";
  return `${f(l.refunded)} of ${f(l.captured)} refunded${tail}`;
}

/**
 * The ledger's "x of y refunded (z outstanding)" once any refund came back, else null: messages say
 * this rather than "no refund succeeded" after a partial refund.
 */
export function refundedSoFarText(entries: readonly JournalEntry[]): string | null {
  const l = ledgerOf(entries);
  return l.refunded > 0 ? refundedText(l) : null;
}

// ------------------------------------------------------------------------------------ reconciliation

/** What a source said about one amount (journaled as `money_seen` by the step that read it). */
export type MoneyWhat = (typeof MONEY_WHATS)[number];
export const SOURCES = MONEY_SOURCES;
export type MoneySource = (typeof SOURCES)[number];
/** The sources that report what was refunded in all. */
const REPORTERS: readonly MoneySource[] = ["marketplace API", "orchestrator"];

export interface Seen {
  amount: number;
  currency: string;
  /** Where exactly it was read (field, column). */
  ref: string;
}

/** The latest amount a source reported for `what`, or null. */
export function seen(entries: readonly JournalEntry[], what: MoneyWhat, source: MoneySource): Seen | null {
  const e = lastOf(entries, "money_seen", (x) => x.data.what === what && x.data.source === source);
  return e ? { amount: e.data.amount, currency: e.data.currency, ref: e.data.ref } : null;
}

export interface ReconRow {
  what: MoneyWhat | "outstanding";
  values: Record<MoneySource, Seen | null>;
  /** "balanced", "MISMATCH: …", "OPEN: …", "NOT CHECKED: …" or "not reported". */
  verdict: string;
  ok: boolean;
  /** Why a step that went to read this amount could not compare it (`money_unchecked`); never balanced. */
  unchecked?: string;
}

/**
 * Why the amount `what` was not compared, when a step said so (`money_unchecked`) after the last
 * amount any source reported for it; else null. A row nobody compared must not read as balanced.
 */
export function uncheckedWhy(entries: readonly JournalEntry[], what: MoneyWhat): string | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.kind === "money_seen" && e.data.what === what) return null;
    if (e.kind === "money_unchecked" && e.data.what === what) return e.data.why;
  }
  return null;
}

export interface Reconciliation {
  currency: string | null;
  rows: ReconRow[];
  /** Every reported row agrees, nothing is outstanding after a refund, and no over-refund. */
  balanced: boolean;
  /** One line for the acceptance box and the notebook. */
  summary: string;
  /** Part was refunded and part is still outstanding ("x of y refunded"). */
  partial: string | null;
}

/**
 * The reconciliation of a session: each amount per source with a verdict. Sources that did not
 * report an amount are blank; a row with values that differ is a MISMATCH naming them.
 */
export function reconcile(entries: readonly JournalEntry[]): Reconciliation {
  const l = ledgerOf(entries);
  const cur = l.currency;
  const f = (n: number) => (cur ? formatMoney(n, cur) : String(n));
  const order = lastOf(entries, "order_created");
  const row = (what: ReconRow["what"], values: ReconRow["values"], extra?: (v: number) => string | null): ReconRow => {
    const why = what === "outstanding" ? null : uncheckedWhy(entries, what);
    if (why !== null) return { what, values, verdict: `NOT CHECKED: ${why}`, ok: false, unchecked: why };
    const got = SOURCES.flatMap((s) => (values[s] ? [[s, values[s]!] as const] : []));
    if (!got.length) return { what, values, verdict: "not reported", ok: true };
    // One currency whatever its case (a database written from Stripe's objects says `eur`).
    const differ = got.some(
      ([, v]) => v.amount !== got[0][1].amount || v.currency.toUpperCase() !== got[0][1].currency.toUpperCase(),
    );
    if (differ)
      return {
        what,
        values,
        verdict: `MISMATCH: ${got.map(([s, v]) => `${formatMoney(v.amount, v.currency)} (${s}${v.ref ? ` ${v.ref}` : ""})`).join(" ≠ ")}`,
        ok: false,
      };
    const open = extra?.(got[0][1].amount) ?? null;
    return { what, values, verdict: open ?? "balanced", ok: open === null };
  };
  const none = { "marketplace API": null, orchestrator: null, database: null } as ReconRow["values"];
  const mk = (what: MoneyWhat, src: MoneySource) => seen(entries, what, src);
  const charged = row("charged", {
    ...none,
    "marketplace API":
      order && l.charged !== null
        ? { amount: l.charged, currency: order.data.currency, ref: "order total_cents" }
        : null,
    orchestrator: mk("charged", "orchestrator"),
  });
  const captured = row("captured", { ...none, orchestrator: mk("captured", "orchestrator") });
  const refundedRow = row(
    "refunded",
    { ...none, "marketplace API": mk("refunded", "marketplace API"), orchestrator: mk("refunded", "orchestrator") },
    (v) =>
      l.captured !== null && v > l.captured ? `OVER-REFUND: ${f(v)} refunded of ${f(l.captured)} captured` : null,
  );
  // Outstanding per source: what it says was taken minus what it says came back (nothing said: 0 back).
  const base = (s: MoneySource, capturedSeen: Seen | null): Seen | null => {
    if (!capturedSeen || !l.moved) return null;
    const back = mk("refunded", s)?.amount ?? 0;
    return { amount: capturedSeen.amount - back, currency: capturedSeen.currency, ref: "" };
  };
  const refundAsked = refundRequested(entries);
  const outstanding = row(
    "outstanding",
    {
      ...none,
      "marketplace API": base("marketplace API", charged.values["marketplace API"]),
      orchestrator: base("orchestrator", mk("captured", "orchestrator") ?? charged.values.orchestrator),
    },
    (v) => (v !== 0 ? `OPEN: ${f(Math.abs(v))} ${v > 0 ? "not refunded" : "refunded too much"}` : null),
  );
  const transfer = row("transfer", {
    ...none,
    "marketplace API": mk("transfer", "marketplace API"),
    database: mk("transfer", "database"),
  });
  const reversal = row("reversal", {
    ...none,
    "marketplace API": mk("reversal", "marketplace API"),
    database: mk("reversal", "database"),
  });
  const rows = [charged, captured, refundedRow, outstanding, transfer, reversal];
  const reported = rows.some((r) => r.verdict !== "not reported");
  const problems = rows.filter((r) => !r.ok);
  if (l.overRefund > 0 && !problems.includes(refundedRow)) problems.push(refundedRow);
  // A source that reported nothing is blank, not a failure; what was reported must agree.
  const balanced = problems.length === 0 && (!l.moved || l.settled);
  const text = refundedText(l);
  const summary = !l.moved
    ? "no money moved"
    : problems.length
      ? `not balanced: ${problems.map((r) => `${r.what} ${r.verdict}`).join("; ")}`
      : !l.settled
        ? `not balanced: ${refundAsked ? (text ?? "refund not settled") : `nothing refunded${text ? ` (${text})` : ""}`}`
        : !reported
          ? "not reported: no source reported an amount"
          : `balanced${text && refundAsked ? `: ${text}` : ""}`;
  const partial = l.refunded > 0 && (l.outstanding ?? 0) > 0 ? text : null;
  return { currency: cur, rows, balanced, summary, partial };
}
