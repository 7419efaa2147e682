import { randomBytes } from "node:crypto";
import type { Ctx } from "./context";
import { SandboxError } from "./errors";
import type { ParsedCard } from "./checkout-page";
import {
  CONNECTOR,
  hsId,
  makeEvent,
  type PaymentRow,
  paymentEventType,
  paymentView,
  type RefundRow,
  refundEventType,
  refundView,
  type WebhookEvent,
} from "./hs-wire";
import { WebhookSender } from "./webhooks";

export { CONNECTOR, paymentView, refundView, type PaymentRow, type RefundRow } from "./hs-wire";

// Payment and refund state machines of the orchestrator double. All state is in
// hs_payments / hs_refunds; the only memory is timers and held (out-of-order) events.

const NOW = "date_trunc('milliseconds', clock_timestamp())";
// Strictly increasing per row, so the marketplace can order events by object.updated.
const BUMP = `greatest(${NOW}, updated + interval '1 millisecond')`;

/** Hyperswitch's error types on the wire (`error.type`). */
export type HsErrorType = "invalid_request" | "api" | "connector" | "blocked";

/** The orchestrator's error body: {"error": {type, code, message}}, codes as Hyperswitch's (IR_xx, HE_xx). */
export class HsError extends SandboxError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly type: HsErrorType = "invalid_request",
  ) {
    super(status, code, message);
  }
}

export const paymentNotFound = () => new HsError(404, "HE_02", "Payment does not exist in our records");
export const refundNotFound = () => new HsError(404, "HE_02", "Refund does not exist in our records");

export interface CreatePaymentInput {
  amount: number;
  currency: string;
  description?: string;
  metadata?: Record<string, unknown>;
  payment_id?: string;
  capture_method?: string;
  return_url?: string;
  customer_id?: string;
}
export interface CreateRefundInput {
  payment_id: string;
  amount?: number;
  reason?: string;
  refund_id?: string;
  refund_type?: string;
  metadata?: Record<string, unknown>;
}

export class HsEngine {
  readonly webhooks: WebhookSender;
  private held = new Map<string, WebhookEvent>(); // payment_id -> processing event held back

  constructor(private readonly ctx: Ctx) {
    this.webhooks = new WebhookSender(ctx, (ev) => this.stillCurrent(ev));
  }

  async createPayment(input: CreatePaymentInput): Promise<PaymentRow> {
    const id = input.payment_id ?? hsId("pay");
    if (input.payment_id && (await this.getPayment(id)))
      throw new HsError(400, "HE_01", "The payment with the specified payment_id already exists in our records");
    const secret = `${id}_secret_${randomBytes(16).toString("hex")}`;
    const r = await this.ctx.pool.query(
      `INSERT INTO hs_payments (payment_id, client_secret, status, amount, currency, description, metadata, connector,
         capture_method, return_url, customer_id, created, updated)
       VALUES ($1,$2,'requires_payment_method',$3,$4,$5,$6,$7,$8,$9,$10,${NOW},${NOW}) RETURNING *`,
      [
        id,
        secret,
        input.amount,
        input.currency,
        input.description ?? null,
        JSON.stringify(input.metadata ?? {}),
        CONNECTOR,
        input.capture_method ?? "automatic",
        input.return_url ?? null,
        input.customer_id ?? null,
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

  /** processing → succeeded, or where `paymentOutcome` says; a manual-capture payment stops at requires_capture. */
  private async complete(paymentId: string): Promise<void> {
    const held = this.held.get(paymentId);
    this.held.delete(paymentId);
    const f = this.ctx.faults.get();
    if (f.stuckProcessing) {
      // Turned on after payment: stay processing forever, but do not swallow the held event.
      if (held) this.emit(paymentId, held);
      return;
    }
    const p = await this.getPayment(paymentId);
    const manual = p?.capture_method === "manual" || p?.capture_method === "manual_multiple";
    const to = f.paymentOutcome === "succeeded" && manual ? "requires_capture" : f.paymentOutcome;
    const r = await this.ctx.pool.query(
      `UPDATE hs_payments SET status = $2, updated = ${BUMP} WHERE payment_id = $1 AND status = 'processing' RETURNING *`,
      [paymentId, to],
    );
    const row: PaymentRow | undefined = r.rows[0];
    const type = row ? paymentEventType(row.status) : null;
    if (row && type) this.emit(paymentId, makeEvent(type, paymentView(row)));
    if (held) this.emit(paymentId, held); // the out-of-order fault: processing arrives after the final event
  }

  async createRefund(input: CreateRefundInput): Promise<RefundRow> {
    const p = await this.getPayment(input.payment_id);
    if (!p) throw paymentNotFound();
    if (input.refund_id && (await this.getRefund(input.refund_id)))
      throw new HsError(400, "HE_01", "Duplicate refund request. Refund already attempted with the refund ID");
    if (p.status !== "succeeded" && p.status !== "partially_captured")
      throw new HsError(
        400,
        "HE_03",
        "The payment has not succeeded yet. Please pass a successful payment to initiate refund",
      );
    const captured = p.status === "partially_captured" ? Math.floor(p.amount / 2) : p.amount;
    const done = await this.ctx.pool.query(
      "SELECT coalesce(sum(amount), 0)::int AS n FROM hs_refunds WHERE payment_id = $1 AND status <> 'failed'",
      [p.payment_id],
    );
    const amount = input.amount ?? captured - done.rows[0].n;
    // The over-refund fault is a backend that refunds past the captured amount (Hyperswitch refuses it).
    const overAllowed = this.ctx.faults.get().overRefundCents > 0;
    if (amount <= 0 || (done.rows[0].n + amount > captured && !overAllowed)) {
      throw new HsError(400, "IR_13", "The refund amount exceeds the amount captured");
    }
    const r = await this.ctx.pool.query(
      `INSERT INTO hs_refunds (refund_id, payment_id, status, amount, currency, reason, metadata, refund_type, created, updated)
       VALUES ($1,$2,'pending',$3,$4,$5,$6,$7,${NOW},${NOW}) RETURNING *`,
      [
        input.refund_id ?? hsId("ref"),
        p.payment_id,
        amount,
        p.currency,
        input.reason ?? null,
        JSON.stringify(input.metadata ?? {}),
        input.refund_type ?? "instant",
      ],
    );
    const refund: RefundRow = r.rows[0];
    const f = this.ctx.faults.get();
    this.ctx.timers.after(f.refundDelayMs + this.ctx.faults.jitter(f.refundJitterMs), () =>
      this.settleRefund(refund.refund_id),
    );
    return refund;
  }

  /** pending → succeeded, or `failed` (with a connector error) or `review` (no webhook), as `refundOutcome` says. */
  private async settleRefund(refundId: string): Promise<void> {
    const outcome = this.ctx.faults.get().refundOutcome;
    const failed = outcome === "failed";
    const r = await this.ctx.pool.query(
      `UPDATE hs_refunds SET status = $2, error_code = $3, error_message = $4, updated = ${BUMP}
       WHERE refund_id = $1 AND status = 'pending' RETURNING *`,
      [refundId, outcome, failed ? "refund_declined" : null, failed ? "The processor declined the refund." : null],
    );
    const row: RefundRow | undefined = r.rows[0];
    const type = row ? refundEventType(row.status) : null;
    if (row && type) this.emit(row.payment_id, makeEvent(type, refundView(row)));
  }

  /** A retry goes out only while the object's current status still raises the same event type. */
  private async stillCurrent(event: WebhookEvent): Promise<boolean> {
    const o = event.content.object;
    if (event.content.type === "refund_details") {
      const r = await this.getRefund(String(o.refund_id));
      return !!r && refundEventType(r.status) === event.event_type;
    }
    const p = await this.getPayment(String(o.payment_id));
    return !!p && paymentEventType(p.status) === event.event_type;
  }

  private emit(paymentId: string, event: WebhookEvent): void {
    this.webhooks.send(paymentId, event);
  }
}
