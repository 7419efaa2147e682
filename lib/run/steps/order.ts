/**
 * Creating the order, with an Idempotency-Key derived from the session: re-running the cell
 * resumes the same order. The guards run again right before money can move.
 */
import { Order, Status, paths, priceInclVat } from "../../contract";
import { liveConfirmed, mergeGuards, modeMatchesEnvironment, priceUnderCap, transportIsSafe } from "../guards";
import { keyMatchesMode } from "../orchestrator-guards";
import { formatMoney } from "../../money";
import type { StepContext } from "../step-context";
import { checkCharge, checkoutSecrets, getOrder, observeOrder, orderKeyOf } from "./orders";

export async function runOrder(ctx: StepContext): Promise<void> {
  const { cfg, journal, facts: obs } = ctx;
  const existing = journal.last("order_created");
  if (existing) {
    const o = await getOrder(ctx.api, existing.data.order_id);
    observeOrder(obs, o);
    obs.resumed = `resumed order ${o.id} created at ${existing.at}`;
    checkCharge(cfg, journal, o);
    return;
  }
  const p = ctx.product();
  // Guards again, right before money can move (the backend may have changed since pre-flight).
  const status = (await ctx.api.call({ method: "GET", path: paths.status(), endpoint: "GET /status", schema: Status }))
    .data;
  const total = priceInclVat(p);
  const g = mergeGuards(
    modeMatchesEnvironment(cfg.mode, status),
    transportIsSafe(cfg.mode, cfg.baseUrl, cfg),
    priceUnderCap(total, p.currency, cfg.maxPriceMinor),
    liveConfirmed(cfg.mode, cfg.liveConfirm, total, p.currency),
    keyMatchesMode(cfg.mode, cfg.hyperswitchApiKey),
  );
  if (g.refusals.length) throw g.refusals[0];
  const orderKey = orderKeyOf(ctx.keyPrefix);
  journal.append("order_intent", { idempotency_key: orderKey, product_id: p.id, total_minor: total });
  const res = await ctx.api.call({
    method: "POST",
    path: paths.orders(),
    endpoint: "POST /orders",
    schema: Order,
    auth: true,
    body: { product_id: p.id },
    idempotencyKey: orderKey,
    secretsOf: checkoutSecrets,
  });
  const o = res.data;
  journal.append("order_created", {
    order_id: o.id,
    payment_id: o.hyperswitch_payment_id,
    payment_url: o.payment_url,
    total_cents: o.total_cents,
    currency: o.currency,
    created_at: o.created_at,
    http_status: res.status,
  });
  observeOrder(obs, o);
  // 200, not 201: the backend already had this session's order (a lost response, or a kernel
  // that died with the POST in flight). Say so, as for any resumed order (issue 4 §1).
  if (res.status === 200)
    obs.resumed = `resumed order ${o.id} created at ${o.created_at} (returned by the backend for this session's Idempotency-Key)`;
  if (o.total_cents !== total)
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "warning",
      message: `order total ${formatMoney(o.total_cents, o.currency)} differs from the listed price incl. VAT ${formatMoney(total, p.currency)}`,
    });
  checkCharge(cfg, journal, o);
}
