/**
 * The pay step's behaviour (the paid cell): the operator confirms what they saw (only the last 4
 * digits, ever). It passes only on evidence that the payment happened: the orchestrator's status
 * when HYPERSWITCH_URL is set, else the order having left `pending`. Without it the step records
 * SKIPPED ("not paid yet") and the pay link stays usable; nothing is confirmed.
 */
import { ConfigError, StepCheckError } from "../../errors";
import { amountMismatchMessage, checkAmounts } from "../amounts";
import { recordImpossibleTime } from "../backend-time";
import type { StepContext, StepOutcome } from "../step-context";
import { refundStepNo, requireOrder } from "./orders";
import { moneyMovedNote, noOrchestratorView, paymentEvidence, refusedAfterPaying } from "./payment";
import { notePaymentSeen } from "./refunds";

export async function runPay(ctx: StepContext): Promise<StepOutcome | undefined> {
  const { journal, facts: obs } = ctx;
  const seen = ctx.opts.seen ?? {};
  const prior = journal.last("payment_confirmed");
  if (prior) {
    Object.assign(obs, {
      card_last4: prior.data.last4,
      // A payment confirmed with no backend time stays without one (never the notebook's).
      transaction_time: prior.data.paid_at ?? null,
      processor: prior.data.processor,
      resumed: `confirmed earlier at ${prior.at}`,
    });
    if (prior.data.paid_at_source) obs.time_source = prior.data.paid_at_source;
    return;
  }
  const auto = ctx.opts.auto ?? null;
  if (auto && auto.status === "failed") {
    obs.card_last4 = auto.last4;
    throw new StepCheckError("E2E_PAYMENT_FAILED", `the checkout refused the payment (${auto.errorCode ?? "failed"})`);
  }
  // More than 4 digits is refused before anything else is written, paid or not; but the
  // payment may have gone through already, and then the record must say money moved.
  if (seen.last4?.trim() && !/^\d{4}$/.test(seen.last4.trim())) {
    const paid = await paymentEvidence(ctx, false).catch(() => null);
    refusedAfterPaying(journal, paid, "more than 4 digits were entered (not stored)");
    throw new ConfigError(
      "CARD_LAST4",
      `enter exactly the last 4 digits of the card you paid with (never more)${paid?.paid ? moneyMovedNote(paid.seen) : ""}`,
    );
  }
  const order = requireOrder(journal, ctx.table);
  const evidence = await paymentEvidence(ctx, Boolean(auto));
  if (evidence.orchestrator) obs.orchestrator = evidence.orchestrator;
  if (evidence.failed && evidence.uncertain && !journal.last("payment_uncertain"))
    // Not a confirmation (a re-run must not resume it as PASS), but money may have moved: the
    // banner, the refund advice and the report's money-moved verdict all follow this entry.
    journal.append("payment_uncertain", {
      at: new Date().toISOString(),
      payment_id: order.paymentId ?? null,
      seen: evidence.seen,
    });
  if (evidence.failed) throw new StepCheckError("E2E_PAYMENT_FAILED", evidence.failed);
  if (!evidence.paid)
    return {
      status: "SKIPPED",
      reason: `not paid yet (${evidence.seen}): pay at the link above, then run this cell again; if you just paid, give it a few seconds`,
    };
  // Amounts checked where money moves (issue 23): the order's total, the orchestrator's amount,
  // net_amount and what it captured; and, live, the confirmation phrase against the captured amount.
  const amounts = checkAmounts(order, evidence.hs ?? null, {
    live: { mode: ctx.cfg.mode, confirm: ctx.cfg.liveConfirm },
    noView: noOrchestratorView(ctx),
  });
  Object.assign(obs, amounts.facts);
  // What was compared reaches the money table (a run without a refund never reads it again).
  if (evidence.hs) notePaymentSeen(journal, evidence.hs);
  if (amounts.mismatch) {
    refusedAfterPaying(journal, evidence, `the amounts disagree: ${amounts.mismatch}`, amounts);
    throw new StepCheckError(
      "E2E_AMOUNT_MISMATCH",
      amountMismatchMessage(amounts, order.paymentId, refundStepNo(ctx.table)),
    );
  }
  const last4 = (seen.last4 || auto?.last4 || "").trim();
  const processor = (seen.processor || auto?.connector || "").trim();
  if (!/^\d{4}$/.test(last4)) {
    refusedAfterPaying(journal, evidence, "the last 4 digits were not entered");
    throw new ConfigError(
      "CARD_LAST4",
      `enter exactly the last 4 digits of the card you paid with (never more)${moneyMovedNote(evidence.seen)}`,
    );
  }
  // The orchestrator knows which card paid: a different one means this is not the operator's
  // payment (or not the card they think), and the record must not confirm it.
  if (evidence.cardLast4 && evidence.cardLast4 !== last4) {
    refusedAfterPaying(journal, evidence, `the orchestrator's card ends ${evidence.cardLast4}, not ${last4}`);
    throw new ConfigError(
      "CARD_LAST4",
      `the orchestrator says payment ${order.paymentId ?? "?"} was made with the card ending ${evidence.cardLast4}, not ${last4}: check which card paid (the checkout's receipt, your bank app) and enter its last 4 digits${moneyMovedNote(evidence.seen)}`,
    );
  }
  if (!processor) {
    refusedAfterPaying(journal, evidence, "the connector was not entered");
    throw new ConfigError(
      "PROCESSOR",
      `enter the connector shown on the checkout (the processor that took the payment, e.g. stripe)${moneyMovedNote(evidence.seen)}`,
    );
  }
  const at = new Date().toISOString();
  journal.append("payment_confirmed", {
    at,
    paid_at: evidence.paidAt,
    paid_at_source: evidence.source,
    last4,
    processor,
    via: auto ? `headless ${auto.via}` : "operator",
    captured: amounts.captured,
    captured_source: amounts.capturedSource,
  });
  ctx.trace.append("operator_ack", {
    event: "payment confirmed",
    at,
    paid_at: evidence.paidAt,
    paid_at_source: evidence.source,
    last4,
    processor,
  });
  // A payment time that is not a time: the payment is confirmed, its clock is not (never another field's).
  if (evidence.timeProblem) recordImpossibleTime(ctx, "seconds-to-completed", evidence.timeProblem);
  Object.assign(obs, {
    card_last4: last4,
    transaction_time: evidence.paidAt,
    time_source: evidence.source,
    processor,
  });
  if (evidence.note) {
    ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: evidence.note });
    return { status: "PASS", reason: evidence.note };
  }
}
