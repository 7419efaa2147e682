/**
 * Real-shaped Hyperswitch payloads (v1 API reference, see ./hyperswitch.ts for the version), made up
 * for this project: ids, times and amounts are invented, and no card number appears anywhere, only
 * last-4 digits. test/conformance/conformance.test.ts checks that the conformance schemas accept every
 * one; lib tests may import them to check that the runbook's client parses what Hyperswitch sends.
 */

const MERCHANT = "merchant_1764300000";
const PROFILE = "pro_k2v9q4m7x1c8b5n3z6";

/** Fields every payment below shares. */
const base = {
  merchant_id: MERCHANT,
  processor_merchant_id: MERCHANT,
  amount: 500,
  net_amount: 500,
  currency: "EUR",
  customer_id: null,
  description: "E2E test licence",
  capture_method: "automatic",
  return_url: null,
  error_code: null,
  error_message: null,
  unified_code: null,
  unified_message: null,
  cancellation_reason: null,
  metadata: { order_id: "ord_3f9c2a7b1e6d4c8a0b5f" },
  profile_id: PROFILE,
  attempt_count: 1,
  authentication_type: "no_three_ds",
  refunds: null,
  disputes: null,
  attempts: null,
  captures: null,
  next_action: null,
  expires_on: "2026-11-28T10:15:00.000Z",
};

/** A card payment that succeeded through a real connector. */
export const cardPaymentSucceeded = {
  ...base,
  payment_id: "pay_card0succeeded000000000001",
  status: "succeeded",
  amount_capturable: 0,
  amount_received: 500,
  connector: "stripe",
  client_secret: "pay_card0succeeded000000000001_secret_q8w7e6r5t4y3u2i1",
  created: "2026-11-28T10:00:00.000Z",
  modified_at: "2026-11-28T10:00:04.210Z",
  updated: "2026-11-28T10:00:04.210Z",
  payment_method: "card",
  payment_method_type: "credit",
  payment_method_data: {
    card: {
      last4: "4242",
      card_type: "CREDIT",
      card_network: "Visa",
      card_issuer: "STRIPE PAYMENTS UK LIMITED",
      card_issuing_country: "UNITEDKINGDOM",
      card_isin: "424242",
      card_extended_bin: null,
      card_exp_month: "12",
      card_exp_year: "2030",
      card_holder_name: "Ada Lovelace",
      payment_checks: null,
      authentication_data: null,
    },
    billing: null,
  },
  connector_transaction_id: "pi_3QY4TnEOqOywnAIx0000001",
};

/** A Google Pay payment: payment_method_data has `wallet`, no `card`. */
export const walletPaymentSucceeded = {
  ...base,
  payment_id: "pay_wallet0succeeded0000000001",
  status: "succeeded",
  amount_capturable: 0,
  amount_received: 500,
  connector: "adyen",
  client_secret: null,
  created: "2026-11-28T11:00:00.000Z",
  modified_at: "2026-11-28T11:00:02.500Z",
  updated: "2026-11-28T11:00:02.500Z",
  payment_method: "wallet",
  payment_method_type: "google_pay",
  payment_method_data: {
    wallet: { google_pay: { last4: "1111", card_network: "VISA", type: "CARD" } },
    billing: null,
  },
  connector_transaction_id: "8535296650153317",
};

/** A card payment whose connector did not report the last 4 digits (last4 and card_network null). */
export const cardPaymentNullLast4 = {
  ...base,
  payment_id: "pay_card0nolast400000000000001",
  status: "succeeded",
  amount_capturable: 0,
  amount_received: 500,
  connector: "checkout",
  client_secret: null,
  created: "2026-11-28T12:00:00.000Z",
  modified_at: "2026-11-28T12:00:03.000Z",
  updated: null,
  payment_method: "card",
  payment_method_type: "debit",
  payment_method_data: {
    card: {
      last4: null,
      card_type: null,
      card_network: null,
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
  },
  connector_transaction_id: "chk_000000000000000000000001",
};

/** A payment created but not paid yet (what POST /payments returns). */
export const paymentRequiresPaymentMethod = {
  ...base,
  payment_id: "pay_created0000000000000000001",
  status: "requires_payment_method",
  amount_capturable: 500,
  amount_received: null,
  connector: null,
  client_secret: "pay_created0000000000000000001_secret_a1s2d3f4g5h6j7k8",
  created: "2026-11-28T09:59:59.000Z",
  modified_at: "2026-11-28T09:59:59.000Z",
  updated: "2026-11-28T09:59:59.000Z",
  payment_method: "card",
  payment_method_type: null,
  payment_method_data: null,
  connector_transaction_id: null,
};

const refundBase = {
  payment_id: cardPaymentSucceeded.payment_id,
  amount: 500,
  currency: "EUR",
  reason: "operator test refund",
  metadata: null,
  unified_code: null,
  unified_message: null,
  connector: "stripe",
  profile_id: PROFILE,
  merchant_connector_id: "mca_5apGeP94tMts6rg3U3kR",
  split_refunds: null,
  issuer_error_code: null,
  issuer_error_message: null,
  raw_connector_response: null,
};

/** A refund the connector refused. */
export const refundFailed = {
  ...refundBase,
  refund_id: "ref_failed00000000000000000001",
  status: "failed",
  error_code: "charge_already_refunded",
  error_message: "Charge has already been refunded.",
  created_at: "2026-11-28T10:05:00.000Z",
  updated_at: "2026-11-28T10:05:01.800Z",
};

/** A refund held for manual review: Hyperswitch sends no webhook for it. */
export const refundReview = {
  ...refundBase,
  refund_id: "ref_review00000000000000000001",
  status: "review",
  error_code: null,
  error_message: null,
  created_at: "2026-11-28T10:06:00.000Z",
  updated_at: "2026-11-28T10:06:00.400Z",
};

/** A refund that succeeded. */
export const refundSucceeded = {
  ...refundBase,
  refund_id: "ref_succeeded00000000000000001",
  status: "succeeded",
  error_code: null,
  error_message: null,
  created_at: "2026-11-28T10:07:00.000Z",
  updated_at: "2026-11-28T10:07:02.000Z",
};

/** Outgoing webhooks (what the marketplace receives). */
export const webhookPaymentSucceeded = {
  merchant_id: MERCHANT,
  event_id: "evt_018e31720d1b7a2b82677d3032cab959",
  event_type: "payment_succeeded",
  content: { type: "payment_details", object: cardPaymentSucceeded },
  timestamp: "2026-11-28T10:00:04.300Z",
  processor_merchant_id: MERCHANT,
};

export const webhookRefundFailed = {
  merchant_id: MERCHANT,
  event_id: "evt_018e31720d1b7a2b82677d3032cab960",
  event_type: "refund_failed",
  content: { type: "refund_details", object: refundFailed },
  timestamp: "2026-11-28T10:05:01.900Z",
  processor_merchant_id: null,
};

/** Every sample, by name, for table-driven tests. */
export const PAYMENT_SAMPLES = {
  cardPaymentSucceeded,
  walletPaymentSucceeded,
  cardPaymentNullLast4,
  paymentRequiresPaymentMethod,
} as const;
export const REFUND_SAMPLES = { refundFailed, refundReview, refundSucceeded } as const;
export const WEBHOOK_SAMPLES = { webhookPaymentSucceeded, webhookRefundFailed } as const;
