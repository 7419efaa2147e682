/**
 * Conformance schemas for the Hyperswitch objects the runbook and the marketplace touch, from
 * Hyperswitch's v1 API reference: juspay/hyperswitch api-reference/v1/openapi_spec_v1.json. The
 * EventType, IntentStatus and RefundStatus lists and the required fields of PaymentsResponse,
 * RefundResponse and OutgoingWebhook come from lib/hs-reference.ts, generated from a committed
 * extract of that reference (its version in HS_REFERENCE); conformance.test.ts checks that every field
 * the reference requires is required here. The rest (field shapes, CaptureMethod) is written by hand
 * from the same reference; the error body from crates/api_models/src/errors/types.rs (the reference's
 * flat GenericErrorResponseOpenApi is not what Hyperswitch sends); the retry schedule from the
 * scheduler's OutgoingWebhookRetryProcessTrackerMapping default.
 *
 * Rules: every field the spec lists as required is required here; a field the spec marks nullable may
 * be null; enums are closed where the spec closes them; extra fields are allowed (Hyperswitch adds
 * fields over time, and its responses carry many this project never reads).
 */
import { z } from "zod";
import { EVENT_TYPES, HS_REFERENCE, INTENT_STATUSES, REFUND_STATUSES } from "../../lib/hs-reference";

export const SPEC = HS_REFERENCE;

const dateTime = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), {
  message: "must be an ISO-8601 date-time",
});
const minor = z.number().int();
const currency = z.string().regex(/^[A-Z]{3}$/, "must be an ISO-4217 code such as EUR");
const nullableString = z.string().nullable().optional();

export const IntentStatus = z.enum(INTENT_STATUSES);

export const RefundStatus = z.enum(REFUND_STATUSES);

export const CaptureMethod = z.enum(["automatic", "manual", "manual_multiple", "scheduled", "sequential_automatic"]);

export const EventType = z.enum(EVENT_TYPES);

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
