import { randomBytes } from "node:crypto";
import type { Ctx } from "./context";
import { iso, newId } from "./context";
import { SandboxError } from "./errors";
import type { CheckoutPayment, ParsedCard } from "./checkout-page";
import { makeEvent, WebhookSender, type WebhookEvent } from "./webhooks";

// Payment and refund state machines of the orchestrator double. All state is in
// hs_payments / hs_refunds; the only memory is timers and held (out-of-order) events.

export const CONNECTOR = "sandbox_card";
const NOW = "date_trunc('milliseconds', clock_timestamp())";
// Strictly increasing per row, so the marketplace can order events by object.updated.
const BUMP = `greatest(${NOW}, updated + interval '1 millisecond')`;

/** An hs_payments row: what the checkout page shows, plus the secret, times and order details. */
export interface PaymentRow extends CheckoutPayment {
  client_secret: string;
  created: Date;
  updated: Date;
  description: string | null;
  metadata: Record<string, unknown>;
}
export interface RefundRow {
  refund_id: string;
  payment_id: string;
  status: string;
  amount: number;
  currency: string;
  reason: string | null;
  created: Date;
  updated: Date;
}

/** The orchestrator's error body: {"error": {type, code, message}}. */
export class HsError extends SandboxError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly type = "invalid_request_error",
  ) {
    super(status, code, message);
  }
}

export function paymentView(r: PaymentRow, withSecret = false) {
  return {
    payment_id: r.payment_id,
    status: r.status,
    amount: r.amount,
    currency: r.currency,
    connector: r.connector,
    error_code: r.error_code,
    error_message: r.error_message,
    payment_method_data: r.card_last4 ? { card: { last4: r.card_last4, card_network: r.card_network } } : null,
    description: r.description,
    metadata: r.metadata,
    created: iso(r.created),
    updated: iso(r.updated),
    ...(withSecret ? { client_secret: r.client_secret } : {}),
  };
}

export function refundView(r: RefundRow) {
  return {
    refund_id: r.refund_id,
    payment_id: r.payment_id,
    status: r.status,
    amount: r.amount,
    currency: r.currency,
    reason: r.reason,
    created: iso(r.created),
    updated: iso(r.updated),
  };
}

export class HsEngine {
  readonly webhooks: WebhookSender;
  private held = new Map<string, WebhookEvent>(); // payment_id -> processing event held back

  constructor(private readonly ctx: Ctx) {
    this.webhooks = new WebhookSender(ctx);
  }

  async createPayment(input: {
    amount: number;
    currency: string;
    description?: string;
    metadata?: Record<string, unknown>;
  }): Promise<PaymentRow> {
    const id = newId("pay");
    const secret = `${id}_secret_${randomBytes(16).toString("hex")}`;
    const r = await this.ctx.pool.query(
      `INSERT INTO hs_payments (payment_id, client_secret, status, amount, currency, description, metadata, connector, created, updated)
       VALUES ($1,$2,'requires_payment_method',$3,$4,$5,$6,$7,${NOW},${NOW}) RETURNING *`,
      [
        id,
        secret,
        input.amount,
        input.currency,
        input.description ?? null,
        JSON.stringify(input.metadata ?? {}),
        CONNECTOR,
      ],
    );
    return r.rows[0];
  }

  async getPayment(id: string): Promise<PaymentRow | null> {
    const r = await this.ctx.pool.query("SELECT * FROM hs_payments WHERE payment_id = $1", [id]);
    return r.rows[0] ?? null;
  }

  async getRefund(id: string): Promise<RefundRow | null> {
    const r = await this.ctx.pool.query("SELECT * FROM hs_refunds WHERE refund_id = $1", [id]);
    return r.rows[0] ?? null;
  }

  /** Confirm a payment with a validated card. Returns null when it is no longer payable. */
  async confirm(paymentId: string, card: ParsedCard): Promise<PaymentRow | null> {
    const o = card.outcome;
    const r = await this.ctx.pool.query(
      `UPDATE hs_payments SET status = $2, error_code = $3, error_message = $4, card_last4 = $5, card_network = $6, updated = ${BUMP}
       WHERE payment_id = $1 AND status = 'requires_payment_method' RETURNING *`,
      [
        paymentId,
        o.kind === "success" ? "processing" : "failed",
        o.kind === "failure" ? o.code : null,
        o.kind === "failure" ? o.message : null,
        card.last4,
        card.network,
      ],
    );
    const p: PaymentRow | undefined = r.rows[0];
    if (!p) return null;
    if (p.status === "failed") {
      this.emit(p.payment_id, makeEvent("payment_failed", paymentView(p)));
      return p;
    }
    const f = this.ctx.faults.get();
    const event = makeEvent("payment_processing", paymentView(p));
    if (f.webhookOutOfOrder && !f.stuckProcessing) this.held.set(p.payment_id, event);
    else this.emit(p.payment_id, event);
    if (!f.stuckProcessing) {
      this.ctx.timers.after(f.completionDelayMs + this.ctx.faults.jitter(f.completionJitterMs), () =>
        this.complete(p.payment_id),
      );
    }
    return p;
  }

  private async complete(paymentId: string): Promise<void> {
    const held = this.held.get(paymentId);
    this.held.delete(paymentId);
    if (this.ctx.faults.get().stuckProcessing) {
      // Turned on after payment: stay processing forever, but do not swallow the held event.
      if (held) this.emit(paymentId, held);
      return;
    }
    const r = await this.ctx.pool.query(
      `UPDATE hs_payments SET status = 'succeeded', updated = ${BUMP} WHERE payment_id = $1 AND status = 'processing' RETURNING *`,
      [paymentId],
    );
    if (r.rows[0]) this.emit(paymentId, makeEvent("payment_succeeded", paymentView(r.rows[0])));
    if (held) this.emit(paymentId, held); // the out-of-order fault: processing arrives after succeeded
  }

  async createRefund(input: { payment_id: string; amount: number; reason?: string }): Promise<RefundRow> {
    const p = await this.getPayment(input.payment_id);
    if (!p) throw new HsError(404, "HE_02", "payment not found", "object_not_found");
    if (p.status !== "succeeded")
      throw new HsError(
        400,
        "IR_refund_not_allowed",
        `payment is ${p.status}, only succeeded payments can be refunded`,
      );
    const done = await this.ctx.pool.query(
      "SELECT coalesce(sum(amount), 0)::int AS n FROM hs_refunds WHERE payment_id = $1 AND status <> 'failed'",
      [p.payment_id],
    );
    if (done.rows[0].n + input.amount > p.amount) {
      throw new HsError(400, "IR_refund_amount_exceeds", "refund amount exceeds the refundable amount");
    }
    const r = await this.ctx.pool.query(
      `INSERT INTO hs_refunds (refund_id, payment_id, status, amount, currency, reason, created, updated)
       VALUES ($1,$2,'pending',$3,$4,$5,${NOW},${NOW}) RETURNING *`,
      [newId("ref"), p.payment_id, input.amount, p.currency, input.reason ?? null],
    );
    const refund: RefundRow = r.rows[0];
    const f = this.ctx.faults.get();
    this.ctx.timers.after(f.refundDelayMs + this.ctx.faults.jitter(f.refundJitterMs), () =>
      this.settleRefund(refund.refund_id),
    );
    return refund;
  }

  private async settleRefund(refundId: string): Promise<void> {
    const r = await this.ctx.pool.query(
      `UPDATE hs_refunds SET status = 'succeeded', updated = ${BUMP} WHERE refund_id = $1 AND status = 'pending' RETURNING *`,
      [refundId],
    );
    const row: RefundRow | undefined = r.rows[0];
    if (row) this.emit(row.payment_id, makeEvent("refund_succeeded", refundView(row)));
  }

  private emit(paymentId: string, event: WebhookEvent): void {
    this.webhooks.send(paymentId, event);
  }
}
