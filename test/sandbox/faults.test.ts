// Every fault knob, through setFaults() and through the loopback admin endpoint.
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { DEFAULT_FAULTS, FaultState, makeRng } from "../../sandbox/faults";
import { isLoopback } from "../../sandbox/context";
import { Api, backends, FAST, completedOrder, hs, pay, sql, sleep, useSandbox } from "./helpers";

describe("fault plumbing (no server)", () => {
  test("the PRNG is seeded: same seed, same sequence", () => {
    const a = makeRng(7),
      b = makeRng(7),
      c = makeRng(8);
    const sa = Array.from({ length: 5 }, a),
      sb = Array.from({ length: 5 }, b),
      sc = Array.from({ length: 5 }, c);
    assert.deepEqual(sa, sb);
    assert.notDeepEqual(sa, sc);
    const f1 = new FaultState(3, { errorRate: 0.5 }),
      f2 = new FaultState(3, { errorRate: 0.5 });
    assert.deepEqual(
      Array.from({ length: 20 }, () => f1.chance(0.5)),
      Array.from({ length: 20 }, () => f2.chance(0.5)),
    );
  });
  test("patches are validated", () => {
    const f = new FaultState(1);
    assert.deepEqual(f.get(), DEFAULT_FAULTS);
    assert.throws(() => f.set({ errorRate: 2 }));
    assert.throws(() => f.set({ nope: true } as never));
    assert.throws(() => f.set({ statusEnvironment: "prod" as never }));
  });
  test("admin loopback check", () => {
    for (const a of ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.2"]) assert.ok(isLoopback(a), a);
    for (const a of ["10.0.0.1", "192.168.1.5", "::ffff:10.0.0.1", "fe80::1", undefined, "1127.0.0.1"])
      assert.ok(!isLoopback(a), String(a));
  });
});

for (const backend of backends()) {
  describe(`fault knobs [${backend.name}]`, () => {
    const sandbox = useSandbox(backend);
    afterEach(() => sandbox().setFaults({ ...DEFAULT_FAULTS, ...FAST }));

    test("admin endpoint: GET/PUT faults, counts, flips, stats", async () => {
      const sb = sandbox();
      const api = new Api(sb);
      const got = await api.req("GET", "/__admin/faults");
      assert.equal(got.body.data.completionDelayMs, FAST.completionDelayMs);
      const put = await api.req("PUT", "/__admin/faults", { body: { statusEnvironment: "production", latencyMs: 5 } });
      assert.equal(put.status, 200);
      assert.equal(sb.faults().statusEnvironment, "production");
      assert.equal(put.body.data.latencyMs, 5);
      for (const body of [{ errorRate: 7 }, { unknownKnob: 1 }, { stuckProcessing: "yes" }]) {
        const r = await api.req("PUT", "/__admin/faults", { body });
        assert.deepEqual([r.status, r.body.code], [400, "INVALID_FAULTS"], JSON.stringify(body));
      }
      assert.deepEqual((await api.req("GET", "/__admin/counts")).body.data, await sb.counts());
      assert.ok(Array.isArray((await api.req("GET", "/__admin/flips")).body.data.flips));
      const stats = (await api.req("GET", "/__admin/stats")).body.data;
      assert.equal(typeof stats.requests, "number");
      assert.equal(typeof stats.byRoute, "object");
    });

    test("completionDelayMs and completionJitterMs", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      sb.setFaults({ completionDelayMs: 300 });
      const o = await api.order();
      const paidFrom = Date.now();
      await pay(o.payment_url);
      await api.waitFor(o.id, "completed");
      // Only a lower bound that holds on any machine: the completion timer starts after the card
      // was submitted, so "completed" lands ≥ 300 ms after we started paying. (Webhook arrival of
      // "processing" can lag under load, so the processing→completed gap itself is not bounded.)
      const done = sb.flips().find((f) => f.order_id === o.id && f.to === "completed")!;
      assert.ok(Date.parse(done.at) - paidFrom >= 295, `completed ${Date.parse(done.at) - paidFrom} ms after paying`);
      sb.setFaults({ completionDelayMs: 0, completionJitterMs: 150 });
      const o2 = await completedOrder(api);
      assert.ok(sb.flips().some((f) => f.order_id === o2.id && f.to === "completed"));
    });

    test("refundDelayMs and refundJitterMs", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const o = await completedOrder(api);
      sb.setFaults({ refundDelayMs: 300, refundJitterMs: 50 });
      const asked = Date.now();
      await api.req("POST", `/orders/${o.id}/refund`, { body: {} });
      assert.ok(["refund_pending", "refunded"].includes((await api.getOrder(o.id)).status));
      await api.waitFor(o.id, "refunded");
      // Lower bound from before the request: holds however slow the machine is.
      const done = sb.flips().find((f) => f.order_id === o.id && f.to === "refunded")!;
      assert.ok(Date.parse(done.at) - asked >= 295, `refund settled ${Date.parse(done.at) - asked} ms after asking`);
    });

    test("latencyMs and latency spikes; stats count service time", async () => {
      const sb = sandbox();
      const api = new Api(sb);
      const s0 = sb.stats();
      sb.setFaults({ latencyMs: 150 });
      let t = Date.now();
      await api.req("GET", "/marketplace/products");
      assert.ok(Date.now() - t >= 140);
      sb.setFaults({ latencyMs: 0, latencySpikeMs: 200, latencySpikeRate: 1 });
      t = Date.now();
      await api.req("GET", "/status");
      assert.ok(Date.now() - t >= 190);
      const s1 = sb.stats();
      assert.equal(s1.requests, s0.requests + 2);
      assert.ok(s1.serviceMs - s0.serviceMs >= 330);
      assert.equal(s1.byRoute["GET /api/v1/status"], (s0.byRoute["GET /api/v1/status"] ?? 0) + 1);
    });

    test("errorRate: 503 + Retry-After before any handling; health and webhooks exempt", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const before = await sb.counts();
      sb.setFaults({ errorRate: 1, retryAfterS: 3 });
      const r = await api.req("POST", "/orders", { body: { product_id: "prd_e2e_test_licence" } });
      assert.deepEqual([r.status, r.body.code, r.headers.get("retry-after")], [503, "OVERLOADED", "3"]);
      assert.equal((await api.req("GET", "/health")).status, 200);
      assert.deepEqual(await sb.counts(), before);
      sb.setFaults({ errorRate: 0.5 });
      const codes = [];
      for (let i = 0; i < 30; i++) codes.push((await api.req("GET", "/status")).status);
      assert.ok(codes.includes(503) && codes.includes(200), codes.join(","));
      // Webhooks still get through while clients see 503s.
      sb.setFaults({ errorRate: 0 });
      const o = await api.order();
      sb.setFaults({ errorRate: 1 });
      await pay(o.payment_url);
      // Watch the server's own flips (clients only see 503s now); bounded wait, no fixed sleep.
      for (let i = 0; i < 100 && !sb.flips().some((f) => f.order_id === o.id && f.to === "completed"); i++)
        await sleep(100);
      sb.setFaults({ errorRate: 0 });
      assert.equal((await api.getOrder(o.id)).status, "completed");
    });

    test("resetRate: the connection is destroyed and nothing changes", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const before = await sb.counts();
      sb.setFaults({ resetRate: 1 });
      await assert.rejects(api.req("POST", "/orders", { body: { product_id: "prd_e2e_test_licence" } }));
      sb.setFaults({ resetRate: 0 });
      assert.deepEqual(await sb.counts(), before);
    });

    test("stuckProcessing: the payment stays processing", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      sb.setFaults({ stuckProcessing: true, completionDelayMs: 0 });
      const o = await api.order();
      assert.equal((await pay(o.payment_url)).dataStatus, "processing");
      await sleep(300);
      assert.equal((await api.getOrder(o.id)).status, "processing");
      assert.equal((await hs(sb, "GET", `/payments/${o.hyperswitch_payment_id}`)).body.status, "processing");
    });

    test("webhookDuplicate: every event twice, applied once", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      sb.setFaults({ webhookDuplicate: true });
      const s0 = sb.stats().byRoute["POST /api/v1/webhooks/hyperswitch"] ?? 0;
      const c0 = await sb.counts();
      const o = await completedOrder(api);
      await sb.drainWebhooks();
      assert.equal((sb.stats().byRoute["POST /api/v1/webhooks/hyperswitch"] ?? 0) - s0, 4);
      assert.equal((await sb.counts()).webhook_events - c0.webhook_events, 2);
      assert.deepEqual(
        sb
          .flips()
          .filter((f) => f.order_id === o.id)
          .map((f) => f.to),
        ["pending", "processing", "completed"],
      );
    });

    test("webhookOutOfOrder: processing arrives after succeeded and is ignored as stale", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      sb.setFaults({ webhookOutOfOrder: true });
      const o = await completedOrder(api);
      await sb.drainWebhooks();
      assert.equal((await api.getOrder(o.id)).status, "completed");
      const rows = await sql(
        sb.adminDsn,
        "SELECT event_type, applied, reason FROM webhook_events WHERE resource_id = $1 ORDER BY received_at",
        [o.hyperswitch_payment_id],
      );
      assert.deepEqual(rows, [
        { event_type: "payment_succeeded", applied: true, reason: null },
        { event_type: "payment_processing", applied: false, reason: "stale_event" },
      ]);
    });

    test("schemaDrift renames status to state on GET /orders/:id only", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const o = await api.order();
      sb.setFaults({ schemaDrift: true });
      const r = await api.req("GET", `/orders/${o.id}`);
      assert.equal(r.body.data.state, "pending");
      assert.equal("status" in r.body.data, false);
      const again = await api.req("POST", "/orders", { body: { product_id: "prd_e2e_test_licence" } });
      assert.equal(again.body.data.status, "pending");
    });

    test("statusEnvironment, hyperswitchStatus, hyperswitchMode and dbDown", async () => {
      const sb = sandbox();
      const api = new Api(sb);
      sb.setFaults({ statusEnvironment: "production", hyperswitchStatus: "degraded", hyperswitchMode: "live" });
      const s = (await api.req("GET", "/status")).body.data;
      assert.equal(s.environment, "production");
      assert.deepEqual(s.services.hyperswitch, { status: "degraded", mode: "live" });
      sb.setFaults({ dbDown: true });
      const h = await api.req("GET", "/health");
      assert.deepEqual([h.status, h.body.code, h.body.success], [503, "DB_UNAVAILABLE", false]);
      assert.ok(h.headers.get("retry-after"));
      sb.setFaults({ dbDown: false });
      assert.equal((await api.req("GET", "/health")).status, 200);
    });
    test("surchargeMinor, partialCaptureMinor, voidOutcome: the amounts and the void as Hyperswitch reports them", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const untilHs = async (id: string, status: string) => {
        for (let i = 0; i < 250; i++) {
          const p = (await hs(sb, "GET", `/payments/${id}`)).body;
          if (p.status === status) return p;
          await sleep(20);
        }
        assert.fail(`payment ${id} never became ${status}`);
      };
      // A surcharge: net_amount = amount + surcharge, captured in full; the order's webhook amount is unchanged.
      sb.setFaults({ surchargeMinor: 50 });
      const o1 = await api.order();
      assert.equal((await pay(o1.payment_url)).status, 200);
      const p1 = await untilHs(o1.hyperswitch_payment_id, "succeeded");
      assert.deepEqual(
        [p1.amount, p1.net_amount, p1.amount_received, p1.amount_capturable, p1.surcharge_details.surcharge_amount],
        [o1.total_cents, o1.total_cents + 50, o1.total_cents + 50, 0, 50],
      );
      await api.waitFor(o1.id, "completed");
      // A partial capture: amount_received is what was captured, nothing left capturable.
      sb.setFaults({ surchargeMinor: 0, paymentOutcome: "partially_captured", partialCaptureMinor: 120 });
      const o2 = await api.order();
      await pay(o2.payment_url);
      const p2 = await untilHs(o2.hyperswitch_payment_id, "partially_captured");
      assert.deepEqual([p2.amount_received, p2.amount_capturable, p2.surcharge_details], [120, 0, null]);
      // Over-refunding the partial capture is refused: only 120 was captured.
      const over = await hs(sb, "POST", "/refunds", { payment_id: p2.payment_id, amount: 121 });
      assert.deepEqual([over.status, over.body.error.code], [400, "IR_13"]);
      // A void: cancelled by default; voidOutcome=failed leaves the payment failed, its attempt void_failed.
      sb.setFaults({ paymentOutcome: "requires_capture" });
      const voided: string[] = [];
      for (const outcome of ["cancelled", "failed"] as const) {
        sb.setFaults({ voidOutcome: outcome });
        const o = await api.order();
        await pay(o.payment_url);
        const held = await untilHs(o.hyperswitch_payment_id, "requires_capture");
        assert.deepEqual([held.amount_capturable, held.amount_received], [o.total_cents, null]);
        const c = await hs(sb, "POST", `/payments/${o.hyperswitch_payment_id}/cancel`, {
          cancellation_reason: "requested_by_merchant",
        });
        assert.equal(c.status, 200, c.text);
        const after = (await hs(sb, "GET", `/payments/${o.hyperswitch_payment_id}?expand_attempts=true`)).body;
        voided.push(`${after.status}/${after.attempts[0].status}/${after.error_code}`);
        assert.equal((await hs(sb, "GET", `/payments/${o.hyperswitch_payment_id}`)).body.attempts, undefined);
        assert.equal(
          (await hs(sb, "POST", `/payments/${o.hyperswitch_payment_id}/cancel`, {})).body.error.code,
          "IR_16",
          "a payment already cancelled or failed cannot be cancelled again",
        );
      }
      assert.deepEqual(voided, ["cancelled/voided/null", "failed/void_failed/void_declined"]);
      const bad = await hs(sb, "POST", `/payments/${o1.hyperswitch_payment_id}/cancel`, { nope: 1 });
      assert.deepEqual([bad.status, bad.body.error.code], [400, "IR_06"]);
      const done = await hs(sb, "POST", `/payments/${o1.hyperswitch_payment_id}/cancel`, {});
      assert.deepEqual([done.status, done.body.error.code], [400, "IR_16"], "a succeeded payment cannot be voided");
    });
  });
}
