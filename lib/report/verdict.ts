/**
 * The seed's acceptance gate and the session's derived outcome (issue 6 §4): boxes ticked only from
 * recorded evidence, PASS/FAIL/PARTIAL derived from the boxes, and the action items that follow.
 * The per-step boxes are declared in the step table (lib/run/steps.ts); the two session-wide
 * boxes (end-to-end, bank statement) are here. Nothing is typed by hand, and no display text is
 * parsed: every check reads typed facts.
 * Over 300 lines: the boxes, the outcome and the action items are one decision read from the same evidence.
 */
import { traceText } from "./display";
import type { Evidence } from "./evidence";
import { factNumber, factString, type BoxDef, type StepDef } from "../run/step-model";
import { transferSqlFor } from "../contract";
import { notComparedAtOrchestrator } from "./orchestrator-check";
import type { Outcome } from "../types";

export const GATE = {
  withinS: 5 * 60, // the seed's "within 5 minutes" for completed and refunded
  bankBusinessDays: 7, // the seed's "5-7 business days" for the bank statement
};

export interface Box {
  n: number;
  /** Short name for reasons: "completed ≤ 5 min". */
  short: string;
  label: string;
  ok: boolean;
  evidence: string;
}

export interface Verdict {
  outcome: Outcome;
  reason: string;
}

const END_TO_END = "end-to-end";

const passed = (ev: Evidence, n: number) => ev.steps[n]?.status === "PASS";

/** "step 5 PASS (trace L3–L9)", "step 5 FAIL: deadline…", "step 5 did not run". */
function stepNote(ev: Evidence, n: number): string {
  const r = ev.steps[n];
  if (!r) return `step ${n} did not run`;
  return r.status === "PASS"
    ? `step ${n} PASS (${traceText(r.trace)})`
    : `step ${n} ${r.status}: ${r.reason ?? "no reason recorded"}`;
}

/** `YYYY-MM-DD` plus n business days (Mon–Fri), UTC. */
export function addBusinessDays(isoDate: string, n: number): string {
  const d = new Date(`${isoDate.slice(0, 10)}T00:00:00Z`);
  for (let left = n; left > 0; ) {
    d.setUTCDate(d.getUTCDate() + 1);
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) left--;
  }
  return d.toISOString().slice(0, 10);
}

/**
 * Why a recorded bank confirmation does not stand for the session's refund, or null when it does: it
 * confirms a refund the journal shows settled (succeeded, nothing outstanding), and that refund, not
 * an earlier one. A confirmation recorded before confirm-bank refused unsettled refunds can say otherwise.
 */
export function bankDoesNotHold(ev: Evidence): string | null {
  if (!ev.bank) return null;
  const r = ev.refund;
  if (!r) return "no refund is recorded";
  if (ev.bank.refundId && r.refundId && ev.bank.refundId !== r.refundId)
    return `it names refund ${ev.bank.refundId}, not the session's latest refund ${r.refundId}`;
  if (r.status !== "succeeded")
    return `refund ${r.refundId ?? "?"} is ${r.status ?? "of no known status"}, never succeeded`;
  if (ev.moneyOutstanding) return `the money is not settled on the evidence (${ev.reconciliation.summary})`;
  return null;
}

/** The day the refund was made, by the backend's own time when it gave one (else when it was journaled). */
export function refundDay(ev: Evidence): string | null {
  return ev.refund ? (ev.refund.backendAt ?? ev.refund.at).slice(0, 10) : null;
}

/**
 * The due date as the report shows it: when the backend gave no usable time for the refund, the
 * date is counted from this machine's clock (when it journaled the refund), and says so.
 */
export function bankDueText(ev: Evidence): string | null {
  const due = bankDueDate(ev);
  if (due === null || ev.refund?.backendAt) return due;
  return `${due} (counted from this machine's clock: the backend gave no usable time for the refund)`;
}

/** The last day the bank statement should show the refund: GATE.bankBusinessDays after the refund's day. */
export function bankDueDate(ev: Evidence): string | null {
  const day = refundDay(ev);
  return day ? addBusinessDays(day, GATE.bankBusinessDays) : null;
}

/** One declared box of a step, decided from that step's typed facts. */
function stepBox(ev: Evidence, def: StepDef, box: BoxDef): Omit<Box, "n"> {
  const facts = ev.steps[def.n]?.observed;
  const ok0 = passed(ev, def.n);
  const note = stepNote(ev, def.n);
  const label = box.label.replace("{mode}", ev.mode);
  const c = box.check;
  switch (c.type) {
    case "passed":
      return { short: box.short, label, ok: ok0 && (def.n !== 0 || ev.preflight?.ok !== false), evidence: note };
    case "within": {
      const s = factNumber(facts, c.fact);
      const key = def.facts[c.fact]?.label ?? c.fact;
      return {
        short: box.short,
        label,
        ok: ok0 && s !== null && s <= c.limitS,
        evidence:
          s !== null
            ? `${key} ${s} s ${s <= c.limitS ? "≤" : ">"} ${c.limitS} s; ${note}`
            : ok0 && c.why && factString(facts, c.why) // passed, not measured: the step says why
              ? `${key} ${factString(facts, c.why)}; ${note}`
              : note,
      };
    }
    case "present": {
      const v = factString(facts, c.fact);
      return { short: box.short, label, ok: ok0 && v !== null, evidence: v ? `${c.prefix ?? ""}${v}; ${note}` : note };
    }
    case "http2xx": {
      const http = factNumber(facts, c.fact) ?? ev.refund?.httpStatus ?? null;
      return {
        short: box.short,
        label,
        ok: ok0 && http !== null && http >= 200 && http < 300,
        evidence: http !== null ? `HTTP ${http}; ${note}` : note,
      };
    }
    case "true":
      return { short: box.short, label, ok: ok0 && facts?.[c.fact] === true, evidence: note };
  }
}

/** The seed's acceptance checkboxes, each ticked only from recorded evidence. */
export function acceptance(ev: Evidence): Box[] {
  const table = ev.table;
  const last = table.length - 1;
  const notPassed = table.filter((d) => !d.gate && !passed(ev, d.n));
  const endToEnd: Omit<Box, "n"> = {
    short: END_TO_END,
    label: "Walkthrough runs end-to-end with the operator's own card.",
    ok: notPassed.length === 0,
    evidence: notPassed.length
      ? `not PASS: ${notPassed.map((d) => `step ${d.n} ${ev.steps[d.n]?.status ?? "did not run"}`).join(", ")}`
      : `steps 1–${last} PASS`,
  };
  const due = bankDueText(ev);
  const bankVoid = bankDoesNotHold(ev);
  const bank: Omit<Box, "n"> = {
    short: "bank statement",
    label: "Funds returned to the operator's card (verify on the bank statement within 5-7 business days).",
    ok: ev.bank !== null && bankVoid === null,
    evidence: ev.bank
      ? `bank statement dated ${ev.bank.date}, recorded ${ev.bank.recordedAt.slice(0, 10)} by \`npm run confirm-bank\`${bankVoid ? ` — not counted: ${bankVoid}` : ""}`
      : !ev.refund
        ? "open: no refund recorded"
        : ev.mode !== "live"
          ? `open: a ${ev.mode} run moves no real money`
          : `pending: confirm by ${due} with \`npm run confirm-bank -- ${ev.sessionId} --date YYYY-MM-DD\``,
  };
  const boxes: Array<Omit<Box, "n">> = [];
  for (const def of table) {
    for (const b of def.boxes ?? []) boxes.push(stepBox(ev, def, b));
    if (def.gate) boxes.push(endToEnd);
  }
  boxes.push(bank);
  return boxes.map((b, i) => ({ n: i + 1, ...b }));
}

/** The steps that verify the payment: after the step that moves money, before the one that returns it. */
function paymentChecks(ev: Evidence): StepDef[] {
  const pay = ev.table.find((d) => d.movesMoney)?.n ?? 0;
  const back = ev.table.find((d) => d.returnsMoney)?.n ?? ev.table.length;
  return ev.table.filter((d) => d.n > pay && d.n < back);
}

/**
 * The session's outcome, derived from the acceptance boxes (docs/PAYMENT_E2E_LIVE_REPORT.md,
 * "How the outcome is derived"). Every box is required but the bank statement, which a live run
 * requires too.
 * PASS    every required box is ticked;
 * FAIL    nothing ran; or a step did not pass before money moved (no payment confirmed); or money
 *         moved but none of the payment checks (the steps between paying and refunding) passed;
 * PARTIAL money moved and at least one payment check passed, but a required box is open (failed or
 *         skipped step, too slow, no refund, refund unconfirmed, bank statement pending).
 * A run sealed as incomplete (journal `seal_exception`, `npm run archive --incomplete`) is never PASS:
 * PARTIAL instead, its reason naming what did not run; nor is a staging or live run whose captured or
 * refunded amount the orchestrator never reported (./orchestrator-check.ts).
 */
export function deriveOutcome(ev: Evidence): Verdict {
  const v = orchestratorHeld(ev, clockHeld(ev, outcomeOfSteps(ev)));
  // Sealed as incomplete (a cell threw or never ran, the executor stopped): never PASS (issue 22 item 7).
  const inc = ev.sealedAs?.incomplete;
  if (!inc) return v;
  const why = `run incomplete (${inc.what.join("; ") || "see the trace"}), sealed with --incomplete: "${inc.reason}"`;
  return v.outcome === "PASS"
    ? { outcome: "PARTIAL", reason: why }
    : { outcome: v.outcome, reason: `${v.reason}; ${why}` };
}

/**
 * A gate's clock the backend gave as a time that cannot be true (journal `time_impossible`): every
 * box may read ticked (a step resumed, a box that does not read that clock), yet the session is
 * never PASS over it, PARTIAL instead, its reason the step's one line.
 */
function clockHeld(ev: Evidence, v: Verdict): Verdict {
  const first = ev.impossibleTimes?.[0];
  if (!first || v.outcome !== "PASS") return v;
  return { outcome: "PARTIAL", reason: `money moved; open: backend time — ${first.why}` };
}

/** Staging or live money never compared at the orchestrator (./orchestrator-check.ts): PARTIAL, never PASS. */
function orchestratorHeld(ev: Evidence, v: Verdict): Verdict {
  const open = v.outcome === "PASS" ? notComparedAtOrchestrator(ev) : null;
  return open ? { outcome: "PARTIAL", reason: `money moved; open: amounts — ${open}` } : v;
}

function outcomeOfSteps(ev: Evidence): Verdict {
  if (!ev.steps.some((r) => r !== null))
    return { outcome: "FAIL", reason: "nothing ran: no step result in the journal" };
  if (!ev.moneyMoved) {
    const first = ev.table.find((d) => !passed(ev, d.n)) ?? ev.table[0];
    const r = ev.steps[first.n];
    const what = `step ${first.n} ${r ? r.status : "did not run"}${r?.reason ? ` (${r.reason})` : ""}`;
    return { outcome: "FAIL", reason: `${what}${unpaidWords(ev)}` };
  }
  const boxes = acceptance(ev);
  const open = boxes.filter((b) => !b.ok && (ev.mode === "live" || b.n < boxes.length));
  // Every box ticked, yet the money does not reconcile (a source disagrees, an over-refund, part
  // still outstanding): never a PASS (issue 23). The reconciliation table names the rows.
  if (!open.length && !ev.reconciliation.balanced)
    return { outcome: "PARTIAL", reason: `money moved; open: money reconciliation — ${ev.reconciliation.summary}` };
  if (!open.length)
    return {
      outcome: "PASS",
      reason: ev.bank
        ? `every box ticked; the bank statement confirmed the refund on ${ev.bank.date}`
        : `every box ticked: pre-flight and steps 1–${ev.table.length - 1} PASS within the limits`,
    };
  // Names every open box, then the evidence of the first specific one (end-to-end only lists steps).
  const first = open.find((b) => b.short !== END_TO_END) ?? open[0];
  const list = `${open.map((b) => b.short).join(", ")} — ${first.evidence}`;
  if (!paymentChecks(ev).some((d) => passed(ev, d.n)))
    return { outcome: "FAIL", reason: `money moved but nothing was verified; open: ${list}` };
  return { outcome: "PARTIAL", reason: `money moved; open: ${list}` };
}

/**
 * "before money moved" only when it is known: no order was created, or the last look at the order
 * (`payment_checked`) saw it unpaid. An order whose pay link was shown and whose payment was never
 * checked again may have been paid since: the record says so instead.
 */
function unpaidWords(ev: Evidence): string {
  const u = ev.unpaidOrder;
  if (!u) return " before money moved";
  if (u.check?.seen)
    return ` before money moved (order ${u.orderId} unpaid at the last look, ${u.check.at}: ${u.check.seen})`;
  const why = u.check ? `the last look failed (${u.check.error})` : "it was not checked again";
  return `; no payment is recorded for order ${u.orderId}, but its pay link was shown and ${why}: if it was paid, money moved — check it at the orchestrator (Hyperswitch dashboard) and refund it`;
}

/** What the operator must do next, derived from the evidence (empty when nothing is open). */
export function actionItems(ev: Evidence): string[] {
  const out: string[] = [];
  const orderId = ev.trail.find((t) => t.link === "order")?.id ?? null;
  for (const r of ev.steps) {
    if (r?.status === "INTERRUPTED")
      out.push(`Step ${r.step} (${r.name}) was interrupted (${r.reason ?? "no reason"}): re-run its cell; it resumes.`);
    if (r?.status !== "FAIL") continue;
    // Not a backend fault: the step could no longer observe what it checks (refund ran first).
    const notObserved = factString(r.observed, "not_observed");
    if (notObserved) {
      out.push(
        `Step ${r.step} (${r.name}) could not be checked: ${notObserved} — this session cannot prove it; run a fresh session and run the steps in order (the refund last).`,
      );
      continue;
    }
    out.push(
      ev.table[r.step]?.gate
        ? orderId
          ? // Issue 22 §5: a session with an order is resumed, never abandoned for a fresh one.
            `Fix the pre-flight refusal, then run pre-flight again in this session (order ${orderId} is recorded here; resume it, never a fresh session): ${r.reason ?? "see the pre-flight row"}`
          : `Fix the pre-flight refusal, then start a fresh session: ${r.reason ?? "see the pre-flight row"}`
        : `Step ${r.step} (${r.name}) failed: ${r.reason ?? "no reason"} — file an issue for the marketplace squad.`,
    );
  }
  const order = ev.trail.find((t) => t.link === "order")?.id ?? "the order";
  if (ev.unpaidOrder && !ev.unpaidOrder.check?.seen)
    out.push(
      `**Check the payment**: order ${ev.unpaidOrder.orderId} has no payment recorded and was not seen unpaid at the end — look it up at the orchestrator (Hyperswitch dashboard); if it was paid, refund it there and record it in OPERATOR_NOTES.`,
    );
  const refundStep = ev.table.find((d) => d.returnsMoney);
  // "run step 8": the refund step's number from the table (it declares which step gives money back).
  const runRefund = refundStep ? `run step ${refundStep.n}` : "run the refund step";
  const confirmStep = ev.table.find((d) => d.confirmsRefund);
  // Sealed with money out (--unrefunded): a sealed session cannot run its refund step again.
  const unrefunded = ev.sealedAs?.unrefunded;
  if (ev.moneyOutstanding && unrefunded)
    out.push(
      `**Not refunded**: money moved and ${ev.refundedSoFar ?? "no refund succeeded"}; the session was sealed so ("${unrefunded}"). Refund ${order} from the Hyperswitch dashboard if that has not been done, and keep its reference with this report.`,
    );
  else if (ev.moneyOutstanding && !ev.refund)
    out.push(
      `**Refund now**: money moved and was not refunded — ${runRefund} with REFUND = true (it resumes), or refund ${order} from the Hyperswitch dashboard.`,
    );
  if (ev.moneyOutstanding && !unrefunded && ev.refund?.status === "failed")
    out.push(
      `**Refund failed**: refund ${ev.refund.refundId ?? "?"} (attempt ${ev.refund.attempt}) returned no money — ${runRefund} again (it creates attempt ${ev.refund.attempt + 1} with a new Idempotency-Key), or refund ${order} from the Hyperswitch dashboard.`,
    );
  else if (ev.moneyOutstanding && ev.refund?.status === "review")
    out.push(
      `**Escalate**: the orchestrator holds refund ${ev.refund.refundId ?? "?"} for review — escalate to the marketplace squad with that reference; do not create a second refund.`,
    );
  else if (ev.refund && !unrefunded && confirmStep && !passed(ev, confirmStep.n))
    out.push(
      `Refund not confirmed for ${order}: re-run step ${confirmStep.n} (it resumes) and check the refund at the orchestrator; escalate to the marketplace squad if it stays unrefunded.`,
    );
  for (const line of ledgerActions(ev, order)) out.push(line);
  // Only where it is what holds the PASS back: a session that failed earlier has its own items.
  const unseen = notComparedAtOrchestrator(ev);
  if (unseen && deriveOutcome(ev).reason.includes(unseen))
    out.push(
      `**Amounts not checked at the orchestrator** for ${order}: ${unseen}. A GO needs a session that compared them.`,
    );
  for (const why of new Set((ev.impossibleTimes ?? []).map((t) => t.why)))
    out.push(
      `**Backend time impossible** for ${order}: ${why}. A GO needs a session whose backend times can be true; file an issue for the marketplace squad.`,
    );
  const refundSteps = ev.table.filter((d) => refundStep && d.n >= refundStep.n);
  const late = refundSteps
    .flatMap((d) => (d.poll ? [factNumber(ev.steps[d.n]?.observed, d.poll.secondsFact)] : []))
    .some((s) => s !== null && s > GATE.withinS);
  const oddities = ev.anomalies.filter((a) => refundSteps.some((d) => d.n === a.step)).length + (late ? 1 : 0);
  if (ev.refund && oddities)
    out.push(
      `The refund flow surfaced ${oddities} oddit${oddities === 1 ? "y" : "ies"} (delay, retry, error): file an issue and assign it to the marketplace squad.`,
    );
  if (ev.mode === "live" && ev.refund && (!ev.bank || bankDoesNotHold(ev)))
    out.push(
      `Confirm the bank statement by ${bankDueText(ev)}: \`npm run confirm-bank -- ${ev.sessionId} --date YYYY-MM-DD\`.`,
    );
  if (!ev.chain.ok)
    out.push(
      `Trace chain broken at line ${ev.chain.firstBroken?.line}: do not sign off on this session; investigate with \`npm run verify -- ${ev.sessionId}\`.`,
    );
  if (ev.manifest?.stale)
    out.push(
      'Evidence was added after archiving (e.g. the bank confirmation): seal it again with `npm run archive -- <session-dir> --reseal "<reason>"` so manifest.json covers it (the trace notes the previous seal).',
    );
  if (ev.mode === "live" && ev.dryRun.override)
    out.push(
      `The staging dry-run requirement was overridden ("${ev.dryRun.override}"): justify it at the GO/NO-GO review.`,
    );
  return out;
}

/**
 * The database read the seller transfer after the refund and found it not wholly reversed (none of
 * it, or part): the step records that reading as data (`money_seen` reversal from the database, its
 * amount_reversed), so this never reads the words of the step's `transfer_reversal` fact.
 */
function transferNotReversed(ev: Evidence): boolean {
  const row = (what: string) => ev.reconciliation.rows.find((r) => r.what === what)?.values;
  const reversal = row("reversal")?.database ?? null;
  const whole = row("transfer")?.database?.amount ?? row("reversal")?.["marketplace API"]?.amount ?? 1;
  return reversal !== null && whole > 0 && reversal.amount < whole;
}

/** What the money reconciliation leaves to do: a row that disagrees, part not refunded, a transfer not reversed. */
function ledgerActions(ev: Evidence, order: string): string[] {
  const out: string[] = [];
  const refundStep = ev.table.find((d) => d.returnsMoney)?.n;
  // The step that confirms the refund (the table's `confirmsRefund`) records the transfer's reversal.
  const confirm = ev.table.find((d) => d.confirmsRefund);
  const last = confirm ? ev.steps[confirm.n] : null;
  const notReversed = transferNotReversed(ev);
  if (notReversed)
    out.push(
      `**Seller transfer not reversed** for ${order}: ${factString(last?.observed, "transfer_reversal") ?? "the database shows no reversal"} — ask the marketplace squad to reverse it (the seller kept a payout for refunded money) and file an issue.`,
    );
  // A row a step could not compare (`money_unchecked`): the check by hand, and why a GO needs it read.
  const orderId = ev.trail.find((t) => t.link === "order")?.id ?? null;
  const sql = orderId ? `run \`psql -c "${transferSqlFor(orderId)}"\` and ` : "";
  for (const r of ev.reconciliation.rows) {
    if (r.unchecked === undefined) continue;
    if (r.what === "transfer")
      out.push(
        `**Seller transfer not reconciled** for ${order}: ${r.unchecked} — ${sql}compare its amount (minor units) with the order's total − VAT − platform fee; file an issue if they differ. The table stays unbalanced: a GO needs a session whose step 7 compared them.`,
      );
    else if (r.what === "reversal")
      out.push(
        `**Seller transfer reversal not checked** for ${order}: ${r.unchecked} — ${sql}check that its status is reversed and that the whole transfer was reversed (its amount_reversed, or the payout processor's transfer reversal); if not, ask the marketplace squad to reverse it. The table stays unbalanced: a GO needs a session whose step 9 read it (DATABASE_URL set, read-only).`,
      );
    else out.push(`**Money not checked** (${r.what}) for ${order}: ${r.unchecked} — check it at its source by hand.`);
  }
  for (const r of ev.reconciliation.rows)
    if (!r.ok && r.unchecked === undefined && r.what !== "outstanding" && !(r.what === "reversal" && notReversed))
      out.push(
        `**Money does not reconcile** (${r.what}): ${r.verdict} — file an issue for the marketplace squad with these amounts.`,
      );
  const partial = ev.reconciliation.partial;
  if (partial && ev.moneyOutstanding && !ev.sealedAs?.unrefunded)
    out.push(
      `**Refund the rest**: ${partial} — ${refundStep === undefined ? "run the refund step" : `run step ${refundStep}`} again (it refunds what is outstanding), or refund the rest of ${order} from the Hyperswitch dashboard.`,
    );
  return out;
}
