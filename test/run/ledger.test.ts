/**
 * Issue 23 items 2 and 4, against the sandbox (PGlite, or PostgreSQL with TEST_PG_URL): refunds by
 * amount (a partial refund settles nothing; step 8 then refunds the rest; an over-refund is an
 * anomaly), the seller transfer reconciled with the order's split (step 7) and its reversal (step 9).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, test } from "node:test";
import type { Faults } from "../../sandbox";
import { type DataIn, Journal, type JournalKind } from "../../lib/evidence/journal";
import { ledgerOf, moneyOutstanding, reconcile, refundAttempts, refundedText } from "../../lib/run/ledger";
import type { Runbook } from "../../lib/run/runbook";
import { payAndConfirm } from "../faults/drive";
import { stagingSandbox } from "./fixtures";
import { loadEvidence } from "../../lib/report/evidence";
import { actionItems, deriveOutcome } from "../../lib/report/verdict";
import { applySealRules } from "../../lib/host/seal-rules";
import { standingFor } from "../../lib/notebook/standing";

const BASE: Partial<Faults> = { completionDelayMs: 100, refundDelayMs: 100 };
const bench = stagingSandbox("ledger-", BASE);
const session = (): Runbook => bench.session();

afterEach(async () => {
  bench.sb.setFaults({
    ...BASE,
    partialRefundCents: 0,
    overRefundCents: 0,
    surchargeMinor: 0,
    transferDeltaCents: 0,
    transferNotReversed: false,
    transferReversedCents: 0,
  });
});

async function upToTransfer(rb: Runbook) {
  for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  const paid = await payAndConfirm(rb);
  assert.equal(paid.status, "PASS", paid.reason);
  for (const r of [await rb.run("completed"), await rb.run("licence")]) assert.equal(r.status, "PASS", r.reason);
  return rb.run("transfer");
}

test("step 7 by paste with an amount it cannot read: 'not reconciled' and an anomaly, the transfer row not balanced (review 4)", async () => {
  const rb = session();
  for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  assert.equal((await payAndConfirm(rb)).status, "PASS");
  for (const r of [await rb.run("completed"), await rb.run("licence")]) assert.equal(r.status, "PASS", r.reason);
  // "4.20": major or minor units? Not guessed.
  const s7 = await rb.pasteTransfer(` st_1 | ${rb.order!.id} | usr_seller | 4.20 | EUR | tr_1AbC | paid`);
  assert.equal(s7.observed.split, "not reconciled: amount not found in the pasted output");
  assert.ok(rb.anomalies.some((a) => /amount not found in the pasted output/.test(a.message)));
  const row = reconcile(rb.journal.all()).rows.find((r) => r.what === "transfer")!;
  assert.notEqual(row.verdict, "balanced");
  // Refunded in full, every other row agrees: the table is still not balanced, as the transfer
  // was never compared with the order's split (a "not reported" row must not read as balanced).
  assert.equal((await rb.run("refund")).status, "PASS");
  assert.equal((await rb.run("refunded")).status, "PASS");
  const rec = reconcile(rb.journal.all());
  const transfer = rec.rows.find((r) => r.what === "transfer")!;
  assert.deepEqual([transfer.ok, transfer.unchecked], [false, "amount not found in the pasted output"]);
  assert.equal(rec.balanced, false, rec.summary);
  assert.match(rec.summary, /^not balanced: transfer NOT CHECKED: amount not found in the pasted output/);
  const ev = loadEvidence(rb.dir);
  assert.notEqual(deriveOutcome(ev).outcome, "PASS", "a transfer never compared is never a PASS");
  const items = actionItems(ev);
  assert.ok(
    items.some((i) =>
      /^\*\*Seller transfer not reconciled\*\* for ord_\S+: amount not found in the pasted output — /.test(i),
    ),
    items.join("\n"),
  );
});

test("a partial refund then the rest: two refunds, settled only after the second", async () => {
  const rb = session();
  const s7 = await upToTransfer(rb);
  assert.equal(s7.status, "PASS", s7.reason);
  bench.sb.setFaults({ partialRefundCents: 1 });
  const s8 = await rb.run("refund");
  assert.equal(s8.status, "PASS", s8.reason);
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "FAIL", "one cent of the total back is not refunded");
  const total = rb.order!.totalMinor;
  assert.match(
    s9.reason ?? "",
    /partial refund: 0\.01 EUR of \d+\.\d\d EUR refunded \(\d+\.\d\d EUR outstanding\) — run step 8 again/,
  );
  assert.equal(ledgerOf(rb.journal.all()).outstanding, total - 1);
  assert.ok(rb.moneyOutstanding, "the money-moved banner stays after refunding 1 cent");

  const again = await rb.run("refund");
  assert.equal(again.status, "PASS", again.reason);
  assert.equal(again.observed.attempt, 2);
  assert.equal(
    (again.observed.amount as { minor: number }).minor,
    total - 1,
    "the second refund asks for what is outstanding",
  );
  assert.ok(rb.moneyOutstanding, "not settled before the second refund succeeded");
  const done = await rb.run("refunded");
  assert.equal(done.status, "PASS", done.reason);
  assert.equal(rb.moneyOutstanding, false);
  const attempts = refundAttempts(Journal.open(rb.dir).all());
  assert.deepEqual(
    attempts.map((a) => [a.attempt, a.status, a.amount]),
    [
      [1, "succeeded", 1],
      [2, "succeeded", total - 1],
    ],
  );
  assert.match(String(done.observed.refunded), /^\d+\.\d\d EUR of \d+\.\d\d EUR refunded$/);
  assert.match(String(done.observed.transfer_reversal), /^reversed at /);
  const rec = reconcile(rb.journal.all());
  assert.ok(rec.balanced, rec.summary);
  const [n] = await sqlCount(rb.order!.id);
  assert.equal(n, 2, "two refunds rows for the order");
});

test("an over-refund is an anomaly and step 9 FAILs naming both amounts", async () => {
  const rb = session();
  assert.equal((await upToTransfer(rb)).status, "PASS");
  bench.sb.setFaults({ overRefundCents: 1 });
  assert.equal((await rb.run("refund")).status, "PASS");
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "FAIL");
  assert.match(
    s9.reason ?? "",
    /^over-refund: (\d+\.\d\d) EUR of \d+\.\d\d EUR refunded — 0\.01 EUR MORE than was captured/,
  );
  assert.ok(
    rb.anomalies.some((a) => /over-refund/.test(a.message)),
    "recorded as an anomaly",
  );
  const rec = reconcile(rb.journal.all());
  assert.equal(rec.balanced, false);
  assert.match(rec.summary, /OVER-REFUND/);
});

test("a transfer amount that does not match the order's split: step 7 FAILs naming both amounts and sources", async () => {
  bench.sb.setFaults({ transferDeltaCents: 7 });
  const rb = session();
  const s7 = await upToTransfer(rb);
  assert.equal(s7.status, "FAIL");
  assert.match(
    s7.reason ?? "",
    /^seller transfer (\d+\.\d\d) EUR \(database seller_transfers\.amount\) ≠ (\d+\.\d\d) EUR the order implies: total \S+ EUR − VAT \S+ EUR − platform fee \S+ EUR \(marketplace API order ord_/,
  );
  assert.match(String(s7.observed.stripe_transfer_id), /^tr_/, "the transfer id is still recorded");
});

test("a transfer left paid after the refund is recorded, as an anomaly and a fact", async () => {
  bench.sb.setFaults({ transferNotReversed: true });
  const rb = session();
  assert.equal((await upToTransfer(rb)).status, "PASS");
  assert.equal((await rb.run("refund")).status, "PASS");
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "PASS", s9.reason);
  assert.equal(s9.observed.transfer_reversal, "not reversed: seller_transfers.status is paid after the refund");
  assert.ok(rb.anomalies.some((a) => /seller transfer not reversed/.test(a.message)));
  assert.match(
    reconcile(rb.journal.all()).summary,
    /reversal MISMATCH: .* \(marketplace API .*\) ≠ 0\.00 EUR \(database/,
  );
  const ev = loadEvidence(rb.dir);
  const items = actionItems(ev);
  assert.ok(
    items.some((i) =>
      /^\*\*Seller transfer not reversed\*\* for ord_\S+: not reversed: seller_transfers\.status is paid/.test(i),
    ),
    items.join("\n"),
  );
  assert.notEqual(deriveOutcome(ev).outcome, "PASS", "money that does not reconcile is never a PASS");
});

test("a partial reversal (status reversed, 0.01 EUR of the transfer reversed) is not 'reversed': a fact, an anomaly, a MISMATCH, never PASS", async () => {
  bench.sb.setFaults({ transferReversedCents: 1 });
  const rb = session();
  assert.equal((await upToTransfer(rb)).status, "PASS");
  assert.equal((await rb.run("refund")).status, "PASS");
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "PASS", s9.reason);
  assert.match(
    String(s9.observed.transfer_reversal),
    /^partially reversed at \S+: 0\.01 EUR of \d+\.\d\d EUR \(seller_transfers\.amount_reversed; status reversed\)$/,
  );
  assert.ok(rb.anomalies.some((a) => /seller transfer partially reversed/.test(a.message)));
  const row = reconcile(rb.journal.all()).rows.find((r) => r.what === "reversal")!;
  assert.equal(row.values.database?.amount, 1);
  assert.match(
    row.verdict,
    /^MISMATCH: .* \(marketplace API .*\) ≠ 0\.01 EUR \(database seller_transfers\.amount_reversed/,
  );
  const ev = loadEvidence(rb.dir);
  assert.notEqual(deriveOutcome(ev).outcome, "PASS");
  const items = actionItems(ev);
  assert.ok(
    items.some((i) =>
      /^\*\*Seller transfer not reversed\*\* for ord_\S+: partially reversed at \S+: 0\.01 EUR of /.test(i),
    ),
    items.join("\n"),
  );
});

test("a seller_transfers table without amount_reversed: the reversal's amount NOT CHECKED (never the transfer assumed), never PASS", async () => {
  const rb = session();
  assert.equal((await upToTransfer(rb)).status, "PASS");
  assert.equal((await rb.run("refund")).status, "PASS");
  await untilOrder(rb.order!.id, "refunded");
  await admin("ALTER TABLE seller_transfers DROP COLUMN amount_reversed");
  try {
    const s9 = await rb.run("refunded");
    assert.equal(s9.status, "PASS", s9.reason);
    assert.match(
      String(s9.observed.transfer_reversal),
      /^reversed at \S+ by its status; the amount not checked: seller_transfers has no amount_reversed column/,
    );
    const row = reconcile(rb.journal.all()).rows.find((r) => r.what === "reversal")!;
    assert.equal(row.values.database, null);
    assert.match(row.verdict, /^NOT CHECKED: seller_transfers has no amount_reversed column/);
    const ev = loadEvidence(rb.dir);
    assert.equal(deriveOutcome(ev).outcome, "PARTIAL", deriveOutcome(ev).reason);
    assert.ok(actionItems(ev).some((i) => /^\*\*Seller transfer reversal not checked\*\*/.test(i)));
  } finally {
    await admin("ALTER TABLE seller_transfers ADD COLUMN amount_reversed integer NOT NULL DEFAULT 0");
  }
});

async function admin(sql: string): Promise<void> {
  const { Client } = await import("pg");
  const c = new Client({ connectionString: bench.sb.adminDsn });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function untilOrder(orderId: string, status: string): Promise<void> {
  const { Client } = await import("pg");
  const c = new Client({ connectionString: bench.sb.adminDsn });
  await c.connect();
  try {
    for (let i = 0; i < 100; i++) {
      const r = await c.query<{ status: string }>("SELECT status FROM orders WHERE id = $1", [orderId]);
      if (r.rows[0]?.status === status) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.fail(`order ${orderId} never reached ${status}`);
  } finally {
    await c.end();
  }
}

async function sqlCount(orderId: string): Promise<number[]> {
  const { Client } = await import("pg");
  const c = new Client({ connectionString: bench.sb.adminDsn });
  await c.connect();
  try {
    const r = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM refunds WHERE order_id = $1", [orderId]);
    return [r.rows[0].n];
  } finally {
    await c.end();
  }
}

// ------------------------------------------------------------------------------------ the ledger on journals alone

/** One entry to journal: its kind and the fields the test is about. */
type Entry = { [K in JournalKind]: [K, Partial<DataIn<K>>] }[JournalKind];
/** Fields each kind requires that these tests do not read (every entry is checked against its kind's schema). */
const FILL: { [K in JournalKind]?: Partial<DataIn<K>> } = {
  order_created: { created_at: "2026-11-26T13:59:00.000Z", http_status: 201 },
  payment_confirmed: { last4: "4242", processor: "stripe", via: "operator" },
  payment_uncertain: { payment_id: "pay_1" },
  refund_intent: { order_id: "ord_1" },
  refund_created: { http_status: 201 },
};

function journalOf(entries: Entry[]) {
  const dir = fs.mkdtempSync(path.join(bench.archive, "j-"));
  const j = Journal.create(path.join(dir, "s"), { sessionId: "s", mode: "staging" });
  for (const [kind, data] of entries) j.append(kind, { ...FILL[kind], ...data } as never);
  return j.all();
}
const PAID: Entry[] = [
  [
    "order_created",
    { order_id: "ord_1", payment_id: "pay_1", payment_url: "http://x/", total_cents: 500, currency: "EUR" },
  ],
  ["payment_confirmed", { at: "2026-11-26T14:00:00.000Z", last4: "4242", processor: "stripe" }],
];

test("ledger: a succeeded 1-cent refund of 5 EUR settles nothing; the rest settles it; more is an over-refund", () => {
  const partial = journalOf([
    ...PAID,
    ["refund_intent", { idempotency_key: "k", attempt: 1 }],
    ["refund_created", { refund_id: "ref_1", status: "pending", attempt: 1, amount_cents: 1 }],
    ["refund_status", { refund_id: "ref_1", attempt: 1, status: "succeeded", source: "orchestrator", amount: 1 }],
  ]);
  const l = ledgerOf(partial);
  assert.deepEqual([l.refunded, l.outstanding, l.settled, l.overRefund], [1, 499, false, 0]);
  assert.equal(refundedText(l), "0.01 EUR of 5.00 EUR refunded (4.99 EUR outstanding)");
  assert.equal(moneyOutstanding(partial), true, "the banner stays");
  assert.equal(reconcile(partial).partial, "0.01 EUR of 5.00 EUR refunded (4.99 EUR outstanding)");

  const rest = journalOf([
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "succeeded", attempt: 1, amount_cents: 1 }],
    ["refund_created", { refund_id: "ref_2", status: "succeeded", attempt: 2, amount_cents: 499 }],
  ]);
  assert.equal(ledgerOf(rest).settled, true);
  assert.equal(moneyOutstanding(rest), false);

  const over = journalOf([
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "succeeded", attempt: 1, amount_cents: 501 }],
  ]);
  assert.deepEqual([ledgerOf(over).overRefund, ledgerOf(over).settled], [1, false]);
  assert.equal(moneyOutstanding(over), true, "an over-refund is never 'settled'");
});

test("reconcile: an amount a step could not compare is NOT CHECKED, never balanced, until a source reports it", () => {
  const seenTransfer = (source: "marketplace API" | "database"): Entry => [
    "money_seen",
    { what: "transfer", source, amount: 375, currency: "EUR", ref: source },
  ];
  const settled: Entry[] = [
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "succeeded", attempt: 1, amount_cents: 500 }],
    [
      "money_seen",
      { what: "refunded", source: "marketplace API", amount: 500, currency: "EUR", ref: "order refunded_cents" },
    ],
  ];
  const control = reconcile(journalOf(settled));
  assert.equal(control.balanced, true, `the control: settled, nothing left unchecked (${control.summary})`);
  const unchecked = reconcile(
    journalOf([
      ...settled,
      seenTransfer("database"),
      ["money_unchecked", { what: "transfer", why: "the order carries no platform_fee_cents" }],
    ]),
  );
  const row = unchecked.rows.find((r) => r.what === "transfer")!;
  assert.deepEqual(
    [row.ok, row.verdict, row.values.database?.amount],
    [false, "NOT CHECKED: the order carries no platform_fee_cents", 375],
  );
  assert.equal(unchecked.balanced, false);
  // A later reading by both sources (a fresh look) supersedes it.
  const later = reconcile(
    journalOf([
      ...settled,
      ["money_unchecked", { what: "transfer", why: "amount not found in the pasted output" }],
      seenTransfer("marketplace API"),
      seenTransfer("database"),
    ]),
  );
  assert.equal(later.rows.find((r) => r.what === "transfer")!.verdict, "balanced");
  assert.equal(later.balanced, true);
});

test("ledger: a journal written before refunds carried amounts reads as before (a succeeded refund settles)", () => {
  const legacy = journalOf([
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "pending" }],
    ["refund_status", { refund_id: "ref_1", status: "succeeded", source: "orchestrator" }],
  ]);
  assert.equal(ledgerOf(legacy).settled, true);
  assert.equal(moneyOutstanding(legacy), false);
});

test("ledger: a refund answered with amount null is unknown, not settled; the marketplace's refunded total decides", () => {
  const unknown = journalOf([
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "succeeded", attempt: 1, amount_cents: null }],
  ]);
  assert.equal(ledgerOf(unknown).settled, false, "null is unknown, not the whole amount");
  assert.equal(moneyOutstanding(unknown), true);
  const mp = (cents: number): Entry => [
    "money_seen",
    { what: "refunded", source: "marketplace API", amount: cents, currency: "EUR", ref: "order refunded_cents" },
  ];
  const oneOfFive = journalOf([
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "succeeded", attempt: 1, amount_cents: null }],
    mp(100),
  ]);
  assert.equal(refundedText(ledgerOf(oneOfFive)), "1.00 EUR of 5.00 EUR refunded (4.00 EUR outstanding)");
  assert.equal(moneyOutstanding(oneOfFive), true);
  const all = journalOf([
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "succeeded", attempt: 1, amount_cents: null }],
    mp(500),
  ]);
  assert.equal(ledgerOf(all).settled, true);
  // Even an old-format journal is not settled when the marketplace says only part came back.
  const legacyPartial = journalOf([...PAID, ["refund_created", { refund_id: "ref_1", status: "succeeded" }], mp(100)]);
  assert.equal(ledgerOf(legacyPartial).settled, false);
  assert.equal(reconcile(legacyPartial).balanced, false);
  // A refund by amount that covers the total while the marketplace reports less: not settled.
  const disagree = journalOf([
    ...PAID,
    ["refund_created", { refund_id: "ref_1", status: "succeeded", attempt: 1, amount_cents: 500 }],
    mp(100),
  ]);
  assert.equal(ledgerOf(disagree).settled, false);
});

test("step 9: the order refunded but a surcharge still outstanding FAILs, naming the amount and the orchestrator", async () => {
  bench.sb.setFaults({ surchargeMinor: 50 });
  const rb = session();
  for (const r of [await rb.run("preflight"), await rb.run("login"), await rb.run("product"), await rb.run("order")])
    assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
  assert.equal((await payAndConfirm(rb)).status, "FAIL", "step 4 refuses the surcharge");
  await untilOrder(rb.order!.id, "completed"); // the marketplace completes the order all the same
  const s8 = await rb.run("refund", { reason: "step 4 refused a surcharge: refund what was captured" });
  assert.equal(s8.status, "PASS", s8.reason);
  const s9 = await rb.run("refunded");
  assert.equal(s9.status, "FAIL", s9.reason);
  assert.match(s9.reason ?? "", /0\.50 EUR outstanding.*refund the rest at the orchestrator/);
  assert.ok(rb.moneyOutstanding);
});

test("after a partial refund, the advice and the refusals say what came back, and a sealed session is not told to run step 8", async () => {
  const rb = session();
  assert.equal((await upToTransfer(rb)).status, "PASS");
  bench.sb.setFaults({ partialRefundCents: 100 });
  assert.equal((await rb.run("refund")).status, "PASS");
  assert.equal((await rb.run("refunded")).status, "FAIL");
  const back = /1\.00 EUR of \d+\.\d\d EUR refunded \(\d+\.\d\d EUR outstanding\)/;
  const ev = loadEvidence(rb.dir);
  const items = actionItems(ev);
  assert.ok(
    items.some((i) => /^\*\*Refund the rest\*\*: .* run step 8 again/.test(i)),
    items.join("\n"),
  );
  const sealed = actionItems({
    ...ev,
    sealedAs: { incomplete: null, ...ev.sealedAs, unrefunded: "refunded at the dashboard, OPS-1" },
  });
  assert.ok(!sealed.some((i) => /^\*\*Refund the rest/.test(i)), sealed.join("\n"));
  const not = sealed.find((i) => i.startsWith("**Not refunded**")) ?? "";
  assert.match(not, back);
  assert.doesNotMatch(not, /no refund succeeded/);
  const standing = standingFor({ ARCHIVE_DIR: bench.archive, SESSION_ID: rb.cfg.sessionId });
  assert.match(String(standing?.refundedSoFar), back);
  assert.throws(
    () => applySealRules(rb.dir, rb.journal, { incomplete: "the notebook never ran; test" }),
    (e: Error) => back.test(e.message) && !/no refund has succeeded/.test(e.message),
  );
});

test("ledger: the latest captured amount wins by journal position (a re-run paid cell that confirms 5.00 after a refused 2.50)", () => {
  const order = PAID[0];
  const cap = (minor: number) => ({ minor, currency: "EUR" });
  const rerun = journalOf([
    order,
    ["payment_uncertain", { at: "t", seen: "x", why: "partial", captured: cap(250), captured_source: "partial" }],
    ["payment_confirmed", { at: "t", captured: cap(500), captured_source: "the orchestrator's amount_received" }],
  ]);
  assert.deepEqual(
    [ledgerOf(rerun).captured, ledgerOf(rerun).capturedSource],
    [500, "the orchestrator's amount_received"],
  );
  const later = journalOf([
    order,
    ["payment_confirmed", { at: "t", captured: cap(500), captured_source: "step 4" }],
    ["payment_uncertain", { at: "t", seen: "x", why: "partial", captured: cap(250), captured_source: "step 5" }],
  ]);
  assert.equal(ledgerOf(later).captured, 250);
});
