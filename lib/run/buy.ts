/**
 * The runbook, first group: pre-flight and the steps before money can move (1 log in, 2 pick the
 * product, 3 create the order). Each step is one method returning a typed StepResult; state is
 * journaled before it is acted on, so re-running a cell resumes instead of creating twice.
 */
import { type Config, paramChanges, pinnedParams } from "../config";
import { Order, Products, Status, paths, priceInclVat, type OrderT, type ProductT } from "../contract";
import { logIn } from "../clients/http";
import { type GuardError, HttpStatusError, StateError } from "../errors";
import {
  keyMatchesMode,
  liveConfirmed,
  mergeGuards,
  modeMatchesEnvironment,
  orderMatchesCharge,
  priceUnderCap,
  transportIsSafe,
} from "./guards";
import { chooseProduct, runPreflight, shownTitle, type PreflightReport } from "./preflight";
import { formatMoney, money } from "../money";
import { Session, type Observed } from "./session";
import { clock } from "./steps";
import type { PollSample, StepResult } from "../types";

export interface RunbookHooks {
  /** Called after every poll attempt; the notebook updates one line in place. */
  onPoll?: (s: PollSample, elapsedS: number, deadlineS: number) => void;
}

export class BuySteps extends Session {
  hooks: RunbookHooks = {};
  preflightReport: PreflightReport | null = null;
  protected product: ProductT | null = null;

  constructor(cfg: Config) {
    super(cfg);
    const sel = this.journal.last("product_selected");
    if (sel) this.product = sel.data.product;
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
      for (const w of rep.warnings) this.anomaly({ step: this.currentStep, ...w });
      // Issue 22 §4: a passed pre-flight pins the parameters; a change since the last pin is an anomaly.
      const params = pinnedParams(this.cfg);
      const pin = this.pinned;
      const changes = pin ? paramChanges(pin.params, params) : [];
      if (rep.ok && pin && changes.length)
        this.anomaly({
          step: this.currentStep,
          kind: "operator",
          message: `parameters changed since the pre-flight of ${clock(pin.at)}: ${changes.join(", ")} — pinned again by this pre-flight`,
        });
      this.journal.append("preflight", {
        ok: rep.ok,
        refusals: rep.refusals,
        warnings: rep.warnings.map((w) => w.message),
        dry_run: rep.dryRun,
        observed: rep.observed,
        ...(rep.ok ? { params } : {}),
      });
      if (rep.ok) this.trace.append("note", { event: "parameters pinned by pre-flight", params });
      if (!rep.ok) return { status: "FAIL", reason: rep.refusals.join(" · ") };
    });
  }

  // Step 1 ------------------------------------------------------------------------------------
  async login(): Promise<StepResult> {
    return this.runStep("login", async (obs) => {
      try {
        const me = await logIn(this.api, { email: this.cfg.operatorEmail, password: this.cfg.operatorPassword });
        obs.token_captured = true;
        obs.expires_in_s = me.expires_in;
        obs.user = me.user.id;
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
      obs.title = shownTitle(p.title);
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
  /**
   * Idempotency key of the order, derived from the session (its id and creation nonce): a retry can
   * never create a second one, and another session can never be handed this one's order.
   */
  get orderKey(): string {
    return `${this.keyPrefix}:order`;
  }

  get refundKey(): string {
    return `${this.keyPrefix}:refund`;
  }

  async createOrder(): Promise<StepResult> {
    return this.runStep("order", async (obs) => {
      const existing = this.journal.last("order_created");
      if (existing) {
        const o = await this.getOrder(existing.data.order_id);
        this.observeOrder(obs, o);
        obs.resumed = `resumed order ${o.id} created at ${existing.at}`;
        this.checkCharge(o);
        return;
      }
      const p = this.product;
      if (!p) throw new StateError("no product selected in this session: run step 2 first");
      // Guards again, right before money can move (the backend may have changed since pre-flight).
      const status = (
        await this.api.call({ method: "GET", path: paths.status(), endpoint: "GET /status", schema: Status })
      ).data;
      const total = priceInclVat(p);
      const g = mergeGuards(
        modeMatchesEnvironment(this.cfg.mode, status),
        transportIsSafe(this.cfg.mode, this.cfg.baseUrl, this.cfg),
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
      this.checkCharge(o);
    });
  }

  /** The amount charged is the amount checked: the created order against MAX_PRICE and LIVE_CONFIRM. */
  protected chargeRefusal(o: { totalMinor: number; currency: string }): GuardError | null {
    return (
      orderMatchesCharge(this.cfg.mode, o, {
        currency: this.product?.currency ?? null,
        maxMinor: this.cfg.maxPriceMinor,
        liveConfirm: this.cfg.liveConfirm,
      }).refusals[0] ?? null
    );
  }

  protected checkCharge(o: OrderT): void {
    const refusal = this.chargeRefusal({ totalMinor: o.total_cents, currency: o.currency });
    if (refusal) throw refusal;
  }

  protected observeOrder(obs: Observed, o: OrderT): void {
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
      id: d.order_id,
      paymentId: d.payment_id,
      paymentUrl: d.payment_url,
      totalMinor: d.total_cents,
      currency: d.currency,
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
}

/** The checkout link's client secret is a secret obtained during the run: mask it everywhere. */
export function checkoutSecrets(o: { payment_url?: string }): Array<string | undefined> {
  try {
    return [new URL(String(o.payment_url)).searchParams.get("client_secret") ?? undefined];
  } catch {
    return [];
  }
}

export const round1 = (n: number) => Math.round(n * 10) / 10;
