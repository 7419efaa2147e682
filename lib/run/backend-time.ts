/**
 * The clocks of steps 5 and 9 come from the backend, never from the notebook (issue 22 §1): the
 * payment's own time (the orchestrator's, or the order's `paid_at`), the order's own completion
 * and refund times, and the refund's creation time. A time taken in the notebook (when a cell ran,
 * when a poll landed) is never an end of an interval: a late paid cell would shorten it, poll
 * back-off would stretch it. Without a backend time the interval is not measured, and says why.
 */
import type { HsPaymentT, OrderT } from "../contract";
import { type JournalEntry, lastOf } from "../evidence/journal";

/** A backend time (ISO, normalised to `…Z`) and where it came from, in words for the record. */
export interface BackendTime {
  at: string;
  source: string;
}

/** `2026-11-26T15:44:00.123Z` from any ISO string, or null when it is not a time. */
function isoOf(v: string | null | undefined): string | null {
  if (!v) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** A backend time from a field's value, or null when it holds no time. */
export function backendTime(v: unknown, source: string): BackendTime | null {
  const at = typeof v === "string" ? isoOf(v) : null;
  return at ? { at, source } : null;
}

/** Refund attempt n's own creation time, as its POST answer gave it (journal `refund_created`). */
export function refundCreatedTime(entries: readonly JournalEntry[], attempt: number): BackendTime | null {
  const e = lastOf(entries, "refund_created", (x) => (x.data.attempt ?? 1) === attempt);
  return backendTime(e?.data.created_at, "the refund's created_at");
}

/**
 * The payment's own time: the earliest of what the backend says. The orchestrator's `updated`
 * (`modified_at`) is the payment's time while it is processing, but moves again when it settles,
 * so the order's `paid_at` (the payment event's time as the marketplace applied it) wins when it
 * is earlier. Without `paid_at`, an order still `processing` last changed when it was paid, so its
 * `updated_at` is that time. On a tie the orchestrator is named. Null when nothing gives a time.
 */
export function paidTime(hs: HsPaymentT | null, order: OrderT | null): BackendTime | null {
  const found: BackendTime[] = [];
  const hsAt = isoOf(hs ? (hs.updated ?? hs.modified_at) : null);
  if (hsAt) found.push({ at: hsAt, source: "the orchestrator's payment time" });
  const paidAt = isoOf(order?.paid_at);
  if (paidAt) found.push({ at: paidAt, source: "the order's paid_at" });
  else if (order?.status === "processing") {
    const upd = isoOf(order.updated_at);
    if (upd) found.push({ at: upd, source: "the order's updated_at (order processing)" });
  }
  return found.reduce<BackendTime | null>((a, b) => (!a || Date.parse(b.at) < Date.parse(a.at) ? b : a), null);
}

/** Why a paid order has no payment time: for the record and the unticked box. */
export function noPaidTime(order: OrderT | null): string {
  return order
    ? `no backend time for the payment: the order (${order.status}) carries no paid_at, and its updated_at is no longer the payment's`
    : "no backend time for the payment: the orchestrator gave none and the order could not be read";
}

/**
 * The order's own time of reaching `status` (`completed` → `completed_at`, `refunded` →
 * `refunded_at`); else its `updated_at` while it is in that status (its last change was reaching
 * it). Null when the order is elsewhere or carries neither.
 */
export function reachedTime(order: OrderT | null, status: "completed" | "refunded"): BackendTime | null {
  if (!order || order.status !== status) return null;
  const field = status === "completed" ? "completed_at" : "refunded_at";
  const own = isoOf(order[field]);
  if (own) return { at: own, source: `the order's ${field}` };
  const upd = isoOf(order.updated_at);
  return upd ? { at: upd, source: `the order's updated_at (order ${status})` } : null;
}

/**
 * Seconds from `from` to `to`, both backend times, rounded to 0.1 s, with the words that say what
 * was counted; or null seconds and the reason when either end is missing.
 */
export function backendInterval(
  from: BackendTime | null,
  fromMissing: string,
  to: BackendTime | null,
  toMissing: string,
): { seconds: number | null; countedFrom: string; negative?: number } {
  if (!from) return { seconds: null, countedFrom: `not measured: ${fromMissing}` };
  if (!to) return { seconds: null, countedFrom: `not measured: ${toMissing}` };
  const s = (Date.parse(to.at) - Date.parse(from.at)) / 1000;
  const countedFrom = `${from.source} (${from.at}) to ${to.source} (${to.at})`;
  // Two services' clocks: an end before its start is skew, recorded as 0 and said.
  return s < 0
    ? { seconds: 0, countedFrom, negative: Math.round(s * 10) / 10 }
    : { seconds: Math.round(s * 10) / 10, countedFrom };
}
