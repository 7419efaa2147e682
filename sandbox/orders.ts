import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AuthUser } from "./auth";
import type { Ctx } from "./context";
import { iso, newId, recordFlip } from "./context";
import { withTx } from "./db";
import { BadRequestError, ConflictError, NotFoundError, UnprocessableError } from "./errors";
import { createPayment, createRefund, type HsPayment, type HsRefund } from "./hs-client";
import { ok, parseBody } from "./marketplace";

const CreateOrder = z.strictObject({ product_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be a product id") });
const RefundBody = z.strictObject({
  reason: z.string().min(1).max(500).optional(),
  /** How much to refund, in minor units; omitted: what is still outstanding (total − refunded). */
  amount_cents: z.number().int().positive().max(100_000_000).optional(),
});
/** What the platform keeps of the subtotal; the seller is paid the rest (docs/api-contract.md). */
export const PLATFORM_FEE = 0.1;

/* eslint-disable @typescript-eslint/no-explicit-any */
export function orderView(r: any, drift = false) {
  const v: Record<string, unknown> = {
    id: r.id,
    status: r.status,
    buyer_id: r.buyer_id,
    product_id: r.product_id,
    seller_id: r.seller_id,
    subtotal_cents: r.subtotal_cents,
    vat_rate: Number(r.vat_rate),
    vat_cents: r.vat_cents,
    total_cents: r.total_cents,
    currency: r.currency,
    hyperswitch_payment_id: r.hyperswitch_payment_id,
    payment_url: r.payment_url,
    refund_id: r.refund_id,
    refund_status: r.refund_status,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    paid_at: iso(r.paid_at),
    completed_at: iso(r.completed_at),
    refunded_at: iso(r.refunded_at),
    failure_reason: r.failure_reason,
    platform_fee_cents: r.platform_fee_cents ?? null,
    refunded_cents: r.refunded_cents ?? 0,
  };
  if (!drift) return v;
  // The schema-drift fault: same object, `status` renamed to `state`, in the same position.
  return Object.fromEntries(Object.entries(v).map(([k, val]) => [k === "status" ? "state" : k, val]));
}

export function refundView(r: any) {
  return {
    refund_id: r.id,
    order_id: r.order_id,
    status: r.status,
    amount_cents: r.amount_cents,
    currency: r.currency,
    created_at: iso(r.created_at),
  };
}

function idempotencyKey(req: FastifyRequest): string | null {
  const h = req.headers["idempotency-key"];
  if (h === undefined) return null;
  if (typeof h !== "string" || !/^[\x21-\x7e]{8,128}$/.test(h)) {
    throw new BadRequestError("Idempotency-Key must be 8 to 128 printable ASCII characters", "INVALID_IDEMPOTENCY_KEY");
  }
  return h;
}

const hashBody = (v: unknown) => createHash("sha256").update(JSON.stringify(v)).digest("hex");

/** Claim (user, scope, key). Returns null when claimed now, or the earlier claim. */
async function claimKey(ctx: Ctx, userId: string, scope: string, key: string, hash: string) {
  const ins = await ctx.pool.query(
    `INSERT INTO idempotency_keys (user_id, scope, key, request_hash) VALUES ($1,$2,$3,$4)
     ON CONFLICT DO NOTHING RETURNING key`,
    [userId, scope, key, hash],
  );
  if (ins.rowCount) return null;
  const prev = await ctx.pool.query(
    "SELECT request_hash, resource_id FROM idempotency_keys WHERE user_id=$1 AND scope=$2 AND key=$3",
    [userId, scope, key],
  );
  const row = prev.rows[0] ?? { request_hash: hash, resource_id: null };
  if (row.request_hash !== hash)
    throw new UnprocessableError("Idempotency-Key was already used with a different request body");
  if (!row.resource_id)
    throw new ConflictError("a request with this Idempotency-Key is still in progress", "IDEMPOTENCY_IN_PROGRESS", {
      "retry-after": "1",
    });
  return row as { request_hash: string; resource_id: string };
}

const releaseKey = (ctx: Ctx, userId: string, scope: string, key: string | null) =>
  key
    ? ctx.pool
        .query("DELETE FROM idempotency_keys WHERE user_id=$1 AND scope=$2 AND key=$3 AND resource_id IS NULL", [
          userId,
          scope,
          key,
        ])
        .catch(() => {})
    : undefined;

export function registerOrders(
  app: FastifyInstance,
  ctx: Ctx,
  auth: (h: string | undefined) => Promise<AuthUser>,
): void {
  const ownOrder = async (id: string, user: AuthUser) => {
    const r = await ctx.pool.query("SELECT * FROM orders WHERE id = $1 AND buyer_id = $2", [id, user.id]);
    if (!r.rows[0]) throw new NotFoundError("order not found", "ORDER_NOT_FOUND");
    return r.rows[0];
  };

  app.post("/api/v1/orders", async (req, reply) => {
    const user = await auth(req.headers.authorization);
    const key = idempotencyKey(req);
    const body = parseBody(CreateOrder, req.body);
    const pr = await ctx.pool.query("SELECT * FROM products WHERE id = $1", [body.product_id]);
    const product = pr.rows[0];
    if (!product) throw new NotFoundError("unknown product_id", "PRODUCT_NOT_FOUND");
    if (key) {
      const prev = await claimKey(ctx, user.id, "orders", key, hashBody(body));
      if (prev) return ok(reply, orderView(await ownOrder(prev.resource_id, user)), 200);
    }
    const id = newId("ord");
    const vatRate = Number(product.vat_rate);
    const vat = Math.round(product.price_cents * vatRate);
    const total = product.price_cents + vat;
    let payment: HsPayment;
    try {
      // No transaction is open across this call: on PGlite it would hold the whole database.
      payment = await createPayment(ctx, {
        amount: total,
        currency: product.currency,
        description: product.title,
        metadata: { order_id: id },
      });
    } catch (err) {
      await releaseKey(ctx, user.id, "orders", key);
      throw err;
    }
    const paymentUrl = `${ctx.hyperswitchUrl}/checkout/${payment.payment_id}?client_secret=${encodeURIComponent(payment.client_secret)}`;
    const order = await withTx(ctx.pool, async (c) => {
      const r = await c.query(
        `INSERT INTO orders (id, status, buyer_id, product_id, seller_id, subtotal_cents, vat_rate, vat_cents, total_cents, currency,
           hyperswitch_payment_id, payment_url, platform_fee_cents, created_at, updated_at)
         VALUES ($1,'pending',$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12, date_trunc('milliseconds', clock_timestamp()), date_trunc('milliseconds', clock_timestamp()))
         RETURNING *`,
        [
          id,
          user.id,
          product.id,
          product.seller_id,
          product.price_cents,
          product.vat_rate,
          vat,
          total,
          product.currency,
          payment.payment_id,
          paymentUrl,
          Math.round(product.price_cents * PLATFORM_FEE),
        ],
      );
      if (key)
        await c.query("UPDATE idempotency_keys SET resource_id=$4 WHERE user_id=$1 AND scope=$2 AND key=$3", [
          user.id,
          "orders",
          key,
          id,
        ]);
      return r.rows[0];
    });
    recordFlip(ctx, id, "none", "pending");
    return ok(reply, orderView(order), 201);
  });

  app.get<{ Params: { id: string } }>("/api/v1/orders/:id", async (req, reply) => {
    const user = await auth(req.headers.authorization);
    return ok(reply, orderView(await ownOrder(req.params.id, user), ctx.faults.get().schemaDrift));
  });

  app.get("/api/v1/licenses/mine", async (req, reply) => {
    const user = await auth(req.headers.authorization);
    const r = await ctx.pool.query(
      `SELECT id, order_id, product_id, license_type, rights, granted_at FROM licenses
       WHERE buyer_id = $1 AND revoked_at IS NULL ORDER BY granted_at, id`,
      [user.id],
    );
    return ok(reply, { licenses: r.rows.map((l) => ({ ...l, granted_at: iso(l.granted_at) })) });
  });

  app.post<{ Params: { id: string } }>("/api/v1/orders/:id/refund", async (req, reply) => {
    const user = await auth(req.headers.authorization);
    const key = idempotencyKey(req);
    const body = parseBody(RefundBody, req.body ?? {});
    const order = await ownOrder(req.params.id, user);
    const scope = `refund:${order.id}`;
    if (key) {
      const prev = await claimKey(ctx, user.id, scope, key, hashBody(body));
      if (prev) {
        const r = await ctx.pool.query("SELECT * FROM refunds WHERE id = $1", [prev.resource_id]);
        return ok(reply, refundView(r.rows[0]), 200);
      }
    }
    const outstanding = order.total_cents - (order.refunded_cents ?? 0);
    if (body.amount_cents !== undefined && body.amount_cents > outstanding) {
      await releaseKey(ctx, user.id, scope, key);
      throw new BadRequestError(
        `amount_cents ${body.amount_cents} exceeds what is outstanding on the order (${outstanding}); refund at most that`,
        "REFUND_EXCEEDS_OUTSTANDING",
      );
    }
    const moved = await ctx.pool.query(
      `UPDATE orders SET status='refund_pending', refund_status='pending', updated_at=date_trunc('milliseconds', clock_timestamp())
       WHERE id=$1 AND status='completed' RETURNING id`,
      [order.id],
    );
    if (!moved.rowCount) {
      await releaseKey(ctx, user.id, scope, key);
      const now = await ownOrder(order.id, user);
      if (now.status === "refund_pending" || now.status === "refunded")
        throw new ConflictError(`order is already ${now.status}`, "ALREADY_REFUNDED");
      throw new ConflictError(`order is ${now.status}; only completed orders can be refunded`, "ORDER_NOT_REFUNDABLE");
    }
    recordFlip(ctx, order.id, "completed", "refund_pending");
    let hs: HsRefund;
    try {
      hs = await createRefund(ctx, {
        payment_id: order.hyperswitch_payment_id,
        amount: ctx.faults.takeRefundAmount(body.amount_cents ?? outstanding),
        reason: body.reason,
      });
    } catch (err) {
      const back = await ctx.pool.query(
        `UPDATE orders SET status='completed', refund_status='failed', updated_at=date_trunc('milliseconds', clock_timestamp())
         WHERE id=$1 AND status='refund_pending' RETURNING id`,
        [order.id],
      );
      if (back.rowCount) recordFlip(ctx, order.id, "refund_pending", "completed");
      await releaseKey(ctx, user.id, scope, key);
      throw err;
    }
    const refund = await withTx(ctx.pool, async (c) => {
      // The refund webhook may have arrived first and created the row already.
      await c.query(
        `INSERT INTO refunds (id, order_id, status, amount_cents, currency, reason, created_at, updated_at)
         VALUES ($1,$2,'pending',$3,$4,$5,$6::timestamptz,$6::timestamptz) ON CONFLICT (id) DO NOTHING`,
        [
          hs.refund_id,
          order.id,
          hs.amount,
          hs.currency,
          body.reason ?? null,
          hs.created_at ?? new Date().toISOString(),
        ],
      );
      await c.query("UPDATE orders SET refund_id = $2 WHERE id = $1", [order.id, hs.refund_id]);
      if (key)
        await c.query("UPDATE idempotency_keys SET resource_id=$4 WHERE user_id=$1 AND scope=$2 AND key=$3", [
          user.id,
          scope,
          key,
          hs.refund_id,
        ]);
      return (await c.query("SELECT * FROM refunds WHERE id = $1", [hs.refund_id])).rows[0];
    });
    return ok(reply, refundView(refund), 202);
  });
}
