/**
 * Reading the order: as the journal recorded it at creation, as the backend has it now (with the
 * checkout's client secret masked), as a poll probe; the licences the buyer holds; the charge
 * checked against the guards. Shared by the order, pay, completed, licence, transfer and refund steps.
 */
import { Licenses, Order, paths, type LicenseT, type OrderT, type ProductT } from "../../contract";
import type { ApiClient } from "../../clients/http";
import type { Config } from "../../config";
import {
  type GuardError,
  HttpStatusError,
  InterruptedError,
  oneLine,
  RunbookError,
  SchemaError,
  type SchemaIssue,
  StateError,
} from "../../errors";
import type { Journal } from "../../evidence/journal";
import { orderMatchesCharge } from "../guards";
import { answerTime, type BackendTime } from "../backend-time";
import { money } from "../../money";
import type { Probe } from "../poll";
import type { JournalOrder, Observed } from "../step-context";
import { stepNo, type StepTable } from "../step-model";

/** The checkout link's client secret is a secret obtained during the run: mask it everywhere. */
export function checkoutSecrets(o: { payment_url?: string }): Array<string | undefined> {
  try {
    return [new URL(String(o.payment_url)).searchParams.get("client_secret") ?? undefined];
  } catch {
    return [];
  }
}

/** The order as the journal knows it (id, payment link, amount), or null before one was created. */
export function journalOrder(journal: Journal): JournalOrder | null {
  const e = journal.last("order_created");
  if (!e) return null;
  const d = e.data;
  return {
    id: d.order_id,
    paymentId: d.payment_id,
    paymentUrl: d.payment_url,
    totalMinor: d.total_cents,
    currency: d.currency,
  };
}

/** The product the product step selected (journal), or null. */
export function journalProduct(journal: Journal): ProductT | null {
  const sel = journal.last("product_selected");
  return sel ? sel.data.product : null;
}

export { refundStepNo, stepNo } from "../step-model";

/** The journal's order, or a clear refusal naming the step that creates it. */
export function requireOrder(journal: Journal, table: StepTable): JournalOrder {
  const o = journalOrder(journal);
  if (!o) throw new StateError(`no order in this session: ${stepNo(table, "order")} must pass first`);
  return o;
}

/**
 * The order as the backend has it now. `want` is its id, or the journal's order: then its payment
 * must still be the one journaled at creation. An answer naming another order, or a payment that
 * changed since, is refused (E2E_SCHEMA, never polled past): no step passes on someone else's order.
 */
export async function getOrder(
  api: ApiClient,
  want: string | Pick<JournalOrder, "id" | "paymentId">,
  retry = true,
): Promise<OrderT> {
  return (await getOrderAnswer(api, want, retry)).order;
}

/** getOrder, with when the answer was given (its Date header, else its receive time): the bound its times are held to. */
export async function getOrderAnswer(
  api: ApiClient,
  want: string | Pick<JournalOrder, "id" | "paymentId">,
  retry = true,
): Promise<{ order: OrderT; answered: BackendTime | null }> {
  const id = typeof want === "string" ? want : want.id;
  const res = await api.call({
    method: "GET",
    path: paths.order(id),
    endpoint: "GET /orders/:id",
    schema: Order,
    auth: true,
    retry,
    secretsOf: checkoutSecrets,
  });
  const o = res.data;
  const issues: SchemaIssue[] = [];
  if (o.id !== id)
    issues.push({
      path: "id",
      expected: id,
      received: JSON.stringify(o.id),
      message: `not the order asked for (${id})`,
    });
  if (typeof want !== "string" && o.hyperswitch_payment_id !== want.paymentId)
    issues.push({
      path: "hyperswitch_payment_id",
      expected: want.paymentId,
      received: JSON.stringify(o.hyperswitch_payment_id),
      message: `the order's payment changed since it was created (journaled ${want.paymentId}): escalate to the marketplace squad with order ${id}`,
    });
  if (issues.length) throw new SchemaError("GET /orders/:id", issues);
  return { order: o, answered: answerTime(res) };
}

export async function licenses(api: ApiClient): Promise<LicenseT[]> {
  return (
    await api.call({
      method: "GET",
      path: paths.licenses(),
      endpoint: "GET /licenses/mine",
      schema: Licenses,
      auth: true,
    })
  ).data.licenses;
}

/** One poll attempt: the order's status, or what went wrong (schema drift is thrown, never polled past). */
export async function probeOrder(
  api: ApiClient,
  want: string | Pick<JournalOrder, "id" | "paymentId">,
  onOrder?: (o: OrderT, answered: BackendTime | null) => void,
): Promise<Probe> {
  const m0 = performance.now();
  try {
    const { order: o, answered } = await getOrderAnswer(api, want, false);
    onOrder?.(o, answered);
    return { status: o.status, httpStatus: 200, latencyMs: performance.now() - m0 };
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    if (err instanceof HttpStatusError)
      return {
        status: null,
        httpStatus: err.status,
        latencyMs: performance.now() - m0,
        retryAfterMs: (err as HttpStatusError & { retryAfterMs?: number | null }).retryAfterMs ?? null,
        error: oneLine(err),
      };
    if (err instanceof RunbookError && err.code === "E2E_SCHEMA") throw err; // drift never becomes "undefined" later
    return { status: null, httpStatus: null, latencyMs: performance.now() - m0, error: oneLine(err) };
  }
}

/** The amount charged is the amount checked: the created order against MAX_PRICE and LIVE_CONFIRM. */
export function chargeRefusal(
  cfg: Config,
  journal: Journal,
  o: { totalMinor: number; currency: string },
): GuardError | null {
  return (
    orderMatchesCharge(cfg.mode, o, {
      currency: journalProduct(journal)?.currency ?? null,
      maxMinor: cfg.maxPriceMinor,
      liveConfirm: cfg.liveConfirm,
    }).refusals[0] ?? null
  );
}

export function checkCharge(cfg: Config, journal: Journal, o: OrderT): void {
  const refusal = chargeRefusal(cfg, journal, { totalMinor: o.total_cents, currency: o.currency });
  if (refusal) throw refusal;
}

export function observeOrder(obs: Observed, o: OrderT): void {
  obs.order_id = o.id;
  obs.hyperswitch_payment_id = o.hyperswitch_payment_id;
  obs.payment_url_received = Boolean(o.payment_url);
  obs.total = money(o.total_cents, o.currency);
  obs.status = o.status;
}

/** Idempotency key of the order, derived from the session (its id and creation nonce). */
export const orderKeyOf = (keyPrefix: string): string => `${keyPrefix}:order`;

/** The Idempotency-Key of refund attempt n: `<session>:<nonce>:refund`, then `…:refund:2`, … */
export const refundKeyOf = (keyPrefix: string, attempt: number): string =>
  attempt === 1 ? `${keyPrefix}:refund` : `${keyPrefix}:refund:${attempt}`;
