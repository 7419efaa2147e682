/**
 * The bank-statement confirmation recorded days after a live run (issue 6 §5): the date checked
 * against the session (only a live session's whole refund, returned and this order's, can be
 * confirmed), then journaled and traced. Box 9 and the GO/NO-GO row read it (./verdict.ts,
 * ./paperwork.ts).
 */
import * as path from "node:path";
import { BankConfirmError, loadEvidence, type Evidence } from "./evidence";
import { refundDay as refundDayOf } from "./verdict";
import { Journal } from "../evidence/journal";
import { TRACE_FILE } from "../evidence/files";
import { Trace } from "../evidence/trace";

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** "step 8": the refund step as the session's table numbers it. */
const refundStepOf = (ev: Evidence): string => {
  const d = ev.table.find((s) => s.returnsMoney);
  return d ? `step ${d.n}` : "the refund step";
};

/** "step 9 (refunded)": the step that sees the refund settle, as the session's table numbers it. */
const confirmStepOf = (ev: Evidence): string => {
  const d = ev.table.find((s) => s.confirmsRefund);
  return d ? `step ${d.n} (${d.id})` : "the refunded step";
};

const LIVE_FIX = "run a live session against live processors and confirm that one";

/**
 * Why a live session's own pre-flights do not show live processors, or null when they do: the mode
 * each pre-flight journaled (`hyperswitch_mode`); for one journaled before that field, its
 * `hyperswitch` fact read strictly (./evidence.ts `ProcessorMode`). Any pre-flight that saw another
 * mode refuses; so does a session none of whose pre-flights recorded a mode that can be read, since
 * refusing a true confirmation is better than ticking "Funds returned" on a test processor's refund.
 */
function notLiveProcessor(ev: Evidence): string | null {
  const modes = ev.hyperswitchModes ?? [];
  const other = modes.find((m) => m.mode !== null && m.mode !== "live");
  if (other)
    return other.source === "journaled"
      ? `its pre-flight journaled Hyperswitch mode ${JSON.stringify(other.mode?.slice(0, 40))}, not live: no real money moved, so no bank statement can show its refund; ${LIVE_FIX}`
      : `its pre-flight saw Hyperswitch ${JSON.stringify((other.fact ?? "").slice(0, 60))}, not live: no real money moved, so no bank statement can show its refund; ${LIVE_FIX}`;
  if (modes.some((m) => m.mode === "live")) return null;
  const facts = modes.flatMap((m) => (m.fact ? [JSON.stringify(m.fact.slice(0, 60))] : []));
  return `no pre-flight of this session recorded the Hyperswitch mode as data (hyperswitch_mode: absent in pre-flights journaled before it was recorded, or null when /status never answered), and ${facts.length ? `its hyperswitch fact ${facts.join(", ")} is not in the form "<status> (live)"` : "it has no hyperswitch fact"}: nothing shows that real money moved, so the confirmation is refused rather than risk a false "Funds returned"; ${LIVE_FIX}`;
}

/** Checks a bank-statement date against the session; throws BankConfirmError naming the fix. */

export function validateBankDate(ev: Evidence, date: string, today = new Date()): void {
  const id = ev.sessionId;
  const parsed = new Date(`${date}T00:00:00Z`);
  if (!DAY.test(date) || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== date) {
    throw new BankConfirmError(
      "E2E_BANK_DATE",
      id,
      `invalid date "${date}"; pass --date YYYY-MM-DD, the day the refund shows on the bank statement`,
    );
  }
  if (!ev.refund)
    throw new BankConfirmError(
      "E2E_BANK_NO_REFUND",
      id,
      ev.sealedAs?.unrefunded
        ? `no refund recorded in this session, which was sealed unrefunded ("${ev.sealedAs.unrefunded}"): there is nothing for the bank to confirm here; keep the orchestrator's refund reference with the report`
        : `no refund recorded in this session, so there is nothing for the bank to confirm; run ${refundStepOf(ev)} (refund) first`,
    );
  // A refund that returned nothing (failed) or that a source said is another order's, payment or
  // currency: a bank line is not its confirmation, and box 9 ("Funds returned") must not tick on it.
  const st = ev.refund.status;
  if (st === "failed" || st === "not this order's refund")
    throw new BankConfirmError(
      "E2E_BANK_NO_REFUND",
      id,
      `refund ${ev.refund.refundId ?? "?"} (attempt ${ev.refund.attempt}) is ${st === "failed" ? "failed: it returned no money" : "not this order's refund (a source named another order, payment or currency)"}, so there is nothing for the bank to confirm; refund the order (${refundStepOf(ev)} again, or the Hyperswitch dashboard) and confirm that refund`,
    );
  // A staging or sandbox run pays a test processor: no money left a card, so no statement can show
  // it coming back, and "Funds returned" would be a false statement.
  if (ev.mode !== "live")
    throw new BankConfirmError(
      "E2E_BANK_NOT_LIVE",
      id,
      `a ${ev.mode} session pays a test processor and moves no real money, so no bank statement can show its refund; confirm the bank statement of the live session instead (npm run confirm-bank -- <live-session-id> --date YYYY-MM-DD)`,
    );
  const notLive = notLiveProcessor(ev);
  if (notLive) throw new BankConfirmError("E2E_BANK_NOT_LIVE", id, notLive);
  // A refund still pending (or in any state but succeeded): no source said the money came back, so
  // a statement line is not its confirmation, and box 9 must not tick on a refund only requested.
  if (st !== "succeeded")
    throw new BankConfirmError(
      "E2E_BANK_NOT_SETTLED",
      id,
      `refund ${ev.refund.refundId ?? "?"} (attempt ${ev.refund.attempt}) is ${st ?? "of no known status"}, never succeeded: no source said the money came back, so a statement line cannot confirm it; run ${confirmStepOf(ev)} again until it passes, then confirm the statement`,
    );
  // Part of the money came back: a statement line for it is not "Funds returned", and confirming it
  // would tick box 9 as if the whole amount had.
  const partial = ev.reconciliation.partial;
  if (partial && ev.moneyOutstanding)
    throw new BankConfirmError(
      "E2E_BANK_PARTIAL",
      id,
      `the refund was partial (${partial}), so a statement line is not the whole amount returned; refund the rest (${refundStepOf(ev)} again, or the Hyperswitch dashboard), then confirm the statement once it shows all of it`,
    );
  // Succeeded, yet the ledger does not read the money as back (the sources disagree, an amount is
  // unknown, more came back than was captured): not "Funds returned" either.
  if (ev.moneyOutstanding)
    throw new BankConfirmError(
      "E2E_BANK_NOT_SETTLED",
      id,
      `refund ${ev.refund.refundId ?? "?"} succeeded, but the money is not settled on the evidence (${ev.reconciliation.summary}); reconcile it (the report's reconciliation table names the row), then confirm the statement`,
    );
  const todayDay = today.toISOString().slice(0, 10);
  if (date > todayDay)
    throw new BankConfirmError(
      "E2E_BANK_DATE",
      id,
      `date ${date} is in the future (today is ${todayDay} UTC); pass the statement date once the refund has appeared`,
    );
  // The backend's day for the refund (its created_at), as the due date counts it.
  const refundDay = refundDayOf(ev) ?? ev.refund.at.slice(0, 10);
  if (date < refundDay)
    throw new BankConfirmError(
      "E2E_BANK_DATE",
      id,
      `date ${date} is before the refund (created ${refundDay}); pass a statement date on or after ${refundDay}`,
    );
}

/**
 * Records the bank confirmation as evidence: a `bank_confirmed` journal entry and an
 * `operator_ack` trace event (the chain grows by one line). Re-render the report afterwards.
 * @example confirmBank("archive/payment-e2e/20261126T154400Z-live", { date: "2026-12-03" })
 */
export function confirmBank(
  sessionDir: string,
  o: { date: string; note?: string; today?: Date },
): { sessionId: string; date: string; traceLine: number } {
  const ev = loadEvidence(sessionDir);
  validateBankDate(ev, o.date, o.today);
  const note = o.note?.trim() || null;
  Journal.open(sessionDir).append("bank_confirmed", {
    date: o.date,
    note,
    refund_id: ev.refund?.refundId ?? null,
    confirmed_by: "operator",
  });
  const trace = Trace.open(path.join(sessionDir, TRACE_FILE));
  const e = trace.append("operator_ack", {
    event: "bank statement confirmed the refund",
    date: o.date,
    note,
    refund_id: ev.refund?.refundId ?? null,
  });
  return { sessionId: ev.sessionId, date: o.date, traceLine: e.seq };
}
