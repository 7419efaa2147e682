/**
 * The clocks of steps 5 and 9 come from the backend, never from the notebook (issue 22 §1): the
 * payment's own time (the orchestrator's, or the order's `paid_at`), the order's own completion
 * and refund times, and the refund's creation time. A time taken in the notebook (when a cell ran,
 * when a poll landed) is never an end of an interval: a late paid cell would shorten it, poll
 * back-off would stretch it. Without a backend time the interval is not measured, and says why.
 *
 * A backend time is hostile input: it is read only as ISO 8601 with a time zone (a time without
 * one would be read in this machine's zone), and one that cannot be true (before a time it must
 * follow, or after the answer that carried it, beyond the clock-skew tolerance) is never measured
 * from: the step journals `time_impossible`, and the verdict is never PASS over it.
 */
import type { HsPaymentT, OrderT } from "../contract";
import { type JournalEntry, lastOf } from "../evidence/journal";
import { CLOCK_SKEW_WARN_MS } from "./guards";
import type { Services } from "./step-context";

/** How far two backend times may disagree (two services' clocks) before their order is impossible. */
export const TIME_TOLERANCE_MS = CLOCK_SKEW_WARN_MS;

/** A backend time (ISO, normalised to `…Z`) and where it came from, in words for the record. */
export interface BackendTime {
  at: string;
  source: string;
}

/** Date-time with seconds and a zone (`Z` or `±hh:mm`), fractions of any length. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ZONELESS = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** A backend value as a time: `{at}`, `{problem}` when it is there but not a time, null when absent. */
export function readTime(v: unknown): { at: string } | { problem: string } | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v !== "string") return { problem: `${JSON.stringify(v)?.slice(0, 40)} is not a time` };
  const shown = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  const m = ISO.exec(v);
  if (!m)
    return {
      problem: ZONELESS.test(v)
        ? `${shown} has no time zone (it would be read in this machine's zone)`
        : `${shown} is not an ISO 8601 time`,
    };
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const day = new Date(Date.UTC(y, mo - 1, d));
  const ms = Date.parse(v);
  // Date.parse rolls 30 February over to 2 March: every field must be in its range.
  if (!Number.isFinite(ms) || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || s > 59)
    return { problem: `${shown} is not a calendar time` };
  return { at: new Date(ms).toISOString() };
}

/** `2026-11-26T15:44:00.123Z` from an ISO string with a zone, or null when it is not one. */
function isoOf(v: unknown): string | null {
  const r = readTime(v);
  return r && "at" in r ? r.at : null;
}

/** A backend time from a field's value, or null when it holds no time. */
export function backendTime(v: unknown, source: string): BackendTime | null {
  const at = isoOf(v);
  return at ? { at, source } : null;
}

/** Why a field's value cannot be read as a time ("the order's paid_at "x" is not …"), or null. */
export function timeProblem(v: unknown, source: string): string | null {
  const r = readTime(v);
  return r && "problem" in r ? `${source} ${r.problem}` : null;
}

/** Refund attempt n's own creation time, as its POST answer gave it (journal `refund_created`). */
export function refundCreatedTime(entries: readonly JournalEntry[], attempt: number): BackendTime | null {
  return backendTime(refundCreated(entries, attempt)?.data.created_at, "the refund's created_at");
}

/** Refund attempt n's `refund_created` entry. */
export function refundCreated(entries: readonly JournalEntry[], attempt: number) {
  return lastOf(entries, "refund_created", (x) => (x.data.attempt ?? 1) === attempt);
}

/**
 * The payment's own time: the earliest of what the backend says. The orchestrator's `updated`
 * (`modified_at`) is the payment's time while it is processing, but moves again when it settles,
 * so the order's `paid_at` (the payment event's time as the marketplace applied it) wins when it
 * is earlier. Without `paid_at`, an order still `processing` last changed when it was paid, so its
 * `updated_at` is that time. On a tie the orchestrator is named. Null when nothing gives a time,
 * and when a field that would give one holds something that is not a time (`paidTimeProblem`).
 */
export function paidTime(hs: HsPaymentT | null, order: OrderT | null): BackendTime | null {
  if (paidTimeProblem(hs, order)) return null;
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

/**
 * A field the payment's time would be read from that holds something other than a time: the
 * answer is not trusted for a time at all (no other field is taken in its place).
 */
export function paidTimeProblem(hs: HsPaymentT | null, order: OrderT | null): string | null {
  return (
    (hs && timeProblem(hs.updated ?? hs.modified_at, "the orchestrator's payment time")) ||
    timeProblem(order?.paid_at, "the order's paid_at") ||
    (order?.status === "processing" && !order.paid_at ? timeProblem(order.updated_at, "the order's updated_at") : null)
  );
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
 * it). Null when the order is elsewhere or carries neither; `{problem}` when the field it would be
 * read from holds something that is not a time (never another field in its place).
 */
export function reachedTime(
  order: OrderT | null,
  status: "completed" | "refunded",
): BackendTime | { problem: string } | null {
  if (!order || order.status !== status) return null;
  const field = status === "completed" ? "completed_at" : "refunded_at";
  const own = readTime(order[field]);
  if (own)
    return "at" in own
      ? { at: own.at, source: `the order's ${field}` }
      : { problem: `the order's ${field} ${own.problem}` };
  const upd = readTime(order.updated_at);
  if (!upd) return null;
  return "at" in upd
    ? { at: upd.at, source: `the order's updated_at (order ${status})` }
    : { problem: `the order's updated_at ${upd.problem}` };
}

/**
 * When an answer was given, as a bound for the times it carries: its `Date` header (the server's
 * own clock; truncated to the second, so a second is allowed on top of the tolerance), else when
 * this machine received it, said so. Null when neither is known (an older journal).
 */
export function answerTime(a: { serverDate?: string | null; receivedAt?: string | null }): BackendTime | null {
  const date = a.serverDate ? Date.parse(a.serverDate) : Number.NaN;
  if (Number.isFinite(date))
    return { at: new Date(date + 1000).toISOString(), source: "the Date header of the answer that carried it" };
  const local = a.receivedAt ? Date.parse(a.receivedAt) : Number.NaN;
  return Number.isFinite(local)
    ? {
        at: new Date(local).toISOString(),
        source: "when this machine received the answer (it had no Date header)",
      }
    : null;
}

const secs = (ms: number) => (ms / 1000).toFixed(1);

/**
 * Why backend time `t` cannot be true, or null: before a time it must follow (`notBefore`), or
 * after the answer that carried it (`answered`), by more than the clock-skew tolerance.
 */
export function impossibleTime(
  t: BackendTime,
  o: { notBefore?: Array<BackendTime | null>; answered?: BackendTime | null },
): string | null {
  const ms = Date.parse(t.at);
  for (const b of o.notBefore ?? []) {
    if (!b) continue;
    const early = Date.parse(b.at) - ms;
    if (early > TIME_TOLERANCE_MS) return `${t.source} (${t.at}) is ${secs(early)} s before ${b.source} (${b.at})`;
  }
  const a = o.answered;
  if (a && ms - Date.parse(a.at) > TIME_TOLERANCE_MS)
    return `${t.source} (${t.at}) is ${secs(ms - Date.parse(a.at))} s after ${a.source} (${a.at}): a time in the future`;
  return null;
}

/**
 * A gate's clock read from a time that cannot be true (or is not a time): journaled
 * (`time_impossible`, which keeps the verdict from PASS) and recorded as an anomaly, each time it is
 * seen. Returns the one-line reason the step and its facts carry.
 */
export function recordImpossibleTime(s: Services, what: string, problem: string): string {
  const why = `impossible backend time: ${problem} — check the marketplace's and the orchestrator's clocks (NTP) and this order's timestamps in the marketplace database; ${what} is not measured`;
  s.journal.append("time_impossible", { step: s.currentStep ?? null, what, why });
  s.anomaly({ step: s.currentStep, kind: "impossible_time", message: why });
  return why;
}

/**
 * Seconds from `from` to `to`, both backend times, rounded to 0.1 s, with the words that say what
 * was counted; or null seconds and the reason when either end is missing. An end before its start
 * within the clock-skew tolerance is two clocks' skew, recorded as 0 and said (`negative`); beyond
 * it, the interval is impossible (`impossible`), and null.
 */
export function backendInterval(
  from: BackendTime | null,
  fromMissing: string,
  to: BackendTime | null,
  toMissing: string,
): { seconds: number | null; countedFrom: string; negative?: number; impossible?: string } {
  if (!from) return { seconds: null, countedFrom: `not measured: ${fromMissing}` };
  if (!to) return { seconds: null, countedFrom: `not measured: ${toMissing}` };
  const s = (Date.parse(to.at) - Date.parse(from.at)) / 1000;
  const countedFrom = `${from.source} (${from.at}) to ${to.source} (${to.at})`;
  const impossible = impossibleTime(to, { notBefore: [from] });
  if (impossible) return { seconds: null, countedFrom: `not measured: ${impossible}`, impossible };
  return s < 0
    ? { seconds: 0, countedFrom, negative: Math.round(s * 10) / 10 }
    : { seconds: Math.round(s * 10) / 10, countedFrom };
}
