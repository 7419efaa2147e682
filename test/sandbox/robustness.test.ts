// Bad input of many shapes: always a 4xx envelope, never a 5xx, never a state change, never a crash.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { makeRng } from "../../sandbox/faults";
import { sign } from "../../sandbox/webhooks";
import { Api, backends, CARD_SUCCESS, pay, useSandbox } from "./helpers";

const NASTY_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  "",
  " ",
  "\u0000",
  "prd_\u0000",
  "é✓😀",
  "x".repeat(5000),
  [],
  {},
  [1, 2],
  { a: { b: { c: {} } } },
  "'; DROP TABLE orders; --",
  "../../etc",
  "%00",
  "<script>alert(1)</script>",
];
const RAW_BODIES = [
  "{",
  "}",
  "nul",
  "null",
  '"str"',
  "42",
  "[]",
  '{"__proto__":{"x":1}}',
  '{"constructor":{"prototype":{}}}',
  "[".repeat(2000) + "]".repeat(2000),
  "\u0000",
  '{"product_id":"prd_e2e_test_licence","product_id":7}',
];

for (const backend of backends()) {
  describe(`robustness [${backend.name}]`, () => {
    const sandbox = useSandbox(backend);

    test("JSON endpoints answer garbage with a 4xx envelope and change nothing", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await api.order();
      const before = await sb.counts();
      const rnd = makeRng(99);
      const endpoints: Array<[string, string]> = [
        ["POST", "/auth/login"],
        ["POST", "/orders"],
        ["POST", `/orders/${order.id}/refund`],
        ["PUT", "/__admin/faults"],
      ];
      const fields = ["product_id", "email", "password", "reason", "extra"];
      let n = 0;
      for (const [method, path] of endpoints) {
        for (const raw of RAW_BODIES) {
          const r = await api.req(method, path, { raw });
          assert.ok(
            r.status >= 400 && r.status < 500,
            `${method} ${path} ${JSON.stringify(raw).slice(0, 40)} -> ${r.status} ${r.text.slice(0, 200)}`,
          );
          assert.equal(r.body.success, false);
          n++;
        }
        // Random bodies only where no random value can be valid (a fault patch could be).
        for (let i = 0; i < (path.startsWith("/__") ? 0 : 25); i++) {
          const body: Record<string, unknown> = {};
          const k = 1 + Math.floor(rnd() * 3);
          for (let j = 0; j < k; j++)
            body[fields[Math.floor(rnd() * fields.length)]] = NASTY_VALUES[Math.floor(rnd() * NASTY_VALUES.length)];
          const r = await api.req(method, path, { body });
          assert.ok(
            r.status >= 400 && r.status < 500,
            `${method} ${path} ${JSON.stringify(body).slice(0, 80)} -> ${r.status} ${r.text.slice(0, 200)}`,
          );
          n++;
        }
      }
      for (const id of ["%00", "ord_%00", "x".repeat(3000), "%F0%28%8C%28", "..%2F..%2Fetc"]) {
        const r = await api.req("GET", `/orders/${id}`);
        assert.ok(r.status >= 400 && r.status < 500, `GET /orders/${id.slice(0, 20)} -> ${r.status}`);
        n++;
      }
      for (const key of ["\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000", "x".repeat(129), "has spaces in it"]) {
        const r = await fetch(`${sb.marketplaceUrl}/api/v1/orders`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${api.token}`,
            "content-type": "application/json",
            "idempotency-key": encodeURIComponent(key).slice(0, 300) + (key.includes(" ") ? " x" : ""),
          },
          body: JSON.stringify({ product_id: "prd_e2e_test_licence" }),
        }).catch(() => null);
        if (r) assert.ok(r.status === 400 || r.status === 201, `idempotency key -> ${r.status}`);
      }
      const hdr = await api.req("GET", "/licenses/mine", { headers: { authorization: `Bearer ${"a".repeat(5000)}` } });
      assert.equal(hdr.status, 401);
      const after = await sb.counts();
      assert.equal(
        after.payments - before.payments,
        after.orders - before.orders,
        "every order has exactly one payment",
      );
      assert.ok(after.orders - before.orders <= 1, "only a valid idempotency key may have created an order");
      assert.ok(n > 100);
      for (const body of [{ errorRate: "1" }, { latencyMs: -1 }, { latencyMs: 1e9 }, { statusEnvironment: null }]) {
        assert.equal((await api.req("PUT", "/__admin/faults", { body })).status, 400, JSON.stringify(body));
      }
    });

    test("signed webhooks with odd objects and checkout forms with odd fields are 4xx", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await api.order();
      const before = await sb.counts();
      for (const obj of [
        { payment_id: "pay_\u0000", status: "x", amount: 1, currency: "EUR", updated: "2020-01-01T00:00:00Z" },
        { payment_id: order.hyperswitch_payment_id, status: "x", amount: 1.5, currency: "EUR", updated: "yesterday" },
        {
          payment_id: order.hyperswitch_payment_id,
          status: "x",
          amount: 500,
          currency: "EUR",
          updated: "+275760-09-13T00:00:00.000Z",
        },
      ]) {
        const raw = JSON.stringify({
          merchant_id: "merchant_sandbox",
          event_id: "evt_odd1",
          event_type: "payment_succeeded",
          content: { type: "payment_details", object: obj },
          timestamp: new Date().toISOString(),
          processor_merchant_id: null,
        });
        const r = await api.req("POST", "/webhooks/hyperswitch", {
          raw,
          headers: { "x-webhook-signature-512": sign(sb.webhookSecret, raw) },
          auth: false,
        });
        assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(obj).slice(0, 60)} -> ${r.status} ${r.text}`);
      }
      const odd: Array<Record<string, string>> = [
        { holder: "A\u0000B" },
        { card_number: "4".repeat(5000) },
        { expiry: "\u0000" },
        { cvc: "１２３" },
      ];
      for (const extra of odd) {
        const r = await pay(order.payment_url, extra.card_number ?? CARD_SUCCESS, extra);
        assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(extra).slice(0, 40)} -> ${r.status}`);
      }
      const big = await pay(order.payment_url, CARD_SUCCESS, { holder: "x".repeat(20_000) });
      assert.equal(big.status, 413);
      assert.deepEqual(await sb.counts(), before);
      assert.equal((await api.getOrder(order.id)).status, "pending");
    });
  });
}
