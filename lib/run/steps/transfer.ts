/**
 * The seller transfer: read from the database in a READ ONLY transaction (DATABASE_URL), or from
 * psql's output the operator pasted (`ctx.opts.pasted`, recorded verbatim, redacted); its amount
 * reconciled against the split the order implies.
 */
import { parsePastedTransfer, pastedRowCount, readSellerTransfers, transferSqlFor } from "../../clients/db";
import { StepCheckError } from "../../errors";
import { formatMoney, money } from "../../money";
import { transportIsSafe } from "../guards";
import { orderSplit, payoutOf, transferMismatch } from "../ledger-checks";
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
  // Every row of the order is money paid to the seller: shown and reconciled together, never the first alone.
  const payout = payoutOf(read.rows);
  if (payout.rows > 1) ctx.facts.amount = payout.currency ? money(payout.amount, payout.currency) : null;
  await reconcileTransfer(ctx, payout);
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
  // Read only what the paste says: its currency is never assumed to be the order's, and a paste
  // of several transfers is not the first of them (a seller paid twice).
  // (A row without a tr_… id is a payout not sent yet: a row all the same.)
  const transfers = pastedRowCount(psqlOutput);
  const why =
    transfers > 1
      ? `the pasted output shows ${transfers} seller_transfers rows for one order`
      : t.amount == null
        ? "amount not found in the pasted output"
        : !t.currency
          ? "currency not found in the pasted output"
          : null;
  if (!why && t.amount != null) await reconcileTransfer(ctx, { amount: t.amount, currency: t.currency });
  else {
    // As the DB path says when it cannot compare (review 4): never a silent pass, and no amount is
    // journaled for the transfer, so its reconciliation row reads "not reported", not balanced.
    ctx.facts.split = `not reconciled: ${why}`;
    // The ledger's transfer row then says NOT CHECKED: never balanced on a transfer nobody compared.
    ctx.journal.append("money_unchecked", { what: "transfer", why: why ?? "amount not found in the pasted output" });
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "warning",
      message: `seller transfer not reconciled: ${why} (paste psql's aligned or \\x output of the one row, with amount in minor units, e.g. 375, and currency)`,
    });
  }
  return undefined;
}

/**
 * The amount check: the transfer against the split the order implies (total − VAT − platform
 * fee, as the marketplace API reports them). A mismatch FAILs naming both amounts and sources.
 */
async function reconcileTransfer(
  ctx: StepContext,
  row: { amount: number; currency: string | null; rows?: number },
): Promise<void> {
  const obs: Observed = ctx.facts;
  const o = await getOrder(ctx.api, requireOrder(ctx.journal, ctx.table));
  const split = orderSplit(o);
  const n = row.rows ?? 1;
  if (row.currency === "") {
    // A row that gives no currency: its amount is of no known currency, never taken as the order's.
    const why = `seller_transfers.currency is empty${n > 1 ? ` on the order's ${n} rows` : ""}: the amount ${row.amount} (minor units) has no known currency, so it was not compared with the order's split`;
    obs.split = `not reconciled: ${why}`;
    ctx.journal.append("money_unchecked", { what: "transfer", why });
    ctx.anomaly({ step: ctx.currentStep, kind: "warning", message: `seller transfer not reconciled: ${why}` });
    return;
  }
  // Rows in different currencies have no one amount: journaled in the order's, and never a match.
  const currency = row.currency;
  const seenInDatabase = () =>
    seeMoney(ctx.journal, {
      what: "transfer",
      source: "database",
      amount: row.amount,
      currency: currency ?? o.currency,
      ref: n > 1 ? `seller_transfers.amount, the sum of ${n} rows` : "seller_transfers.amount",
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
  const bad = transferMismatch({ amount: row.amount, currency, rows: n }, split);
  if (bad)
    throw new StepCheckError(
      "E2E_TRANSFER_AMOUNT",
      n > 1 ? `${n} seller_transfers rows for order ${o.id} (the seller paid ${n} times?): ${bad}` : bad,
    );
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
  // seller_transfers.amount is in minor units, like every amount of the contract; in its own currency only.
  const currency = row.currency || null;
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

/**
 * The order's payout as step 9 reads it, against what step 7 journaled from the database: rows added
 * since (a second payout) or an amount changed are money the transfer row must show, so the database's
 * reading is journaled again (the ledger takes the latest) and the row stops balancing. Only over a
 * reading step 7 made: a transfer step 7 could not compare stays NOT CHECKED.
 */
export function payoutSinceStep7(ctx: StepContext, rows: ReadonlyArray<{ amount: number; currency: string }>): void {
  if (!rows.length) return;
  const before = ctx.journal.last("money_seen", (e) => e.data.what === "transfer" && e.data.source === "database");
  const now = payoutOf(rows);
  if (!before || (before.data.amount === now.amount && before.data.currency === now.currency)) return;
  seeMoney(ctx.journal, {
    what: "transfer",
    source: "database",
    amount: now.amount,
    currency: now.currency ?? before.data.currency,
    ref: `seller_transfers.amount after the refund, the sum of ${now.rows} row(s)`,
  });
  ctx.anomaly({
    step: ctx.currentStep,
    kind: "warning",
    message: `seller_transfers after the refund: ${now.rows} row(s) paying ${now.currency ? formatMoney(now.amount, now.currency) : `${now.amount} minor units in different currencies`}, not the ${formatMoney(before.data.amount, before.data.currency)} step 7 read`,
  });
}
