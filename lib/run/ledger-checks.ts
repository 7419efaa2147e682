/**
 * The ledger's checks at the steps that read money (issue 23 items 2 and 4): what each source said,
 * as `money_seen` journal entries, and the one-line verdicts steps 7, 8 and 9 give. Pure functions
 * over what was read; the steps (./steps/) do the reading and journal what these return.
 */
import type { HsPaymentT, OrderT } from "../contract";
import type { DataIn } from "../evidence/journal";
import { formatMoney } from "../money";

/** The data of one `money_seen` journal entry (its schema: lib/evidence/journal-entries.ts). */
export type MoneySeenData = DataIn<"money_seen">;

/** What the orchestrator's payment says was charged and captured. */
export function paymentSeen(p: HsPaymentT): MoneySeenData[] {
  const out: MoneySeenData[] = [
    { what: "charged", source: "orchestrator", amount: p.amount, currency: p.currency, ref: "payment amount" },
  ];
  if (typeof p.amount_received === "number")
    out.push({
      what: "captured",
      source: "orchestrator",
      amount: p.amount_received,
      currency: p.currency,
      ref: "payment amount_received",
    });
  return out;
}

/** The seller's share the order implies: total − VAT − platform fee, each as the marketplace reports it. */
export interface Split {
  expected: number;
  currency: string;
  /** "total 5.00 EUR − VAT 0.83 EUR − platform fee 0.42 EUR (marketplace API order)" */
  words: string;
}

/** The split, or why it cannot be computed (a field the marketplace does not report). */
export function orderSplit(o: OrderT): Split | { missing: string } {
  const fee = o.platform_fee_cents;
  if (typeof o.vat_cents !== "number") return { missing: "the order carries no vat_cents" };
  if (typeof fee !== "number") return { missing: "the order carries no platform_fee_cents" };
  const f = (n: number) => formatMoney(n, o.currency);
  return {
    expected: o.total_cents - o.vat_cents - fee,
    currency: o.currency,
    words: `total ${f(o.total_cents)} − VAT ${f(o.vat_cents)} − platform fee ${f(fee)} (marketplace API order ${o.id})`,
  };
}

/**
 * Every seller_transfers row of one order as the payout they make together: the sum of their amounts,
 * in their one currency (null when they disagree), and how many rows. Two rows are a seller paid
 * twice unless they add up to the split: never one row chosen by the order the database returned.
 */
export function payoutOf(rows: ReadonlyArray<{ amount: number; currency: string }>): {
  amount: number;
  currency: string | null;
  rows: number;
} {
  const currencies = sameCurrencies(rows);
  return {
    amount: rows.reduce((s, r) => s + r.amount, 0),
    currency: currencies.length === 1 ? currencies[0] : null,
    rows: rows.length,
  };
}

/**
 * The distinct currencies of rows, as ISO codes (upper case): a database written from Stripe's objects
 * says `eur`, the marketplace `EUR`, and they are one currency. An empty one stays empty (no currency).
 */
function sameCurrencies(rows: ReadonlyArray<{ currency: string }>): string[] {
  return [...new Set(rows.map((r) => r.currency.toUpperCase()))];
}

/** Step 7's verdict on the transfer's amount (all the order's rows, `rows` of them), or null when it matches the split. */
export function transferMismatch(
  row: { amount: number; currency: string | null; rows?: number },
  split: Split,
): string | null {
  const n = row.rows ?? 1;
  if (row.amount === split.expected && row.currency?.toUpperCase() === split.currency.toUpperCase()) return null;
  const what = n > 1 ? `seller transfers` : "seller transfer";
  const paid =
    row.currency === null ? `${row.amount} minor units in different currencies` : formatMoney(row.amount, row.currency);
  const where = n > 1 ? `database seller_transfers.amount, ${n} rows` : "database seller_transfers.amount";
  return `${what} ${paid} (${where}) ≠ ${formatMoney(split.expected, split.currency)} the order implies: ${split.words}`;
}

/** A seller_transfers row as step 9 reads it (lib/contract.ts SellerTransfer). */
export interface TransferRowRead {
  id?: string;
  amount: number;
  currency: string;
  status?: string | null;
  reversed_at?: string | null;
  reversal_id?: string | null;
  /** Minor units reversed; absent (undefined) when the table has no such column: then not checked. */
  amount_reversed?: number | null;
}

/** Why the reversal's amount is not checked on a table without the column (journaled as `money_unchecked`). */
export const NO_REVERSED_AMOUNT =
  "seller_transfers has no amount_reversed column: its status says whether the transfer was reversed, not how much of it";

/**
 * Where step 9's reversed amount comes from, as the reconciliation table names it (the database
 * column it summed, and each row's status beside it): never the status alone, which says nothing of
 * how much was reversed.
 * @example reversalSource([{ status: "reversed" }]) // "seller_transfers.amount_reversed (status reversed)"
 */
export function reversalSource(rows: ReadonlyArray<Pick<TransferRowRead, "status">>): string {
  return rows.length > 1
    ? `seller_transfers.amount_reversed of ${rows.length} rows (status ${rows.map((x) => x.status).join(", ")})`
    : `seller_transfers.amount_reversed (status ${rows[0]?.status})`;
}

/**
 * Step 9's reading of every seller_transfers row of the order after the refund: reversed only when
 * each row is, wholly; `amount` the rows' reversed amounts summed, or null when the table does not
 * say how much (no amount_reversed column: the amount is not checked, never assumed). With one row,
 * reversalWords.
 */
export function reversalOf(
  rows: readonly TransferRowRead[],
): { reversed: boolean; text: string; amount: number | null; currency: string | null } | null {
  if (!rows.length) return null;
  const currencies = sameCurrencies(rows);
  const currency = currencies.length === 1 ? currencies[0] : null;
  const each = rows.map((r) => reversalWords(r));
  const amount = each.some((w) => w.amount === null) ? null : each.reduce((s, w) => s + (w.amount ?? 0), 0);
  if (rows.length === 1) return { ...each[0], currency };
  if (each.every((w) => w.reversed))
    return {
      reversed: true,
      text: `reversed: all ${rows.length} seller_transfers rows of the order${amount === null ? ` (the amount not checked: ${NO_REVERSED_AMOUNT})` : ""}`,
      amount,
      currency,
    };
  const left = rows.flatMap((r, i) => (each[i].reversed ? [] : [`${r.id ?? "?"} ${each[i].text}`]));
  return {
    reversed: false,
    text: `not reversed: ${left.length} of ${rows.length} seller_transfers rows of the order not wholly reversed after the refund (${left.join("; ")})`,
    amount,
    currency,
  };
}

/**
 * Step 9's reading of one transfer after the refund: reversed (with its time and id) only when its
 * status says so and, where the table has amount_reversed, the whole amount was reversed; a partial
 * reversal is not "reversed". `amount`: minor units reversed, null when the table does not say.
 */
export function reversalWords(row: TransferRowRead | null): { reversed: boolean; text: string; amount: number | null } {
  if (!row) return { reversed: false, text: "not checked: no seller_transfers row", amount: null };
  const byStatus = row.status === "reversed" || Boolean(row.reversed_at);
  const when = `${row.reversed_at ? ` at ${row.reversed_at}` : ""}${row.reversal_id ? ` (${row.reversal_id})` : ""}`;
  const back = row.amount_reversed;
  if (typeof back !== "number") {
    const unchecked = `the amount not checked: ${NO_REVERSED_AMOUNT}`;
    return byStatus
      ? { reversed: true, text: `reversed${when} by its status; ${unchecked}`, amount: null }
      : {
          reversed: false,
          text: `not reversed: seller_transfers.status is ${row.status ?? "unknown"} after the refund; ${unchecked}`,
          amount: null,
        };
  }
  const f = (n: number) => formatMoney(n, row.currency || "");
  if (byStatus && back === row.amount) return { reversed: true, text: `reversed${when}: ${f(back)}`, amount: back };
  if (back === 0)
    return {
      reversed: false,
      text: byStatus
        ? `not reversed: seller_transfers.status is reversed but amount_reversed is ${f(0)} of ${f(row.amount)}`
        : `not reversed: seller_transfers.status is ${row.status ?? "unknown"} after the refund`,
      amount: 0,
    };
  return {
    reversed: false,
    text:
      back < row.amount
        ? `partially reversed${when}: ${f(back)} of ${f(row.amount)} (seller_transfers.amount_reversed; status ${row.status ?? "unknown"})`
        : `not reversed as paid: ${f(back)} reversed of a ${f(row.amount)} transfer (seller_transfers.amount_reversed; status ${row.status ?? "unknown"})`,
    amount: back,
  };
}
