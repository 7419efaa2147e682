// The whole purchase lifecycle through the HTTP API alone, on every backend.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Api, backends, CARD_OK, pay, sql, useSandbox } from "./helpers";

for (const backend of backends()) {
  describe(`lifecycle over HTTP [${backend.name}]`, () => {
    const sandbox = useSandbox(backend);

    test("login → order → pay → completed → licence + transfer → refund → refunded → revoked + reversed", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();

      const products = (await api.req("GET", "/marketplace/products")).body.data.products;
      const product = products.find((p: any) => p.title === "E2E test licence");
      assert.deepEqual(
        {
          price_cents: product.price_cents,
          vat_rate: product.vat_rate,
          currency: product.currency,
          license_type: product.license_type,
        },
        { price_cents: 417, vat_rate: 0.2, currency: "EUR", license_type: "personal" },
      );

      const order = await api.order(product.id, "lifecycle-order-1");
      assert.equal(order.status, "pending");
      assert.equal(order.total_cents, 500);
      assert.match(order.hyperswitch_payment_id, /^pay_/);
      assert.ok(
        order.payment_url.startsWith(`${sb.hyperswitchUrl}/checkout/${order.hyperswitch_payment_id}?client_secret=`),
      );

      const form = await fetch(order.payment_url);
      assert.equal(form.status, 200);
      assert.match(await form.text(), /id="card_number"/);

      const paid = await pay(order.payment_url, CARD_OK);
      assert.equal(paid.status, 200);
      assert.equal(paid.dataStatus, "processing");
      assert.match(paid.html, /<span id="last4">4242<\/span>/);
      assert.doesNotMatch(paid.html, /4242\s?4242\s?4242/);

      const done = await api.waitFor(order.id, "completed");
      assert.ok(done.completed_at);
      // The order's own paid_at: the payment's time, before the completion (the runbook times from it).
      assert.equal(order.paid_at, null, "a pending order is not paid");
      assert.ok(
        done.paid_at && Date.parse(done.paid_at) < Date.parse(done.completed_at),
        "paid_at before completed_at",
      );
      const lic = (await api.req("GET", "/licenses/mine")).body.data.licenses.filter(
        (l: any) => l.order_id === order.id,
      );
      assert.equal(lic.length, 1);
      assert.match(lic[0].id, /^lic_/);
      assert.equal(lic[0].license_type, "personal");
      assert.equal(typeof lic[0].rights, "object");

      const read = `SELECT id, order_id, seller_id, amount, currency, stripe_transfer_id, status, created_at, reversed_at FROM seller_transfers WHERE order_id = $1`;
      const [tr] = await sql(sb.readonlyDsn, read, [order.id]);
      assert.equal(tr.status, "paid");
      assert.match(tr.stripe_transfer_id, /^tr_/);
      assert.equal(tr.amount, 417 - 42); // subtotal minus the 10 % platform fee
      assert.equal(tr.seller_id, product.seller_id);
      assert.equal(tr.reversed_at, null);

      const refund = await api.req("POST", `/orders/${order.id}/refund`, {
        body: { reason: "e2e check" },
        headers: { "idempotency-key": "lifecycle-refund-1" },
      });
      assert.equal(refund.status, 202, refund.text);
      assert.match(refund.body.data.refund_id, /^ref_/);
      assert.equal(refund.body.data.amount_cents, 500);

      const refunded = await api.waitFor(order.id, "refunded");
      assert.equal(refunded.refund_status, "succeeded");
      assert.equal(refunded.refund_id, refund.body.data.refund_id);
      assert.ok(refunded.refunded_at);
      const after = (await api.req("GET", "/licenses/mine")).body.data.licenses.filter(
        (l: any) => l.order_id === order.id,
      );
      assert.equal(after.length, 0);
      const [rev] = await sql(sb.readonlyDsn, read, [order.id]);
      assert.equal(rev.status, "reversed");
      assert.ok(rev.reversed_at instanceof Date);

      const flips = sb
        .flips()
        .filter((f) => f.order_id === order.id)
        .map((f) => `${f.from}>${f.to}`);
      assert.deepEqual(flips, [
        "none>pending",
        "pending>processing",
        "processing>completed",
        "completed>refund_pending",
        "refund_pending>refunded",
      ]);
      for (const f of sb.flips()) assert.match(f.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });
  });
}
