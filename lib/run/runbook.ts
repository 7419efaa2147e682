/**
 * The runbook: pre-flight and the seed's 9 steps, each one method returning a typed StepResult.
 * Notebook cells call exactly one of these and display the result. State changes are journaled
 * before they are acted on, so re-running a cell or the whole notebook resumes instead of
 * charging or refunding twice.
 *
 * Over 300 lines since issue 23: steps 7–9 read the money (transfer split, refunds by amount,
 * reversal) and journal what each source said; the rules themselves are ledger.ts and
 * ledger-checks.ts, but the reading belongs with the steps that do it.
 */
import { parseConfig, type Params } from "../config";
import { HsRefund, Licenses, Refund, paths, type HsRefundT, type LicenseT, type OrderT } from "../contract";
import { readSellerTransfers, parsePastedTransfer, transferSqlFor } from "../clients/db";
import { InterruptedError, oneLine, StepCheckError } from "../errors";
import { ledgerOf, refundAttempts, refundedText, type RefundAttempt } from "./ledger";
import { transportIsSafe } from "./guards";
import { refundAdvice, refundClass } from "./hs-status";
import type { Probe } from "./poll";
import { money } from "../money";
import { orderSplit, paymentSeen, reversalWords, transferMismatch, type MoneySeenData } from "./ledger-checks";
import type { Observed } from "./session";
import type { StepResult } from "../types";

import { backendInterval, backendTime, reachedTime, refundCreatedTime } from "./backend-time";
import { PaySteps } from "./pay";

export type { RunbookHooks } from "./buy";

/** The whole runbook: the buy and pay groups, then the checks (6, 7) and the refund (8, 9). */
export class Runbook extends PaySteps {
  /** Validates parameters (ConfigError before any HTTP call) and opens or resumes the session. */
  static open(params: Params, env: Record<string, string | undefined> = process.env): Runbook {
    return new Runbook(parseConfig(params, env));
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
      if (!lic) throw new StepCheckError("E2E_NO_LICENSE", `no licence for order ${o.id} in /licenses/mine`);
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
        reason: `no DATABASE_URL: run \`psql -c "${sql}"\`, then paste its output into a new cell as \`await nb.pasteTransfer(String.raw\`…\`);\` and run it`,
      }));
    }
    return this.runStep("transfer", async (obs) => {
      // The live TLS rule again, on where pg connects now (the kernel's PGHOST… may have changed since pre-flight).
      const g = transportIsSafe(this.cfg.mode, this.cfg.baseUrl, { databaseUrl: this.cfg.databaseUrl });
      if (g.refusals.length) throw g.refusals[0];
      const read = await readSellerTransfers(this.cfg.databaseUrl!, o!.id, this.signal);
      this.trace.append("db_query", { sql: read.sql, params: [o!.id], read_only: true, rows: read.rows });
      this.observeTransfer(obs, read.rows[0] ?? null, read.rows.length);
      await this.reconcileTransfer(obs, read.rows[0]);
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
      if (t.amount != null) await this.reconcileTransfer(obs, { amount: t.amount, currency: t.currency ?? null });
      else {
        // As the DB path says when it cannot compare (review 4): never a silent pass, and no amount is
        // journaled for the transfer, so its reconciliation row reads "not reported", not balanced.
        obs.split = "not reconciled: amount not found in the pasted output";
        this.anomaly({
          step: this.currentStep,
          kind: "warning",
          message:
            "seller transfer not reconciled: amount not found in the pasted output (paste psql's aligned or \\x output with amount in minor units, e.g. 375, and currency)",
        });
      }
    });
  }

  /** Journals an amount a source reported, for the ledger (once per change). */
  protected seeMoney(d: MoneySeenData): void {
    const prev = this.journal.last("money_seen", (e) => e.data.what === d.what && e.data.source === d.source);
    if (prev && prev.data.amount === d.amount && prev.data.currency === d.currency) return;
    this.journal.append("money_seen", d);
  }

  /**
   * Step 7's amount check: the transfer against the split the order implies (total − VAT − platform
   * fee, as the marketplace API reports them). A mismatch FAILs naming both amounts and sources.
   */
  protected async reconcileTransfer(obs: Observed, row: { amount: number; currency: string | null }): Promise<void> {
    const o = await this.getOrder(this.order!.id);
    const split = orderSplit(o);
    if ("missing" in split) {
      obs.split = `not reconciled: ${split.missing}`;
      this.anomaly({
        step: this.currentStep,
        kind: "warning",
        message: `seller transfer not reconciled: ${split.missing}`,
      });
      return;
    }
    const currency = row.currency || o.currency;
    obs.expected_amount = money(split.expected, split.currency);
    obs.split = split.words;
    this.seeMoney({
      what: "transfer",
      source: "marketplace API",
      amount: split.expected,
      currency: split.currency,
      ref: "order total_cents − vat_cents − platform_fee_cents",
    });
    this.seeMoney({
      what: "transfer",
      source: "database",
      amount: row.amount,
      currency,
      ref: "seller_transfers.amount",
    });
    const bad = transferMismatch({ amount: row.amount, currency }, split);
    if (bad) throw new StepCheckError("E2E_TRANSFER_AMOUNT", bad);
  }

  protected observeTransfer(
    obs: Observed,
    row: {
      amount?: number | null;
      stripe_transfer_id?: string | null;
      status?: string;
      currency?: string | null;
    } | null,
    count: number,
  ): void {
    if (!row) throw new StepCheckError("E2E_NO_TRANSFER", `no seller_transfers row for order ${this.order?.id}`);
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
      throw new StepCheckError("E2E_TRANSFER_NULL", "seller_transfers row has a NULL stripe_transfer_id");
  }

  // Step 8 ------------------------------------------------------------------------------------
  /** The Idempotency-Key of refund attempt n: `<session>:<nonce>:refund`, then `…:refund:2`, … */
  refundKeyOf(attempt: number): string {
    return attempt === 1 ? this.refundKey : `${this.refundKey}:${attempt}`;
  }

  /** The orchestrator's word on a refund (force_sync), journaled when it changed; null without it. */
  protected async orchestratorRefund(a: RefundAttempt): Promise<HsRefundT | null> {
    if (!this.hs || !this.cfg.hyperswitchApiKey || !a.refundId) return null;
    try {
      const r = (
        await this.hs.call({
          method: "GET",
          path: paths.hsRefundSynced(a.refundId),
          endpoint: "GET /refunds/:id",
          schema: HsRefund,
          enveloped: false,
          headers: { "api-key": this.cfg.hyperswitchApiKey },
        })
      ).data;
      this.noteRefundStatus(a, r.status, "orchestrator", r.amount);
      return r;
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      this.anomaly({
        step: this.currentStep,
        kind: "warning",
        message: `orchestrator refund cross-check failed: ${oneLine(err)}`,
      });
      return null;
    }
  }

  /** Journals a refund's new status (the evidence `moneyOutstanding` and step 8's next attempt read). */
  protected noteRefundStatus(a: RefundAttempt, status: string, source: string, amount?: number): void {
    // (Only an attempt whose POST answered has an id to report a status for.)
    if (a.refundId === null || (a.status === status && (amount === undefined || amount === a.amount))) return;
    const more = amount === undefined ? {} : { amount };
    this.journal.append("refund_status", { refund_id: a.refundId, attempt: a.attempt, status, source, ...more });
    a.status = status;
    a.source = source;
    if (amount !== undefined) a.amount = amount;
  }

  /** The orchestrator's charged and captured amounts, journaled for the ledger (nothing without it). */
  protected async seePayment(): Promise<void> {
    const p = await this.orchestratorPayment();
    if (p) for (const d of paymentSeen(p)) this.seeMoney(d);
  }

  /**
   * Step 8. Once money moved it waits for steps 5–7 (the step table's `waitsFor`): `reason` is the
   * operator's written reason to refund before they passed, recorded in the step and the report.
   */
  async refund(opts: { reason?: string } = {}): Promise<StepResult> {
    const skip = this.cfg.refund
      ? undefined
      : "REFUND is off (opt-in): set REFUND = true in the parameters cell to validate the full cycle";
    return this.runStep(
      "refund",
      async (obs) => {
        const o = this.order!;
        const attempts = refundAttempts(this.journal.all());
        const last = attempts[attempts.length - 1];
        await this.seePayment();
        if (last?.refundId) {
          // Fresh word first: a refund that failed since is not resumed, it is replaced; one that
          // succeeded for part of the money is followed by a refund of the rest (the ledger's outstanding).
          await this.orchestratorRefund(last);
          const partial = last.status === "succeeded" && (ledgerOf(this.journal.all()).outstanding ?? 0) > 0;
          if (refundClass(last.status ?? "pending").class !== "no_money" && !partial) {
            Object.assign(obs, {
              refund_id: last.refundId,
              status: last.status,
              resumed: `resumed refund ${last.refundId} created at ${last.createdAt}`,
            });
            if (last.attempt > 1) obs.attempt = last.attempt;
            return;
          }
        }
        // A new attempt after a failed refund; the same one again when its POST never answered.
        const attempt = !last ? 1 : last.refundId ? last.attempt + 1 : last.attempt;
        const key = this.refundKeyOf(attempt);
        // What is outstanding: said explicitly once part was refunded (the first asks for "the rest").
        const l = ledgerOf(this.journal.all());
        // (Also when the orchestrator captured other than the order's total: never ask for more than was captured.)
        const capturedDiffers = l.captured !== null && l.charged !== null && l.captured !== l.charged;
        // Nor more than the marketplace holds on the order (a surcharge is refunded at the orchestrator: step 9 says so).
        const onOrder = l.charged === null ? Number.POSITIVE_INFINITY : Math.max(1, l.charged - l.refunded);
        const amount = (l.refunded > 0 || capturedDiffers) && l.outstanding ? Math.min(l.outstanding, onOrder) : null;
        this.journal.append("refund_intent", {
          idempotency_key: key,
          order_id: o.id,
          attempt,
          ...(amount === null ? {} : { amount_cents: amount }),
        });
        const res = await this.api.call({
          method: "POST",
          path: paths.refund(o.id),
          endpoint: "POST /orders/:id/refund",
          schema: Refund,
          auth: true,
          body: { reason: `payment E2E ${this.cfg.sessionId}`, ...(amount === null ? {} : { amount_cents: amount }) },
          idempotencyKey: key,
        });
        this.journal.append("refund_created", {
          refund_id: res.data.refund_id,
          status: res.data.status,
          http_status: res.status,
          attempt,
          // The backend's own time of the refund: step 9 counts from it, never from this cell.
          created_at: res.data.created_at ?? null,
          amount_cents: res.data.amount_cents ?? null,
        });
        Object.assign(obs, { refund_id: res.data.refund_id, status: res.data.status, http: res.status });
        if (res.data.amount_cents != null) obs.amount = money(res.data.amount_cents, o.currency);
        if (attempt > 1) obs.attempt = attempt;
        const a = refundAttempts(this.journal.all()).find((x) => x.attempt === attempt)!;
        let why = res.data.failure_reason ?? null;
        if (refundClass(res.data.status).class !== "no_money") {
          const hs = await this.orchestratorRefund(a);
          if (hs) obs.orchestrator = `refund ${hs.status}`;
          why = hs?.error_message ?? why;
        }
        const c = refundClass(a.status ?? res.data.status);
        if (c.class === "no_money")
          return {
            status: "FAIL",
            reason: `${a.source === "orchestrator" ? "the orchestrator says " : ""}${refundAdvice(c, a.refundId!, attempt + 1).replace(" failed:", ` failed${why ? ` (${why})` : ""}:`)}`,
          };
        if (c.class === "needs_action") {
          const msg = refundAdvice(c, a.refundId!, attempt + 1);
          this.anomaly({ step: this.currentStep, kind: "warning", message: msg });
          return { status: "PASS", reason: msg };
        }
      },
      { skip, reason: opts.reason },
    );
  }

  // Step 9 ------------------------------------------------------------------------------------
  async pollRefunded(): Promise<StepResult> {
    return this.runStep("refunded", async (obs) => {
      const o = this.order!;
      const attempts = refundAttempts(this.journal.all());
      const a = attempts[attempts.length - 1];
      const refundId = a.refundId!;
      let from = refundCreatedTime(this.journal.all(), a.attempt);
      let order = null as OrderT | null;
      const probe = async (): Promise<Probe> => {
        const p = await this.probeOrder(o.id, (x) => {
          order = x;
        });
        if (p.status !== "refunded") return p;
        // Refunded is not enough: the licence must be gone too (seed row 9).
        const lic = await this.licenses().catch(() => null);
        if (lic === null) return { ...p, status: "refunded (licences unreadable)" };
        return {
          ...p,
          status: lic.some((l) => l.order_id === o.id) ? "refunded (licence still listed)" : "refunded + licence gone",
        };
      };
      // A refund that failed or is held for review will not turn into `refunded` by waiting: stop
      // at once, with the next action and the refund reference.
      let lastHsCheck = -Infinity;
      // The order's whole total came back yet more was captured (a surcharge): only the orchestrator can return the rest.
      const atOrchestrator = `refund the rest at the orchestrator (Hyperswitch dashboard, payment ${o.paymentId}) — the marketplace will not refund this order again`;
      const stop = async (): Promise<string | null> => {
        const now = order as OrderT | null;
        const fromOrder = now?.refund_status;
        if (fromOrder && ["failed", "review"].includes(fromOrder)) this.noteRefundStatus(a, fromOrder, "marketplace");
        // Back to completed with the refund succeeded: a partial refund (refunds are by amount).
        else if (fromOrder === "succeeded" && now?.status === "completed" && now.refund_id === refundId)
          this.noteRefundStatus(a, "succeeded", "marketplace");
        else if (this.hs && performance.now() - lastHsCheck >= REFUND_CHECK_EVERY_MS) {
          lastHsCheck = performance.now();
          const hs = await this.orchestratorRefund(a);
          if (hs) obs.orchestrator = `refund ${hs.status}`;
        }
        const c = refundClass(a.status ?? "pending");
        const l = ledgerOf(this.journal.all());
        if (a.status === "succeeded" && (l.outstanding ?? 0) > 0)
          return `partial refund: ${refundedText(l)} — ${
            l.charged !== null && l.refunded >= l.charged
              ? atOrchestrator
              : `run step 8 again to refund what is outstanding (it creates attempt ${a.attempt + 1})`
          }`;
        if (c.class === "no_money") return refundAdvice(c, refundId, a.attempt + 1);
        if (c.class === "needs_action") return `escalate: ${refundAdvice(c, refundId, a.attempt + 1)}`;
        return null;
      };
      const out = await this.poll(
        "order refunded and licence revoked",
        this.cfg.refundDeadlineS,
        probe,
        (s) => s === "refunded + licence gone",
        undefined,
        stop,
      );
      // From the refund's own creation time to the order's own refund time (issue 22 §1).
      if (out.reached && !from)
        from = backendTime((await this.orchestratorRefund(a))?.created_at, "the orchestrator's refund created_at");
      const end = out.reached ? reachedTime(order, "refunded") : null;
      if (end) obs.refunded_at = end.at;
      const iv = backendInterval(
        from,
        "no backend time for the refund: its POST answer carried no created_at, nor did the orchestrator",
        end,
        "the refunded order carries no refunded_at or updated_at",
      );
      obs.seconds_to_refunded = out.reached ? iv.seconds : null;
      if (out.reached && iv.negative !== undefined)
        this.anomaly({
          step: this.currentStep,
          kind: "clock_skew",
          message: `the order was refunded ${-iv.negative} s before the refund's time: the two clocks disagree; recorded as 0 s`,
        });
      if (out.reached) obs.counted_from = iv.countedFrom;
      obs.licence_gone = out.reached;
      obs.max_5xx = out.http5xx;
      obs.funds_returned = "pending bank statement (5–7 business days): `npm run confirm-bank`";
      if (out.reached && !obs.orchestrator) {
        const hs = await this.orchestratorRefund(a);
        if (hs) obs.orchestrator = `refund ${hs.status}`;
      }
      // The order reached `refunded`: the marketplace's word that this refund succeeded (its amount is the POST answer's).
      if (out.reached && a.status !== "succeeded") this.noteRefundStatus(a, "succeeded", "marketplace");
      await this.seeRefunds(order);
      const l = ledgerOf(this.journal.all());
      obs.refunded = refundedText(l);
      if (out.reached) await this.checkReversal(obs);
      if (!out.reached) return { status: "FAIL", reason: out.failure };
      if (l.overRefund > 0) {
        const msg = `over-refund: ${refundedText(l)}; ask the marketplace squad to recover it and file an issue`;
        this.anomaly({ step: this.currentStep, kind: "warning", message: msg });
        throw new StepCheckError("E2E_REFUND_AMOUNT", msg);
      }
      // The order is refunded (the marketplace will not refund it again) yet money is outstanding
      // (e.g. a surcharge the orchestrator captured on top of the order's total): never "funds returned".
      if ((l.outstanding ?? 0) > 0 || !l.settled) {
        const msg = `the order is refunded but ${refundedText(l) ?? "the refunded amount is unknown"}: ${atOrchestrator}`;
        this.anomaly({ step: this.currentStep, kind: "warning", message: msg });
        return { status: "FAIL", reason: msg };
      }
    });
  }

  /** What the marketplace and the orchestrator say was refunded in all, journaled for the ledger. */
  protected async seeRefunds(order: OrderT | null): Promise<void> {
    const o = this.order!;
    if (order && typeof order.refunded_cents === "number")
      this.seeMoney({
        what: "refunded",
        source: "marketplace API",
        amount: order.refunded_cents,
        currency: order.currency,
        ref: "order refunded_cents",
      });
    if (!this.hs || !this.cfg.hyperswitchApiKey) return;
    await this.seePayment();
    let sum = 0;
    for (const x of refundAttempts(this.journal.all())) {
      if (!x.refundId) continue;
      const r = await this.orchestratorRefund(x);
      if (!r) return; // unreadable: say nothing rather than a wrong sum
      if (r.status === "succeeded") sum += r.amount;
    }
    this.seeMoney({
      what: "refunded",
      source: "orchestrator",
      amount: sum,
      currency: o.currency,
      ref: "succeeded refunds",
    });
  }

  /**
   * Step 9's look at the seller transfer: a full refund must have reversed it. Not reversed is
   * recorded (fact and anomaly; the report makes it an action item), never a FAIL of the refund.
   */
  protected async checkReversal(obs: Observed): Promise<void> {
    if (!this.cfg.databaseUrl) {
      obs.transfer_reversal = "not checked: no DATABASE_URL (check seller_transfers.status = 'reversed' by hand)";
      return;
    }
    const o = this.order!;
    const read = await readSellerTransfers(this.cfg.databaseUrl, o.id, this.signal);
    this.trace.append("db_query", { sql: read.sql, params: [o.id], read_only: true, rows: read.rows });
    const row = read.rows[0] ?? null;
    const r = reversalWords(row);
    obs.transfer_reversal = r.text;
    if (row) {
      const expected = this.journal.last(
        "money_seen",
        (e) => e.data.what === "transfer" && e.data.source === "marketplace API",
      );
      if (expected)
        this.seeMoney({
          what: "reversal",
          source: "marketplace API",
          amount: expected.data.amount,
          currency: expected.data.currency,
          ref: "the whole transfer, on a full refund",
        });
      this.seeMoney({
        what: "reversal",
        source: "database",
        amount: r.reversed ? row.amount : 0,
        currency: row.currency,
        ref: `seller_transfers.status ${row.status}`,
      });
    }
    if (!r.reversed) this.anomaly({ step: this.currentStep, kind: "warning", message: `seller transfer ${r.text}` });
  }
}

/** How often step 9 asks the orchestrator about the refund while polling the order. */
const REFUND_CHECK_EVERY_MS = 2 * 1000; // 2 s
