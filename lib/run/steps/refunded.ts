/**
 * Polling until the order is refunded and its licence gone, timed from the refund's own creation
 * time; then what each source says was refunded (the ledger), and the seller transfer's reversal.
 */
import type { OrderT } from "../../contract";
import { latestStepResults } from "../../evidence/journal";
import { readSellerTransfers } from "../../clients/db";
import { StateError, StepCheckError } from "../../errors";
import {
  answerTime,
  backendInterval,
  backendTime,
  impossibleTime,
  reachedTime,
  recordImpossibleTime,
  refundCreated,
  timeProblem,
  TIME_TOLERANCE_MS,
  type BackendTime,
} from "../backend-time";
import { refundAdvice, refundClass } from "../hs-status";
import { ledgerOf, refundAttempts, refundedText, uncheckedWhy } from "../ledger";
import { NO_REVERSED_AMOUNT, reversalOf, reversalSource, reversalWords } from "../ledger-checks";
import type { Probe } from "../poll";
import type { StepContext, StepOutcome } from "../step-context";
import { licenses, probeOrder, refundStepNo, requireOrder } from "./orders";
import { foreignAdvice, noteRefundStatus, orchestratorRefund, seeMoney, seePayment } from "./refunds";
import { payoutSinceStep7 } from "./transfer";

/** The orchestrator's refund time, as the record names it (read when the POST answer carried none). */
const HS_CREATED = "the orchestrator's refund created_at";

/** How often the refunded step asks the orchestrator about the refund while polling the order. */
const REFUND_CHECK_EVERY_MS = 2 * 1000; // 2 s

export async function runRefunded(ctx: StepContext): Promise<StepOutcome | undefined> {
  const { journal, facts: obs } = ctx;
  const o = requireOrder(journal, ctx.table);
  const refundStep = refundStepNo(ctx.table);
  const attempts = refundAttempts(journal.all());
  const a = attempts[attempts.length - 1];
  const refundId = a?.refundId;
  if (!a || !refundId) throw new StateError(`no refund in this session: ${refundStep} must pass first`);
  const created = refundCreated(journal.all(), a.attempt)?.data;
  // Its POST answer's created_at; one that is there but not a time is never replaced by another source's.
  const createdProblem = timeProblem(created?.created_at, "the refund's created_at");
  let from = backendTime(created?.created_at, "the refund's created_at");
  let order = null as OrderT | null;
  let orderAnswered = null as BackendTime | null;
  const probe = async (): Promise<Probe> => {
    const p = await probeOrder(ctx.api, o, (x, answered) => {
      order = x;
      orderAnswered = answered;
    });
    if (p.status !== "refunded") return p;
    // Refunded is not enough: the licence must be gone too (seed row 9).
    const lic = await licenses(ctx.api).catch(() => null);
    if (lic === null) return { ...p, status: "refunded (licences unreadable)" };
    return {
      ...p,
      status: lic.some((l) => l.order_id === o.id) ? "refunded (licence still listed)" : "refunded + licence gone",
    };
  };
  // A refund that failed or is held for review will not turn into `refunded` by waiting: stop
  // at once, with the next action and the refund reference.
  let lastHsCheck = Number.NEGATIVE_INFINITY;
  // The order's whole total came back yet more was captured (a surcharge): only the orchestrator can return the rest.
  const atOrchestrator = `refund the rest at the orchestrator (Hyperswitch dashboard, payment ${o.paymentId}) — the marketplace will not refund this order again`;
  const stop = async (): Promise<string | null> => {
    const now = order as OrderT | null;
    const fromOrder = now?.refund_status;
    if (fromOrder && ["failed", "review"].includes(fromOrder)) noteRefundStatus(journal, a, fromOrder, "marketplace");
    // Back to completed with the refund succeeded: a partial refund (refunds are by amount).
    else if (fromOrder === "succeeded" && now?.status === "completed" && now.refund_id === refundId)
      noteRefundStatus(journal, a, "succeeded", "marketplace");
    else if (ctx.hs && performance.now() - lastHsCheck >= REFUND_CHECK_EVERY_MS) {
      lastHsCheck = performance.now();
      const hs = await orchestratorRefund(ctx, a);
      if (hs) obs.orchestrator = `refund ${hs.status}`;
    }
    if (a.foreign) return `escalate: ${foreignAdvice(a, o.paymentId)}`;
    const c = refundClass(a.status ?? "pending");
    const l = ledgerOf(journal.all());
    if (a.status === "succeeded" && (l.outstanding ?? 0) > 0)
      return `partial refund: ${refundedText(l)} — ${
        l.charged !== null && l.refunded >= l.charged
          ? atOrchestrator
          : `run ${refundStep} again to refund what is outstanding (it creates attempt ${a.attempt + 1})`
      }`;
    if (c.class === "no_money") return refundAdvice(c, refundId, a.attempt + 1, refundStep);
    if (c.class === "needs_action") return `escalate: ${refundAdvice(c, refundId, a.attempt + 1, refundStep)}`;
    return null;
  };
  const out = await ctx.poll({
    what: "order refunded and licence revoked",
    deadlineS: ctx.cfg.refundDeadlineS,
    probe,
    done: (s) => s === "refunded + licence gone",
    stop,
  });
  // From the refund's own creation time to the order's own refund time (issue 22 §1). Without one
  // in the POST answer, the orchestrator's, held to the Date header of the answer that carried it.
  let hsCreatedProblem: string | null = null;
  let hsAnswered = null as BackendTime | null;
  if (out.reached && !from && !createdProblem) {
    const hsAt = (
      await orchestratorRefund(ctx, a, (t) => {
        hsAnswered = t;
      })
    )?.created_at;
    hsCreatedProblem = timeProblem(hsAt, HS_CREATED);
    from = backendTime(hsAt, HS_CREATED);
  }
  const reached = out.reached ? reachedTime(order, "refunded") : null;
  const end = reached && "at" in reached ? reached : null;
  if (end) obs.refunded_at = end.at;
  const iv = backendInterval(
    from,
    "no backend time for the refund: its POST answer carried no created_at, nor did the orchestrator",
    end,
    "the refunded order carries no refunded_at or updated_at",
  );
  obs.seconds_to_refunded = out.reached ? iv.seconds : null;
  if (out.reached) obs.counted_from = iv.countedFrom;
  // A refund created before the order or its payment, a refund or refunded time in the future of
  // its answer, or a value that is not a time: never measured from (nor a 0 s made of it).
  const paidAt = journal.last("payment_confirmed")?.data;
  const paidTime = backendTime(paidAt?.paid_at, paidAt?.paid_at_source ?? "the payment's time");
  const orderCreated = backendTime(journal.last("order_created")?.data.created_at, "the order's created_at");
  // The refund follows the order's completion (step 8 refunds only after step 5): a refund or refunded
  // time before the completion step 5 recorded cannot be true either.
  const completedAt = latestStepResults(journal.all()).get("completed")?.observed?.completed_at;
  const completed = backendTime(completedAt, "the order's completed time (step 5)");
  // The refund's created_at against its own answer first (the POST's, or the orchestrator's GET):
  // in the future, it is the culprit.
  const createdAnswer =
    from?.source === "the refund's created_at" && created
      ? answerTime({ serverDate: created.server_date, receivedAt: created.received_at })
      : from?.source === HS_CREATED
        ? hsAnswered
        : null;
  const impossible = !out.reached
    ? null
    : (createdProblem ??
      hsCreatedProblem ??
      (reached && "problem" in reached ? reached.problem : null) ??
      (from && impossibleTime(from, { answered: createdAnswer })) ??
      iv.impossible ??
      (from && impossibleTime(from, { notBefore: [paidTime, orderCreated, completed] })) ??
      (end && impossibleTime(end, { notBefore: [paidTime, orderCreated, completed], answered: orderAnswered })) ??
      null);
  const clockWhy = impossible ? recordImpossibleTime(ctx, "seconds-to-refunded", impossible) : null;
  if (impossible) {
    obs.seconds_to_refunded = null;
    obs.counted_from = `not measured: ${impossible}`;
  } else if (out.reached && iv.negative !== undefined)
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "clock_skew",
      message: `the order was refunded ${-iv.negative} s before the refund's time: within the ${TIME_TOLERANCE_MS / 1000} s clock-skew tolerance, recorded as 0 s`,
    });
  obs.licence_gone = out.reached;
  obs.max_5xx = out.http5xx;
  obs.funds_returned = "pending bank statement (5–7 business days): `npm run confirm-bank`";
  if (out.reached && !obs.orchestrator) {
    const hs = await orchestratorRefund(ctx, a);
    if (hs) obs.orchestrator = `refund ${hs.status}`;
  }
  // The order reached `refunded`: the marketplace's word that this refund succeeded (its amount is the POST answer's).
  if (out.reached && a.status !== "succeeded") noteRefundStatus(journal, a, "succeeded", "marketplace");
  await seeRefunds(ctx, order);
  const l = ledgerOf(journal.all());
  obs.refunded = refundedText(l);
  if (out.reached) await checkReversal(ctx);
  // A refund a source says is not this order's counts for nothing, even once the order reads refunded.
  const foreign = refundAttempts(journal.all()).find((x) => x.foreign !== null);
  if (foreign) throw new StepCheckError("E2E_REFUND_FOREIGN", foreignAdvice(foreign, o.paymentId));
  if (!out.reached) return { status: "FAIL", reason: out.failure };
  if (l.overRefund > 0) {
    const msg = `over-refund: ${refundedText(l)}; ask the marketplace squad to recover it and file an issue`;
    ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: msg });
    throw new StepCheckError("E2E_REFUND_AMOUNT", msg);
  }
  // The order is refunded (the marketplace will not refund it again) yet money is outstanding
  // (e.g. a surcharge the orchestrator captured on top of the order's total): never "funds returned".
  if ((l.outstanding ?? 0) > 0 || !l.settled) {
    const msg = `the order is refunded but ${refundedText(l) ?? "the refunded amount is unknown"}: ${atOrchestrator}`;
    ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: msg });
    return { status: "FAIL", reason: msg };
  }
  if (clockWhy) return { status: "PASS", reason: clockWhy };
}

/** What the marketplace and the orchestrator say was refunded in all, journaled for the ledger. */
async function seeRefunds(ctx: StepContext, order: OrderT | null): Promise<void> {
  const o = requireOrder(ctx.journal, ctx.table);
  if (order && typeof order.refunded_cents === "number")
    seeMoney(ctx.journal, {
      what: "refunded",
      source: "marketplace API",
      amount: order.refunded_cents,
      currency: order.currency,
      ref: "order refunded_cents",
    });
  if (!ctx.hs || !ctx.cfg.hyperswitchApiKey) return;
  await seePayment(ctx);
  let sum = 0;
  for (const x of refundAttempts(ctx.journal.all())) {
    if (!x.refundId) continue;
    const r = await orchestratorRefund(ctx, x);
    if (x.foreign) {
      // Not this order's refund: the orchestrator's refunded row is NOT CHECKED, never a sum without it.
      if (uncheckedWhy(ctx.journal.all(), "refunded") !== x.foreign)
        ctx.journal.append("money_unchecked", { what: "refunded", why: x.foreign });
      return;
    }
    if (!r) {
      // Unreadable: no sum without it, and the row says NOT CHECKED rather than balance on the marketplace's word.
      const why = `the orchestrator could not be read for refund ${x.refundId} (see the warning): the refunded amount rests on the marketplace's word`;
      if (uncheckedWhy(ctx.journal.all(), "refunded") !== why)
        ctx.journal.append("money_unchecked", { what: "refunded", why });
      return;
    }
    if (r.status === "succeeded") sum += r.amount;
  }
  seeMoney(ctx.journal, {
    what: "refunded",
    source: "orchestrator",
    amount: sum,
    currency: o.currency,
    ref: "succeeded refunds",
  });
}

/**
 * The look at the seller transfer: a full refund must have reversed it. Not reversed is
 * recorded (fact and anomaly; the report makes it an action item), never a FAIL of the refund.
 * Not read at all (no DATABASE_URL, no row) is journaled as `money_unchecked`: the reconciliation's
 * reversal row then says NOT CHECKED, and the report asks for the check by hand.
 */
async function checkReversal(ctx: StepContext): Promise<void> {
  const obs = ctx.facts;
  if (!ctx.cfg.databaseUrl) {
    obs.transfer_reversal =
      "not checked: no DATABASE_URL (check by hand that seller_transfers.status is 'reversed' and the whole amount was reversed)";
    ctx.journal.append("money_unchecked", {
      what: "reversal",
      why: "no DATABASE_URL: seller_transfers was not read after the refund",
    });
    return;
  }
  const o = requireOrder(ctx.journal, ctx.table);
  const read = await readSellerTransfers(ctx.cfg.databaseUrl, o.id, ctx.signal);
  ctx.trace.append("db_query", { sql: read.sql, params: [o.id], read_only: true, rows: read.rows });
  // Every row of the order: reversed only when each one is (a second payout left paid is not reversed).
  const all = reversalOf(read.rows);
  payoutSinceStep7(ctx, read.rows);
  const r = all ?? reversalWords(null);
  obs.transfer_reversal = r.text;
  if (!all)
    ctx.journal.append("money_unchecked", { what: "reversal", why: "no seller_transfers row after the refund" });
  if (all) {
    const expected = ctx.journal.last(
      "money_seen",
      (e) => e.data.what === "transfer" && e.data.source === "marketplace API",
    );
    if (expected)
      seeMoney(ctx.journal, {
        what: "reversal",
        source: "marketplace API",
        amount: expected.data.amount,
        currency: expected.data.currency,
        ref: "the whole transfer, on a full refund",
      });
    // The amount the database says was reversed, never the transfer's amount assumed from its status.
    if (all.amount === null) ctx.journal.append("money_unchecked", { what: "reversal", why: NO_REVERSED_AMOUNT });
    else
      seeMoney(ctx.journal, {
        what: "reversal",
        source: "database",
        amount: all.amount,
        currency: all.currency ?? read.rows[0].currency,
        ref: reversalSource(read.rows),
      });
  }
  if (!r.reversed) ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: `seller transfer ${r.text}` });
}
