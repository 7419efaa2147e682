/**
 * The runbook, second group: the money moves (4 pay on the hosted checkout and confirm) and the
 * order is polled until completed (5), with the orchestrator's own view as a cross-check.
 *
 * Kept whole (~620 lines) on purpose: steps 4 and 5 and the report's last look share the payment
 * evidence (what the orchestrator or the order says, its time and its card), and split apart the
 * step that records the payment, the step that times from it and the look that may record it late
 * could drift. The status classes themselves live in hs-status.ts, the amount check and the
 * reading of a `failed` after a hold in amounts.ts.
 */
import { isLoopback, type Config } from "../config";
import { HsPayment, hsCardLast4, hsMethodKind, paths, type HsPaymentT, type OrderT } from "../contract";
import { paymentAdvice, paymentClass } from "./hs-status";
import { amountMismatchMessage, checkAmounts, classifyPayment, type AmountCheck } from "./amounts";
import { backendInterval, backendTime, noPaidTime, paidTime, reachedTime, type BackendTime } from "./backend-time";
import { capturedFromJournal, ledgerOf } from "./ledger";
import { formatAmount, formatMoney, type Money } from "../money";
import {
  ConfigError,
  HttpStatusError,
  InterruptedError,
  RunbookError,
  oneLine,
  StepCheckError,
  StateError,
} from "../errors";
import { sleep } from "../clients/policy";
import { pollUntil, type Probe } from "./poll";
import { payHeadless, type PayResult } from "../clients/payer";
import type { Observed } from "./session";
import type { PollSample, StepResult } from "../types";

import { BuySteps } from "./buy";

/** How long the paid cell keeps asking while a payment is under way. */
const PAID_WAIT_MS = 20 * 1000; // 20 s
const PAID_POLL_MS = 500;
/** How often step 5 asks the orchestrator whether the payment became final without money moving. */
const HS_CHECK_EVERY_MS = 2 * 1000; // 2 s

/** "succeeded •••• 4242 via stripe", "succeeded (wallet) via adyen" */
export function describeHsPayment(p: HsPaymentT): string {
  const last4 = hsCardLast4(p);
  const kind = hsMethodKind(p);
  const method = last4 ? ` •••• ${last4}` : kind && kind !== "card" ? ` (${kind})` : "";
  return `${p.status}${method}${p.connector ? ` via ${p.connector}` : ""}`;
}

export class PaySteps extends BuySteps {
  protected payResult: PayResult | null = null;

  // Step 4 ------------------------------------------------------------------------------------
  /** Auto-pay only ever runs against a local double (loopback), never a real checkout. */
  get autoPayAllowed(): boolean {
    const o = this.order;
    return this.cfg.autoPay !== "" && isLoopback(this.cfg.baseUrl) && o !== null && isLoopback(o.paymentUrl);
  }

  /**
   * Step 4, first half: what to pay and where. In a local rehearsal with AUTO_PAY set, the headless
   * payer fills the checkout; otherwise the operator pays in their browser, then runs the paid cell.
   */
  async pay(): Promise<{ amount: string; paymentUrl: string; auto: PayResult | null; note: string }> {
    this.checkPinned("the pay cell");
    const o = this.order;
    if (!o) throw new StateError("no order in this session: step 3 must pass first");
    // The created order must be what the guards allowed (step 3 says why when it is not): no link.
    const refusal = this.chargeRefusal(o);
    if (refusal) throw refusal;
    const amount = formatMoney(o.totalMinor, o.currency);
    if (this.journal.last("payment_confirmed"))
      return {
        amount,
        paymentUrl: o.paymentUrl,
        auto: null,
        note: "already paid and confirmed in this session; nothing to do",
      };
    // The journal keeps the link with its client secret masked: ask the backend for the live one.
    const paymentUrl = (await this.getOrder(o.id)).payment_url;
    if (!this.autoPayAllowed)
      return { amount, paymentUrl, auto: null, note: "pay in your browser, then fill in and run the paid cell" };
    this.trace.append("note", { event: "headless payer started", card: this.cfg.autoPay });
    this.payResult = await payHeadless(paymentUrl, this.cfg.autoPay as Exclude<Config["autoPay"], "">);
    this.trace.append("operator_ack", { event: "headless payer finished", ...this.payResult });
    return {
      amount,
      paymentUrl: o.paymentUrl,
      auto: this.payResult,
      note: `paid headless via ${this.payResult.via}: ${this.payResult.status}`,
    };
  }

  /**
   * Step 4, second half: the operator confirms what they saw (only the last 4 digits, ever). It
   * passes only on evidence that the payment happened: the orchestrator's status when
   * HYPERSWITCH_URL is set, else the order having left `pending`. Without it the step records
   * SKIPPED ("not paid yet") and the pay link stays usable; nothing is confirmed.
   */
  async confirmPaid(seen: { last4?: string; processor?: string } = {}): Promise<StepResult> {
    // After step 4 passed, more than 4 digits is refused before the step runs: a resumed PASS must
    // not accept a card number, and nothing about it is stored (no result, no journal, no trace).
    const confirmed = this.journal.last("payment_confirmed");
    if (confirmed && seen.last4?.trim() && !/^\d{4}$/.test(seen.last4.trim()))
      throw new ConfigError(
        "CARD_LAST4",
        `enter exactly the last 4 digits of the card you paid with (never more): step 4 already passed at ${confirmed.at}, so clear the paid cell's last4 (or leave only the last 4 digits) and run it again; nothing was stored`,
      );
    return this.runStep("pay", async (obs) => {
      const prior = this.journal.last("payment_confirmed");
      if (prior) {
        Object.assign(obs, {
          card_last4: prior.data.last4,
          // A payment confirmed with no backend time stays without one (never the notebook's).
          transaction_time: prior.data.paid_at ?? null,
          processor: prior.data.processor,
          resumed: `confirmed earlier at ${prior.at}`,
        });
        if (prior.data.paid_at_source) obs.time_source = prior.data.paid_at_source;
        return;
      }
      const auto = this.payResult;
      if (auto && auto.status === "failed") {
        obs.card_last4 = auto.last4;
        throw new StepCheckError(
          "E2E_PAYMENT_FAILED",
          `the checkout refused the payment (${auto.errorCode ?? "failed"})`,
        );
      }
      // More than 4 digits is refused before anything else is written, paid or not; but the
      // payment may have gone through already, and then the record must say money moved.
      if (seen.last4?.trim() && !/^\d{4}$/.test(seen.last4.trim())) {
        const paid = await this.paymentEvidence(false).catch(() => null);
        this.refusedAfterPaying(paid, "more than 4 digits were entered (not stored)");
        throw new ConfigError(
          "CARD_LAST4",
          `enter exactly the last 4 digits of the card you paid with (never more)${paid?.paid ? moneyMovedNote(paid.seen) : ""}`,
        );
      }
      const evidence = await this.paymentEvidence(Boolean(auto));
      if (evidence.orchestrator) obs.orchestrator = evidence.orchestrator;
      if (evidence.failed && evidence.uncertain && !this.journal.last("payment_uncertain"))
        // Not a confirmation (a re-run must not resume it as PASS), but money may have moved: the
        // banner, the refund advice and the report's money-moved verdict all follow this entry.
        this.journal.append("payment_uncertain", {
          at: new Date().toISOString(),
          payment_id: this.order?.paymentId ?? null,
          seen: evidence.seen,
        });
      if (evidence.failed) throw new StepCheckError("E2E_PAYMENT_FAILED", evidence.failed);
      if (!evidence.paid)
        return {
          status: "SKIPPED",
          reason: `not paid yet (${evidence.seen}): pay at the link above, then run this cell again; if you just paid, give it a few seconds`,
        };
      // Amounts checked where money moves (issue 23): the order's total, the orchestrator's amount,
      // net_amount and what it captured; and, live, the confirmation phrase against the captured amount.
      const amounts = checkAmounts(this.order!, evidence.hs ?? null, {
        live: { mode: this.cfg.mode, confirm: this.cfg.liveConfirm },
        noView: this.noOrchestratorView(),
      });
      Object.assign(obs, amounts.facts);
      if (amounts.mismatch) {
        this.refusedAfterPaying(evidence, `the amounts disagree: ${amounts.mismatch}`, amounts);
        throw new StepCheckError("E2E_AMOUNT_MISMATCH", amountMismatchMessage(amounts, this.order!.paymentId));
      }
      const last4 = (seen.last4 || auto?.last4 || "").trim();
      const processor = (seen.processor || auto?.connector || "").trim();
      if (!/^\d{4}$/.test(last4)) {
        this.refusedAfterPaying(evidence, "the last 4 digits were not entered");
        throw new ConfigError(
          "CARD_LAST4",
          `enter exactly the last 4 digits of the card you paid with (never more)${moneyMovedNote(evidence.seen)}`,
        );
      }
      // The orchestrator knows which card paid: a different one means this is not the operator's
      // payment (or not the card they think), and the record must not confirm it.
      if (evidence.cardLast4 && evidence.cardLast4 !== last4) {
        this.refusedAfterPaying(evidence, `the orchestrator's card ends ${evidence.cardLast4}, not ${last4}`);
        throw new ConfigError(
          "CARD_LAST4",
          `the orchestrator says payment ${this.order?.paymentId ?? "?"} was made with the card ending ${evidence.cardLast4}, not ${last4}: check which card paid (the checkout's receipt, your bank app) and enter its last 4 digits${moneyMovedNote(evidence.seen)}`,
        );
      }
      if (!processor) {
        this.refusedAfterPaying(evidence, "the connector was not entered");
        throw new ConfigError(
          "PROCESSOR",
          `enter the connector shown on the checkout (the processor that took the payment, e.g. stripe)${moneyMovedNote(evidence.seen)}`,
        );
      }
      const at = new Date().toISOString();
      this.journal.append("payment_confirmed", {
        at,
        paid_at: evidence.paidAt,
        paid_at_source: evidence.source,
        last4,
        processor,
        via: auto ? `headless ${auto.via}` : "operator",
        captured: amounts.captured,
        captured_source: amounts.capturedSource,
      });
      this.trace.append("operator_ack", {
        event: "payment confirmed",
        at,
        paid_at: evidence.paidAt,
        paid_at_source: evidence.source,
        last4,
        processor,
      });
      Object.assign(obs, {
        card_last4: last4,
        transaction_time: evidence.paidAt,
        time_source: evidence.source,
        processor,
      });
      if (evidence.note) {
        this.anomaly({ step: this.currentStep, kind: "warning", message: evidence.note });
        return { status: "PASS", reason: evidence.note };
      }
    });
  }

  /**
   * The operator's confirmation was refused, but the payment went through: journaled as
   * `payment_uncertain` (not a confirmation, so a re-run does not resume it as PASS), which the
   * money-moved banner, the refund step and the report all follow (issue 14 §8).
   */
  private refusedAfterPaying(
    evidence: { paid: boolean; seen: string } | null,
    why: string,
    amounts?: AmountCheck,
  ): void {
    if (!evidence?.paid || this.journal.last("payment_uncertain")) return;
    this.journal.append("payment_uncertain", {
      at: new Date().toISOString(),
      payment_id: this.order?.paymentId ?? null,
      seen: evidence.seen,
      why: `paid, but the confirmation was refused: ${why}`,
      ...(amounts ? { captured: amounts.captured, captured_source: amounts.capturedSource } : {}),
    });
  }

  /** What moved and its source: the ledger's captured amount (one reading of the money, review 2). */
  get capturedAmount(): { money: Money; source: string } | null {
    const l = ledgerOf(this.journal.all());
    return l.captured === null || !l.currency
      ? null
      : { money: { minor: l.captured, currency: l.currency }, source: l.capturedSource ?? "order total" };
  }

  /**
   * Step 5 learned what was captured and it is not the order's total: journaled as money that moved
   * with that amount (`payment_uncertain`, again whenever the amount changes), so the 💶 banner shows what the orchestrator took,
   * not the total step 4 recorded before anything was captured.
   */
  private recordCaptured(a: AmountCheck, status: string): void {
    const was = capturedFromJournal(this.journal.all())?.money;
    if (was && a.captured && was.minor === a.captured.minor && was.currency === a.captured.currency) return;
    this.journal.append("payment_uncertain", {
      at: new Date().toISOString(),
      payment_id: this.order?.paymentId ?? null,
      seen: `orchestrator: ${status}`,
      why: `the amounts disagree: ${a.mismatch}`,
      captured: a.captured,
      captured_source: a.capturedSource,
    });
  }

  /** Why the amount check has no orchestrator view (its fact names it). */
  protected noOrchestratorView(): string {
    if (!this.hs) return "HYPERSWITCH_URL not set";
    if (!this.cfg.hyperswitchApiKey) return "HYPERSWITCH_API_KEY not set";
    return "the orchestrator could not be read: see the warning";
  }

  /**
   * "requires_capture seen at 14:02:11Z in this session" when the journal recorded a hold
   * (`payment_held`), else null: a later `failed` is then read as a failed void or capture.
   */
  protected heldEarlier(): string | null {
    const h = this.journal.last("payment_held");
    return h ? `${h.data.status} seen at ${h.at} in this session` : null;
  }

  /**
   * Did the payment happen, and when? The orchestrator's word when HYPERSWITCH_URL is set, else the
   * marketplace order having left `pending`. The time is always the backend's own (`paidTime`):
   * never when this check ran, so a paid cell run late cannot shorten step 5's interval. Without a
   * backend time the payment still counts as paid, with `paidAt` null and the source saying why.
   * When a headless payer just paid it asks again for a few seconds (the orchestrator or the
   * webhook may lag); a payment nobody attempted is answered at once.
   */
  protected async paymentEvidence(justPaid: boolean): Promise<{
    /** Money moved, or is on its way (the payment went through). */
    paid: boolean;
    /** The payment's own time from the backend (ISO), or null when no backend time exists. */
    paidAt: string | null;
    source: string;
    seen: string;
    orchestrator?: string;
    /** The last 4 digits of the card the orchestrator says paid, when it says. */
    cardLast4?: string | null;
    failed?: string;
    /** The failure leaves money possibly moved (needs an operator): recorded as such. */
    uncertain?: boolean;
    /** Passed, but the operator must know this (funds held). */
    note?: string;
    /** The orchestrator's payment as read, for the amount check (absent without HYPERSWITCH_URL). */
    hs?: HsPaymentT;
  }> {
    const o = this.order!;
    const deadline = performance.now() + PAID_WAIT_MS;
    const unpaid = (seen: string, more: { orchestrator?: string; failed?: string; uncertain?: boolean } = {}) => ({
      paid: false,
      paidAt: null,
      source: "",
      seen,
      ...more,
    });
    for (;;) {
      const hs = await this.orchestratorPayment();
      if (hs) {
        const orchestrator = describeHsPayment(hs);
        // A `failed` after a hold is not "no money moved" (issue 23): classifyPayment reads the hold.
        const c = classifyPayment(hs, this.heldEarlier());
        const seen = `orchestrator: ${hs.status}`;
        const paid = async () => {
          // The order's own paid_at too: once the payment settled, the orchestrator's `updated` is
          // the settling time, later than the payment itself.
          const order = await this.getOrder(o.id).catch((err) => {
            if (err instanceof InterruptedError) throw err;
            return null;
          });
          const t = paidTime(hs, order);
          return {
            paid: true,
            paidAt: t?.at ?? null,
            source: t?.source ?? noPaidTime(order),
            seen,
            orchestrator,
            cardLast4: hsCardLast4(hs) ?? null,
            hs,
          };
        };
        // Money moved, or is on its way (`processing`): paid, and the refund stays in sight.
        if (c.class === "money_moved" || (c.class === "in_flight" && !c.awaitingCustomer)) return paid();
        if (c.class === "funds_held")
          return {
            ...(await paid()),
            note: `funds held (${hs.status}): void the hold at the orchestrator (payment ${o.paymentId}) if the order does not complete`,
          };
        if (c.class === "no_money")
          return unpaid(seen, {
            orchestrator,
            failed: `the orchestrator says the payment ${o.paymentId} is ${hs.status}: no money moved; pay again in a fresh session`,
          });
        if (c.class === "needs_action")
          return unpaid(seen, { orchestrator, failed: paymentAdvice(c, o.paymentId), uncertain: true });
        if (!justPaid || performance.now() > deadline) return unpaid(seen, { orchestrator });
      } else {
        const order = await this.getOrder(o.id);
        if (order.status === "failed")
          return unpaid("order failed", {
            failed: `the order failed${order.failure_reason ? ` (${order.failure_reason})` : ""}: no money moved; pay again in a fresh session`,
          });
        if (order.status !== "pending") {
          const t = paidTime(null, order);
          return {
            paid: true,
            paidAt: t?.at ?? null,
            source: t?.source ?? noPaidTime(order),
            seen: `order ${order.status}`,
          };
        }
        if (!justPaid || performance.now() > deadline) return unpaid("order pending");
      }
      await sleep(PAID_POLL_MS, this.signal);
    }
  }

  /** The orchestrator's view of the payment, or null without HYPERSWITCH_URL (or when it cannot be read). */
  protected async orchestratorPayment(): Promise<HsPaymentT | null> {
    const o = this.order;
    if (!this.hs || !o || !this.cfg.hyperswitchApiKey) return null;
    try {
      const p = (
        await this.hs.call({
          method: "GET",
          path: paths.hsPaymentSynced(o.paymentId),
          endpoint: "GET /payments/:id",
          schema: HsPayment,
          enveloped: false,
          headers: { "api-key": this.cfg.hyperswitchApiKey },
        })
      ).data;
      // A hold seen is journaled once: a later `failed` (a failed void or capture) is then never
      // read as "no money moved" (issue 23).
      if (paymentClass(p.status).class === "funds_held" && !this.journal.last("payment_held"))
        this.journal.append("payment_held", {
          at: new Date().toISOString(),
          payment_id: p.payment_id,
          status: p.status,
          amount_capturable: p.amount_capturable ?? null,
          currency: p.currency,
        });
      return p;
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      this.anomaly({
        step: this.currentStep,
        kind: "warning",
        message: `orchestrator cross-check failed: ${oneLine(err)}`,
      });
      return null;
    }
  }

  /** Optional: the orchestrator's own view of the payment (HYPERSWITCH_URL + HYPERSWITCH_API_KEY). */
  protected async crossCheckPayment(obs: Observed): Promise<HsPaymentT | null> {
    const p = await this.orchestratorPayment();
    if (!p) return null;
    obs.orchestrator = describeHsPayment(p);
    return p;
  }

  // Step 5 ------------------------------------------------------------------------------------
  async pollCompleted(): Promise<StepResult> {
    return this.runStep("completed", async (obs) => {
      const o = this.order!;
      // Counted from the payment's own time (step 4 recorded the backend's and where it came from)
      // to the order's own completion time: neither end is a time taken here, so neither a late
      // paid cell nor poll back-off moves them.
      const paid = this.journal.last("payment_confirmed")!.data;
      // (The confirmation's own `at` is the notebook's time: never used, even when nothing else is.)
      const from: BackendTime | null = backendTime(paid.paid_at, paid.paid_at_source ?? "step 4's payment time");
      let seen = null as OrderT | null;
      // Refunded (or on its way) before this step looked: the move to completed was not observed,
      // and what came with it (licence, transfer) cannot be checked any more.
      let already = null as string | null;
      // The orchestrator is asked every few seconds too: a payment it calls final with no money
      // moved (failed, cancelled, expired) will never complete the order, so the poll stops there.
      let lastHsCheck = -Infinity;
      let finalNoMoney: string | null = null;
      const stop = async (): Promise<string | null> => {
        if (!this.hs || performance.now() - lastHsCheck < HS_CHECK_EVERY_MS) return null;
        lastHsCheck = performance.now();
        const hs = await this.orchestratorPayment();
        const c = hs ? classifyPayment(hs, this.heldEarlier()) : null;
        if (!hs || !c || c.class !== "no_money") return null;
        obs.orchestrator = describeHsPayment(hs);
        finalNoMoney = paymentAdvice(c, o.paymentId);
        return `the order will not complete: ${finalNoMoney}`;
      };
      const out = await this.poll(
        "order completed",
        this.cfg.pollDeadlineS,
        () =>
          this.probeOrder(o.id, (x) => {
            seen = x;
          }),
        (s) => s === "completed",
        (s) => {
          if (s === "failed") return "the order failed";
          if (s !== "refund_pending" && s !== "refunded") return null;
          already = s;
          return `not observed: the order was already ${s} when this step looked`;
        },
        stop,
      );
      if (already) {
        const when = seen?.completed_at ? `; the order says it completed at ${seen.completed_at}` : "";
        // Usually at once; a refund sent while this step polled is seen at a later attempt.
        const looked =
          out.samples.length === 1
            ? "when step 5 first looked"
            : `at step 5's poll attempt ${out.samples.length}, never seen completed before`;
        obs.not_observed = `the order was already ${already} ${looked}${when}`;
        obs.last_status = out.lastStatus;
        obs.attempts = out.samples.length;
        obs.max_5xx = out.http5xx;
        return {
          status: "FAIL",
          reason: `not observed: the order was already ${already} ${looked} (the refund ran before it)${when} — the move to completed, its time against the 5-minute limit, and the licence and seller transfer before the refund can no longer be checked in this session; run a fresh session and run step 5 before the refund`,
        };
      }
      const end = out.reached ? reachedTime(seen, "completed") : null;
      if (end) obs.completed_at = end.at;
      const iv = backendInterval(
        from,
        paid.paid_at_source ? String(paid.paid_at_source) : noPaidTime(null),
        end,
        "the completed order carries no completed_at or updated_at",
      );
      obs.seconds_to_completed = out.reached ? iv.seconds : null;
      obs.counted_from = out.reached ? iv.countedFrom : from ? `${from.source} (${from.at})` : iv.countedFrom;
      if (out.reached && iv.negative !== undefined)
        this.anomaly({
          step: this.currentStep,
          kind: "clock_skew",
          message: `the order completed ${-iv.negative} s before the payment's time: the two clocks disagree; recorded as 0 s`,
        });
      obs.max_5xx = out.http5xx;
      obs.attempts = out.samples.length;
      obs.last_status = out.lastStatus;
      if (!out.reached) {
        if (finalNoMoney) return { status: "FAIL", reason: out.failure };
        const p = await this.crossCheckPayment(obs);
        if (p !== null) {
          const hs = p.status;
          // No poll may have got an answer at all: never print "the order is null".
          const order = out.lastStatus === null ? "could not be read (no poll got an answer)" : `is ${out.lastStatus}`;
          const c = classifyPayment(p, this.heldEarlier());
          const advice = paymentAdvice(c, o.paymentId);
          const a = checkAmounts(o, p);
          obs.amount_check = a.facts.amount_check;
          if (a.mismatch) this.recordCaptured(a, p.status);
          const captured = p.amount_received != null ? ` (captured ${formatAmount(a.captured)}: amount_received)` : "";
          const msg =
            c.class === "money_moved"
              ? `money moved but the order never completed: the orchestrator says the payment ${o.paymentId} ${hs === "succeeded" ? "succeeded" : `is ${hs}`}${captured} while the order ${order} — the marketplace refunds only completed orders, so ${advice.replace(/^.*?money moved — /, "")}`
              : `the order ${order}; ${advice}`;
          if (c.class !== "no_money") this.anomaly({ step: this.currentStep, kind: "warning", message: msg });
          return { status: "FAIL", reason: `${out.failure}; ${msg}` };
        }
        return { status: "FAIL", reason: out.failure };
      }
      // Completed: what the orchestrator captured must still be the order's total (a capture or a
      // surcharge applied after step 4 looked). Without HYPERSWITCH_URL the fact says it was not compared.
      const p = this.hs ? await this.crossCheckPayment(obs) : null;
      const a = checkAmounts(o, p, { noView: this.noOrchestratorView() });
      obs.amount_check = a.facts.amount_check;
      if (a.mismatch) {
        if (p) this.recordCaptured(a, p.status);
        const msg = amountMismatchMessage(a, o.paymentId);
        this.anomaly({ step: this.currentStep, kind: "warning", message: msg });
        return { status: "FAIL", reason: msg };
      }
    });
  }

  protected async probeOrder(id: string, onOrder?: (o: OrderT) => void): Promise<Probe> {
    const m0 = performance.now();
    try {
      const o = await this.getOrder(id, false);
      onOrder?.(o);
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

  protected async poll(
    what: string,
    deadlineS: number,
    probe: () => Promise<Probe>,
    done: (s: string) => boolean,
    hopeless?: (s: string) => string | null,
    stop?: () => Promise<string | null>,
  ) {
    // Samples and their anomalies are kept as they arrive, so a poll stopped by an error
    // (schema drift) still shows its attempts in the plot and the report.
    const step = this.currentStep!;
    const onSample = (s: PollSample, elapsed: number) => {
      this.samples.push(s);
      if (s.httpStatus !== null && s.httpStatus >= 500)
        this.anomaly({ at: s.at, step, kind: "http_5xx", message: `poll attempt ${s.attempt}: HTTP ${s.httpStatus}` });
      // A schema mismatch is recorded once, as `schema`, by the client: never again as `network`.
      else if (s.httpStatus === null && s.errorKind !== "schema")
        this.anomaly({
          at: s.at,
          step,
          kind: "network",
          message: `poll attempt ${s.attempt}: ${s.error ?? "network error"}`,
        });
      this.hooks.onPoll?.(s, elapsed, deadlineS);
    };
    // A probe's call ends with the poll's deadline (plus a second for the last answer to land).
    this.pollEndsAt = performance.now() + deadlineS * 1000 + 1000;
    try {
      return await pollUntil({
        step,
        what,
        deadlineS,
        probe,
        done,
        hopeless,
        stop,
        trace: this.trace,
        onSample,
        signal: this.signal,
      });
    } finally {
      this.pollEndsAt = null;
    }
  }

  /**
   * The report's last look, so the record never says no money moved when it did: an order exists but
   * no payment is recorded (paid after step 4's last check and the cell never re-run, or the kernel
   * restarted), so the payment is checked once more before the verdict, and what was seen is
   * journaled (`payment_checked`). Paid, or in a state only an operator can settle, also journals
   * `payment_uncertain`: the verdict says money moved and the refund step stays available. A check
   * that fails is journaled with its error; the verdict then says no payment is recorded, not that
   * none moved. Returns what was seen, or null when there was nothing to check.
   */
  async lastLook(): Promise<string | null> {
    if (!this.order || this.moneyMoved) return null;
    const at = new Date().toISOString();
    const order_id = this.order.id;
    try {
      const ev = await this.paymentEvidence(false);
      const paid = ev.paid || Boolean(ev.uncertain);
      this.journal.append("payment_checked", { at, order_id, seen: ev.seen, paid, by: "the report's last look" });
      if (paid)
        this.journal.append("payment_uncertain", {
          at,
          payment_id: this.order.paymentId ?? null,
          seen: ev.seen,
          why: "the report's last look saw it paid; step 4 never confirmed it",
        });
      return ev.seen;
    } catch (err) {
      this.journal.append("payment_checked", { at, order_id, seen: null, paid: null, error: oneLine(err) });
      return null;
    }
  }
}

/** Said after a refused confirmation when the payment itself went through. */
function moneyMovedNote(seen: string): string {
  return ` — the payment itself went through (${seen}): money moved; run this cell again with the last 4 digits, and the refund step stays available`;
}
