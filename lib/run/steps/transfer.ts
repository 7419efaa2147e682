/**
 * The seller transfer: read from the database in a READ ONLY transaction (DATABASE_URL), or from
 * psql's output the operator pasted (`ctx.opts.pasted`, recorded verbatim, redacted); its amount
 * reconciled against the split the order implies.
 */
import { parsePastedTransfer, readSellerTransfers, transferSqlFor } from "../../clients/db";
import { StepCheckError } from "../../errors";
import { money } from "../../money";
import { transportIsSafe } from "../guards";
import { orderSplit, transferMismatch } from "../ledger-checks";
import type { Observed, StepContext, StepOutcome } from "../step-context";
import { getOrder, journalOrder, requireOrder } from "./orders";
import { seeMoney } from "./refunds";

export async function runTransfer(ctx: StepContext): Promise<StepOutcome | undefined> {
  if (ctx.opts.pasted !== undefined) return pasted(ctx, ctx.opts.pasted);
  const dsn = ctx.cfg.databaseUrl;
  if (!dsn) {
    const o = journalOrder(ctx.journal);
    const sql = o ? transferSqlFor(o.id) : "(no order yet)";
    return {
      status: "SKIPPED",
      reason: `no DATABASE_URL: run \`psql -c "${sql}"\`, then paste its output into a new cell as \`await nb.pasteTransfer(String.raw\`…\`);\` and run it`,
    };
  }
  // The live TLS rule again, on where pg connects now (the kernel's PGHOST… may have changed since pre-flight).
  const g = transportIsSafe(ctx.cfg.mode, ctx.cfg.baseUrl, { databaseUrl: dsn });
  if (g.refusals.length) throw g.refusals[0];
  const o = requireOrder(ctx.journal, ctx.table);
  const read = await readSellerTransfers(dsn, o.id, ctx.signal);
  ctx.trace.append("db_query", { sql: read.sql, params: [o.id], read_only: true, rows: read.rows });
  observeTransfer(ctx, read.rows[0] ?? null, read.rows.length);
  await reconcileTransfer(ctx, read.rows[0]);
}

/** The transfer step by hand: the operator pastes the psql output; it is recorded verbatim (redacted). */
async function pasted(ctx: StepContext, psqlOutput: string): Promise<undefined> {
  ctx.journal.append("transfer_pasted", { text: psqlOutput });
  ctx.trace.append("operator_ack", { event: "psql output pasted", text: psqlOutput });
  const t = parsePastedTransfer(psqlOutput);
  observeTransfer(
    ctx,
    t.stripe_transfer_id || t.status
      ? {
          amount: t.amount,
          stripe_transfer_id: t.stripe_transfer_id,
          status: t.status ?? "?",
          currency: t.currency ?? journalOrder(ctx.journal)?.currency ?? null,
        }
      : null,
    t.stripe_transfer_id ? 1 : 0,
  );
  if (t.amount != null) await reconcileTransfer(ctx, { amount: t.amount, currency: t.currency ?? null });
  else {
    // As the DB path says when it cannot compare (review 4): never a silent pass, and no amount is
    // journaled for the transfer, so its reconciliation row reads "not reported", not balanced.
    ctx.facts.split = "not reconciled: amount not found in the pasted output";
    // The ledger's transfer row then says NOT CHECKED: never balanced on a transfer nobody compared.
    ctx.journal.append("money_unchecked", { what: "transfer", why: "amount not found in the pasted output" });
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "warning",
      message:
        "seller transfer not reconciled: amount not found in the pasted output (paste psql's aligned or \\x output with amount in minor units, e.g. 375, and currency)",
    });
  }
  return undefined;
}

/**
 * The amount check: the transfer against the split the order implies (total − VAT − platform
 * fee, as the marketplace API reports them). A mismatch FAILs naming both amounts and sources.
 */
async function reconcileTransfer(ctx: StepContext, row: { amount: number; currency: string | null }): Promise<void> {
  const obs: Observed = ctx.facts;
  const o = await getOrder(ctx.api, requireOrder(ctx.journal, ctx.table));
  const split = orderSplit(o);
  const currency = row.currency || o.currency;
  const seenInDatabase = () =>
    seeMoney(ctx.journal, {
      what: "transfer",
      source: "database",
      amount: row.amount,
      currency,
      ref: "seller_transfers.amount",
    });
  if ("missing" in split) {
    obs.split = `not reconciled: ${split.missing}`;
    // What the database holds is shown; the row says NOT CHECKED (no split to compare it with).
    seenInDatabase();
    ctx.journal.append("money_unchecked", { what: "transfer", why: split.missing });
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "warning",
      message: `seller transfer not reconciled: ${split.missing}`,
    });
    return;
  }
  obs.expected_amount = money(split.expected, split.currency);
  obs.split = split.words;
  seeMoney(ctx.journal, {
    what: "transfer",
    source: "marketplace API",
    amount: split.expected,
    currency: split.currency,
    ref: "order total_cents − vat_cents − platform_fee_cents",
  });
  seenInDatabase();
  const bad = transferMismatch({ amount: row.amount, currency }, split);
  if (bad) throw new StepCheckError("E2E_TRANSFER_AMOUNT", bad);
}

function observeTransfer(
  ctx: StepContext,
  row: {
    amount?: number | null;
    stripe_transfer_id?: string | null;
    status?: string;
    currency?: string | null;
  } | null,
  count: number,
): void {
  const obs = ctx.facts;
  const order = journalOrder(ctx.journal);
  if (!row) throw new StepCheckError("E2E_NO_TRANSFER", `no seller_transfers row for order ${order?.id}`);
  // seller_transfers.amount is in minor units, like every amount of the contract.
  const currency = row.currency || order?.currency || null;
  obs.amount = row.amount == null || !currency ? null : money(row.amount, currency);
  obs.stripe_transfer_id = row.stripe_transfer_id ?? null;
  obs.status = row.status ?? null;
  if (count > 1)
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "warning",
      message: `${count} seller_transfers rows for one order`,
    });
  if (!row.stripe_transfer_id)
    throw new StepCheckError("E2E_TRANSFER_NULL", "seller_transfers row has a NULL stripe_transfer_id");
}
