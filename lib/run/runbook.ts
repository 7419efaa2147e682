/**
 * The runbook as the notebook sees it: a facade over one Session (composition, not a class chain).
 * `run(id, opts)` runs a step of the table (its own `run(ctx)`, ./steps/); the other methods are the
 * cells that are not one step: the pay link (and the headless payer of a local rehearsal), the paid
 * cell, pasted psql output, the report's last look, what a resumed kernel found. State between steps
 * is the journal; this object keeps only what a cell showed in this kernel (the last pre-flight
 * report, the headless payment the paid cell confirms).
 */
import { isLoopback, parseConfig, type Config, type Params } from "../config";
import type { LicenseT, OrderT } from "../contract";
import { payHeadless, WarmPayer, type PayResult } from "../clients/payer";
import { ConfigError, oneLine } from "../errors";
import { formatMoney, type Money } from "../money";
import type { PreflightReport } from "./preflight";
import type { OutcomeJudge } from "../evidence/seal-trust";
import { Session, type RunbookHooks } from "./session";
import type { JournalOrder, StepOptions } from "./step-context";
import type { StepTable } from "./step-model";
import { stepById } from "./steps";
import { chargeRefusal, getOrder, licenses, orderKeyOf, refundKeyOf, requireOrder, stepNo } from "./steps/orders";
import { capturedAmount, paymentEvidence } from "./steps/payment";
import type { StepResult } from "../types";

export type { RunbookHooks } from "./session";

/** What a step cell may pass: the operator's written reason to act before the awaited checks, or a skip. */
export type RunOptions = Pick<StepOptions, "reason" | "skip">;

export class Runbook {
  readonly session: Session;
  /** The last pre-flight report this kernel showed (its refusals, warnings and charge reminder). */
  preflightReport: PreflightReport | null = null;
  /** The pay cell's headless payment in this kernel (a local rehearsal), which the paid cell confirms. */
  private autoPaid: PayResult | null = null;
  private warm: WarmPayer | null = null;
  /**
   * The report layer's judge of a staging dry run's outcome, which the live gate needs (the notebook
   * sets it: lib/report/outcome-check.ts `outcomeJudge`); without it a live pre-flight passes no dry run.
   */
  judge: OutcomeJudge | null = null;

  constructor(cfg: Config, table?: StepTable) {
    this.session = new Session(cfg, table);
  }

  /** Validates parameters (ConfigError before any HTTP call) and opens or resumes the session. */
  static open(params: Params, env: Record<string, string | undefined> = process.env, table?: StepTable): Runbook {
    return new Runbook(parseConfig(params, env), table);
  }

  // The session's record and services, as the notebook and the tests read them.
  get cfg() {
    return this.session.cfg;
  }
  get dir() {
    return this.session.dir;
  }
  get journal() {
    return this.session.journal;
  }
  get trace() {
    return this.session.trace;
  }
  get api() {
    return this.session.api;
  }
  get hs() {
    return this.session.hs;
  }
  get table() {
    return this.session.table;
  }
  get results() {
    return this.session.results;
  }
  get anomalies() {
    return this.session.anomalies;
  }
  get samples() {
    return this.session.samples;
  }
  get resumed() {
    return this.session.resumed;
  }
  get hooks(): RunbookHooks {
    return this.session.hooks;
  }
  set hooks(h: RunbookHooks) {
    this.session.hooks = h;
  }
  get keyPrefix() {
    return this.session.keyPrefix;
  }
  get moneyMoved() {
    return this.session.moneyMoved;
  }
  get moneyOutstanding() {
    return this.session.moneyOutstanding;
  }
  get refundedSoFar() {
    return this.session.refundedSoFar;
  }
  get pinned() {
    return this.session.pinned;
  }
  /** The order as the journal knows it (id, payment link, amount). */
  get order(): JournalOrder | null {
    return this.session.order;
  }
  /** What moved and its source: the ledger's captured amount. */
  get capturedAmount(): { money: Money; source: string } | null {
    return capturedAmount(this.journal);
  }
  /** Idempotency key of the order, derived from the session (its id and creation nonce). */
  get orderKey(): string {
    return orderKeyOf(this.keyPrefix);
  }
  get refundKey(): string {
    return refundKeyOf(this.keyPrefix, 1);
  }
  /** The Idempotency-Key of refund attempt n: `<session>:<nonce>:refund`, then `…:refund:2`, … */
  refundKeyOf(attempt: number): string {
    return refundKeyOf(this.keyPrefix, attempt);
  }
  interrupt(reason: string): boolean {
    return this.session.interrupt(reason);
  }
  checkPinned(what: string): void {
    this.session.checkPinned(what);
  }
  getOrder(id: string, retry = true): Promise<OrderT> {
    return getOrder(this.api, id, retry);
  }
  licenses(): Promise<LicenseT[]> {
    return licenses(this.api);
  }
  async close(): Promise<void> {
    await this.warm?.close();
    this.warm = null;
    await this.session.close();
  }

  /**
   * A rehearsal that will pay headless launches its browser now, while the cells before the pay
   * cell run (the notebook's session cell calls this). Nothing when no headless payment is due.
   */
  warmPayer(): void {
    const o = this.order;
    const due =
      this.cfg.autoPay !== "" &&
      isLoopback(this.cfg.baseUrl) &&
      (o === null || isLoopback(o.paymentUrl)) &&
      !this.journal.last("payment_confirmed");
    if (due && !this.warm) this.warm = WarmPayer.start();
  }

  /** No headless payment after all: the browser launched ahead closes in the background. */
  private dropWarm(): void {
    void this.warm?.close();
    this.warm = null;
  }

  /** Runs the step with this id (the table's `run`), as its cell does. */
  async run(id: string, opts: RunOptions = {}): Promise<StepResult> {
    const def = stepById(id, this.table);
    return this.session.runStep(id, {
      ...opts,
      // The paid cell's step confirms the pay cell's headless payment, if there was one.
      ...(def.movesMoney ? { auto: this.autoPaid } : {}),
      ...(def.gate
        ? { onReport: (rep: PreflightReport) => (this.preflightReport = rep), judge: this.judge ?? undefined }
        : {}),
    });
  }

  /** What this kernel resumed, in plain words (empty for a fresh session). */
  resumeSummary(): string[] {
    const out: string[] = [];
    const o = this.journal.last("order_created");
    if (o) out.push(`resumed order ${o.data.order_id} created at ${o.at}`);
    const p = this.journal.last("payment_confirmed");
    if (p) out.push(`payment confirmed at ${p.at} (card •••• ${p.data.last4})`);
    const r = this.journal.last("refund_created");
    if (r) out.push(`resumed refund ${r.data.refund_id} created at ${r.at}`);
    return out;
  }

  /** Auto-pay only ever runs against a local double (loopback), never a real checkout. */
  get autoPayAllowed(): boolean {
    const o = this.order;
    return this.cfg.autoPay !== "" && isLoopback(this.cfg.baseUrl) && o !== null && isLoopback(o.paymentUrl);
  }

  /**
   * The pay step, first half: what to pay and where. In a local rehearsal with AUTO_PAY set, the headless
   * payer fills the checkout; otherwise the operator pays in their browser, then runs the paid cell.
   */
  async pay(): Promise<{ amount: string; paymentUrl: string; auto: PayResult | null; note: string }> {
    this.checkPinned("the pay cell");
    const o = requireOrder(this.journal, this.table);
    // The created order must be what the guards allowed (the order step says why when it is not): no link.
    const refusal = chargeRefusal(this.cfg, this.journal, o);
    if (refusal) throw refusal;
    const amount = formatMoney(o.totalMinor, o.currency);
    if (this.journal.last("payment_confirmed")) {
      this.dropWarm();
      return {
        amount,
        paymentUrl: o.paymentUrl,
        auto: null,
        note: "already paid and confirmed in this session; nothing to do",
      };
    }
    // Money may already have moved (a confirmation refused after paying, two sources disagreeing, the
    // report's last look saw it paid): never a link to pay a second time, whichever cell runs again.
    const uncertain = this.journal.last("payment_uncertain");
    if (uncertain) {
      this.dropWarm();
      return {
        amount,
        paymentUrl: o.paymentUrl,
        auto: null,
        note: `money may already have moved (${uncertain.data.seen}, recorded at ${uncertain.at}): do not pay again — run the paid cell (it says what the orchestrator and the marketplace see), or check payment ${o.paymentId} at the orchestrator (Hyperswitch dashboard)`,
      };
    }
    // The journal keeps the link with its client secret masked: ask the backend for the live one.
    const paymentUrl = (await getOrder(this.api, o)).payment_url;
    if (!this.autoPayAllowed) {
      this.dropWarm();
      return { amount, paymentUrl, auto: null, note: "pay in your browser, then fill in and run the paid cell" };
    }
    this.trace.append("note", { event: "headless payer started", card: this.cfg.autoPay });
    const warm = this.warm;
    this.warm = null;
    const paid = await payHeadless(paymentUrl, this.cfg.autoPay as Exclude<Config["autoPay"], "">, { warm });
    this.autoPaid = paid;
    this.trace.append("operator_ack", { event: "headless payer finished", ...paid });
    return {
      amount,
      paymentUrl: o.paymentUrl,
      auto: paid,
      note: `paid headless via ${paid.via}: ${paid.status}`,
    };
  }

  /**
   * The pay step, second half (the paid cell): the operator confirms what they saw (only the last 4
   * digits, ever); the step passes only on evidence that the payment happened (./steps/pay.ts).
   */
  async confirmPaid(seen: { last4?: string; processor?: string } = {}): Promise<StepResult> {
    // After the pay step passed, more than 4 digits is refused before the step runs: a resumed PASS must
    // not accept a card number, and nothing about it is stored (no result, no journal, no trace).
    const confirmed = this.journal.last("payment_confirmed");
    if (confirmed && seen.last4?.trim() && !/^\d{4}$/.test(seen.last4.trim()))
      throw new ConfigError(
        "CARD_LAST4",
        `enter exactly the last 4 digits of the card you paid with (never more): ${stepNo(this.table, "pay")} already passed at ${confirmed.at}, so clear the paid cell's last4 (or leave only the last 4 digits) and run it again; nothing was stored`,
      );
    const pay = this.table.find((d) => d.movesMoney)?.id ?? "pay";
    return this.session.runStep(pay, { seen, auto: this.autoPaid });
  }

  /** The transfer step by hand: the operator pastes the psql output; it is recorded verbatim (redacted). */
  async pasteTransfer(psqlOutput: string): Promise<StepResult> {
    return this.session.runStep("transfer", { pasted: psqlOutput });
  }

  /**
   * The report's last look, so the record never says no money moved when it did: an order exists but
   * no payment is recorded (paid after the pay step's last check and the cell never re-run, or the kernel
   * restarted), so the payment is checked once more before the verdict, and what was seen is
   * journaled (`payment_checked`). Paid, or in a state only an operator can settle, also journals
   * `payment_uncertain`: the verdict says money moved and the refund step stays available. A check
   * that fails is journaled with its error; the verdict then says no payment is recorded, not that
   * none moved. Returns what was seen, or null when there was nothing to check.
   */
  async lastLook(): Promise<string | null> {
    const order = this.order;
    if (!order || this.moneyMoved) return null;
    const at = new Date().toISOString();
    const order_id = order.id;
    try {
      const ev = await paymentEvidence(this.session, false);
      const paid = ev.paid || Boolean(ev.uncertain);
      this.journal.append("payment_checked", { at, order_id, seen: ev.seen, paid, by: "the report's last look" });
      if (paid)
        this.journal.append("payment_uncertain", {
          at,
          payment_id: order.paymentId ?? null,
          seen: ev.seen,
          why: `the report's last look saw it paid; ${stepNo(this.table, "pay")} never confirmed it`,
        });
      return ev.seen;
    } catch (err) {
      this.journal.append("payment_checked", { at, order_id, seen: null, paid: null, error: oneLine(err) });
      return null;
    }
  }
}
