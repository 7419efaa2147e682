import { randomBytes } from "node:crypto";
import type { Ctx } from "./context";
import { SandboxError } from "./errors";
import type { ParsedCard } from "./checkout-page";
import {
  CONNECTOR,
  hsId,
  makeEvent,
  netAmount,
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
  /** The processor's own state where it is ahead of the stored object (payment_id / refund_id -> status). */
  private processor = new Map<string, string>();

  constructor(private readonly ctx: Ctx) {
    this.webhooks = new WebhookSender(ctx);
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
    // The surcharge knob: the orchestrator adds it at confirmation, as Hyperswitch's surcharge does.
    const surcharge = this.ctx.faults.get().surchargeMinor;
    const r = await this.ctx.pool.query(
      `UPDATE hs_payments SET status = $2, error_code = $3, error_message = $4, card_last4 = $5, card_network = $6,
         surcharge_amount = $7, updated = ${BUMP}
       WHERE payment_id = $1 AND status = 'requires_payment_method' RETURNING *`,
      [
        paymentId,
        o.kind === "success" ? "processing" : "failed",
        o.kind === "failure" ? o.code : null,
        o.kind === "failure" ? o.message : null,
        card.last4,
        card.network,
        o.kind === "success" ? surcharge : 0,
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
    if (f.processorSilent) {
      // The processor settled it and told no one: the stored payment stays processing until a force_sync.
      this.processor.set(paymentId, to);
      if (held) this.emit(paymentId, held);
      return;
    }
    const captured = capturedBy(p ?? null, to, f.partialCaptureMinor);
    const r = await this.ctx.pool.query(
      `UPDATE hs_payments SET status = $2, amount_captured = $3, updated = ${BUMP}
       WHERE payment_id = $1 AND status = 'processing' RETURNING *`,
      [paymentId, to, captured],
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
    const captured = p.amount_captured ?? (p.status === "partially_captured" ? Math.floor(p.amount / 2) : netAmount(p));
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
    const f = this.ctx.faults.get();
    if (f.processorSilent) this.processor.set(refundId, f.refundOutcome);
    else await this.settleRefundAs(refundId, f.refundOutcome);
  }

  private async settleRefundAs(refundId: string, outcome: string): Promise<RefundRow | null> {
    const failed = outcome === "failed";
    const r = await this.ctx.pool.query(
      `UPDATE hs_refunds SET status = $2, error_code = $3, error_message = $4, updated = ${BUMP}
       WHERE refund_id = $1 AND status = 'pending' RETURNING *`,
      [refundId, outcome, failed ? "refund_declined" : null, failed ? "The processor declined the refund." : null],
    );
    const row: RefundRow | undefined = r.rows[0];
    const type = row ? refundEventType(row.status) : null;
    if (row && type) this.emit(row.payment_id, makeEvent(type, refundView(row)));
    return row ?? null;
  }

  /**
   * `force_sync`: reads the processor's state and, when it is ahead of the stored payment (the
   * `processorSilent` fault: the processor settled it but never told the orchestrator), brings the
   * stored payment up to it and sends the webhook that change raises, as Hyperswitch does on a sync.
   */
  async syncPayment(paymentId: string): Promise<PaymentRow | null> {
    const target = this.processor.get(paymentId);
    if (target === undefined) return this.getPayment(paymentId);
    this.processor.delete(paymentId);
    const p = await this.getPayment(paymentId);
    const captured = capturedBy(p, target, this.ctx.faults.get().partialCaptureMinor);
    const r = await this.ctx.pool.query(
      `UPDATE hs_payments SET status = $2, amount_captured = $3, updated = ${BUMP} WHERE payment_id = $1 AND status = 'processing' RETURNING *`,
      [paymentId, target, captured],
    );
    const row: PaymentRow | undefined = r.rows[0];
    const type = row ? paymentEventType(row.status) : null;
    if (row && type) this.emit(paymentId, makeEvent(type, paymentView(row)));
    return row ?? this.getPayment(paymentId);
  }

  /** `force_sync` on a refund: the processor's outcome, when it is ahead of the stored refund. */
  async syncRefund(refundId: string): Promise<RefundRow | null> {
    const target = this.processor.get(refundId);
    if (target === undefined) return this.getRefund(refundId);
    this.processor.delete(refundId);
    return (await this.settleRefundAs(refundId, target)) ?? this.getRefund(refundId);
  }

  /**
   * Void a held payment (POST /payments/:id/cancel). `voidOutcome=failed`: the processor declines the
   * void, and Hyperswitch records the payment `failed` (its attempt `void_failed`) while the
   * authorisation may still hold the amount on the card.
   */
  async cancel(paymentId: string): Promise<PaymentRow> {
    const p = await this.getPayment(paymentId);
    if (!p) throw paymentNotFound();
    const cancellable = ["requires_capture", "requires_payment_method", "requires_customer_action"];
    if (!cancellable.includes(p.status))
      throw new HsError(400, "IR_16", `You cannot cancel this payment because it has status ${p.status}`);
    const failed = this.ctx.faults.get().voidOutcome === "failed";
    const r = await this.ctx.pool.query(
      `UPDATE hs_payments SET status = $2, last_attempt_status = $3, error_code = $4, error_message = $5, updated = ${BUMP}
       WHERE payment_id = $1 AND status = $6 RETURNING *`,
      [
        paymentId,
        failed ? "failed" : "cancelled",
        failed ? "void_failed" : "voided",
        failed ? "void_declined" : null,
        failed ? "The processor declined the void; the authorisation may still be held." : null,
        p.status,
      ],
    );
    const row: PaymentRow | undefined = r.rows[0];
    if (!row)
      throw new HsError(409, "HE_01", "The payment changed while it was being cancelled; retrieve it and try again");
    const type = paymentEventType(row.status);
    if (type) this.emit(paymentId, makeEvent(type, paymentView(row)));
    return row;
  }

  private emit(paymentId: string, event: WebhookEvent): void {
    this.webhooks.send(paymentId, event);
  }
}

/** What a capture took: everything charged (amount + surcharge), or the partial-capture knob's share (0: half). */
function capturedBy(p: PaymentRow | null, to: string, partialCaptureMinor: number): number | null {
  if (!p || (to !== "succeeded" && to !== "partially_captured")) return null;
  return to === "succeeded" ? netAmount(p) : Math.min(partialCaptureMinor || Math.floor(p.amount / 2), netAmount(p));
}
