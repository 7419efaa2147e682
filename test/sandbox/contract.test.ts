// Marketplace contract: every endpoint, auth, idempotency, and bad input that must be a 4xx with no state change.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hashPassword } from "../../sandbox/auth";
import { Api, backends, completedOrder, sql, useSandbox } from "./helpers";

for (const backend of backends()) {
  describe(`marketplace contract [${backend.name}]`, () => {
    const sandbox = useSandbox(backend);

    test("health, status and products; every response has a Date header", async () => {
      const api = new Api(sandbox());
      const h = await api.req("GET", "/health");
      assert.deepEqual([h.status, h.body], [200, { success: true, data: { status: "ok" } }]);
      assert.ok(h.headers.get("date"));
      const s = await api.req("GET", "/status");
      assert.equal(s.status, 200);
      assert.equal(s.body.data.environment, "staging");
      assert.deepEqual(s.body.data.services.hyperswitch, { status: "enabled", mode: "sandbox" });
      assert.equal(typeof s.body.data.version, "string");
      const p = await api.req("GET", "/marketplace/products");
      assert.equal(p.body.data.products.length, 3);
      for (const prod of p.body.data.products) {
        assert.deepEqual(Object.keys(prod).sort(), [
          "currency",
          "description",
          "id",
          "license_type",
          "price_cents",
          "seller_id",
          "title",
          "vat_rate",
        ]);
        assert.match(prod.id, /^prd_/);
        assert.match(prod.seller_id, /^usr_/);
      }
      const nf = await api.req("GET", "/nope");
      assert.equal(nf.status, 404);
      assert.equal(nf.body.success, false);
      assert.ok(nf.headers.get("date"));
    });

    test("login: token shape, bad credentials 401, bad body 400", async () => {
      const sb = sandbox();
      const api = new Api(sb);
      const ok = await api.req("POST", "/auth/login", { body: sb.operator });
      assert.equal(ok.status, 200);
      const d = ok.body.data;
      assert.equal(d.token_type, "Bearer");
      assert.equal(d.expires_in, 900);
      assert.ok(d.access_token && d.refresh_token);
      assert.deepEqual(d.user, { id: "usr_operator", email: sb.operator.email, role: "buyer" });
      const bad = await api.req("POST", "/auth/login", { body: { email: sb.operator.email, password: "wrong" } });
      assert.deepEqual([bad.status, bad.body.code, bad.body.success], [401, "INVALID_CREDENTIALS", false]);
      for (const [raw, status] of [
        ['{"email":"a@b.c"}', 400],
        ['{"email":"a@b.c","password":"x","admin":true}', 400],
        ['{"email":1,"password":"x"}', 400],
        ['{"email":"a@b.c",', 400],
        ["[]", 400],
        ["", 400],
      ] as const) {
        const r = await api.req("POST", "/auth/login", { raw });
        assert.equal(r.status, status, `${raw} -> ${r.text}`);
        assert.equal(r.body.success, false);
        assert.equal(typeof r.body.code, "string");
      }
      const textPlain = await api.req("POST", "/auth/login", {
        raw: "hello",
        headers: { "content-type": "text/plain" },
      });
      assert.equal(textPlain.status, 415);
    });

    test("login: 429 with Retry-After after 5 failures in 15 minutes for one email", async () => {
      const api = new Api(sandbox());
      const email = `locked-${backend.name}@sandbox.test`;
      for (let i = 0; i < 5; i++)
        assert.equal((await api.req("POST", "/auth/login", { body: { email, password: "x" } })).status, 401);
      const r = await api.req("POST", "/auth/login", { body: { email, password: "x" } });
      assert.equal(r.status, 429);
      assert.equal(r.body.code, "TOO_MANY_LOGIN_ATTEMPTS");
      assert.ok(Number(r.headers.get("retry-after")) > 0 && Number(r.headers.get("retry-after")) <= 900);
      await api.login(); // other accounts are unaffected
    });

    test("authenticated routes: missing, wrong and expired tokens are 401", async () => {
      const sb = sandbox();
      const api = new Api(sb);
      for (const path of ["/licenses/mine", "/orders/ord_x"]) {
        assert.equal((await api.req("GET", path)).status, 401);
        assert.equal(
          (await api.req("GET", path, { headers: { authorization: "Bearer not-a-real-token-123" } })).status,
          401,
        );
        assert.equal((await api.req("GET", path, { headers: { authorization: "Basic abc" } })).status, 401);
      }
      const before = await sb.counts();
      assert.equal((await api.req("POST", "/orders", { body: { product_id: "prd_e2e_test_licence" } })).status, 401);
      await api.login();
      await sql(sb.adminDsn, "UPDATE access_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'access'");
      const expired = await api.req("GET", "/licenses/mine");
      assert.deepEqual([expired.status, expired.body.code], [401, "INVALID_TOKEN"]);
      assert.equal((await api.req("POST", "/orders", { body: { product_id: "prd_e2e_test_licence" } })).status, 401);
      assert.deepEqual(await sb.counts(), before);
    });

    test("POST /orders bad input is 4xx and changes nothing", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const before = await sb.counts();
      const cases: Array<
        [string, { raw?: string; body?: unknown; headers?: Record<string, string> }, number, string?]
      > = [
        ["unknown product", { body: { product_id: "prd_nope" } }, 404, "PRODUCT_NOT_FOUND"],
        ["missing field", { body: {} }, 400, "VALIDATION_ERROR"],
        ["extra field", { body: { product_id: "prd_e2e_test_licence", quantity: 2 } }, 400, "VALIDATION_ERROR"],
        ["wrong type", { body: { product_id: 7 } }, 400, "VALIDATION_ERROR"],
        ["malformed JSON", { raw: '{"product_id": ' }, 400, "INVALID_JSON"],
        ["no body", { raw: "" }, 400],
        ["array", { raw: "[1]" }, 400],
        ["oversized", { raw: JSON.stringify({ product_id: "x".repeat(17 * 1024) }) }, 413, "PAYLOAD_TOO_LARGE"],
        [
          "short idempotency key",
          { body: { product_id: "prd_e2e_test_licence" }, headers: { "idempotency-key": "short" } },
          400,
          "INVALID_IDEMPOTENCY_KEY",
        ],
        [
          "form content type",
          { raw: "product_id=x", headers: { "content-type": "application/x-www-form-urlencoded" } },
          415,
        ],
      ];
      for (const [name, opts, status, code] of cases) {
        const r = await api.req("POST", "/orders", opts);
        assert.equal(r.status, status, `${name}: ${r.text}`);
        assert.equal(r.body?.success, false, name);
        if (code) assert.equal(r.body.code, code, name);
        assert.ok(r.headers.get("date"), name);
      }
      assert.deepEqual(await sb.counts(), before);
    });

    test("POST /orders idempotency: same key+body → same order (200), other body → 422", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const before = await sb.counts();
      const key = `order-key-${backend.name}-0001`;
      const first = await api.order("prd_sample_pack", key);
      assert.equal(first.total_cents, 2400);
      const again = await api.req("POST", "/orders", {
        body: { product_id: "prd_sample_pack" },
        headers: { "idempotency-key": key },
      });
      assert.equal(again.status, 200);
      assert.equal(again.body.data.id, first.id);
      assert.equal(again.body.data.hyperswitch_payment_id, first.hyperswitch_payment_id);
      const other = await api.req("POST", "/orders", {
        body: { product_id: "prd_studio_licence" },
        headers: { "idempotency-key": key },
      });
      assert.deepEqual([other.status, other.body.code], [422, "IDEMPOTENCY_KEY_REUSED"]);
      const after = await sb.counts();
      assert.equal(after.orders, before.orders + 1);
      assert.equal(after.payments, before.payments + 1);
      // without a key, every POST is a new order
      const a = await api.order();
      const b = await api.order();
      assert.notEqual(a.id, b.id);
    });

    test("GET /orders/:id: 404 for unknown ids and for another buyer's order", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const mine = await api.order();
      assert.equal((await api.getOrder(mine.id)).id, mine.id);
      assert.equal((await api.req("GET", "/orders/ord_doesnotexist")).status, 404);
      const email = `second-${backend.name}@sandbox.test`;
      await sql(
        sb.adminDsn,
        "INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, $3, 'buyer') ON CONFLICT DO NOTHING",
        [`usr_second_${backend.name}`, email, await hashPassword("second-password")],
      );
      const other = await new Api(sb).login(email, "second-password");
      const r = await other.req("GET", `/orders/${mine.id}`);
      assert.deepEqual([r.status, r.body.code], [404, "ORDER_NOT_FOUND"]);
      assert.equal((await other.req("POST", `/orders/${mine.id}/refund`, { body: {} })).status, 404);
      assert.deepEqual((await other.req("GET", "/licenses/mine")).body.data.licenses, []);
    });

    test("refunds: 409 when not completed, idempotent replay 200, second refund 409, bad body 400", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const pending = await api.order();
      const nr = await api.req("POST", `/orders/${pending.id}/refund`, { body: {} });
      assert.deepEqual([nr.status, nr.body.code], [409, "ORDER_NOT_REFUNDABLE"]);
      assert.equal((await api.req("POST", "/orders/ord_missing/refund", { body: {} })).status, 404);

      const order = await completedOrder(api);
      const before = await sb.counts();
      for (const opts of [{ body: { reason: 5 } }, { body: { amount: 1 } }, { raw: "{" }]) {
        const r = await api.req("POST", `/orders/${order.id}/refund`, opts);
        assert.equal(r.status, 400, r.text);
      }
      assert.deepEqual(await sb.counts(), before);
      assert.equal((await api.getOrder(order.id)).status, "completed");

      sb.setFaults({ refundDelayMs: 300 });
      try {
        const key = { "idempotency-key": `refund-key-${backend.name}-1` };
        const r1 = await api.req("POST", `/orders/${order.id}/refund`, { body: { reason: "test" }, headers: key });
        assert.equal(r1.status, 202, r1.text);
        assert.deepEqual(Object.keys(r1.body.data).sort(), [
          "amount_cents",
          "created_at",
          "currency",
          "order_id",
          "refund_id",
          "status",
        ]);
        assert.equal(r1.body.data.status, "pending");
        const o = await api.getOrder(order.id);
        assert.deepEqual(
          [o.status, o.refund_status, o.refund_id],
          ["refund_pending", "pending", r1.body.data.refund_id],
        );
        const r2 = await api.req("POST", `/orders/${order.id}/refund`, { body: { reason: "test" }, headers: key });
        assert.equal(r2.status, 200);
        assert.equal(r2.body.data.refund_id, r1.body.data.refund_id);
        const other = await api.req("POST", `/orders/${order.id}/refund`, {
          body: { reason: "test" },
          headers: { "idempotency-key": "another-key-123" },
        });
        assert.deepEqual([other.status, other.body.code], [409, "ALREADY_REFUNDED"]);
        const reused = await api.req("POST", `/orders/${order.id}/refund`, { body: { reason: "other" }, headers: key });
        assert.equal(reused.status, 422);
        assert.equal((await sb.counts()).refunds, before.refunds + 1);
        await api.waitFor(order.id, "refunded");
        const late = await api.req("POST", `/orders/${order.id}/refund`, { body: {} });
        assert.deepEqual([late.status, late.body.code], [409, "ALREADY_REFUNDED"]);
        const replay = await api.req("POST", `/orders/${order.id}/refund`, { body: { reason: "test" }, headers: key });
        assert.deepEqual([replay.status, replay.body.data.status], [200, "succeeded"]);
      } finally {
        sb.setFaults({ refundDelayMs: 30 });
      }
    });
  });
}
