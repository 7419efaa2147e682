/**
 * Issue 12: Hyperswitch's status values drive steps 4, 5, 8 and 9; the created order is checked
 * before the pay link; a schema error names what was received. The sandbox double only produces
 * succeeded / failed / processing, so the other statuses are injected: the session is real (journal,
 * trace, runStep), the answers of the marketplace and the orchestrator are handed in per test.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { z } from "zod";
import { HsPayment, hsCardLast4 } from "../../lib/contract";
import { zodIssues } from "../../lib/clients/http";
import { SchemaError } from "../../lib/errors";
import { moneyOutstanding, refundAttempts } from "../../lib/run/ledger";
import {
  INTENT_STATUSES,
  type IntentStatus,
  type MoneyClass,
  REFUND_STATUSES,
  paymentClass,
  refundClass,
} from "../../lib/run/hs-status";
import { orderMatchesCharge } from "../../lib/run/guards";
import { describeHsPayment } from "../../lib/run/steps/payment";
import { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { confirmPayment, stepResult } from "./fixtures";
import { STEPS } from "../../lib/run/steps";

// ------------------------------------------------------------------------------------ the model

test("every payment status of the spec has a class; an unknown one needs an operator, never fine", () => {
  assert.equal(INTENT_STATUSES.length, 16);
  const want: Record<IntentStatus, MoneyClass> = {
    succeeded: "money_moved",
    partially_captured: "money_moved",
    partially_captured_and_capturable: "money_moved",
    requires_capture: "funds_held",
    partially_authorized_and_requires_capture: "funds_held",
    failed: "no_money",
    cancelled: "no_money",
    expired: "no_money",
    processing: "in_flight",
    partially_captured_and_processing: "in_flight",
    requires_customer_action: "in_flight",
    requires_payment_method: "in_flight",
    requires_confirmation: "in_flight",
    requires_merchant_action: "needs_action",
    conflicted: "needs_action",
    cancelled_post_capture: "needs_action",
  };
  for (const s of INTENT_STATUSES) assert.equal(paymentClass(s).class, want[s], s);
  for (const s of ["requires_customer_action", "requires_payment_method", "requires_confirmation"])
    assert.equal(paymentClass(s).awaitingCustomer, true, s);
  for (const s of ["authorized", "", "SUCCEEDED", "toString", "__proto__"]) {
    assert.equal(paymentClass(s).class, "needs_action", s);
    assert.equal(paymentClass(s).known, false, s);
  }
});

test("every refund status of the spec has a class; an unknown one needs an operator", () => {
  assert.deepEqual([...REFUND_STATUSES], ["succeeded", "failed", "pending", "review"]);
  assert.deepEqual(
    REFUND_STATUSES.map((s) => refundClass(s).class),
    ["money_moved", "no_money", "in_flight", "needs_action"],
  );
  assert.equal(refundClass("refunded").class, "needs_action");
});

test("payment_method_data is read leniently: card optional, last4 nullable, wallets accepted", () => {
  const base = { payment_id: "pay_1", status: "succeeded", amount: 500, currency: "EUR", connector: "stripe" };
  const wallet = HsPayment.parse({ ...base, payment_method_data: { wallet: { apple_pay: { type: "debit" } } } });
  assert.equal(describeHsPayment(wallet), "succeeded (wallet) via stripe");
  const nullLast4 = HsPayment.parse({ ...base, payment_method_data: { card: { last4: null }, billing: null } });
  assert.equal(hsCardLast4(nullLast4), null);
  assert.equal(describeHsPayment(nullLast4), "succeeded via stripe");
  const card = HsPayment.parse({ ...base, payment_method_data: { card: { last4: "4242", card_network: "Visa" } } });
  assert.equal(describeHsPayment(card), "succeeded •••• 4242 via stripe");
  for (const pmd of [null, undefined, "card", { card: null }, { card: { last4: "12345" } }])
    assert.ok(HsPayment.safeParse({ ...base, payment_method_data: pmd }).success, JSON.stringify(pmd));
});

// ------------------------------------------------------------------------------------ a session with injected answers

interface Answers {
  hsPayment?: () => Record<string, unknown>;
  order?: () => Record<string, unknown>;
  refundPost?: () => Record<string, unknown>;
  hsRefund?: () => Record<string, unknown>;
}

const ORDER = {
  id: "ord_1",
  status: "pending",
  product_id: "prod_1",
  total_cents: 500,
  currency: "EUR",
  hyperswitch_payment_id: "pay_ref_1",
  payment_url: "http://127.0.0.1:9/checkout/pay_ref_1",
  created_at: "2026-11-26T14:00:00.000Z",
};

/** A staging session whose steps 0–3 passed (or 0–4 with `paid`), talking to `answers` instead of servers. */
function session(
  answers: Answers,
  opts: { paid?: boolean; refunded?: boolean; params?: Record<string, unknown> } = {},
) {
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "hs-status-"));
  const rb = Runbook.open(
    {
      SESSION_ID: Session.create("staging", archive),
      MODE: "staging",
      BASE_URL: "http://127.0.0.1:9",
      HYPERSWITCH_URL: "http://127.0.0.1:9",
      OPERATOR_EMAIL: "ops-test@example.com",
      REFUND: true,
      ARCHIVE_DIR: archive,
      POLL_DEADLINE_S: 20,
      REFUND_DEADLINE_S: 20,
      ...opts.params,
    },
    { OPERATOR_PASSWORD: "not-a-real-password", HYPERSWITCH_API_KEY: "snd_test_key" },
  );
  rb.journal.append("product_selected", {
    product: {
      id: "prod_1",
      title: "test",
      price_cents: 417,
      currency: "EUR",
      vat_rate: 0.2,
      seller_id: "s",
      license_type: "std",
    },
    total_minor: 500,
  });
  rb.journal.append("order_created", {
    order_id: ORDER.id,
    payment_id: ORDER.hyperswitch_payment_id,
    payment_url: ORDER.payment_url,
    total_cents: 500,
    currency: "EUR",
    created_at: ORDER.created_at,
    http_status: 201,
  });
  const upTo = opts.paid ? 4 : 3;
  for (let n = 0; n <= upTo; n++) rb.results.set(STEPS[n].id, stepResult(n, "PASS"));
  if (opts.paid) confirmPayment(rb.journal);
  if (opts.refunded) for (const n of [5, 6, 7]) rb.results.set(STEPS[n].id, stepResult(n, "PASS"));
  rb.api.token = "token-for-tests";
  const hsPaths: string[] = [];
  const keys: string[] = [];
  const ok = (data: unknown) => ({ data, status: 200, latencyMs: 1, attempts: 1, trace: { from: 0, to: 0 } });
  const api = rb.api as unknown as { call: (o: { endpoint: string; idempotencyKey?: string }) => Promise<unknown> };
  api.call = async (o) => {
    if (o.endpoint === "GET /orders/:id") return ok({ ...ORDER, ...answers.order?.() });
    if (o.endpoint === "GET /licenses/mine") return ok({ licenses: [] });
    if (o.endpoint === "POST /orders/:id/refund") {
      keys.push(o.idempotencyKey ?? "");
      return { ...ok({ order_id: ORDER.id, ...answers.refundPost?.() }), status: 201 };
    }
    throw new Error(`unexpected call ${o.endpoint}`);
  };
  const hs = rb.hs as unknown as { call: (o: { endpoint: string; path: string }) => Promise<unknown> };
  hs.call = async (o) => {
    hsPaths.push(o.path);
    if (o.endpoint === "GET /payments/:id" && answers.hsPayment)
      return ok({ payment_id: ORDER.hyperswitch_payment_id, amount: 500, currency: "EUR", ...answers.hsPayment() });
    if (o.endpoint === "GET /refunds/:id" && answers.hsRefund)
      return ok({ payment_id: ORDER.hyperswitch_payment_id, amount: 500, ...answers.hsRefund() });
    throw new Error(`orchestrator unreachable in this test (${o.endpoint})`);
  };
  return { rb, hsPaths, keys };
}

describe("step 4 acts on the orchestrator's class", () => {
  const seen = { last4: "4242", processor: "stripe" };

  test("funds held: PASS, and it says to void the hold if the order does not complete", async () => {
    const { rb, hsPaths } = session({ hsPayment: () => ({ status: "requires_capture", connector: "stripe" }) });
    const r = await rb.confirmPaid(seen);
    assert.equal(r.status, "PASS", r.reason);
    assert.match(
      r.reason ?? "",
      /funds held \(requires_capture\): void the hold at the orchestrator \(payment pay_ref_1\)/,
    );
    assert.ok(rb.moneyMoved);
    assert.ok(
      hsPaths.every((p) => /\?force_sync=true&expand_attempts=true$/.test(p)),
      hsPaths.join(" "),
    );
    await rb.close();
  });

  test("final with no money moved: FAIL, pay again in a fresh session", async () => {
    for (const status of ["failed", "cancelled", "expired"]) {
      const { rb } = session({ hsPayment: () => ({ status }) });
      const r = await rb.confirmPaid(seen);
      assert.equal(r.status, "FAIL", status);
      assert.match(
        r.reason ?? "",
        new RegExp(`payment pay_ref_1 is ${status}: no money moved; pay again in a fresh session`),
      );
      assert.equal(rb.moneyMoved, false);
      await rb.close();
    }
  });

  test("waiting for the customer: not paid yet (SKIPPED), the link stays", async () => {
    for (const status of ["requires_customer_action", "requires_payment_method", "requires_confirmation"]) {
      const { rb } = session({ hsPayment: () => ({ status }) });
      const r = await rb.confirmPaid(seen);
      assert.equal(r.status, "SKIPPED", status);
      assert.match(r.reason ?? "", new RegExp(`^not paid yet \\(orchestrator: ${status}\\)`));
      assert.match((await rb.pay()).paymentUrl, /checkout/);
      await rb.close();
    }
  });

  test("needs an operator (or a status nobody knows): FAIL with the next action and the payment reference", async () => {
    for (const status of ["conflicted", "requires_merchant_action", "cancelled_post_capture", "authorized"]) {
      const { rb } = session({ hsPayment: () => ({ status }) });
      const r = await rb.confirmPaid(seen);
      assert.equal(r.status, "FAIL", status);
      assert.match(r.reason ?? "", /escalate to the marketplace squad with payment pay_ref_1/, status);
      // Money may have moved: the record says so (banner, report), and a re-run never turns it into a PASS.
      assert.equal(rb.moneyMoved, true, `${status}: money may have moved`);
      assert.equal(rb.journal.last("payment_confirmed"), undefined);
      assert.equal((await rb.confirmPaid(seen)).status, "FAIL", `${status}: re-run`);
      await rb.close();
    }
  });

  test("a wallet payment still counts as the orchestrator's evidence", async () => {
    const { rb } = session({
      hsPayment: () => ({ status: "succeeded", connector: "adyen", payment_method_data: { wallet: {} } }),
    });
    const r = await rb.confirmPaid(seen);
    assert.equal(r.status, "PASS", r.reason);
    assert.equal(r.observed.orchestrator, "succeeded (wallet) via adyen");
    await rb.close();
  });
});

// Each test has its own session folder and its own injected answers, and most wait out a 5 s
// deadline: they run side by side.
describe("step 5: the advice follows the orchestrator's class, and a final no-money payment stops it early", {
  concurrency: true,
}, () => {
  test("payment failed at the orchestrator while the order waits: FAIL within seconds, not at the deadline", async () => {
    let status = "succeeded";
    const { rb } = session({ hsPayment: () => ({ status }) }, { paid: true });
    setTimeout(() => {
      status = "failed";
    }, 500).unref();
    const t0 = performance.now();
    const r = await rb.run("completed");
    const s = (performance.now() - t0) / 1000;
    assert.equal(r.status, "FAIL");
    assert.match(
      r.reason ?? "",
      /^the order will not complete: .*payment pay_ref_1 is failed: no money moved — pay again in a fresh session/,
    );
    assert.ok(s < 8, `stopped after ${s.toFixed(1)} s, deadline 20 s`);
    await rb.close();
  });

  for (const [status, advice] of [
    ["succeeded", /money moved but the order never completed: .* refund it at the orchestrator/],
    ["requires_capture", /held on the card — void the hold at the orchestrator/],
    ["conflicted", /escalate to the marketplace squad with payment pay_ref_1/],
    ["requires_merchant_action", /escalate to the marketplace squad with payment pay_ref_1/],
    ["cancelled_post_capture", /escalate to the marketplace squad with payment pay_ref_1/],
    ["processing", /still says the payment pay_ref_1 is processing: .*escalate .* with payment pay_ref_1/],
  ] as const) {
    test(`order never completes, orchestrator ${status}: ${advice.source.slice(0, 40)}…`, async () => {
      const { rb } = session({ hsPayment: () => ({ status }) }, { paid: true, params: { POLL_DEADLINE_S: 5 } });
      const r = await rb.run("completed");
      assert.equal(r.status, "FAIL");
      assert.match(r.reason ?? "", /^order completed not reached within 5 s/);
      assert.match(r.reason ?? "", advice);
      await rb.close();
    });
  }
});

describe("refund truth (steps 8 and 9)", () => {
  test("a refund that fails in the POST answer fails step 8 at once; money stays outstanding; re-running makes attempt 2 with a new key", async () => {
    let post = { refund_id: "ref_1", status: "failed", failure_reason: "card closed" };
    const { rb, keys } = session({ refundPost: () => post }, { paid: true, refunded: true });
    const r8 = await rb.run("refund");
    assert.equal(r8.status, "FAIL");
    assert.match(
      r8.reason ?? "",
      /refund ref_1 failed \(card closed\): no money was returned — run step 8 again to create a new refund \(attempt 2\)/,
    );
    assert.ok(rb.moneyOutstanding, "a failed refund returns nothing");
    post = { refund_id: "ref_2", status: "pending", failure_reason: "" };
    const again = await rb.run("refund");
    assert.equal(again.status, "PASS", again.reason);
    assert.equal(again.observed.attempt, 2);
    assert.deepEqual(keys, [`${rb.keyPrefix}:refund`, `${rb.keyPrefix}:refund:2`]);
    assert.deepEqual(
      refundAttempts(rb.journal.all()).map((a) => [a.attempt, a.refundId, a.status]),
      [
        [1, "ref_1", "failed"],
        [2, "ref_2", "pending"],
      ],
    );
    // Pending: requested, not returned. A third run resumes, it never creates another.
    assert.ok(rb.moneyOutstanding);
    const third = await rb.run("refund");
    assert.match(String(third.observed.resumed), /resumed refund ref_2/);
    assert.equal(keys.length, 2);
    await rb.close();
  });

  test("the orchestrator says failed right after the POST: step 8 FAILs at once with the orchestrator's reason", async () => {
    const { rb } = session(
      {
        refundPost: () => ({ refund_id: "ref_1", status: "pending" }),
        hsRefund: () => ({ refund_id: "ref_1", status: "failed", error_message: "insufficient balance" }),
      },
      { paid: true, refunded: true },
    );
    const r8 = await rb.run("refund");
    assert.equal(r8.status, "FAIL");
    assert.match(r8.reason ?? "", /^the orchestrator says refund ref_1 failed \(insufficient balance\)/);
    await rb.close();
  });

  test("review stops step 9 early with escalate and the refund reference; money stays outstanding", async () => {
    let hsStatus = "pending";
    const { rb } = session(
      {
        refundPost: () => ({ refund_id: "ref_1", status: "pending" }),
        hsRefund: () => ({ refund_id: "ref_1", status: hsStatus }),
        order: () => ({ status: "refund_pending" }),
      },
      { paid: true, refunded: true },
    );
    assert.equal((await rb.run("refund")).status, "PASS");
    hsStatus = "review";
    const t0 = performance.now();
    const r9 = await rb.run("refunded");
    assert.equal(r9.status, "FAIL");
    assert.match(r9.reason ?? "", /^escalate: refund ref_1 is review/);
    assert.ok((performance.now() - t0) / 1000 < 8, "not the 20 s deadline");
    assert.ok(rb.moneyOutstanding);
    await rb.close();
  });

  test("money is outstanding until a refund SUCCEEDED: step 9 PASS or the orchestrator's succeeded", async () => {
    let order = { status: "refund_pending" };
    // The refund's answer says its amount (review 1: a refund with no amount is unknown, never "all of it").
    const { rb } = session(
      { refundPost: () => ({ refund_id: "ref_1", status: "pending", amount_cents: 500 }), order: () => order },
      { paid: true, refunded: true },
    );
    assert.equal((await rb.run("refund")).status, "PASS");
    assert.ok(rb.moneyOutstanding, "requested is not returned");
    order = { status: "refunded" };
    const r9 = await rb.run("refunded");
    assert.equal(r9.status, "PASS", r9.reason);
    assert.equal(rb.moneyOutstanding, false);
    assert.equal(moneyOutstanding(rb.journal.all()), false, "the same predicate the report reads");
    await rb.close();
  });
});

describe("the amount charged is the amount checked", () => {
  test("a created order above MAX_PRICE, in another currency, or not the LIVE_CONFIRM amount is refused", () => {
    const exp = { currency: "EUR", maxMinor: 1000, liveConfirm: "" };
    assert.equal(orderMatchesCharge("staging", { totalMinor: 500, currency: "EUR" }, exp).refusals.length, 0);
    assert.match(
      orderMatchesCharge("staging", { totalMinor: 1500, currency: "EUR" }, exp).refusals[0].message,
      /^refused \(order-amount\): the order's total 15\.00 EUR is above MAX_PRICE 10\.00 EUR/,
    );
    assert.match(
      orderMatchesCharge("staging", { totalMinor: 500, currency: "USD" }, exp).refusals[0].message,
      /created in USD, not the product's EUR/,
    );
    // MAX_PRICE 10.00 in the order's own currency: 10 JPY, 10.000 BHD (never 1000 JPY, 1.000 BHD).
    assert.match(
      orderMatchesCharge("staging", { totalMinor: 500, currency: "JPY" }, { ...exp, currency: "JPY" }).refusals[0]
        .message,
      /the order's total 500 JPY is above MAX_PRICE 10 JPY/,
    );
    assert.equal(
      orderMatchesCharge("staging", { totalMinor: 5000, currency: "BHD" }, { ...exp, currency: "BHD" }).refusals.length,
      0,
    );
    const live = { ...exp, liveConfirm: "charge 5.00 EUR" };
    assert.equal(orderMatchesCharge("live", { totalMinor: 500, currency: "EUR" }, live).refusals.length, 0);
    assert.match(
      orderMatchesCharge("live", { totalMinor: 600, currency: "EUR" }, live).refusals[0].message,
      /not what LIVE_CONFIRM "charge 5\.00 EUR" names/,
    );
  });

  test("pay() shows no link for an order the guards refuse", async () => {
    const { rb } = session({}, { params: { MAX_PRICE: 4 } });
    await assert.rejects(
      rb.pay(),
      /refused \(order-amount\): the order's total 5\.00 EUR is above MAX_PRICE 4\.00 EUR/,
    );
    await rb.close();
  });
});

test("a schema error names what was received: the value, or an object's keys; redacted and truncated", () => {
  const S = z.object({ status: z.enum(["pending", "processing"]), card: z.string(), note: z.string() }).loose();
  const body = { status: "authorized", card: { last4: "4242", brand: "visa" }, note: 7 };
  const r = S.safeParse(body);
  assert.ok(!r.success);
  const issues = zodIssues(r.error, body);
  const e = new SchemaError("GET /orders/:id", issues);
  assert.match(e.message, /field `status`: got "authorized", expected one of "pending"\|"processing"/);
  assert.equal(issues[1].received, "an object with keys last4, brand");
  assert.equal(issues[2].received, "7");
  const long = zodIssues(z.object({ n: z.number() }).safeParse({ n: "x".repeat(500) }).error!, { n: "x".repeat(500) });
  assert.ok(long[0].received!.length < 80, long[0].received);
  const missing = zodIssues(z.object({ n: z.number() }).safeParse({}).error!, {});
  assert.equal(missing[0].received, "nothing (the field is missing)");
});
