// Webhooks: signature, dedupe, out-of-order (stale) events, every order transition they drive.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sign } from "../../sandbox/webhooks";
import { Api, backends, CARD_DECLINED, CARD_NO_FUNDS, completedOrder, pay, sql, useSandbox } from "./helpers";

const PATH = "/webhooks/hyperswitch";
let seq = 0;
const evtId = () => `evt_test${Date.now()}${seq++}`;

// Hyperswitch's OutgoingWebhook envelope.
function envelope(type: string, content: { type: string; object: Record<string, unknown> }) {
  return {
    merchant_id: "merchant_sandbox",
    event_id: evtId(),
    event_type: type,
    content,
    timestamp: new Date().toISOString(),
    processor_merchant_id: "merchant_sandbox",
  };
}

function paymentEvent(type: string, order: any, updated: string, extra: Record<string, unknown> = {}) {
  return envelope(type, {
    type: "payment_details",
    object: {
      payment_id: order.hyperswitch_payment_id,
      status: type.replace("payment_", ""),
      amount: order.total_cents,
      currency: order.currency,
      connector: "sandbox_card",
      error_code: null,
      error_message: null,
      payment_method_data: null,
      created: updated,
      modified_at: updated,
      updated,
      ...extra,
    },
  });
}

async function post(api: Api, event: unknown, secret: string, tamper?: (s: string) => string) {
  const raw = JSON.stringify(event);
  const sig = sign(secret, raw);
  return api.req("POST", PATH, {
    raw: tamper ? tamper(raw) : raw,
    headers: { "x-webhook-signature-512": sig },
    auth: false,
  });
}

for (const backend of backends()) {
  describe(`webhooks [${backend.name}]`, () => {
    const sandbox = useSandbox(backend);

    test("missing, wrong or mismatched signature is 401 and changes nothing", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await api.order();
      const ev = paymentEvent("payment_succeeded", order, new Date().toISOString());
      const before = await sb.counts();
      const noSig = await api.req("POST", PATH, { body: ev, auth: false });
      assert.deepEqual([noSig.status, noSig.body.code], [401, "INVALID_SIGNATURE"]);
      assert.equal((await post(api, ev, "whsec_wrong")).status, 401);
      assert.equal((await post(api, ev, sb.webhookSecret, (s) => s.replace('"amount":500', '"amount":1'))).status, 401);
      assert.equal(
        (await api.req("POST", PATH, { body: ev, headers: { "x-webhook-signature-512": "zz" }, auth: false })).status,
        401,
      );
      assert.deepEqual(await sb.counts(), before);
      assert.equal((await api.getOrder(order.id)).status, "pending");
      // Signed but malformed: 400, nothing recorded.
      const bad = await post(api, { event_id: "evt_x", event_type: "payment_succeeded" }, sb.webhookSecret);
      assert.equal(bad.status, 400);
      const badObj = await post(
        api,
        { ...ev, content: { type: "payment_details", object: { payment_id: 1 } } },
        sb.webhookSecret,
      );
      assert.equal(badObj.status, 400);
      assert.deepEqual(await sb.counts(), before);
    });

    test("dedupe on event_id; stale (older updated) events are ignored and recorded", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await api.order();
      const t1 = new Date(Date.now() - 1000).toISOString();
      const t2 = new Date().toISOString();
      const succeeded = paymentEvent("payment_succeeded", order, t2);
      const r1 = await post(api, succeeded, sb.webhookSecret);
      assert.deepEqual(r1.body.data, { received: true, applied: true });
      const r2 = await post(api, succeeded, sb.webhookSecret);
      assert.deepEqual(r2.body.data, { received: true, applied: false, reason: "duplicate_event" });
      const stale = await post(api, paymentEvent("payment_processing", order, t1), sb.webhookSecret);
      assert.deepEqual(stale.body.data, { received: true, applied: false, reason: "stale_event" });
      const o = await api.getOrder(order.id);
      assert.equal(o.status, "completed");
      const rows = await sql(
        sb.adminDsn,
        "SELECT applied, reason FROM webhook_events WHERE resource_id = $1 ORDER BY received_at",
        [order.hyperswitch_payment_id],
      );
      assert.deepEqual(rows, [
        { applied: true, reason: null },
        { applied: false, reason: "stale_event" },
      ]);
      const lic = (await api.req("GET", "/licenses/mine")).body.data.licenses.filter(
        (l: any) => l.order_id === order.id,
      );
      assert.equal(lic.length, 1, "the licence is granted once");
      // A later event that does not fit the state machine is ignored, not applied.
      const late = await post(
        api,
        paymentEvent("payment_failed", order, new Date(Date.now() + 1000).toISOString()),
        sb.webhookSecret,
      );
      assert.deepEqual(late.body.data, { received: true, applied: false, reason: "invalid_transition_from_completed" });
      const unknown = await post(
        api,
        paymentEvent("payment_succeeded", { ...order, hyperswitch_payment_id: "pay_unknown" }, t2),
        sb.webhookSecret,
      );
      assert.deepEqual(unknown.body.data, { received: true, applied: false, reason: "unknown_payment" });
      const mismatch = await api.order();
      const wrongAmount = await post(
        api,
        paymentEvent("payment_succeeded", { ...mismatch, total_cents: 1 }, t2),
        sb.webhookSecret,
      );
      assert.equal(wrongAmount.body.data.reason, "amount_mismatch");
    });

    test("declined and insufficient funds: pending → failed, no licence, no transfer", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      for (const [card, code] of [
        [CARD_DECLINED, "card_declined"],
        [CARD_NO_FUNDS, "insufficient_funds"],
      ]) {
        const order = await api.order();
        const before = await sb.counts();
        const r = await pay(order.payment_url, card);
        assert.deepEqual([r.status, r.dataStatus], [200, "failed"]);
        assert.match(r.html, new RegExp(`<span id="error_code">${code}</span>`));
        const failed = await api.waitFor(order.id, "failed");
        assert.equal(failed.failure_reason, code);
        assert.equal(failed.completed_at, null);
        await sb.drainWebhooks();
        const after = await sb.counts();
        assert.equal(after.seller_transfers, before.seller_transfers);
        assert.equal(after.licenses_active, before.licenses_active);
        assert.deepEqual(
          sb
            .flips()
            .filter((f) => f.order_id === order.id)
            .map((f) => f.to),
          ["pending", "failed"],
        );
        const refund = await api.req("POST", `/orders/${order.id}/refund`, { body: {} });
        assert.equal(refund.body.code, "ORDER_NOT_REFUNDABLE");
      }
    });

    test("refund_failed puts the order back to completed with refund_status failed", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await completedOrder(api);
      sb.setFaults({ refundDelayMs: 60_000 }); // the orchestrator will not settle it during the test
      try {
        const r = await api.req("POST", `/orders/${order.id}/refund`, { body: {} });
        assert.equal(r.status, 202);
        const ev = envelope("refund_failed", {
          type: "refund_details",
          object: {
            refund_id: r.body.data.refund_id,
            payment_id: order.hyperswitch_payment_id,
            status: "failed",
            amount: 500,
            currency: "EUR",
            connector: "sandbox_card",
            created_at: r.body.data.created_at,
            updated_at: new Date(Date.now() + 5).toISOString(),
          },
        });
        const res = await post(api, ev, sb.webhookSecret);
        assert.deepEqual(res.body.data, { received: true, applied: true });
        const o = await api.getOrder(order.id);
        assert.deepEqual([o.status, o.refund_status, o.refunded_at], ["completed", "failed", null]);
        const lic = (await api.req("GET", "/licenses/mine")).body.data.licenses.filter(
          (l: any) => l.order_id === order.id,
        );
        assert.equal(lic.length, 1, "the licence stays");
        const [tr] = await sql(sb.readonlyDsn, "SELECT status FROM seller_transfers WHERE order_id = $1", [order.id]);
        assert.equal(tr.status, "paid");
        assert.deepEqual(
          sb
            .flips()
            .filter((f) => f.order_id === order.id)
            .map((f) => f.to)
            .slice(-2),
          ["refund_pending", "completed"],
        );
      } finally {
        sb.setFaults({ refundDelayMs: 30 });
      }
    });
  });
}
