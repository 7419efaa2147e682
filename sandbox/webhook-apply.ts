import type { FastifyInstance } from "fastify";
import type { PoolClient } from "pg";
import { z } from "zod";
import type { Ctx } from "./context";
import type { Faults } from "./faults";
import { newId, recordFlip } from "./context";
import { withTx } from "./db";
import { ServiceUnavailableError, UnauthorizedError } from "./errors";
import { ok, parseBody } from "./marketplace";
import { SIGNATURE_HEADER, verifySignature } from "./webhooks";

import { PLATFORM_FEE } from "./orders";

const isoString = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO-8601 time");
// Hyperswitch's PaymentsResponse carries its last-change time as `modified_at` and `updated`.
const PaymentObject = z
  .looseObject({
    payment_id: z.string().min(1).max(64),
    status: z.string(),
    amount: z.number().int(),
    currency: z.string(),
    error_code: z.string().nullable().optional(),
    error_message: z.string().nullable().optional(),
    updated: isoString.nullable().optional(),
    modified_at: isoString.nullable().optional(),
  })
  .refine((p) => p.updated || p.modified_at, "needs updated or modified_at")
  .transform((p) => ({ ...p, updated: (p.updated ?? p.modified_at) as string }));
// RefundResponse: `created_at` / `updated_at`, both nullable in the spec.
const RefundObject = z
  .looseObject({
    refund_id: z.string().min(1).max(64),
    payment_id: z.string().min(1).max(64),
    status: z.string(),
    amount: z.number().int(),
    currency: z.string(),
    created_at: isoString.nullable().optional(),
    updated_at: isoString.nullable().optional(),
  })
  .transform((r) => ({ ...r, updated: r.updated_at ?? null }));
/** Hyperswitch's OutgoingWebhook envelope. Extra fields are tolerated: Hyperswitch adds fields over time. */
const Event = z.looseObject({
  merchant_id: z.string().min(1).max(255),
  event_id: z.string().regex(/^evt_[A-Za-z0-9_]{1,100}$/),
  event_type: z.string().regex(/^[a-z_]{1,64}$/),
  content: z.looseObject({
    type: z.string().max(64),
    object: z.record(z.string(), z.unknown()),
  }),
  timestamp: isoString.optional(),
  processor_merchant_id: z.string().max(255).nullable().optional(),
});
type Event = z.infer<typeof Event>;
interface Outcome {
  applied: boolean;
  reason?: string;
  flip?: { order_id: string; from: string; to: string };
}

const NOW = "date_trunc('milliseconds', clock_timestamp())";
// Payment events the marketplace acts on. Authorized-not-captured, partly captured and "customer must
// act" payments are still under way for the order (processing); cancelled and expired ones failed it.
const PAYMENT_RULES: Record<string, { from: string[]; to: string }> = {
  payment_processing: { from: ["pending"], to: "processing" },
  payment_authorized: { from: ["pending"], to: "processing" },
  payment_captured: { from: ["pending"], to: "processing" },
  action_required: { from: ["pending"], to: "processing" },
  payment_succeeded: { from: ["pending", "processing"], to: "completed" },
  payment_failed: { from: ["pending", "processing"], to: "failed" },
  payment_cancelled: { from: ["pending", "processing"], to: "failed" },
  payment_expired: { from: ["pending", "processing"], to: "failed" },
};
const REFUND_EVENTS = new Set(["refund_succeeded", "refund_failed"]);

/** The columns of an orders row that applying a webhook reads. */
interface OrderRow {
  id: string;
  status: string;
  buyer_id: string;
  product_id: string;
  seller_id: string;
  subtotal_cents: number;
  total_cents: number;
  currency: string;
  refund_id: string | null;
  platform_fee_cents: number | null;
  refunded_cents: number;
  payment_updated: Date | null;
  refund_updated: Date | null;
}

/**
 * Locks the order that an event's object belongs to, or says why the event does not apply: no such
 * order, or the object is older than the last one applied on that side (`lastApplied`).
 */
async function lockOrder(
  c: PoolClient,
  obj: { payment_id: string; updated: string | null },
  lastApplied: "payment_updated" | "refund_updated",
): Promise<{ order: OrderRow } | { skip: Outcome }> {
  const r = await c.query<OrderRow>("SELECT * FROM orders WHERE hyperswitch_payment_id = $1 FOR UPDATE", [
    obj.payment_id,
  ]);
  const o = r.rows[0];
  if (!o) return { skip: { applied: false, reason: "unknown_payment" } };
  const seen = o[lastApplied];
  if (seen && obj.updated && Date.parse(obj.updated) < new Date(seen).getTime())
    return { skip: { applied: false, reason: "stale_event" } };
  return { order: o };
}

async function applyPayment(c: PoolClient, ev: Event, f: Faults): Promise<Outcome> {
  const obj = parseBody(PaymentObject, ev.content.object);
  const locked = await lockOrder(c, obj, "payment_updated");
  if ("skip" in locked) return locked.skip;
  const o = locked.order;
  if (obj.amount !== o.total_cents || obj.currency !== o.currency) return { applied: false, reason: "amount_mismatch" };
  const rule = PAYMENT_RULES[ev.event_type];
  if (!rule.from.includes(o.status)) return { applied: false, reason: `invalid_transition_from_${o.status}` };
  await c.query(
    `UPDATE orders SET status=$2, payment_updated=$3::timestamptz, updated_at=${NOW},
       completed_at = CASE WHEN $2 = 'completed' THEN ${NOW} ELSE completed_at END,
       paid_at = CASE WHEN paid_at IS NULL AND $2 IN ('processing', 'completed') THEN $3::timestamptz ELSE paid_at END,
       failure_reason = CASE WHEN $2 = 'failed' THEN $4 ELSE failure_reason END
     WHERE id=$1`,
    [o.id, rule.to, obj.updated, obj.error_code ?? ev.event_type],
  );
  if (rule.to === "completed") {
    await c.query(
      `INSERT INTO licenses (id, order_id, buyer_id, product_id, license_type, rights, granted_at)
       SELECT $1, $2, $3, p.id, p.license_type, p.rights, ${NOW} FROM products p WHERE p.id = $4
       ON CONFLICT (order_id) DO NOTHING`,
      [newId("lic"), o.id, o.buyer_id, o.product_id],
    );
    await c.query(
      `INSERT INTO seller_transfers (id, order_id, seller_id, amount, currency, stripe_transfer_id, status, created_at)
       VALUES ($1,$2,$3,$4,$5,$6,'paid',${NOW}) ON CONFLICT (order_id) DO NOTHING`,
      [
        newId("st"),
        o.id,
        o.seller_id,
        // The seller is paid the subtotal minus the platform's fee (the order's split), plus the payout-bug fault.
        o.subtotal_cents - (o.platform_fee_cents ?? Math.round(o.subtotal_cents * PLATFORM_FEE)) + f.transferDeltaCents,
        o.currency,
        newId("tr"),
      ],
    );
  }
  return { applied: true, flip: { order_id: o.id, from: o.status, to: rule.to } };
}

async function applyRefund(c: PoolClient, ev: Event, f: Faults): Promise<Outcome> {
  const obj = parseBody(RefundObject, ev.content.object);
  const locked = await lockOrder(c, obj, "refund_updated");
  if ("skip" in locked) return locked.skip;
  const o = locked.order;
  if (o.refund_id && o.refund_id !== obj.refund_id) return { applied: false, reason: "unknown_refund" };
  if (o.status !== "refund_pending") return { applied: false, reason: `invalid_transition_from_${o.status}` };
  const ok = ev.event_type === "refund_succeeded";
  // Refunds are by amount: the order is refunded once what succeeded covers its total; a partial
  // refund puts it back to `completed` (refund_status succeeded, refunded_cents < total).
  const before = await c.query<{ status: string }>("SELECT status FROM refunds WHERE id = $1", [obj.refund_id]);
  const counted = before.rows[0]?.status === "succeeded";
  const refunded = o.refunded_cents + (ok && !counted ? obj.amount : 0);
  const full = ok && refunded >= o.total_cents;
  const to = full ? "refunded" : "completed";
  await c.query(
    `INSERT INTO refunds (id, order_id, status, amount_cents, currency, created_at, updated_at)
     VALUES ($1,$2,$3,$4,$5,$6::timestamptz,${NOW})
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`,
    [
      obj.refund_id,
      o.id,
      ok ? "succeeded" : "failed",
      obj.amount,
      obj.currency,
      obj.created_at ?? new Date().toISOString(),
    ],
  );
  await c.query(
    `UPDATE orders SET status=$2, refund_id=$3, refund_status=$4, refund_updated=$5::timestamptz, updated_at=${NOW},
       refunded_cents=$6, refunded_at = CASE WHEN $2 = 'refunded' THEN ${NOW} ELSE refunded_at END WHERE id=$1`,
    [o.id, to, obj.refund_id, ok ? "succeeded" : "failed", obj.updated ?? new Date().toISOString(), refunded],
  );
  if (full) {
    await c.query(`UPDATE licenses SET revoked_at=${NOW} WHERE order_id=$1 AND revoked_at IS NULL`, [o.id]);
    // A full refund reverses the seller's whole transfer (a transfer reversal with its own id); a
    // partial refund leaves it paid: the platform absorbs a partial refund (docs/api-contract.md).
    // The payout-bug fault `transferReversedCents` reverses only that much, status 'reversed' all the same.
    if (!f.transferNotReversed)
      await c.query(
        `UPDATE seller_transfers SET status='reversed', reversed_at=${NOW}, reversal_id=$2,
           amount_reversed = CASE WHEN $3::int > 0 THEN LEAST($3::int, amount) ELSE amount END
         WHERE order_id=$1 AND status <> 'reversed'`,
        [o.id, newId("trr"), f.transferReversedCents],
      );
  }
  return { applied: true, flip: { order_id: o.id, from: o.status, to } };
}

const IGNORED: Outcome = { applied: false, reason: "unsupported_event_type" };

function eventKind(ev: Event): "payment" | "refund" | null {
  if (ev.content.type === "payment_details" && ev.event_type in PAYMENT_RULES) return "payment";
  if (ev.content.type === "refund_details" && REFUND_EVENTS.has(ev.event_type)) return "refund";
  return null;
}

export function registerWebhook(app: FastifyInstance, ctx: Ctx): void {
  app.post("/api/v1/webhooks/hyperswitch", async (req, reply) => {
    // The receiver-outage fault: answer 503 to this delivery, so the orchestrator retries it.
    if (ctx.faults.takeWebhookFailure())
      throw new ServiceUnavailableError("webhook receiver unavailable (fault webhookFailCount)", 0, "OVERLOADED");
    if (!verifySignature(ctx.webhookSecret, req.rawBody, req.headers[SIGNATURE_HEADER])) {
      throw new UnauthorizedError(`missing or invalid ${SIGNATURE_HEADER}`, "INVALID_SIGNATURE");
    }
    const ev = parseBody(Event, req.body);
    const outcome = await withTx(ctx.pool, async (c) => {
      const resource = String(ev.content.object.refund_id ?? ev.content.object.payment_id ?? "");
      const ins = await c.query(
        `INSERT INTO webhook_events (event_id, event_type, resource_id, applied) VALUES ($1,$2,$3,false)
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
        [ev.event_id, ev.event_type, resource.slice(0, 64)],
      );
      if (!ins.rowCount) return { applied: false, reason: "duplicate_event" } as Outcome;
      const kind = eventKind(ev);
      // An event type the marketplace does not act on is acknowledged (2xx, so it is not retried),
      // recorded and counted in webhook_events with this reason.
      const out =
        kind === "refund"
          ? await applyRefund(c, ev, ctx.faults.get())
          : kind === "payment"
            ? await applyPayment(c, ev, ctx.faults.get())
            : IGNORED;
      await c.query("UPDATE webhook_events SET applied=$2, reason=$3 WHERE event_id=$1", [
        ev.event_id,
        out.applied,
        out.reason ?? null,
      ]);
      return out;
    });
    if (outcome.flip) recordFlip(ctx, outcome.flip.order_id, outcome.flip.from, outcome.flip.to);
    // The lost-answer fault: applied and committed, but the orchestrator sees a 503 and retries it.
    if (ctx.faults.takeLostAnswer())
      throw new ServiceUnavailableError(
        "webhook applied, answer lost (fault webhookFailAfterApplyCount)",
        0,
        "OVERLOADED",
      );
    return ok(reply, {
      received: true,
      applied: outcome.applied,
      ...(outcome.reason ? { reason: outcome.reason } : {}),
    });
  });
}
