/**
 * A backend that answers about something else: against the sandbox, headless, with a loopback proxy
 * in front of the orchestrator rewriting what it says. A refund the orchestrator says belongs to
 * another payment (or is in another currency) is not this session's refund: it must never settle the
 * ledger, tick the refund boxes or balance the reconciliation. A payment the orchestrator calls
 * `failed` while the marketplace order completed is two sources disagreeing: never "no money moved".
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { readJournalFile } from "../../lib/evidence/journal";
import { JOURNAL_FILE } from "../../lib/evidence/files";
import { ledgerOf, moneyMoved, reconcile } from "../../lib/run/ledger";
import type { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { openStaging, orderAndPay, rewritingProxy, until, type Rewrite } from "./fixtures";

const newDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

describe("the orchestrator answers about something else", () => {
  let sb: Sandbox;
  let proxy: Awaited<ReturnType<typeof rewritingProxy>>;
  let rewrite: Rewrite | null = null;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 100, refundDelayMs: 100 } });
    proxy = await rewritingProxy(sb.hyperswitchUrl, () => rewrite);
  });
  after(async () => {
    await proxy?.close();
    await sb?.stop();
  });

  const open = (dir: string) =>
    openStaging(
      sb,
      dir,
      Session.create("staging", dir),
      { POLL_DEADLINE_S: 30, REFUND_DEADLINE_S: 15, HYPERSWITCH_URL: proxy.url },
      { HYPERSWITCH_API_KEY: sb.apiKey, DATABASE_URL: sb.readonlyDsn },
    );

  /** Steps 0–7 PASS on the honest orchestrator; then `lie` rewrites its refund answers. */
  async function refundWith(lie: Rewrite): Promise<Runbook> {
    const dir = newDir("hs-identity-");
    const rb = open(dir);
    await orderAndPay(rb);
    for (const r of [
      await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" }),
      await rb.run("completed"),
      await rb.run("licence"),
      await rb.run("transfer"),
    ])
      assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
    rewrite = lie;
    return rb;
  }

  /** Steps 0–3 PASS, the checkout paid, and the marketplace order completed (the paid cell not run yet). */
  async function paidAndCompleted(prefix: string): Promise<Runbook> {
    const rb = open(newDir(prefix));
    try {
      await orderAndPay(rb);
      await until("order completed", async () => (await rb.getOrder(rb.order!.id)).status === "completed");
      return rb;
    } catch (err) {
      await rb.close();
      throw err;
    }
  }

  /** Whatever the steps said, the journal on disk must not read the money as back. */
  function assertNotSettled(dir: string): void {
    const read = readJournalFile(path.join(dir, JOURNAL_FILE));
    assert.ok(read.ok, JSON.stringify(read.firstBroken));
    const entries = read.entries;
    const l = ledgerOf(entries);
    assert.equal(l.settled, false, "a refund of another payment settled this one");
    assert.equal(l.refunded, 0, `counted as refunded: ${l.refunded}`);
    assert.equal(reconcile(entries).balanced, false, reconcile(entries).summary);
  }

  for (const [name, lie] of [
    [
      "another payment",
      (_m: string, u: string, b: Record<string, unknown>) =>
        u.startsWith("/refunds/") ? { ...b, payment_id: "pay_someone_else0000000000000" } : b,
    ],
    [
      "another currency",
      (_m: string, u: string, b: Record<string, unknown>) =>
        u.startsWith("/refunds/") ? { ...b, currency: "JPY" } : b,
    ],
    [
      "another refund",
      (_m: string, u: string, b: Record<string, unknown>) =>
        u.startsWith("/refunds/") ? { ...b, refund_id: "ref_someone_else" } : b,
    ],
  ] as const) {
    test(`a refund the orchestrator says is of ${name}: steps 8 and 9 FAIL, nothing counted as refunded`, async () => {
      const rb = await refundWith(lie);
      try {
        const eight = await rb.run("refund");
        assert.equal(eight.status, "FAIL", `step 8 ${eight.status}: ${eight.reason}`);
        assert.match(eight.reason ?? "", /not this order's refund|escalate/);
        const nine = await rb.run("refunded", { reason: "test: the refund step failed" } as never);
        assert.notEqual(nine.status, "PASS", `step 9 ${nine.status}: ${nine.reason}`);
        // A re-run of the refund cell neither creates another refund nor turns it into a PASS.
        const again = await rb.run("refund");
        assert.equal(again.status, "FAIL", `re-run: ${again.status}: ${again.reason}`);
        assert.equal(rb.moneyOutstanding, true);
        assertNotSettled(rb.dir);
      } finally {
        rewrite = null;
        await rb.close();
      }
    });
  }

  test("step 8 saw the refund honestly, step 9 hears it is another payment's: step 9 FAILs, nothing counted", async () => {
    const rb = await refundWith(null as unknown as Rewrite);
    rewrite = null;
    try {
      const eight = await rb.run("refund");
      assert.equal(eight.status, "PASS", eight.reason);
      rewrite = (_m, u, b) => (u.startsWith("/refunds/") ? { ...b, payment_id: "pay_someone_else0000000000000" } : b);
      const nine = await rb.run("refunded");
      assert.equal(nine.status, "FAIL", `step 9 ${nine.status}: ${nine.reason}`);
      assert.match(nine.reason ?? "", /not this order's refund/);
      assertNotSettled(rb.dir);
    } finally {
      rewrite = null;
      await rb.close();
    }
  });

  test("the orchestrator says failed while the marketplace order completed: money may have moved, never 'no money moved'", async () => {
    const rb = await paidAndCompleted("hs-identity-pay-");
    try {
      rewrite = (_m, u, b) =>
        u.startsWith("/payments/")
          ? { ...b, status: "failed", amount_received: null, amount_capturable: 0, attempts: [] }
          : b;
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "FAIL", `${four.status}: ${four.reason}`);
      assert.doesNotMatch(four.reason ?? "", /no money moved/);
      assert.match(four.reason ?? "", /completed/);
      assert.equal(rb.moneyMoved, true, "the marketplace says the order completed: money may have moved");
      assert.equal(moneyMoved(readJournalFile(path.join(rb.dir, JOURNAL_FILE)).entries), true);
    } finally {
      rewrite = null;
      await rb.close();
    }
  });

  test("the orchestrator says it awaits the customer while the marketplace order completed: money may have moved, never 'no money moved'", async () => {
    const rb = await paidAndCompleted("hs-identity-awaiting-");
    try {
      rewrite = (_m, u, b) =>
        u.startsWith("/payments/")
          ? { ...b, status: "requires_payment_method", amount_received: null, amount_capturable: 0, attempts: [] }
          : b;
      // The report's last look (the paid cell never run) and the paid cell itself.
      await rb.lastLook();
      const entries = readJournalFile(path.join(rb.dir, JOURNAL_FILE)).entries;
      assert.equal(moneyMoved(entries), true, "the last look read two disagreeing sources as 'not paid'");
      assert.notEqual(reconcile(entries).summary, "no money moved");
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "FAIL", `${four.status}: ${four.reason}`);
      assert.doesNotMatch(four.reason ?? "", /no money moved|not paid yet/);
      assert.match(four.reason ?? "", /completed/);
      assert.equal(rb.moneyMoved, true);
      // The pay cell run again (after a restart, or Run All): no link to pay a second time.
      const again = await rb.pay();
      assert.doesNotMatch(again.note, /pay in your browser/);
      assert.match(again.note, /money may already have moved .*do not pay again/);
    } finally {
      rewrite = null;
      await rb.close();
    }
  });

  test("the orchestrator answers with another payment: not read as this payment's status", async () => {
    const rb = await paidAndCompleted("hs-identity-other-");
    try {
      rewrite = (_m, u, b) =>
        u.startsWith("/payments/")
          ? { ...b, payment_id: "pay_someone_else0000000000000", status: "failed", amount_received: null }
          : b;
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.doesNotMatch(four.reason ?? "", /no money moved/);
      assert.equal(rb.moneyMoved, true, `${four.status}: ${four.reason}`);
      assert.ok(
        rb.anomalies.some((a) => /pay_someone_else/.test(a.message)),
        rb.anomalies.map((a) => a.message).join("\n"),
      );
    } finally {
      rewrite = null;
      await rb.close();
    }
  });
});

describe("the marketplace answers about another order, or the order's payment changes", () => {
  let sb: Sandbox;
  let proxy: Awaited<ReturnType<typeof rewritingProxy>>;
  let rewrite: Rewrite | null = null;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 300, refundDelayMs: 100 } });
    proxy = await rewritingProxy(sb.marketplaceUrl, () => rewrite);
  });
  after(async () => {
    await proxy?.close();
    await sb?.stop();
  });

  for (const [name, field, value] of [
    ["another order", "id", "ord_someone_else"],
    ["another payment", "hyperswitch_payment_id", "pay_reissued0000000000000000"],
  ] as const) {
    test(`GET /orders/:id names ${name} after the order was created: step 5 FAILs, never PASS on it`, async () => {
      const dir = newDir("mp-identity-");
      const rb = openStaging(sb, dir, Session.create("staging", dir), {
        BASE_URL: `${proxy.url}/api/v1`,
        POLL_DEADLINE_S: 10,
      });
      try {
        await orderAndPay(rb);
        const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
        assert.equal(four.status, "PASS", four.reason);
        const id = rb.order!.id;
        rewrite = (m, u, b) => {
          if (m !== "GET" || !u.startsWith(`/api/v1/orders/${id}`)) return b;
          const data = b.data as Record<string, unknown>;
          return { ...b, data: { ...data, [field]: value } };
        };
        const five = await rb.run("completed");
        assert.equal(five.status, "FAIL", `step 5 ${five.status}: ${five.reason}`);
        assert.match(five.reason ?? "", new RegExp(value));
        assert.equal(rb.moneyMoved, true);
      } finally {
        rewrite = null;
        await rb.close();
      }
    });
  }
  test("a product priced in yen: MAX_PRICE 5.00 caps it at 5 JPY, never 500 JPY (the cap follows the currency's exponent)", async () => {
    const yen = (m: string, u: string, b: Record<string, unknown>) => {
      if (m !== "GET" || !u.startsWith("/api/v1/marketplace/products")) return b;
      const [p] = (b.data as { products: Array<Record<string, unknown>> }).products;
      return { ...b, data: { products: [{ ...p, id: "prd_yen", price_cents: 480, currency: "JPY", vat_rate: 0 }] } };
    };
    for (const [max, want] of [
      ["5.00", "FAIL"],
      ["500", "PASS"],
    ] as const) {
      const dir = newDir("mp-yen-");
      const rb = openStaging(sb, dir, Session.create("staging", dir), {
        BASE_URL: `${proxy.url}/api/v1`,
        MAX_PRICE: max,
      });
      rewrite = yen;
      try {
        const r = await rb.run("preflight");
        assert.equal(r.status, want, `MAX_PRICE ${max}: ${r.status}: ${r.reason}`);
        if (want === "FAIL") {
          assert.match(r.reason ?? "", /5 JPY/);
          assert.doesNotMatch(r.reason ?? "", /500 JPY/);
        }
      } finally {
        rewrite = null;
        await rb.close();
      }
    }
  });

  test("POST /orders/:id/refund answers about another order: steps 8 and 9 FAIL, nothing counted as refunded", async () => {
    const dir = newDir("mp-identity-refund-");
    const rb = openStaging(
      sb,
      dir,
      Session.create("staging", dir),
      { BASE_URL: `${proxy.url}/api/v1`, POLL_DEADLINE_S: 30, REFUND_DEADLINE_S: 10 },
      { DATABASE_URL: sb.readonlyDsn },
    );
    try {
      await orderAndPay(rb);
      for (const r of [
        await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" }),
        await rb.run("completed"),
        await rb.run("licence"),
        await rb.run("transfer"),
      ])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const id = rb.order!.id;
      rewrite = (m, u, b) => {
        if (m !== "POST" || !u.startsWith(`/api/v1/orders/${id}/refund`)) return b;
        const data = b.data as Record<string, unknown> | undefined;
        return data
          ? { ...b, data: { ...data, order_id: "ord_someone_else" } }
          : { ...b, order_id: "ord_someone_else" };
      };
      const eight = await rb.run("refund");
      assert.equal(eight.status, "FAIL", `step 8 ${eight.status}: ${eight.reason}`);
      assert.match(eight.reason ?? "", /ord_someone_else|not this order's refund/);
      rewrite = null;
      const nine = await rb.run("refunded", { reason: "test: the refund step failed" } as never);
      assert.notEqual(nine.status, "PASS", `step 9 ${nine.status}: ${nine.reason}`);
      assert.equal(rb.moneyOutstanding, true);
      const entries = readJournalFile(path.join(rb.dir, JOURNAL_FILE)).entries;
      assert.equal(ledgerOf(entries).settled, false, "a refund answer about another order settled this one");
      assert.equal(reconcile(entries).balanced, false, reconcile(entries).summary);
    } finally {
      rewrite = null;
      await rb.close();
    }
  });
});
