/**
 * More than one seller_transfers row for an order (a payout paid twice: a backend whose database has
 * no unique index on order_id, unlike the sandbox's) is money the runbook must count, not a warning
 * over whichever row the database returned first. Against the sandbox (PGlite, or PostgreSQL with
 * TEST_PG_URL); the second row is written with the sandbox's admin DSN after dropping its index.
 */
import { strict as assert } from "node:assert";
import { afterEach, test } from "node:test";
import type { Faults } from "../../sandbox";
import type { Runbook } from "../../lib/run/runbook";
import { reconcile } from "../../lib/run/ledger";
import { loadEvidence } from "../../lib/report/evidence";
import { deriveOutcome } from "../../lib/report/verdict";
import { payAndConfirm } from "../faults/drive";
import { stagingSandbox } from "./fixtures";

const BASE: Partial<Faults> = { completionDelayMs: 100, refundDelayMs: 100 };
const bench = stagingSandbox("transfer-rows-", BASE);
const session = (): Runbook => bench.session();

afterEach(async () => {
  // The sandbox completes orders with ON CONFLICT (order_id): its index back, the extra rows gone.
  await admin(async (q) => {
    await q("DELETE FROM seller_transfers WHERE id LIKE '%\\_twice'");
    await q("CREATE UNIQUE INDEX IF NOT EXISTS seller_transfers_order ON seller_transfers (order_id)");
  });
});

async function admin<T>(fn: (q: (sql: string, params?: unknown[]) => Promise<{ rows: T[] }>) => Promise<void>) {
  const { Client } = await import("pg");
  const c = new Client({ connectionString: bench.sb.adminDsn });
  await c.connect();
  try {
    await fn((sql, params) => c.query(sql, params as unknown[]) as unknown as Promise<{ rows: T[] }>);
  } finally {
    await c.end();
  }
}

/** A second payout row for the order, as the first one (same amount), paid and never reversed. */
async function secondPayout(orderId: string): Promise<void> {
  await admin(async (q) => {
    await q("DROP INDEX IF EXISTS seller_transfers_order");
    await q(
      `INSERT INTO seller_transfers (id, order_id, seller_id, amount, currency, stripe_transfer_id, status, created_at)
       SELECT id || '_twice', order_id, seller_id, amount, currency, stripe_transfer_id || '_twice', 'paid', created_at
       FROM seller_transfers WHERE order_id = $1`,
      [orderId],
    );
  });
}

async function upToLicence(rb: Runbook): Promise<void> {
  for (const id of ["preflight", "login", "product", "order"]) {
    const r = await rb.run(id);
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  }
  assert.equal((await payAndConfirm(rb)).status, "PASS");
  for (const id of ["completed", "licence"]) {
    const r = await rb.run(id);
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  }
}

test("two seller_transfers rows for one order (the seller paid twice): step 7 FAILs naming both, the outcome is never PASS", async () => {
  const rb = session();
  await upToLicence(rb);
  await secondPayout(rb.order!.id);
  const s7 = await rb.run("transfer");
  assert.equal(s7.status, "FAIL", `a payout paid twice is not the transfer the order implies: ${s7.reason}`);
  assert.match(s7.reason ?? "", /2 seller_transfers rows for order ord_\S+/);
  assert.match(s7.reason ?? "", /seller transfers (\d+\.\d\d) EUR \(database seller_transfers\.amount, 2 rows\) ≠ /);
  const row = reconcile(rb.journal.all()).rows.find((r) => r.what === "transfer")!;
  assert.equal(row.ok, false, row.verdict);
  assert.equal((await rb.run("refund")).status, "PASS");
  await rb.run("refunded");
  assert.notEqual(deriveOutcome(loadEvidence(rb.dir)).outcome, "PASS");
});

test("after the refund, one of two payout rows still paid: step 9 records the transfer not reversed", async () => {
  const rb = session();
  await upToLicence(rb);
  assert.equal((await rb.run("transfer")).status, "PASS");
  assert.equal((await rb.run("refund")).status, "PASS");
  // The sandbox reverses the order's row when the refund lands; then a second, paid row appears.
  const orderId = rb.order!.id;
  for (let i = 0; i < 100; i++) {
    let reversed = false;
    await admin<{ status: string }>(async (q) => {
      const r = await q("SELECT status FROM seller_transfers WHERE order_id = $1", [orderId]);
      reversed = r.rows[0]?.status === "reversed";
    });
    if (reversed) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  await secondPayout(orderId);
  const s9 = await rb.run("refunded");
  assert.match(String(s9.observed.transfer_reversal), /^not reversed: 1 of 2 seller_transfers rows/);
  // The row step 7 never saw is a payout the money table now shows: not balanced.
  const rec = reconcile(rb.journal.all());
  const transfer = rec.rows.find((r) => r.what === "transfer")!;
  assert.equal(transfer.ok, false, transfer.verdict);
  assert.equal(rec.balanced, false, rec.summary);
  assert.ok(rb.anomalies.some((a) => /seller_transfers after the refund: 2 row\(s\) paying/.test(a.message)));
  assert.notEqual(deriveOutcome(loadEvidence(rb.dir)).outcome, "PASS");
});

test("step 7 by paste: an amount without its currency, or two transfer rows, is not reconciled (never assumed the order's, never the first row)", async () => {
  for (const paste of [
    // psql \x output of a row without the currency column: 375 of what?
    (o: string, amount: number) =>
      `-[ RECORD 1 ]------+------\nid                 | st_1\norder_id           | ${o}\namount             | ${amount}\nstripe_transfer_id | tr_1AbC\nstatus             | paid`,
    // Two rows (a seller paid twice): the first alone is not the payout.
    (o: string, amount: number) =>
      ` st_1 | ${o} | usr_seller | ${amount} | EUR | tr_1AbC | paid\n st_2 | ${o} | usr_seller | ${amount} | EUR | tr_2XyZ | paid`,
    // Two rows, the second a payout not sent yet (stripe_transfer_id NULL): one tr_… id, still two payouts.
    (o: string, amount: number) =>
      ` st_1 | ${o} | usr_seller | ${amount} | EUR | tr_1AbC            | paid\n st_2 | ${o} | usr_seller | ${amount} | EUR |                    | pending\n(2 rows)`,
  ]) {
    const rb = session();
    for (const id of ["preflight", "login", "product", "order"]) assert.equal((await rb.run(id)).status, "PASS");
    assert.equal((await payAndConfirm(rb)).status, "PASS");
    for (const id of ["completed", "licence"]) assert.equal((await rb.run(id)).status, "PASS");
    // The seller's share the order implies, pasted as the database would show it.
    const o = await rb.getOrder(rb.order!.id);
    const amount = o.total_cents - (o.vat_cents ?? 0) - (o.platform_fee_cents ?? 0);
    const s7 = await rb.pasteTransfer(paste(rb.order!.id, amount));
    assert.match(String(s7.observed.split), /^not reconciled: /, String(s7.observed.split));
    const row = reconcile(rb.journal.all()).rows.find((r) => r.what === "transfer")!;
    assert.equal(row.ok, false, row.verdict);
    await rb.close();
    bench.open.pop();
  }
});

test("a seller_transfers row with an empty currency: step 7 does not reconcile it as the order's currency, the transfer row NOT CHECKED with the reason", async () => {
  const rb = session();
  await upToLicence(rb);
  await admin(async (q) => {
    await q("UPDATE seller_transfers SET currency = '' WHERE order_id = $1", [rb.order!.id]);
  });
  const s7 = await rb.run("transfer");
  assert.match(String(s7.observed.split), /^not reconciled: seller_transfers\.currency is empty/);
  assert.equal(s7.observed.amount ?? null, null, "no amount shown in a currency the row does not give");
  assert.ok(
    rb.anomalies.some((a) => /seller transfer not reconciled: seller_transfers\.currency is empty/.test(a.message)),
  );
  const row = reconcile(rb.journal.all()).rows.find((r) => r.what === "transfer")!;
  assert.equal(row.ok, false, row.verdict);
  assert.match(row.verdict, /^NOT CHECKED: seller_transfers\.currency is empty/);
  assert.equal(row.values.database, null, "no amount journaled in an assumed currency");
  assert.equal((await rb.run("refund")).status, "PASS");
  await rb.run("refunded");
  assert.notEqual(deriveOutcome(loadEvidence(rb.dir)).outcome, "PASS");
});

test("a seller_transfers row whose currency is written in lower case ('eur', as Stripe writes it) is the order's EUR: step 7 PASS, the transfer and reversal rows balanced, never '3.75 EUR ≠ 3.75 EUR'", async () => {
  const rb = session();
  await upToLicence(rb);
  await admin(async (q) => {
    await q("UPDATE seller_transfers SET currency = lower(currency) WHERE order_id = $1", [rb.order!.id]);
  });
  const s7 = await rb.run("transfer");
  assert.equal(s7.status, "PASS", s7.reason);
  assert.equal((await rb.run("refund")).status, "PASS");
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "PASS", s9.reason);
  const rec = reconcile(rb.journal.all());
  for (const what of ["transfer", "reversal"]) {
    const row = rec.rows.find((r) => r.what === what)!;
    assert.equal(row.verdict, "balanced", `${what}: ${row.verdict}`);
  }
  assert.equal(rec.balanced, true, rec.summary);
});
