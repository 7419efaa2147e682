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

/** Step 7's verdict on the transfer's amount, or null when it matches the split. */
export function transferMismatch(row: { amount: number; currency: string }, split: Split): string | null {
  if (row.amount === split.expected && row.currency === split.currency) return null;
  return `seller transfer ${formatMoney(row.amount, row.currency)} (database seller_transfers.amount) ≠ ${formatMoney(split.expected, split.currency)} the order implies: ${split.words}`;
}

/** Step 9's reading of the transfer after the refund: reversed (with its time and id), or why not. */
export function reversalWords(
  row: {
    status?: string | null;
    reversed_at?: string | null;
    reversal_id?: string | null;
  } | null,
): { reversed: boolean; text: string } {
  if (!row) return { reversed: false, text: "not checked: no seller_transfers row" };
  if (row.status === "reversed" || row.reversed_at)
    return {
      reversed: true,
      text: `reversed${row.reversed_at ? ` at ${row.reversed_at}` : ""}${row.reversal_id ? ` (${row.reversal_id})` : ""}`,
    };
  return {
    reversed: false,
    text: `not reversed: seller_transfers.status is ${row.status ?? "unknown"} after the refund`,
  };
}
