/**
 * The refund: once money moved it waits for the checks the table names (`waitsFor`); a failed
 * refund is replaced by a new attempt (its own Idempotency-Key), a partial one followed by a
 * refund of what is outstanding (the ledger's amount).
 */
import { Refund, paths } from "../../contract";
import { StateError, StepCheckError } from "../../errors";
import { money } from "../../money";
import { refundClass, refundAdvice } from "../hs-status";
import { ledgerOf, refundAttempts } from "../ledger";
import type { StepContext, StepOutcome } from "../step-context";
import { refundKeyOf, requireOrder } from "./orders";
import { disownRefund, foreignAdvice, orchestratorRefund, seePayment } from "./refunds";

/** The refund step is opt-in: SKIPPED while REFUND is off. */
export const refundOff = (cfg: { refund: boolean }): string | undefined =>
  cfg.refund
    ? undefined
    : "REFUND is off (opt-in): set REFUND = true in the parameters cell to validate the full cycle";

export async function runRefund(ctx: StepContext): Promise<StepOutcome | undefined> {
  const { journal, facts: obs } = ctx;
  const o = requireOrder(journal, ctx.table);
  const me = `step ${ctx.def.n}`;
  const attempts = refundAttempts(journal.all());
  const last = attempts[attempts.length - 1];
  await seePayment(ctx);
  if (last?.refundId) {
    // Fresh word first: a refund that failed since is not resumed, it is replaced; one that
    // succeeded for part of the money is followed by a refund of the rest (the ledger's outstanding).
    await orchestratorRefund(ctx, last);
    // Not this order's refund (recorded now or earlier): never resumed as a PASS, never replaced.
    if (last.foreign) throw new StepCheckError("E2E_REFUND_FOREIGN", foreignAdvice(last, o.paymentId));
    const partial = last.status === "succeeded" && (ledgerOf(journal.all()).outstanding ?? 0) > 0;
    if (refundClass(last.status ?? "pending").class !== "no_money" && !partial) {
      Object.assign(obs, {
        refund_id: last.refundId,
        status: last.status,
        resumed: `resumed refund ${last.refundId} created at ${last.createdAt}`,
      });
      if (last.attempt > 1) obs.attempt = last.attempt;
      return;
    }
  }
  // A new attempt after a failed refund; the same one again when its POST never answered.
  const attempt = !last ? 1 : last.refundId ? last.attempt + 1 : last.attempt;
  const key = refundKeyOf(ctx.keyPrefix, attempt);
  // What is outstanding: said explicitly once part was refunded (the first asks for "the rest").
  const l = ledgerOf(journal.all());
  // (Also when the orchestrator captured other than the order's total: never ask for more than was captured.)
  const capturedDiffers = l.captured !== null && l.charged !== null && l.captured !== l.charged;
  // Nor more than the marketplace holds on the order (a surcharge is refunded at the orchestrator: the refunded step says so).
  const onOrder = l.charged === null ? Number.POSITIVE_INFINITY : Math.max(1, l.charged - l.refunded);
  const amount = (l.refunded > 0 || capturedDiffers) && l.outstanding ? Math.min(l.outstanding, onOrder) : null;
  journal.append("refund_intent", {
    idempotency_key: key,
    order_id: o.id,
    attempt,
    ...(amount === null ? {} : { amount_cents: amount }),
  });
  const res = await ctx.api.call({
    method: "POST",
    path: paths.refund(o.id),
    endpoint: "POST /orders/:id/refund",
    schema: Refund,
    auth: true,
    body: { reason: `payment E2E ${ctx.cfg.sessionId}`, ...(amount === null ? {} : { amount_cents: amount }) },
    idempotencyKey: key,
  });
  journal.append("refund_created", {
    refund_id: res.data.refund_id,
    status: res.data.status,
    http_status: res.status,
    attempt,
    // The backend's own time of the refund: the refunded step counts from it, never from this cell.
    created_at: res.data.created_at ?? null,
    amount_cents: res.data.amount_cents ?? null,
    // The bound its created_at is held to (the refunded step): the answer's own Date, and when it came.
    server_date: res.serverDate,
    received_at: res.receivedAt,
  });
  Object.assign(obs, { refund_id: res.data.refund_id, status: res.data.status, http: res.status });
  if (res.data.amount_cents != null) obs.amount = money(res.data.amount_cents, o.currency);
  if (attempt > 1) obs.attempt = attempt;
  const a = refundAttempts(journal.all()).find((x) => x.attempt === attempt);
  if (!a?.refundId) throw new StateError(`refund attempt ${attempt} was not journaled; a runbook bug`);
  if (res.data.order_id !== o.id)
    disownRefund(
      ctx,
      a,
      `the marketplace says refund ${a.refundId} is not this order's refund: its answer names order ${res.data.order_id}, not ${o.id}`,
    );
  let why = res.data.failure_reason ?? null;
  if (refundClass(res.data.status).class !== "no_money") {
    const hs = await orchestratorRefund(ctx, a);
    if (hs) obs.orchestrator = `refund ${hs.status}`;
    why = hs?.error_message ?? why;
  }
  if (a.foreign) throw new StepCheckError("E2E_REFUND_FOREIGN", foreignAdvice(a, o.paymentId));
  const c = refundClass(a.status ?? res.data.status);
  if (c.class === "no_money")
    return {
      status: "FAIL",
      reason: `${a.source === "orchestrator" ? "the orchestrator says " : ""}${refundAdvice(c, a.refundId, attempt + 1, me).replace(" failed:", ` failed${why ? ` (${why})` : ""}:`)}`,
    };
  if (c.class === "needs_action") {
    const msg = refundAdvice(c, a.refundId, attempt + 1, me);
    ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: msg });
    return { status: "PASS", reason: msg };
  }
}
