/**
 * Conformance schemas for the Hyperswitch objects the runbook and the marketplace touch, written by
 * hand from Hyperswitch's v1 API reference: juspay/hyperswitch api-reference/v1/openapi_spec_v1.json
 * (info.version 0.1.0, OpenAPI 3.0.3, as stored on 2026-11-29), components PaymentsResponse,
 * RefundResponse, OutgoingWebhook / OutgoingWebhookContent, EventType, IntentStatus, RefundStatus,
 * CaptureMethod; the error body from crates/api_models/src/errors/types.rs; the retry schedule from
 * the scheduler's OutgoingWebhookRetryProcessTrackerMapping default.
 *
 * Rules: every field the spec lists as required is required here; a field the spec marks nullable may
 * be null; enums are closed where the spec closes them; extra fields are allowed (Hyperswitch adds
 * fields over time, and its responses carry many this project never reads).
 */
import { z } from "zod";

export const SPEC = {
  source: "juspay/hyperswitch api-reference/v1/openapi_spec_v1.json",
  version: "0.1.0",
  read: "2026-11-29",
} as const;

const dateTime = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), {
  message: "must be an ISO-8601 date-time",
});
const minor = z.number().int();
const currency = z.string().regex(/^[A-Z]{3}$/, "must be an ISO-4217 code such as EUR");
const nullableString = z.string().nullable().optional();

export const IntentStatus = z.enum([
  "succeeded",
  "failed",
  "cancelled",
  "cancelled_post_capture",
  "processing",
  "requires_customer_action",
  "requires_merchant_action",
  "requires_payment_method",
  "requires_confirmation",
  "requires_capture",
  "partially_captured",
  "partially_captured_and_capturable",
  "partially_authorized_and_requires_capture",
  "partially_captured_and_processing",
  "conflicted",
  "expired",
]);

export const RefundStatus = z.enum(["succeeded", "failed", "pending", "review"]);

export const CaptureMethod = z.enum(["automatic", "manual", "manual_multiple", "scheduled", "sequential_automatic"]);

export const EventType = z.enum([
  "payment_succeeded",
  "payment_failed",
  "payment_processing",
  "payment_cancelled",
  "payment_cancelled_post_capture",
  "payment_authorized",
  "payment_partially_authorized",
  "payment_captured",
  "payment_expired",
  "action_required",
  "refund_succeeded",
  "refund_failed",
  "dispute_opened",
  "dispute_expired",
  "dispute_accepted",
  "dispute_cancelled",
  "dispute_challenged",
  "dispute_won",
  "dispute_lost",
  "mandate_active",
  "mandate_revoked",
  "payout_success",
  "payout_failed",
  "payout_initiated",
  "payout_processing",
  "payout_cancelled",
  "payout_expired",
  "payout_reversed",
  "invoice_paid",
]);

/** The card part of payment_method_data: every field nullable, `last4` included. */
export const CardResponse = z
  .object({
    last4: z
      .string()
      .regex(/^\d{4}$/)
      .nullable()
      .optional(),
    card_type: nullableString,
    card_network: nullableString,
    card_issuer: nullableString,
    card_issuing_country: nullableString,
    card_isin: nullableString,
    card_extended_bin: nullableString,
    card_exp_month: nullableString,
    card_exp_year: nullableString,
    card_holder_name: nullableString,
  })
  .loose();

/** PaymentMethodDataResponseWithBilling: one key per payment method (card, wallet, …) plus billing. */
export const PaymentMethodData = z
  .object({
    card: CardResponse.nullable().optional(),
    billing: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .loose();

export const PaymentsResponse = z
  .object({
    // required in the spec
    payment_id: z.string().min(1).max(64),
    merchant_id: z.string().min(1).max(255),
    status: IntentStatus,
    amount: minor,
    net_amount: minor,
    amount_capturable: minor,
    processor_merchant_id: z.string().max(255),
    currency,
    payment_method: z.string().min(1),
    attempt_count: z.number().int().nonnegative(),
    // optional / nullable in the spec
    amount_received: minor.nullable().optional(),
    connector: nullableString,
    client_secret: nullableString,
    created: dateTime.nullable().optional(),
    modified_at: dateTime.nullable().optional(),
    updated: dateTime.nullable().optional(),
    customer_id: nullableString,
    description: nullableString,
    capture_method: CaptureMethod.nullable().optional(),
    payment_method_type: nullableString,
    payment_method_data: PaymentMethodData.nullable().optional(),
    return_url: nullableString,
    error_code: nullableString,
    error_message: nullableString,
    unified_code: nullableString,
    unified_message: nullableString,
    cancellation_reason: nullableString,
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
    profile_id: nullableString,
    connector_transaction_id: nullableString,
    refunds: z.array(z.unknown()).nullable().optional(),
  })
  .loose();

export const RefundResponse = z
  .object({
    // required in the spec
    refund_id: z.string().min(1).max(64),
    payment_id: z.string().min(1).max(64),
    amount: minor,
    currency,
    status: RefundStatus,
    connector: z.string().min(1),
    // optional / nullable in the spec
    reason: nullableString,
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
    error_message: nullableString,
    error_code: nullableString,
    unified_code: nullableString,
    unified_message: nullableString,
    created_at: dateTime.nullable().optional(),
    updated_at: dateTime.nullable().optional(),
    profile_id: nullableString,
    merchant_connector_id: nullableString,
  })
  .loose();

/** OutgoingWebhookContent for the two kinds this project receives (disputes, mandates, payouts… exist too). */
export const OutgoingWebhookContent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("payment_details"), object: PaymentsResponse }),
  z.object({ type: z.literal("refund_details"), object: RefundResponse }),
]);

export const OutgoingWebhook = z
  .object({
    merchant_id: z.string().min(1),
    event_id: z.string().min(1).max(64),
    event_type: EventType,
    content: OutgoingWebhookContent,
    timestamp: dateTime.optional(),
    processor_merchant_id: z.string().nullable().optional(),
  })
  .loose()
  .superRefine((w, ctx) => {
    const kind = w.event_type.startsWith("refund_") ? "refund_details" : "payment_details";
    if (w.content.type !== kind)
      ctx.addIssue({ code: "custom", message: `${w.event_type} carries ${kind}, not ${w.content.type}` });
  });

/** Hyperswitch's error body: {"error": {type, code, message}}, code like IR_01 / HE_02. */
export const ErrorBody = z.object({
  error: z
    .object({
      type: z.enum(["invalid_request", "api", "connector", "blocked"]),
      code: z.string().regex(/^[A-Z]{2}_\d{2}$/, "must look like IR_01 or HE_02"),
      message: z.string().min(1),
    })
    .loose(),
});

/** Seconds between webhook attempts on Hyperswitch's default schedule (16 retries after the first attempt). */
export const WEBHOOK_RETRY_SCHEDULE_S = [
  60, 300, 300, 600, 600, 600, 600, 600, 3600, 3600, 3600, 3600, 3600, 21600, 21600, 21600,
] as const;

export type PaymentsResponseT = z.infer<typeof PaymentsResponse>;
export type RefundResponseT = z.infer<typeof RefundResponse>;
export type OutgoingWebhookT = z.infer<typeof OutgoingWebhook>;
