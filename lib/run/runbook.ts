/**
 * The runbook: pre-flight and the seed's 9 steps, each one method returning a typed StepResult.
 * Notebook cells call exactly one of these and display the result. State changes are journaled
 * before they are acted on, so re-running a cell or the whole notebook resumes instead of
 * charging or refunding twice.
 */
import { parseConfig, type Params } from "../config";
import { HsRefund, Licenses, Refund, paths, type LicenseT } from "../contract";
import { readSellerTransfers, parsePastedTransfer, transferSqlFor } from "../clients/db";
import { RunbookError } from "../errors";
import type { Probe } from "./poll";
import { money } from "../money";
import type { Observed } from "./session";
import type { StepResult } from "../types";

import { round1 } from "./buy";
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
        reason: `no DATABASE_URL: run \`psql -c "${sql}"\`, then paste its output into a new cell as \`await nb.pasteTransfer(String.raw\`…\`);\` and run it`,
      }));
    }
    return this.runStep("transfer", async (obs) => {
      const read = await readSellerTransfers(this.cfg.databaseUrl!, o!.id, this.signal);
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
