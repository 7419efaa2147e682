/**
 * Polling the order until `completed`, timed from the payment's own time to the order's own
 * completion time, with the orchestrator's view as a cross-check and the amounts checked again.
 */
import type { OrderT } from "../../contract";
import { formatAmount } from "../../money";
import { amountMismatchMessage, checkAmounts, classifyPayment } from "../amounts";
import {
  backendInterval,
  backendTime,
  impossibleTime,
  noPaidTime,
  reachedTime,
  recordImpossibleTime,
  TIME_TOLERANCE_MS,
  type BackendTime,
} from "../backend-time";
import { paymentAdvice } from "../hs-status";
import { notePaymentSeen } from "./refunds";
import type { StepContext, StepOutcome } from "../step-context";
import { probeOrder, refundStepNo, requireOrder, stepNo } from "./orders";
import {
  crossCheckPayment,
  describeHsPayment,
  heldEarlier,
  noOrchestratorView,
  orchestratorPayment,
  recordCaptured,
} from "./payment";
import { StateError } from "../../errors";

/** How often the completed step asks the orchestrator whether the payment became final without money moving. */
const HS_CHECK_EVERY_MS = 2 * 1000; // 2 s

export async function runCompleted(ctx: StepContext): Promise<StepOutcome | undefined> {
  const { journal, facts: obs } = ctx;
  const o = requireOrder(journal, ctx.table);
  const me = `step ${ctx.def.n}`;
  // Counted from the payment's own time (the pay step recorded the backend's and where it came from)
  // to the order's own completion time: neither end is a time taken here, so neither a late
  // paid cell nor poll back-off moves them.
  const confirmed = journal.last("payment_confirmed");
  if (!confirmed)
    throw new StateError(`no payment confirmed in this session: ${stepNo(ctx.table, "pay")} must pass first`);
  const paid = confirmed.data;
  // (The confirmation's own `at` is the notebook's time: never used, even when nothing else is.)
  const from: BackendTime | null = backendTime(
    paid.paid_at,
    paid.paid_at_source ?? `${stepNo(ctx.table, "pay")}'s payment time`,
  );
  let seen = null as OrderT | null;
  // When the answer that carried `seen` was given: its times cannot be later.
  let seenAnswered = null as BackendTime | null;
  // Refunded (or on its way) before this step looked: the move to completed was not observed,
  // and what came with it (licence, transfer) cannot be checked any more.
  let already = null as string | null;
  // The orchestrator is asked every few seconds too: a payment it calls final with no money
  // moved (failed, cancelled, expired) will never complete the order, so the poll stops there.
  let lastHsCheck = Number.NEGATIVE_INFINITY;
  let finalNoMoney: string | null = null;
  const stop = async (): Promise<string | null> => {
    if (!ctx.hs || performance.now() - lastHsCheck < HS_CHECK_EVERY_MS) return null;
    lastHsCheck = performance.now();
    const hs = await orchestratorPayment(ctx);
    const c = hs ? classifyPayment(hs, heldEarlier(journal)) : null;
    if (!hs || !c || c.class !== "no_money") return null;
    obs.orchestrator = describeHsPayment(hs);
    finalNoMoney = paymentAdvice(c, o.paymentId);
    return `the order will not complete: ${finalNoMoney}`;
  };
  const out = await ctx.poll({
    what: "order completed",
    deadlineS: ctx.cfg.pollDeadlineS,
    probe: () =>
      probeOrder(ctx.api, o, (x, answered) => {
        seen = x;
        seenAnswered = answered;
      }),
    done: (s) => s === "completed",
    hopeless: (s) => {
      if (s === "failed") return "the order failed";
      if (s !== "refund_pending" && s !== "refunded") return null;
      already = s;
      return `not observed: the order was already ${s} when this step looked`;
    },
    stop,
  });
  if (already) {
    const when = seen?.completed_at ? `; the order says it completed at ${seen.completed_at}` : "";
    // Usually at once; a refund sent while this step polled is seen at a later attempt.
    const looked =
      out.samples.length === 1
        ? `when ${me} first looked`
        : `at ${me}'s poll attempt ${out.samples.length}, never seen completed before`;
    obs.not_observed = `the order was already ${already} ${looked}${when}`;
    obs.last_status = out.lastStatus;
    obs.attempts = out.samples.length;
    obs.max_5xx = out.http5xx;
    return {
      status: "FAIL",
      reason: `not observed: the order was already ${already} ${looked} (the refund ran before it)${when} — the move to completed, its time against the 5-minute limit, and the licence and seller transfer before the refund can no longer be checked in this session; run a fresh session and run ${me} before the refund`,
    };
  }
  const reached = out.reached ? reachedTime(seen, "completed") : null;
  const end = reached && "at" in reached ? reached : null;
  if (end) obs.completed_at = end.at;
  const iv = backendInterval(
    from,
    paid.paid_at_source ? paid.paid_at_source : noPaidTime(null),
    end,
    "the completed order carries no completed_at or updated_at",
  );
  obs.seconds_to_completed = out.reached ? iv.seconds : null;
  obs.counted_from = out.reached ? iv.countedFrom : from ? `${from.source} (${from.at})` : iv.countedFrom;
  // A time that cannot be true is never measured from (nor a 0 s made of it): journaled, and the verdict is not PASS.
  const created = backendTime(journal.last("order_created")?.data.created_at, "the order's created_at");
  const impossible = !out.reached
    ? null
    : ((reached && "problem" in reached ? reached.problem : null) ??
      iv.impossible ??
      (from && impossibleTime(from, { notBefore: [created], answered: seenAnswered })) ??
      (end && impossibleTime(end, { notBefore: [created], answered: seenAnswered })) ??
      null);
  const clockWhy = impossible ? recordImpossibleTime(ctx, "seconds-to-completed", impossible) : null;
  if (impossible) {
    obs.seconds_to_completed = null;
    obs.counted_from = `not measured: ${impossible}`;
  } else if (out.reached && iv.negative !== undefined)
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "clock_skew",
      message: `the order completed ${-iv.negative} s before the payment's time: within the ${TIME_TOLERANCE_MS / 1000} s clock-skew tolerance, recorded as 0 s`,
    });
  obs.max_5xx = out.http5xx;
  obs.attempts = out.samples.length;
  obs.last_status = out.lastStatus;
  if (!out.reached) {
    if (finalNoMoney) return { status: "FAIL", reason: out.failure };
    const p = await crossCheckPayment(ctx, obs);
    if (p !== null) {
      const hs = p.status;
      // No poll may have got an answer at all: never print "the order is null".
      const order = out.lastStatus === null ? "could not be read (no poll got an answer)" : `is ${out.lastStatus}`;
      const c = classifyPayment(p, heldEarlier(journal));
      const advice = paymentAdvice(c, o.paymentId);
      const a = checkAmounts(o, p);
      obs.amount_check = a.facts.amount_check;
      notePaymentSeen(journal, p);
      if (a.mismatch) recordCaptured(journal, a, p.status);
      const captured = p.amount_received != null ? ` (captured ${formatAmount(a.captured)}: amount_received)` : "";
      const msg =
        c.class === "money_moved"
          ? `money moved but the order never completed: the orchestrator says the payment ${o.paymentId} ${hs === "succeeded" ? "succeeded" : `is ${hs}`}${captured} while the order ${order} — the marketplace refunds only completed orders, so ${advice.replace(/^.*?money moved — /, "")}`
          : `the order ${order}; ${advice}`;
      if (c.class !== "no_money") ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: msg });
      return { status: "FAIL", reason: `${out.failure}; ${msg}` };
    }
    return { status: "FAIL", reason: out.failure };
  }
  // Completed: what the orchestrator captured must still be the order's total (a capture or a
  // surcharge applied after the pay step looked). Without HYPERSWITCH_URL the fact says it was not compared.
  const p = ctx.hs ? await crossCheckPayment(ctx, obs) : null;
  const a = checkAmounts(o, p, { noView: noOrchestratorView(ctx) });
  obs.amount_check = a.facts.amount_check;
  // What was compared reaches the money table (the capture may have changed since step 4 looked).
  if (p) notePaymentSeen(journal, p);
  if (a.mismatch) {
    if (p) recordCaptured(journal, a, p.status);
    const msg = amountMismatchMessage(a, o.paymentId, refundStepNo(ctx.table));
    ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: msg });
    return { status: "FAIL", reason: msg };
  }
  if (clockWhy) return { status: "PASS", reason: clockWhy };
}
