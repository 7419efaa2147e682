// Orchestrator double: api-key routes, payment and refund objects, the hosted checkout's validation.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Api, backends, CARD_NO_FUNDS, CARD_OK, completedOrder, hs, pay, sql, useSandbox } from "./helpers";

for (const backend of backends()) {
  describe(`orchestrator [${backend.name}]`, () => {
    const sandbox = useSandbox(backend);

    test("api-key is required; error body is {error:{type,code,message}}", async () => {
      const sb = sandbox();
      assert.match(sb.apiKey, /^snd_/);
      for (const key of [null, "snd_wrong", ""]) {
        const r = await hs(sb, "POST", "/payments", { amount: 100, currency: "EUR" }, key);
        assert.equal(r.status, 401);
        assert.deepEqual(Object.keys(r.body.error).sort(), ["code", "message", "type"]);
      }
      assert.equal((await hs(sb, "GET", "/payments/pay_x", undefined, null)).status, 401);
      assert.equal((await hs(sb, "GET", "/refunds/ref_x", undefined, "nope")).status, 401);
    });

    test("payments: create, read, bad input; refunds only for succeeded payments", async () => {
      const sb = sandbox();
      const created = await hs(sb, "POST", "/payments", {
        amount: 1234,
        currency: "EUR",
        metadata: { order_id: "ord_x" },
      });
      assert.equal(created.status, 200);
      const p = created.body;
      assert.equal(p.status, "requires_payment_method");
      assert.match(p.payment_id, /^pay_/);
      assert.ok(p.client_secret.startsWith(`${p.payment_id}_secret_`));
      assert.equal(p.payment_method_data, null);
      assert.match(p.created, /Z$/);
      const got = await hs(sb, "GET", `/payments/${p.payment_id}`);
      assert.equal(got.body.amount, 1234);
      assert.equal((await hs(sb, "GET", "/payments/pay_missing")).status, 404);
      for (const body of [
        { amount: -1, currency: "EUR" },
        { amount: 1, currency: "euro" },
        { amount: 1, currency: "EUR", x: 1 },
        {},
      ]) {
        assert.equal((await hs(sb, "POST", "/payments", body)).status, 400, JSON.stringify(body));
      }
      const early = await hs(sb, "POST", "/refunds", { payment_id: p.payment_id, amount: 1234 });
      assert.equal(early.status, 400);
      assert.equal((await hs(sb, "POST", "/refunds", { payment_id: "pay_missing", amount: 1 })).status, 404);
      assert.equal((await hs(sb, "GET", "/refunds/ref_missing")).status, 404);
    });

    test("refund object and over-refund refusal", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await completedOrder(api);
      const pm = (await hs(sb, "GET", `/payments/${order.hyperswitch_payment_id}`)).body;
      assert.equal(pm.status, "succeeded");
      assert.deepEqual(
        [pm.payment_method, pm.payment_method_data.card.last4, pm.payment_method_data.card.card_network],
        ["card", "4242", "Visa"],
      );
      assert.deepEqual([pm.amount_received, pm.amount_capturable, pm.connector], [500, 0, "sandbox_card"]);
      const refund = await api.req("POST", `/orders/${order.id}/refund`, { body: {} });
      assert.equal(refund.status, 202);
      const hr = (await hs(sb, "GET", `/refunds/${refund.body.data.refund_id}`)).body;
      assert.equal(hr.payment_id, order.hyperswitch_payment_id);
      assert.equal(hr.amount, 500);
      assert.ok(["pending", "succeeded"].includes(hr.status));
      const over = await hs(sb, "POST", "/refunds", { payment_id: order.hyperswitch_payment_id, amount: 1 });
      assert.equal(over.status, 400);
      await api.waitFor(order.id, "refunded");
      assert.equal((await hs(sb, "GET", `/refunds/${hr.refund_id}`)).body.status, "succeeded");
    });

    test("checkout: wrong secret 403, bad form 400 without state change, already paid 409", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await api.order();
      const u = new URL(order.payment_url);
      assert.equal((await fetch(`${u.origin}${u.pathname}?client_secret=nope`)).status, 403);
      assert.equal((await fetch(`${u.origin}${u.pathname}`)).status, 403);
      assert.equal((await fetch(`${u.origin}/checkout/pay_missing?client_secret=x`)).status, 404);
      assert.equal((await pay(order.payment_url, CARD_OK, { client_secret: "wrong" })).status, 403);
      const before = await sb.counts();
      const bad: Array<[Record<string, string>, RegExp]> = [
        [{ card_number: `${CARD_OK.slice(0, -1)}1` }, /not valid/],
        [{ card_number: "4242" }, /12 to 19 digits/],
        [{ expiry: "01/20" }, /expired/],
        [{ expiry: "13/39" }, /01 to 12/],
        [{ expiry: "1239" }, /MM\/YY/],
        [{ cvc: "12" }, /CVC/],
        [{ holder: "  " }, /Cardholder/],
        [{ surprise: "1" }, /unexpected field/],
      ];
      for (const [fields, msg] of bad) {
        const r = await pay(order.payment_url, fields.card_number ?? CARD_OK, fields);
        assert.equal(r.status, 400, JSON.stringify(fields));
        assert.match(r.html, msg);
        assert.match(r.html, /id="card_number"/, "the form is shown again");
        assert.doesNotMatch(r.html, /4242 ?4242 ?4242 ?4241/, "the submitted number is not echoed");
        assert.doesNotMatch(r.html, /value="[\d ]{8,}"/, "no card digits are prefilled");
      }
      assert.deepEqual(await sb.counts(), before);
      assert.equal(
        (await hs(sb, "GET", `/payments/${order.hyperswitch_payment_id}`)).body.status,
        "requires_payment_method",
      );
      const notForm = await fetch(`${u.origin}${u.pathname}`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "x",
      });
      assert.equal(notForm.status, 415);

      const ok = await pay(order.payment_url, CARD_NO_FUNDS);
      assert.deepEqual([ok.status, ok.dataStatus], [200, "failed"]);
      assert.match(ok.html, /<span id="error_code">insufficient_funds<\/span>/);
      assert.match(ok.html, /5\.00 EUR/);
      const again = await pay(order.payment_url);
      assert.equal(again.status, 409);
      const failed = await api.waitFor(order.id, "failed");
      assert.equal(failed.failure_reason, "insufficient_funds");
      const page = await (await fetch(order.payment_url)).text();
      assert.match(page, /data-status="failed"/);
      const rows = await sql(sb.adminDsn, "SELECT card_last4, card_network FROM hs_payments WHERE payment_id = $1", [
        order.hyperswitch_payment_id,
      ]);
      assert.deepEqual(rows[0], { card_last4: "9995", card_network: "Visa" });
    });
  });
}
