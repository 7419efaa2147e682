/**
 * The runbook: pre-flight and the seed's 9 steps, each one method returning a typed StepResult.
 * Notebook cells call exactly one of these and display the result. State changes are journaled
 * before they are acted on, so re-running a cell or the whole notebook resumes instead of
 * charging or refunding twice.
 */
import { isLoopback, parseConfig, type Config, type Params } from "../config";
import {
  HsPayment,
  HsRefund,
  Licenses,
  Login,
  Order,
  Products,
  Refund,
  Status,
  formatMoney,
  paths,
  priceInclVat,
  type LicenseT,
  type OrderT,
  type ProductT,
} from "../contract";
import { readSellerTransfers, parsePastedTransfer, transferSqlFor } from "../clients/db";
import { ConfigError, HttpStatusError, RunbookError, oneLine } from "../errors";
import {
  keyMatchesMode,
  liveConfirmed,
  mergeGuards,
  modeMatchesEnvironment,
  priceUnderCap,
  transportIsSafe,
} from "./guards";
import { pollUntil, type Probe } from "./poll";
import { chooseProduct, runPreflight, type PreflightReport } from "./preflight";
import { payHeadless, type PayResult } from "../clients/payer";
import { money } from "../money";
import { Session, type Observed } from "./session";
import type { PollSample, StepResult } from "../types";

export interface RunbookHooks {
  /** Called after every poll attempt; the notebook updates one line in place. */
  onPoll?: (s: PollSample, elapsedS: number, deadlineS: number) => void;
}

export class Runbook extends Session {
  hooks: RunbookHooks = {};
  preflightReport: PreflightReport | null = null;
  private product: ProductT | null = null;
  private payResult: PayResult | null = null;

  /** Validates parameters (ConfigError before any HTTP call) and opens or resumes the session. */
  static open(params: Params, env: Record<string, string | undefined> = process.env): Runbook {
    return new Runbook(parseConfig(params, env));
  }

  constructor(cfg: Config) {
    super(cfg);
    const sel = this.journal.last("product_selected");
    if (sel) this.product = sel.data.product as ProductT;
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

  // Step 0 ------------------------------------------------------------------------------------
  async preflight(): Promise<StepResult> {
    return this.runStep("preflight", async (obs) => {
      const rep = await runPreflight({ ...this.cfg }, this.api);
      this.preflightReport = rep;
      Object.assign(obs, rep.observed);
      for (const w of rep.warnings)
        this.anomaly({
          step: this.currentStep,
          kind: w.startsWith("clock skew") ? "clock_skew" : "warning",
          message: w,
        });
      this.journal.append("preflight", {
        ok: rep.ok,
        refusals: rep.refusals,
        warnings: rep.warnings,
        observed: rep.observed,
      });
      if (!rep.ok) return { status: "FAIL", reason: rep.refusals.join(" · ") };
    });
  }

  // Step 1 ------------------------------------------------------------------------------------
  async login(): Promise<StepResult> {
    return this.runStep("login", async (obs) => {
      try {
        const res = await this.api.call({
          method: "POST",
          path: paths.login(),
          endpoint: "POST /auth/login",
          schema: Login,
          body: { email: this.cfg.operatorEmail, password: this.cfg.operatorPassword },
          secretsOf: (d) => [d.access_token, d.refresh_token],
        });
        this.api.token = res.data.access_token;
        obs.token_captured = true;
        obs.expires_in_s = res.data.expires_in;
        obs.user = res.data.user.id;
      } catch (err) {
        obs.token_captured = false;
        obs.http_status = err instanceof HttpStatusError ? err.status : null;
        throw err;
      }
    });
  }

  // Step 2 ------------------------------------------------------------------------------------
  async pickProduct(): Promise<StepResult> {
    return this.runStep("product", async (obs) => {
      const products = (
        await this.api.call({
          method: "GET",
          path: paths.products(),
          endpoint: "GET /marketplace/products",
          schema: Products,
        })
      ).data.products;
      const p = chooseProduct(products, this.cfg.product, this.cfg.maxPriceMinor);
      const total = priceInclVat(p);
      obs.product_id = p.id;
      obs.title = p.title;
      obs.price = money(total, p.currency);
      obs.net_price = money(p.price_cents, p.currency);
      obs.vat = Math.round(p.vat_rate * 100);
      const g = priceUnderCap(total, p.currency, this.cfg.maxPriceMinor);
      if (g.refusals.length) throw g.refusals[0];
      this.product = p;
      this.journal.append("product_selected", { product: p, total_minor: total });
    });
  }

  // Step 3 ------------------------------------------------------------------------------------
  /** Idempotency key of the order, derived from the session: a retry can never create a second one. */
  get orderKey(): string {
    return `${this.cfg.sessionId}:order`;
  }

  get refundKey(): string {
    return `${this.cfg.sessionId}:refund`;
  }

  async createOrder(): Promise<StepResult> {
    return this.runStep("order", async (obs) => {
      const existing = this.journal.last("order_created");
      if (existing) {
        const o = await this.getOrder(String(existing.data.order_id));
        this.observeOrder(obs, o);
        obs.resumed = `resumed order ${o.id} created at ${existing.at}`;
        return;
      }
      const p = this.product;
      if (!p) throw new RunbookError("E2E_STATE", "no product selected in this session: run step 2 first");
      // Guards again, right before money can move (the backend may have changed since pre-flight).
      const status = (
        await this.api.call({ method: "GET", path: paths.status(), endpoint: "GET /status", schema: Status })
      ).data;
      const total = priceInclVat(p);
      const g = mergeGuards(
        modeMatchesEnvironment(this.cfg.mode, status),
        transportIsSafe(this.cfg.mode, this.cfg.baseUrl),
        priceUnderCap(total, p.currency, this.cfg.maxPriceMinor),
        liveConfirmed(this.cfg.mode, this.cfg.liveConfirm, total, p.currency),
        keyMatchesMode(this.cfg.mode, this.cfg.hyperswitchApiKey),
      );
      if (g.refusals.length) throw g.refusals[0];
      this.journal.append("order_intent", { idempotency_key: this.orderKey, product_id: p.id, total_minor: total });
      const res = await this.api.call({
        method: "POST",
        path: paths.orders(),
        endpoint: "POST /orders",
        schema: Order,
        auth: true,
        body: { product_id: p.id },
        idempotencyKey: this.orderKey,
        secretsOf: checkoutSecrets,
      });
      const o = res.data;
      this.journal.append("order_created", {
        order_id: o.id,
        payment_id: o.hyperswitch_payment_id,
        payment_url: o.payment_url,
        total_cents: o.total_cents,
        currency: o.currency,
        created_at: o.created_at,
        http_status: res.status,
      });
      this.observeOrder(obs, o);
      // 200, not 201: the backend already had this session's order (a lost response, or a kernel
      // that died with the POST in flight). Say so, as for any resumed order (issue 4 §1).
      if (res.status === 200)
        obs.resumed = `resumed order ${o.id} created at ${o.created_at} (returned by the backend for this session's Idempotency-Key)`;
      if (o.total_cents !== total)
        this.anomaly({
          step: this.currentStep,
          kind: "warning",
          message: `order total ${formatMoney(o.total_cents, o.currency)} differs from the listed price incl. VAT ${formatMoney(total, p.currency)}`,
        });
    });
  }

  private observeOrder(obs: Observed, o: OrderT): void {
    obs.order_id = o.id;
    obs.hyperswitch_payment_id = o.hyperswitch_payment_id;
    obs.payment_url_received = Boolean(o.payment_url);
    obs.total = money(o.total_cents, o.currency);
    obs.status = o.status;
  }

  /** The order as the journal knows it (id, payment link, amount). */
  get order(): { id: string; paymentId: string; paymentUrl: string; totalMinor: number; currency: string } | null {
    const e = this.journal.last("order_created");
    if (!e) return null;
    const d = e.data;
    return {
      id: String(d.order_id),
      paymentId: String(d.payment_id),
      paymentUrl: String(d.payment_url),
      totalMinor: Number(d.total_cents),
      currency: String(d.currency),
    };
  }

  async getOrder(id: string, retry = true) {
    return (
      await this.api.call({
        method: "GET",
        path: paths.order(id),
        endpoint: "GET /orders/:id",
        schema: Order,
        auth: true,
        retry,
        secretsOf: checkoutSecrets,
      })
    ).data;
  }

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
    const o = this.order;
    if (!o) throw new RunbookError("E2E_STATE", "no order in this session: step 3 must pass first");
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

  /** Step 4, second half: the operator confirms what they saw. Only the last 4 digits, ever. */
  async confirmPaid(seen: { last4?: string; processor?: string } = {}): Promise<StepResult> {
    return this.runStep("pay", async (obs) => {
      const prior = this.journal.last("payment_confirmed");
      if (prior) {
        Object.assign(obs, {
          card_last4: prior.data.last4,
          transaction_time: prior.data.at,
          processor: prior.data.processor,
          resumed: `confirmed earlier at ${prior.at}`,
        });
        return;
      }
      const auto = this.payResult;
      const last4 = (seen.last4 || auto?.last4 || "").trim();
      const processor = (seen.processor || auto?.connector || "").trim();
      if (!/^\d{4}$/.test(last4))
        throw new ConfigError("CARD_LAST4", "enter exactly the last 4 digits of the card you paid with (never more)");
      if (!processor) throw new ConfigError("PROCESSOR", "enter the processor shown on the checkout (e.g. stripe)");
      if (auto && auto.status === "failed") {
        obs.card_last4 = last4;
        obs.processor = processor;
        throw new RunbookError(
          "E2E_PAYMENT_FAILED",
          `the checkout refused the payment (${auto.errorCode ?? "failed"})`,
        );
      }
      const at = new Date().toISOString();
      this.journal.append("payment_confirmed", {
        at,
        last4,
        processor,
        via: auto ? `headless ${auto.via}` : "operator",
      });
      this.trace.append("operator_ack", { event: "payment confirmed", at, last4, processor });
      Object.assign(obs, { card_last4: last4, transaction_time: at, processor });
      await this.crossCheckPayment(obs);
    });
  }

  /** Optional: the orchestrator's own view of the payment (HYPERSWITCH_URL + HYPERSWITCH_API_KEY). */
  private async crossCheckPayment(obs: Observed): Promise<string | null> {
    const o = this.order;
    if (!this.hs || !o || !this.cfg.hyperswitchApiKey) return null;
    try {
      const p = (
        await this.hs.call({
          method: "GET",
          path: paths.hsPayment(o.paymentId),
          endpoint: "GET /payments/:id",
          schema: HsPayment,
          enveloped: false,
          headers: { "api-key": this.cfg.hyperswitchApiKey },
        })
      ).data;
      obs.orchestrator = `${p.status}${p.payment_method_data?.card ? ` •••• ${p.payment_method_data.card.last4}` : ""}${p.connector ? ` via ${p.connector}` : ""}`;
      return p.status;
    } catch (err) {
      this.anomaly({
        step: this.currentStep,
        kind: "warning",
        message: `orchestrator cross-check failed: ${oneLine(err)}`,
      });
      return null;
    }
  }

  // Step 5 ------------------------------------------------------------------------------------
  async pollCompleted(): Promise<StepResult> {
    return this.runStep("completed", async (obs) => {
      const o = this.order!;
      const confirmedAt = Date.parse(String(this.journal.last("payment_confirmed")!.data.at));
      const out = await this.poll(
        "order completed",
        this.cfg.pollDeadlineS,
        () => this.probeOrder(o.id),
        (s) => s === "completed" || s === "refund_pending" || s === "refunded",
        (s) => (s === "failed" ? "the order failed" : null),
      );
      obs.seconds_to_completed = out.reached ? round1((Date.parse(out.reachedAt!) - confirmedAt) / 1000) : null;
      obs.max_5xx = out.http5xx;
      obs.attempts = out.samples.length;
      obs.last_status = out.lastStatus;
      if (!out.reached) {
        const hs = await this.crossCheckPayment(obs);
        if (hs === "succeeded") {
          // No poll may have got an answer at all: never print "the order is null".
          const order = out.lastStatus === null ? "could not be read (no poll got an answer)" : `is ${out.lastStatus}`;
          const msg = `money moved but the order never completed: the orchestrator says the payment succeeded while the order ${order} — the marketplace refunds only completed orders, so refund it at the orchestrator (Hyperswitch dashboard), record it in OPERATOR_NOTES, and escalate to the marketplace squad`;
          this.anomaly({ step: this.currentStep, kind: "warning", message: msg });
          return { status: "FAIL", reason: `${out.failure}; ${msg}` };
        }
        return { status: "FAIL", reason: out.failure };
      }
    });
  }

  private async probeOrder(id: string): Promise<Probe> {
    const m0 = performance.now();
    try {
      const o = await this.getOrder(id, false);
      return { status: o.status, httpStatus: 200, latencyMs: performance.now() - m0 };
    } catch (err) {
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

  private async poll(
    what: string,
    deadlineS: number,
    probe: () => Promise<Probe>,
    done: (s: string) => boolean,
    hopeless?: (s: string) => string | null,
  ) {
    // Samples and their anomalies are kept as they arrive, so a poll stopped by an error
    // (schema drift) still shows its attempts in the plot and the report.
    const step = this.currentStep!;
    const onSample = (s: PollSample, elapsed: number) => {
      this.samples.push(s);
      if (s.httpStatus !== null && s.httpStatus >= 500)
        this.anomaly({ at: s.at, step, kind: "http_5xx", message: `poll attempt ${s.attempt}: HTTP ${s.httpStatus}` });
      else if (s.httpStatus === null)
        this.anomaly({
          at: s.at,
          step,
          kind: "network",
          message: `poll attempt ${s.attempt}: ${s.error ?? "network error"}`,
        });
      this.hooks.onPoll?.(s, elapsed, deadlineS);
    };
    return pollUntil({ step, what, deadlineS, probe, done, hopeless, trace: this.trace, onSample });
  }

  // Step 6 ------------------------------------------------------------------------------------
  async licenses(): Promise<LicenseT[]> {
    return (
      await this.api.call({
        method: "GET",
        path: paths.licenses(),
        endpoint: "GET /licenses/mine",
        schema: Licenses,
        auth: true,
      })
    ).data.licenses;
  }

  async checkLicense(): Promise<StepResult> {
    return this.runStep("licence", async (obs) => {
      const o = this.order!;
      const lic = (await this.licenses()).find((l) => l.order_id === o.id);
      if (!lic) throw new RunbookError("E2E_NO_LICENSE", `no licence for order ${o.id} in /licenses/mine`);
      obs.license_id = lic.id;
      obs.type = lic.license_type;
      obs.rights = JSON.stringify(lic.rights);
    });
  }

  // Step 7 ------------------------------------------------------------------------------------
  async checkTransfer(): Promise<StepResult> {
    const o = this.order;
    if (!this.cfg.databaseUrl) {
      const sql = o ? transferSqlFor(o.id) : "(no order yet)";
      return this.runStep("transfer", async () => ({
        status: "SKIPPED",
        reason: `no DATABASE_URL: run \`psql -c "${sql}"\` and record its output with rb.pasteTransfer(\`…\`)`,
      }));
    }
    return this.runStep("transfer", async (obs) => {
      const read = await readSellerTransfers(this.cfg.databaseUrl!, o!.id);
      this.trace.append("db_query", { sql: read.sql, params: [o!.id], read_only: true, rows: read.rows });
      this.observeTransfer(obs, read.rows[0] ?? null, read.rows.length);
    });
  }

  /** Step 7 by hand: the operator pastes the psql output; it is recorded verbatim (redacted). */
  async pasteTransfer(psqlOutput: string): Promise<StepResult> {
    return this.runStep("transfer", async (obs) => {
      this.journal.append("transfer_pasted", { text: psqlOutput });
      this.trace.append("operator_ack", { event: "psql output pasted", text: psqlOutput });
      const t = parsePastedTransfer(psqlOutput);
      this.observeTransfer(
        obs,
        t.stripe_transfer_id || t.status
          ? {
              amount: t.amount,
              stripe_transfer_id: t.stripe_transfer_id,
              status: t.status ?? "?",
              currency: t.currency ?? this.order?.currency ?? null,
            }
          : null,
        t.stripe_transfer_id ? 1 : 0,
      );
    });
  }

  private observeTransfer(
    obs: Observed,
    row: {
      amount?: number | null;
      stripe_transfer_id?: string | null;
      status?: string;
      currency?: string | null;
    } | null,
    count: number,
  ): void {
    if (!row) throw new RunbookError("E2E_NO_TRANSFER", `no seller_transfers row for order ${this.order?.id}`);
    // seller_transfers.amount is in minor units, like every amount of the contract.
    const currency = row.currency || this.order?.currency || null;
    obs.amount = row.amount == null || !currency ? null : money(row.amount, currency);
    obs.stripe_transfer_id = row.stripe_transfer_id ?? null;
    obs.status = row.status ?? null;
    if (count > 1)
      this.anomaly({
        step: this.currentStep,
        kind: "warning",
        message: `${count} seller_transfers rows for one order`,
      });
    if (!row.stripe_transfer_id)
      throw new RunbookError("E2E_TRANSFER_NULL", "seller_transfers row has a NULL stripe_transfer_id");
  }

  // Step 8 ------------------------------------------------------------------------------------
  async refund(): Promise<StepResult> {
    const skip = this.cfg.refund
      ? undefined
      : "REFUND is off (opt-in): set REFUND = true in the parameters cell to validate the full cycle";
    return this.runStep(
      "refund",
      async (obs) => {
        const o = this.order!;
        const existing = this.journal.last("refund_created");
        if (existing) {
          Object.assign(obs, {
            refund_id: existing.data.refund_id,
            status: existing.data.status,
            resumed: `resumed refund ${existing.data.refund_id} created at ${existing.at}`,
          });
          return;
        }
        this.journal.append("refund_intent", { idempotency_key: this.refundKey, order_id: o.id });
        const res = await this.api.call({
          method: "POST",
          path: paths.refund(o.id),
          endpoint: "POST /orders/:id/refund",
          schema: Refund,
          auth: true,
          body: { reason: `payment E2E ${this.cfg.sessionId}` },
          idempotencyKey: this.refundKey,
        });
        this.journal.append("refund_created", {
          refund_id: res.data.refund_id,
          status: res.data.status,
          http_status: res.status,
        });
        Object.assign(obs, { refund_id: res.data.refund_id, status: res.data.status, http: res.status });
      },
      { skip },
    );
  }

  // Step 9 ------------------------------------------------------------------------------------
  async pollRefunded(): Promise<StepResult> {
    return this.runStep("refunded", async (obs) => {
      const o = this.order!;
      const refundAt = Date.parse(this.journal.last("refund_created")!.at);
      const probe = async (): Promise<Probe> => {
        const p = await this.probeOrder(o.id);
        if (p.status !== "refunded") return p;
        // Refunded is not enough: the licence must be gone too (seed row 9).
        const lic = await this.licenses().catch(() => null);
        if (lic === null) return { ...p, status: "refunded (licences unreadable)" };
        return {
          ...p,
          status: lic.some((l) => l.order_id === o.id) ? "refunded (licence still listed)" : "refunded + licence gone",
        };
      };
      const out = await this.poll(
        "order refunded and licence revoked",
        this.cfg.refundDeadlineS,
        probe,
        (s) => s === "refunded + licence gone",
      );
      obs.seconds_to_refunded = out.reached ? round1((Date.parse(out.reachedAt!) - refundAt) / 1000) : null;
      obs.licence_gone = out.reached;
      obs.max_5xx = out.http5xx;
      obs.funds_returned = "pending bank statement (5–7 business days): `npm run confirm-bank`";
      if (this.hs && this.cfg.hyperswitchApiKey) {
        const refundId = String(this.journal.last("refund_created")!.data.refund_id);
        const r = await this.hs
          .call({
            method: "GET",
            path: paths.hsRefund(refundId),
            endpoint: "GET /refunds/:id",
            schema: HsRefund,
            enveloped: false,
            headers: { "api-key": this.cfg.hyperswitchApiKey },
          })
          .catch(() => null);
        if (r) obs.orchestrator = `refund ${r.data.status}`;
      }
      if (!out.reached) return { status: "FAIL", reason: out.failure };
    });
  }
}

/** The checkout link's client secret is a secret obtained during the run: mask it everywhere. */
function checkoutSecrets(o: { payment_url?: string }): Array<string | undefined> {
  try {
    return [new URL(String(o.payment_url)).searchParams.get("client_secret") ?? undefined];
  } catch {
    return [];
  }
}

const round1 = (n: number) => Math.round(n * 10) / 10;
