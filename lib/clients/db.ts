/**
 * Steps 7 and 9's database read: the seller_transfers rows of the order, through a read-only DSN, inside a
 * READ ONLY transaction with a statement timeout, so the runbook can never write to the backend's
 * database even if the DSN's role could.
 */
import { Client } from "pg";
import { SELLER_TRANSFER_REVERSED_SQL, SELLER_TRANSFER_SQL, SellerTransfer, type SellerTransferT } from "../contract";
import { pinnedClientConfig } from "../dsn";
import { DatabaseError, oneLine } from "../errors";

export const DB_DEFAULTS = {
  statementTimeoutMs: 5 * 1000, // 5 s
  connectTimeoutMs: 10 * 1000, // 10 s
};

export interface TransferRead {
  rows: SellerTransferT[];
  sql: string;
  readOnly: true;
}

/**
 * Reads the order's seller_transfers rows. `signal` (the step's) ends the connection at once and
 * rejects with its reason, so an interrupted step never waits on the database.
 */
export async function readSellerTransfers(dsn: string, orderId: string, signal?: AbortSignal): Promise<TransferRead> {
  const { res, sql } = await readOnly(dsn, signal, (client) => transferQuery(client, orderId));
  return { rows: res.rows.map((r) => SellerTransfer.parse(r)), sql, readOnly: true };
}

/** What the pre-flight's probe found: the query steps 7 and 9 will run answers, with or without the reversed amount. */
export interface TransferProbe {
  amountReversed: boolean;
}

/** An order id no order has: the probe's query reads no row, whatever the column's type (text or uuid). */
const NO_ORDER = "00000000-0000-0000-0000-000000000000";

/**
 * The pre-flight's look at the database before any money moves: the very query steps 7 and 9 run, for
 * an order that does not exist, through the same DSN, role and READ ONLY transaction. A DSN that cannot
 * connect, a role without SELECT, a missing table or column fail here (DatabaseError), not after a charge.
 */
export async function probeSellerTransfers(dsn: string, signal?: AbortSignal): Promise<TransferProbe> {
  const { sql } = await readOnly(dsn, signal, (client) => transferQuery(client, NO_ORDER));
  return { amountReversed: sql === SELLER_TRANSFER_REVERSED_SQL };
}

/** With the reversed amount where the table has it; a table without the column (42703, undefined column) is read without it. */
async function transferQuery(client: Client, orderId: string) {
  await client.query("SAVEPOINT reversed_amount");
  const res = await client.query(SELLER_TRANSFER_REVERSED_SQL, [orderId]).catch((err: { code?: string }) => {
    if (err?.code !== "42703") throw err;
    return null;
  });
  if (res) return { res, sql: SELLER_TRANSFER_REVERSED_SQL };
  // Its rows carry no amount_reversed: the reversal's amount is then not checked.
  await client.query("ROLLBACK TO SAVEPOINT reversed_amount");
  return { res: await client.query(SELLER_TRANSFER_SQL, [orderId]), sql: SELLER_TRANSFER_SQL };
}

/** Runs `fn` in a READ ONLY transaction with a statement timeout, on a connection to the checked DSN. */
async function readOnly<T>(
  dsn: string,
  signal: AbortSignal | undefined,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  signal?.throwIfAborted();
  // Where pg connects is the host, port and TLS lib/dsn.ts checked, written in (no DSN left to re-read).
  let pinned: ReturnType<typeof pinnedClientConfig>;
  try {
    pinned = pinnedClientConfig(dsn);
  } catch (err) {
    throw new DatabaseError(`${oneLine(err)} — nothing was sent to the database`, err);
  }
  const client = new Client({
    application_name: "payment-e2e-runbook",
    ...pinned.config,
    connectionTimeoutMillis: DB_DEFAULTS.connectTimeoutMs,
  });
  // An unhandled 'error' event on the socket would kill the kernel (tslab #15).
  client.on("error", () => undefined);
  const onAbort = () => void client.end().catch(() => undefined);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await client.connect();
  } catch (err) {
    signal?.removeEventListener("abort", onAbort);
    if (signal?.aborted) throw signal.reason;
    throw new DatabaseError(
      `cannot connect with DATABASE_URL (${oneLine(err)}); check the read-only DSN or paste the psql output instead`,
      err,
    );
  }
  try {
    await client.query("BEGIN READ ONLY");
    await client.query(`SET LOCAL statement_timeout = ${DB_DEFAULTS.statementTimeoutMs}`);
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    await client.query("ROLLBACK").catch(() => undefined);
    throw new DatabaseError(`seller_transfers query failed: ${oneLine(err)}`, err);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await client.end().catch(() => undefined);
  }
}

/** The SQL an operator runs by hand when no DSN is given (psql -c); defined beside the query in lib/contract.ts. */
export { transferSqlFor } from "../contract";

/**
 * Reads a pasted psql result (aligned or expanded output) into the facts step 7 needs.
 * @example parsePastedTransfer("… | tr_1AbC | paid | …") → { stripe_transfer_id: "tr_1AbC", status: "paid", … }
 */
export function parsePastedTransfer(text: string): {
  stripe_transfer_id: string | null;
  status: string | null;
  amount: number | null;
  currency: string | null;
} {
  const tr = /\btr_[A-Za-z0-9]+\b/.exec(text);
  const status = /\b(paid|pending|reversed|failed)\b/.exec(text);
  // Aligned (`| 375 | EUR |`) or expanded (`\x`: `amount | 375` and `currency | EUR` lines); the
  // amount is in minor units: a decimal is read only when its fraction is zero (`375.00`), as "4.20"
  // could be major or minor units, and is then left unread (step 7 says "not reconciled").
  const aligned = /(?:^|\|)\s*(\d{1,9}(?:\.\d+)?)\s*\|\s*([A-Za-z]{3})\s*(?:\||$)/m.exec(text);
  const amountX = /^\s*amount\s*\|\s*(\d{1,9}(?:\.\d+)?)\s*$/m.exec(text);
  const currencyX = /^\s*currency\s*\|\s*([A-Za-z]{3})\s*$/m.exec(text);
  const raw = aligned?.[1] ?? amountX?.[1] ?? null;
  const minor = raw !== null && /^\d+(?:\.0+)?$/.test(raw) ? Number.parseInt(raw, 10) : null;
  const currency = aligned?.[2] ?? currencyX?.[1] ?? null;
  return {
    stripe_transfer_id: tr ? tr[0] : null,
    status: status ? status[1] : null,
    amount: minor,
    currency: currency ? currency.toUpperCase() : null,
  };
}

/**
 * How many seller_transfers rows a pasted psql result shows: its distinct `tr_…` ids, its aligned
 * rows (an amount followed by a currency), its `\x` records and its "(N rows)" footer, whichever says
 * most. A payout not sent yet has no `tr_…` id and is a row all the same (a seller paid twice).
 */
export function pastedRowCount(text: string): number {
  const ids = new Set(text.match(/\btr_[A-Za-z0-9]+\b/g) ?? []).size;
  const aligned = text
    .split("\n")
    .filter((l) => /(?:^|\|)\s*\d{1,9}(?:\.\d+)?\s*\|\s*[A-Za-z]{3}\s*(?:\||$)/.test(l)).length;
  const records = (text.match(/^-\[ RECORD \d+ \]/gm) ?? []).length;
  const footer = Number(/^\((\d+) rows?\)\s*$/m.exec(text)?.[1] ?? 0);
  return Math.max(ids, aligned, records, footer);
}
