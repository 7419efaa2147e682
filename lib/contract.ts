/**
 * The marketplace and orchestrator HTTP contract as code: paths and zod schemas.
 * Kept in one place because the real backend may differ; docs/api-contract.md is its prose twin.
 * Schemas are permissive about extra fields (`.loose()`), strict about the fields the runbook reads.
 */
import { z } from "zod";
import type { PAYMENTS_RESPONSE_REQUIRED, REFUND_RESPONSE_REQUIRED } from "./hs-reference";

export const API_PREFIX = "/api/v1";

export const paths = {
  health: () => `${API_PREFIX}/health`,
  status: () => `${API_PREFIX}/status`,
  login: () => `${API_PREFIX}/auth/login`,
  products: () => `${API_PREFIX}/marketplace/products`,
  orders: () => `${API_PREFIX}/orders`,
  order: (id: string) => `${API_PREFIX}/orders/${encodeURIComponent(id)}`,
  refund: (id: string) => `${API_PREFIX}/orders/${encodeURIComponent(id)}/refund`,
  licenses: () => `${API_PREFIX}/licenses/mine`,
  hsPayment: (id: string) => `/payments/${encodeURIComponent(id)}`,
  hsRefund: (id: string) => `/refunds/${encodeURIComponent(id)}`,
  /**
   * The cross-check reads: `force_sync=true` asks the orchestrator to sync with the processor first;
   * `expand_attempts=true` lists the attempts (a failed void shows there as `void_failed`).
   */
  hsPaymentSynced: (id: string) => `/payments/${encodeURIComponent(id)}?force_sync=true&expand_attempts=true`,
  hsRefundSynced: (id: string) => `/refunds/${encodeURIComponent(id)}?force_sync=true`,
};

/** The envelope every marketplace response uses. */
export const envelope = <T extends z.ZodType>(data: T) => z.object({ success: z.literal(true), data }).loose();
export const errorEnvelope = z
  .object({ success: z.literal(false), error: z.string(), code: z.string().optional() })
  .loose();

/**
 * The orchestrator's error body as Hyperswitch sends it: `{"error": {"type", "code", "message"}}`
 * (codes like `IR_01`, `HE_02`). Its API reference documents a flat `GenericErrorResponseOpenApi`
 * instead; the code and the double send this nested shape, so the runbook reads this one.
 */
export const hsErrorBody = z
  .object({
    error: z.object({ type: z.string().max(64), code: z.string().max(64), message: z.string().optional() }).loose(),
  })
  .loose();

const iso = z.string().min(10);
const minor = z.number().int().nonnegative();

export const Health = z.object({ status: z.string() }).loose();

export const Status = z
  .object({
    environment: z.enum(["staging", "production"]),
    version: z.string().optional(),
    services: z
      .object({
        hyperswitch: z
          .object({ status: z.enum(["enabled", "degraded", "disabled"]), mode: z.enum(["sandbox", "live"]) })
          .loose(),
      })
      .loose(),
  })
  .loose();

export const Login = z
  .object({
    access_token: z.string().min(8),
    refresh_token: z.string().min(8).optional(),
    expires_in: z.number().positive(),
    user: z.object({ id: z.string(), email: z.string() }).loose(),
  })
  .loose();

export const Product = z
  .object({
    id: z.string(),
    title: z.string(),
    price_cents: minor,
    currency: z.string().length(3),
    vat_rate: z.number().min(0).max(1),
    seller_id: z.string(),
    license_type: z.string(),
  })
  .loose();
export const Products = z.object({ products: z.array(Product) }).loose();

export const ORDER_STATUSES = ["pending", "processing", "completed", "failed", "refund_pending", "refunded"] as const;
export const Order = z
  .object({
    id: z.string(),
    status: z.enum(ORDER_STATUSES),
    product_id: z.string(),
    total_cents: minor,
    currency: z.string().length(3),
    hyperswitch_payment_id: z.string(),
    payment_url: z.string().url(),
    refund_id: z.string().nullable().optional(),
    refund_status: z.string().nullable().optional(),
    created_at: iso,
    updated_at: iso.optional(),
    /** When it was paid, as the backend recorded it (null while pending); step 5 times from it. */
    paid_at: iso.nullable().optional(),
    completed_at: iso.nullable().optional(),
    refunded_at: iso.nullable().optional(),
    failure_reason: z.string().nullable().optional(),
    /** The order's split as the marketplace reports it (step 7 reconciles the seller transfer with it). */
    subtotal_cents: minor.optional(),
    vat_cents: minor.optional(),
    platform_fee_cents: minor.nullable().optional(),
    /** How much of the total has been refunded so far (refunds are by amount: partial ones add up). */
    refunded_cents: minor.nullable().optional(),
  })
  .loose();

export const License = z
  .object({
    id: z.string(),
    order_id: z.string(),
    product_id: z.string(),
    license_type: z.string(),
    rights: z.record(z.string(), z.unknown()),
    granted_at: iso,
  })
  .loose();
export const Licenses = z.object({ licenses: z.array(License) }).loose();

export const Refund = z
  .object({
    refund_id: z.string(),
    order_id: z.string(),
    /** pending | succeeded | failed | review; an unknown value is read, and treated as needing an operator. */
    status: z.string().min(1),
    amount_cents: minor.optional(),
    /** When the backend created the refund: step 9 times from it. */
    created_at: iso.nullable().optional(),
    failure_reason: z.string().nullable().optional(),
  })
  .loose();

/**
 * The orchestrator fields the runbook cannot do without: each one a field the reference requires
 * (lib/hs-reference.ts, generated from it; the compiler checks it), so the runbook never refuses a
 * payment or refund for lacking a field Hyperswitch may leave out. test/conformance/client.test.ts
 * checks that these are exactly the fields HsPayment and HsRefund require.
 */
export const HS_PAYMENT_NEEDS = [
  "payment_id",
  "status",
  "amount",
  "currency",
] as const satisfies readonly (typeof PAYMENTS_RESPONSE_REQUIRED)[number][];
export const HS_REFUND_NEEDS = [
  "refund_id",
  "payment_id",
  "status",
  "amount",
] as const satisfies readonly (typeof REFUND_RESPONSE_REQUIRED)[number][];

export const HsPayment = z
  .object({
    payment_id: z.string(),
    status: z.string(),
    amount: minor,
    currency: z.string(),
    /**
     * The amounts step 4 compares with the order (issue 23): `net_amount` = amount + surcharge (+ tax,
     * shipping), `amount_capturable` what can still be captured, `amount_received` what was captured
     * (null until captured; the ledger sums refunds against it).
     */
    net_amount: minor.optional(),
    amount_capturable: minor.nullable().optional(),
    amount_received: minor.nullable().optional(),
    surcharge_details: z
      .object({ surcharge_amount: z.number().int(), tax_amount: z.number().int().nullable().optional() })
      .loose()
      .nullable()
      .optional(),
    /** With `expand_attempts=true`: each attempt's status (`void_failed` after a failed void). */
    attempts: z
      .array(
        z
          .object({ attempt_id: z.string().optional(), status: z.string(), amount: z.number().int().optional() })
          .loose(),
      )
      .nullable()
      .optional(),
    connector: z.string().nullable().optional(),
    /** When the payment last changed (Hyperswitch `updated`; `modified_at` in some versions). */
    updated: iso.nullable().optional(),
    modified_at: iso.nullable().optional(),
    /**
     * Read leniently (issue 12 §1): a card payment has `card` (its `last4` may be null), a wallet
     * payment has `wallet`, others neither. Any shape is accepted, so the cross-check never drops
     * out because of how the card is described; `hsCardLast4` picks the digits when there are some.
     */
    payment_method_data: z.unknown().optional(),
  })
  .loose();
export const HsRefund = z
  .object({
    refund_id: z.string(),
    payment_id: z.string(),
    status: z.string(),
    amount: minor,
    currency: z.string().optional(),
    error_message: z.string().nullable().optional(),
    error_code: z.string().nullable().optional(),
    /** When the orchestrator created the refund (RefundResponse `created_at`). */
    created_at: iso.nullable().optional(),
  })
  .loose();
export type HsRefundT = z.infer<typeof HsRefund>;

/** The card's last 4 digits from a payment's `payment_method_data`, when it names a card with them. */
export function hsCardLast4(p: { payment_method_data?: unknown }): string | null {
  const card = (p.payment_method_data as { card?: { last4?: unknown } | null } | null | undefined)?.card;
  const last4 = card?.last4;
  return typeof last4 === "string" && /^\d{4}$/.test(last4) ? last4 : null;
}

/** The kind of payment method (`card`, `wallet`, …) the payment's `payment_method_data` names, if any. */
export function hsMethodKind(p: { payment_method_data?: unknown }): string | null {
  const d = p.payment_method_data;
  if (!d || typeof d !== "object" || Array.isArray(d)) return null;
  const keys = Object.keys(d).filter((k) => k !== "billing" && (d as Record<string, unknown>)[k] != null);
  return keys[0] ?? null;
}

export const SellerTransfer = z.object({
  id: z.string(),
  order_id: z.string(),
  seller_id: z.string(),
  amount: z.coerce.number().int(),
  currency: z.string(),
  stripe_transfer_id: z.string().nullable(),
  status: z.string(),
  created_at: z.union([z.string(), z.date()]).transform((v) => (v instanceof Date ? v.toISOString() : v)),
  reversed_at: z.union([z.string(), z.date(), z.null()]).transform((v) => (v instanceof Date ? v.toISOString() : v)),
  /**
   * How much of the transfer was reversed, in minor units, where the table has the column (absent
   * when it does not: the reversal's amount is then not checked, never assumed to be the whole).
   */
  amount_reversed: z.coerce.number().int().nullable().optional(),
});

export const SELLER_TRANSFER_SQL =
  "SELECT id, order_id, seller_id, amount, currency, stripe_transfer_id, status, created_at, reversed_at FROM seller_transfers WHERE order_id = $1";
/** The same read with the reversed amount, for a table that has the column (tried first, inside a savepoint). */
export const SELLER_TRANSFER_REVERSED_SQL =
  "SELECT id, order_id, seller_id, amount, currency, stripe_transfer_id, status, created_at, reversed_at, amount_reversed FROM seller_transfers WHERE order_id = $1";

/** The SQL an operator runs by hand when no DSN is given (psql -c): step 7's cell and the report's action items. */
export function transferSqlFor(orderId: string): string {
  return `BEGIN READ ONLY; ${SELLER_TRANSFER_SQL.replace("$1", `'${orderId.replace(/'/g, "''")}'`)}; COMMIT;`;
}

export type StatusT = z.infer<typeof Status>;
export type LoginT = z.infer<typeof Login>;
export type ProductT = z.infer<typeof Product>;
export type OrderT = z.infer<typeof Order>;
export type LicenseT = z.infer<typeof License>;
export type RefundT = z.infer<typeof Refund>;
export type HsPaymentT = z.infer<typeof HsPayment>;
export type SellerTransferT = z.infer<typeof SellerTransfer>;

/** Price incl. VAT in minor units, as the contract computes it. */
export function priceInclVat(p: Pick<ProductT, "price_cents" | "vat_rate">): number {
  return p.price_cents + Math.round(p.price_cents * p.vat_rate);
}
