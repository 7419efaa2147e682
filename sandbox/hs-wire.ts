// Hyperswitch's wire format, as the double speaks it: ids, the payment and refund objects, the
// webhook envelope and event types. Written from Hyperswitch's v1 API reference
// (api-reference/v1/openapi_spec_v1.json): PaymentsResponse, RefundResponse, OutgoingWebhook; the
// EventType, IntentStatus and RefundStatus lists are imported from lib/hs-reference.ts, generated from
// that reference. docs/api-contract.md describes it in prose.
import { randomBytes } from "node:crypto";
import type { EventType } from "../lib/hs-reference";
import { iso } from "./context";

/** The merchant account the sandbox's api-key belongs to. */
export const MERCHANT_ID = "merchant_sandbox";
/** The business profile every payment belongs to. */
export const PROFILE_ID = "pro_sandbox000000000000";
export const CONNECTOR = "sandbox_card";

const ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";

/** Hyperswitch ids are a prefix plus lower-case alphanumerics: 30 characters in all for payments and refunds. */
export function hsId(prefix: "pay" | "ref", length = 30): string {
  const n = length - prefix.length - 1;
  const bytes = randomBytes(n);
  let s = "";
  for (let i = 0; i < n; i++) s += ALNUM[bytes[i] % ALNUM.length];
  return `${prefix}_${s}`;
}

/** Event ids: `evt_` plus 32 hex digits. */
export const eventId = () => `evt_${randomBytes(16).toString("hex")}`;

// The reference's lists, from the one module generated from it (scripts/dev/hs-reference.ts).
export {
  EVENT_TYPES,
  type EventType,
  INTENT_STATUSES,
  type IntentStatus,
  REFUND_STATUSES,
  type RefundStatus,
} from "../lib/hs-reference";

/** Which event a payment status raises; null = no webhook (Hyperswitch sends none for these). */
export function paymentEventType(status: string): EventType | null {
  switch (status) {
    case "succeeded":
      return "payment_succeeded";
    case "failed":
      return "payment_failed";
    case "processing":
      return "payment_processing";
    case "requires_customer_action":
    case "requires_merchant_action":
    case "conflicted":
      return "action_required";
    case "cancelled":
      return "payment_cancelled";
    case "cancelled_post_capture":
      return "payment_cancelled_post_capture";
    case "requires_capture":
      return "payment_authorized";
    case "partially_authorized_and_requires_capture":
      return "payment_partially_authorized";
    case "partially_captured":
    case "partially_captured_and_capturable":
      return "payment_captured";
    case "expired":
      return "payment_expired";
    default:
      return null;
  }
}

/** Which event a refund status raises; `pending` and `review` raise none. */
export function refundEventType(status: string): EventType | null {
  if (status === "succeeded") return "refund_succeeded";
  if (status === "failed") return "refund_failed";
  return null;
}

/** The card networks Hyperswitch names (CardNetwork); anything else is sent as null. */
const CARD_NETWORKS = new Set(["Visa", "Mastercard", "AmericanExpress", "JCB", "DinersClub", "Discover", "UnionPay"]);

/** An hs_payments row, as the engine stores it. */
export interface PaymentRow {
  payment_id: string;
  client_secret: string;
  status: string;
  amount: number;
  currency: string;
  description: string | null;
  metadata: Record<string, unknown>;
  connector: string;
  error_code: string | null;
  error_message: string | null;
  card_last4: string | null;
  card_network: string | null;
  capture_method: string;
  return_url: string | null;
  customer_id: string | null;
  attempt_count: number;
  /** Added by the orchestrator on top of `amount` (net_amount = amount + surcharge). */
  surcharge_amount: number;
  /** What was captured, once captured (`amount_received`). */
  amount_captured: number | null;
  /** The latest attempt's status when it says more than the payment's (`void_failed`, `voided`). */
  last_attempt_status: string | null;
  created: Date;
  updated: Date;
}

export interface RefundRow {
  refund_id: string;
  payment_id: string;
  status: string;
  amount: number;
  currency: string;
  reason: string | null;
  metadata: Record<string, unknown>;
  refund_type: string;
  error_code: string | null;
  error_message: string | null;
  created: Date;
  updated: Date;
}

/** net_amount: the amount plus the orchestrator's surcharge (the reference: + surcharge + tax …). */
export const netAmount = (r: Pick<PaymentRow, "amount" | "surcharge_amount">) => r.amount + (r.surcharge_amount ?? 0);

/**
 * The reference: `amount_capturable` is what can still be captured (0 once captured, or after the
 * payment failed or was cancelled), `amount_received` the total captured (nullable).
 */
function amounts(r: PaymentRow): { amount_capturable: number; amount_received: number | null } {
  switch (r.status) {
    case "succeeded":
      return { amount_capturable: 0, amount_received: r.amount_captured ?? netAmount(r) };
    case "partially_captured":
      return { amount_capturable: 0, amount_received: r.amount_captured ?? Math.floor(r.amount / 2) };
    case "requires_capture":
    case "requires_payment_method":
    case "requires_customer_action":
    case "processing":
      return { amount_capturable: netAmount(r), amount_received: null };
    default:
      return { amount_capturable: 0, amount_received: r.amount_captured };
  }
}

/** The latest attempt's AttemptStatus, as Hyperswitch names them. */
function attemptStatus(r: PaymentRow): string {
  if (r.last_attempt_status) return r.last_attempt_status;
  switch (r.status) {
    case "succeeded":
      return "charged";
    case "partially_captured":
      return "partial_charged";
    case "requires_capture":
      return "authorized";
    case "cancelled":
      return "voided";
    case "processing":
      return "pending";
    case "requires_customer_action":
      return "authentication_pending";
    case "requires_payment_method":
      return "started";
    default:
      return "failure";
  }
}

/** PaymentAttemptResponse, the one attempt the double makes (sent with `expand_attempts=true`). */
function attemptView(r: PaymentRow) {
  return {
    attempt_id: `${r.payment_id}_1`,
    status: attemptStatus(r),
    amount: r.amount,
    order_tax_amount: null,
    currency: r.currency,
    connector: r.status === "requires_payment_method" ? null : r.connector,
    error_message: r.error_message,
    payment_method: "card",
    connector_transaction_id: r.status === "requires_payment_method" ? null : `sbx_${r.payment_id.slice(4)}`,
    capture_method: r.capture_method,
    authentication_type: "no_three_ds",
    created_at: iso(r.created),
    modified_at: iso(r.updated),
    cancellation_reason: r.status === "cancelled" ? "requested_by_merchant" : null,
    error_code: r.error_code,
  };
}

/**
 * PaymentsResponse. `client_secret` goes to api-key callers only (it is nullable in the spec);
 * webhooks carry null. Both `modified_at` and `updated` are in the spec; they carry the same time.
 */
export function paymentView(r: PaymentRow, withSecret = false, expandAttempts = false) {
  const hasCard = r.card_last4 !== null || r.card_network !== null;
  const network = r.card_network && CARD_NETWORKS.has(r.card_network) ? r.card_network : null;
  const attempted = r.status !== "requires_payment_method";
  return {
    payment_id: r.payment_id,
    merchant_id: MERCHANT_ID,
    processor_merchant_id: MERCHANT_ID,
    status: r.status,
    amount: r.amount,
    net_amount: netAmount(r),
    ...amounts(r),
    surcharge_details: r.surcharge_amount ? { surcharge_amount: r.surcharge_amount, tax_amount: 0 } : null,
    currency: r.currency,
    connector: attempted ? r.connector : null,
    client_secret: withSecret ? r.client_secret : null,
    created: iso(r.created),
    modified_at: iso(r.updated),
    updated: iso(r.updated),
    customer_id: r.customer_id,
    description: r.description,
    capture_method: r.capture_method,
    payment_method: "card",
    payment_method_type: attempted ? "credit" : null,
    payment_method_data: hasCard
      ? {
          card: {
            last4: r.card_last4,
            card_type: "CREDIT",
            card_network: network,
            card_issuer: null,
            card_issuing_country: null,
            card_isin: null,
            card_extended_bin: null,
            card_exp_month: null,
            card_exp_year: null,
            card_holder_name: null,
            payment_checks: null,
            authentication_data: null,
          },
          billing: null,
        }
      : null,
    return_url: r.return_url,
    error_code: r.error_code,
    error_message: r.error_message,
    unified_code: null,
    unified_message: null,
    cancellation_reason: r.status === "cancelled" ? "requested_by_merchant" : null,
    metadata: r.metadata,
    profile_id: PROFILE_ID,
    attempt_count: r.attempt_count,
    connector_transaction_id: attempted ? `sbx_${r.payment_id.slice(4)}` : null,
    authentication_type: "no_three_ds",
    ...(expandAttempts ? { attempts: [attemptView(r)] } : {}),
  };
}

/** RefundResponse: note `created_at` / `updated_at`, not `created` / `updated` as on payments. */
export function refundView(r: RefundRow) {
  return {
    refund_id: r.refund_id,
    payment_id: r.payment_id,
    amount: r.amount,
    currency: r.currency,
    status: r.status,
    reason: r.reason,
    metadata: r.metadata,
    error_message: r.error_message,
    error_code: r.error_code,
    unified_code: null,
    unified_message: null,
    created_at: iso(r.created),
    updated_at: iso(r.updated),
    connector: CONNECTOR,
    profile_id: PROFILE_ID,
    merchant_connector_id: null,
    split_refunds: null,
  };
}

export type ContentType = "payment_details" | "refund_details";

/** OutgoingWebhook: {merchant_id, event_id, event_type, content: {type, object}, timestamp, processor_merchant_id}. */
export interface WebhookEvent {
  merchant_id: string;
  event_id: string;
  event_type: EventType;
  content: { type: ContentType; object: Record<string, unknown> };
  timestamp: string;
  processor_merchant_id: string | null;
}

export function makeEvent(type: EventType, object: Record<string, unknown>): WebhookEvent {
  return {
    merchant_id: MERCHANT_ID,
    event_id: eventId(),
    event_type: type,
    content: { type: type.startsWith("refund") ? "refund_details" : "payment_details", object },
    timestamp: new Date().toISOString(),
    processor_merchant_id: MERCHANT_ID,
  };
}
