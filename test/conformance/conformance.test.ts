// Conformance: the sandbox's orchestrator double answers, and sends webhooks, in Hyperswitch's wire
// format (schemas in ./hyperswitch.ts, written from the v1 API reference); real-shaped samples pass too.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { z } from "zod";
import {
  OUTGOING_WEBHOOK_REQUIRED,
  PAYMENTS_RESPONSE_REQUIRED,
  REFUND_RESPONSE_REQUIRED,
} from "../../lib/hs-reference";
import { RETRY_SCHEDULE_S, sign } from "../../sandbox/webhooks";
import { Api, backends, completedOrder, hs, pay, sleep, sql, useSandbox } from "../sandbox/helpers";
import {
  ErrorBody,
  OutgoingWebhook,
  PaymentsResponse,
  RefundResponse,
  WEBHOOK_RETRY_SCHEDULE_S,
  type OutgoingWebhookT,
} from "./hyperswitch";
import { PAYMENT_SAMPLES, REFUND_SAMPLES, WEBHOOK_SAMPLES } from "./samples";

/** Parse or fail with the first issues, named by path. */
function conforms<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    assert.fail(`${what} does not conform: ${issues.join("; ")}`);
  }
  return r.data;
}

/**
 * The orchestrator's object at `path` once the double's timer set `status` (polled, 10 s at most):
 * a fixed pause is outrun on a loaded machine.
 */
async function settled(sb: Parameters<typeof hs>[0], path: string, status: string): Promise<unknown> {
  let body: unknown;
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(25)) {
    body = (await hs(sb, "GET", path)).body;
    if ((body as { status?: string }).status === status) break;
  }
  return body;
}
const settledPayment = async (sb: Parameters<typeof hs>[0], id: string, status: string) =>
  conforms(PaymentsResponse, await settled(sb, `/payments/${id}`, status), `payment ${id} (waiting for ${status})`);

describe("conformance samples", () => {
  for (const [name, p] of Object.entries(PAYMENT_SAMPLES))
    test(`payment sample ${name} is a PaymentsResponse`, () => {
      conforms(PaymentsResponse, p, name);
      assert.equal(p.payment_id.length, 30, "Hyperswitch payment ids are 30 characters");
    });
  for (const [name, r] of Object.entries(REFUND_SAMPLES))
    test(`refund sample ${name} is a RefundResponse`, () => {
      conforms(RefundResponse, r, name);
    });
  for (const [name, w] of Object.entries(WEBHOOK_SAMPLES))
    test(`webhook sample ${name} is an OutgoingWebhook`, () => {
      conforms(OutgoingWebhook, w, name);
    });

  test("the schemas refuse what Hyperswitch would not send", () => {
    const p = PAYMENT_SAMPLES.cardPaymentSucceeded;
    const { merchant_id: _m, ...noMerchant } = p;
    for (const bad of [{ ...p, status: "completed" }, noMerchant, { ...p, amount: "500" }])
      assert.equal(PaymentsResponse.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 80));
    const r = REFUND_SAMPLES.refundFailed;
    const { connector: _c, ...noConnector } = r;
    for (const bad of [{ ...r, status: "refunded" }, noConnector])
      assert.equal(RefundResponse.safeParse(bad).success, false);
    const w = WEBHOOK_SAMPLES.webhookPaymentSucceeded;
    assert.equal(OutgoingWebhook.safeParse({ ...w, event_type: "payment_completed" }).success, false);
    assert.equal(
      OutgoingWebhook.safeParse({ ...w, content: WEBHOOK_SAMPLES.webhookRefundFailed.content }).success,
      false,
      "a payment event carries payment_details",
    );
    assert.equal(
      ErrorBody.safeParse({ error: { type: "invalid_request_error", code: "IR_01", message: "x" } }).success,
      false,
    );
  });

  test("every field the reference requires (lib/hs-reference.ts) is required by the conformance schemas", () => {
    const cases: Array<[string, z.ZodType, Record<string, unknown>, readonly string[]]> = [
      ["PaymentsResponse", PaymentsResponse, PAYMENT_SAMPLES.cardPaymentSucceeded, PAYMENTS_RESPONSE_REQUIRED],
      ["RefundResponse", RefundResponse, REFUND_SAMPLES.refundSucceeded, REFUND_RESPONSE_REQUIRED],
      ["OutgoingWebhook", OutgoingWebhook, WEBHOOK_SAMPLES.webhookPaymentSucceeded, OUTGOING_WEBHOOK_REQUIRED],
    ];
    for (const [name, schema, sample, required] of cases) {
      assert.equal(schema.safeParse(sample).success, true, `${name} sample`);
      for (const field of required) {
        const { [field]: _gone, ...without } = sample;
        assert.equal(schema.safeParse(without).success, false, `${name} without ${field} must not conform`);
      }
    }
  });

  test("the double's retry schedule is Hyperswitch's", () => {
    assert.deepEqual([...RETRY_SCHEDULE_S], [...WEBHOOK_RETRY_SCHEDULE_S]);
  });
});

const backend = backends()[0];

describe(`the orchestrator double conforms [${backend.name}]`, () => {
  const sandbox = useSandbox(backend);

  /** Webhooks the sandbox sent for one payment (or its refunds), parsed. */
  const sentFor = (paymentId: string) =>
    sandbox()
      .sentWebhooks()
      .map((s) => ({ ...s, event: JSON.parse(s.body) as OutgoingWebhookT }))
      .filter((s) => s.event.content.object.payment_id === paymentId);

  test("GET /payments/:id, POST /payments, POST and GET /refunds answer in Hyperswitch's format", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const order = await completedOrder(api);
    const p = conforms(
      PaymentsResponse,
      (await hs(sb, "GET", `/payments/${order.hyperswitch_payment_id}`)).body,
      "GET /payments/:id",
    );
    assert.equal(p.status, "succeeded");
    assert.equal(p.payment_id.length, 30);
    assert.equal(p.payment_method_data?.card?.last4, "4242");
    assert.ok(p.modified_at && p.updated, "both last-change fields are there");

    const created = await hs(sb, "POST", "/payments", { amount: 1200, currency: "EUR", confirm: false });
    assert.equal(created.status, 200);
    const c = conforms(PaymentsResponse, created.body, "POST /payments");
    assert.deepEqual([c.status, c.connector, c.amount_capturable], ["requires_payment_method", null, 1200]);

    const direct = await hs(sb, "POST", "/refunds", {
      payment_id: p.payment_id,
      amount: 100,
      reason: "conformance",
      refund_type: "instant",
      metadata: { ticket: "T-1" },
    });
    assert.equal(direct.status, 200, direct.text);
    const r = conforms(RefundResponse, direct.body, "POST /refunds");
    assert.equal(r.status, "pending");
    assert.deepEqual(r.metadata, { ticket: "T-1" });
    assert.equal(r.refund_id.length, 30);
    const got = conforms(RefundResponse, (await hs(sb, "GET", `/refunds/${r.refund_id}`)).body, "GET /refunds/:id");
    assert.equal(got.refund_id, r.refund_id);
    assert.ok(got.created_at && got.updated_at);
    assert.equal("created" in got || "updated" in got, false, "refunds say created_at / updated_at");
  });

  test("errors are {error:{type,code,message}} with Hyperswitch's codes", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const order = await api.order();
    const cases: Array<[string, string, unknown, string | null, number, string]> = [
      ["GET", "/payments/pay_x", undefined, null, 401, "IR_01"],
      ["GET", "/payments/pay_missing00000000000000000000", undefined, sb.apiKey, 404, "HE_02"],
      ["GET", "/refunds/ref_missing", undefined, sb.apiKey, 404, "HE_02"],
      ["POST", "/payments", { amount: 1, currency: "euro" }, sb.apiKey, 400, "IR_06"],
      ["POST", "/payments", { amount: 1, currency: "EUR", surprise: 1 }, sb.apiKey, 400, "IR_06"],
      ["POST", "/payments", { amount: 1, currency: "EUR", confirm: true }, sb.apiKey, 400, "IR_04"],
      ["POST", "/refunds", { payment_id: order.hyperswitch_payment_id, amount: 1 }, sb.apiKey, 400, "HE_03"],
      ["GET", "/nowhere", undefined, sb.apiKey, 404, "IR_02"],
    ];
    for (const [method, path, body, key, status, code] of cases) {
      const r = await hs(sb, method, path, body, key);
      const e = conforms(ErrorBody, r.body, `${method} ${path}`);
      assert.deepEqual([r.status, e.error.code], [status, code], `${method} ${path}`);
    }
    const paid = await completedOrder(api);
    const over = await hs(sb, "POST", "/refunds", { payment_id: paid.hyperswitch_payment_id, amount: 501 });
    assert.deepEqual([over.status, conforms(ErrorBody, over.body, "over-refund").error.code], [400, "IR_13"]);
  });

  test("every webhook the double sends is an OutgoingWebhook, signed over the exact body", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const order = await completedOrder(api);
    await api.req("POST", `/orders/${order.id}/refund`, { body: {} });
    await api.waitFor(order.id, "refunded");
    await sb.drainWebhooks();
    const sent = sentFor(order.hyperswitch_payment_id);
    assert.deepEqual(
      sent.map((s) => s.event.event_type),
      ["payment_processing", "payment_succeeded", "refund_succeeded"],
    );
    for (const s of sent) {
      conforms(OutgoingWebhook, JSON.parse(s.body), s.event.event_type);
      assert.match(s.event.event_id, /^evt_[0-9a-f]{32}$/);
      assert.match(sign(sb.webhookSecret, s.body), /^[0-9a-f]{128}$/);
      assert.equal(s.status, 200);
    }
  });

  test("paymentOutcome: each status is a real IntentStatus with its own event", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const expected: Record<string, [string, string]> = {
      requires_capture: ["payment_authorized", "processing"],
      partially_captured: ["payment_captured", "processing"],
      cancelled: ["payment_cancelled", "failed"],
      expired: ["payment_expired", "failed"],
      requires_customer_action: ["action_required", "processing"],
    };
    try {
      for (const [outcome, [eventType, orderStatus]] of Object.entries(expected)) {
        sb.setFaults({ paymentOutcome: outcome as never });
        const o = await api.order();
        assert.equal((await pay(o.payment_url)).status, 200);
        // The outcome lands on the double's completion timer: wait for it (not a fixed pause, which a
        // loaded machine outruns), then for every webhook it queued.
        const p = await settledPayment(sb, o.hyperswitch_payment_id, outcome);
        await sb.drainWebhooks();
        assert.equal(p.status, outcome);
        const types = sentFor(o.hyperswitch_payment_id).map((s) => s.event.event_type);
        assert.deepEqual(types, ["payment_processing", eventType], outcome);
        assert.equal((await api.getOrder(o.id)).status, orderStatus, outcome);
      }
    } finally {
      sb.setFaults({ paymentOutcome: "succeeded" });
    }
  });

  test("manual capture (a real request field) ends in requires_capture", async () => {
    const sb = sandbox();
    const created = await hs(sb, "POST", "/payments", {
      amount: 700,
      currency: "EUR",
      capture_method: "manual",
      return_url: "https://shop.example/return",
      metadata: { order_id: "ord_manual" },
    });
    assert.equal(created.status, 200, created.text);
    const url = `${sb.hyperswitchUrl}/checkout/${created.body.payment_id}?client_secret=${encodeURIComponent(created.body.client_secret)}`;
    assert.equal((await pay(url)).status, 200);
    const p = await settledPayment(sb, created.body.payment_id, "requires_capture");
    assert.deepEqual(
      [p.status, p.capture_method, p.amount_capturable, p.return_url],
      ["requires_capture", "manual", 700, "https://shop.example/return"],
    );
  });

  test("refundOutcome failed: a failed RefundResponse, refund_failed, the order back to completed", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const order = await completedOrder(api);
    sb.setFaults({ refundOutcome: "failed" });
    try {
      const r = await api.req("POST", `/orders/${order.id}/refund`, { body: {} });
      assert.equal(r.status, 202);
      const hr = conforms(RefundResponse, await settled(sb, `/refunds/${r.body.data.refund_id}`, "failed"), "failed");
      await sb.drainWebhooks();
      assert.equal(hr.status, "failed");
      assert.ok(hr.error_code && hr.error_message);
      assert.equal(sentFor(order.hyperswitch_payment_id).at(-1)?.event.event_type, "refund_failed");
      const o = await api.getOrder(order.id);
      assert.deepEqual([o.status, o.refund_status], ["completed", "failed"]);
    } finally {
      sb.setFaults({ refundOutcome: "succeeded" });
    }
  });

  test("refundOutcome review: the refund stays in review and no webhook is sent", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const order = await completedOrder(api);
    sb.setFaults({ refundOutcome: "review" });
    try {
      const r = await api.req("POST", `/orders/${order.id}/refund`, { body: {} });
      await sleep(100);
      await sb.drainWebhooks();
      const hr = conforms(RefundResponse, (await hs(sb, "GET", `/refunds/${r.body.data.refund_id}`)).body, "review");
      assert.equal(hr.status, "review");
      assert.equal(
        sentFor(order.hyperswitch_payment_id).some((s) => s.event.event_type.startsWith("refund")),
        false,
      );
      assert.equal((await api.getOrder(order.id)).status, "refund_pending");
    } finally {
      sb.setFaults({ refundOutcome: "succeeded" });
    }
  });

  test("a non-2xx webhook is retried on the schedule by re-sending the stored request: same bytes, same event_id", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const o = await api.order();
    sb.setFaults({ webhookFailCount: 2, completionDelayMs: 300 });
    try {
      assert.equal((await pay(o.payment_url)).status, 200);
      await api.waitFor(o.id, "completed");
      await sb.drainWebhooks();
      const sent = sentFor(o.hyperswitch_payment_id);
      const processing = sent.filter((s) => s.event.event_type === "payment_processing");
      assert.deepEqual(
        processing.map((s) => [s.status, s.retry]),
        [
          [503, 0],
          [503, 1],
          [200, 2],
        ],
      );
      assert.equal(new Set(processing.map((s) => s.body)).size, 1, "every retry is the stored first request");
      assert.equal(new Set(processing.map((s) => s.event.event_id)).size, 1, "one event_id for all attempts");
      for (const s of processing) conforms(OutgoingWebhook, s.event, "retry");
      const rows = await sql(sb.adminDsn, "SELECT applied FROM webhook_events WHERE event_id = $1", [
        processing[0].event.event_id,
      ]);
      assert.deepEqual(rows, [{ applied: true }], "stored once, applied once");
    } finally {
      sb.setFaults({ webhookFailCount: 0, completionDelayMs: 30 });
    }
  });

  test("a retry still goes out after the object's status moved on, and the marketplace applies it once", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const o = await api.order();
    // payment_processing is applied but its answer is "lost" (503): its retry, after 60 s x 0.005 =
    // 300 ms, finds the payment succeeded and the order completed; it is sent anyway, unchanged.
    sb.setFaults({ webhookFailAfterApplyCount: 1, webhookTimeScale: 0.005, completionDelayMs: 30 });
    try {
      assert.equal((await pay(o.payment_url)).status, 200);
      const done = await api.waitFor(o.id, "completed");
      await sb.drainWebhooks();
      const sent = sentFor(o.hyperswitch_payment_id);
      assert.deepEqual(
        sent.map((s) => `${s.event.event_type}:${s.status}:${s.retry}`),
        ["payment_processing:503:0", "payment_succeeded:200:0", "payment_processing:200:1"],
      );
      const [first, , retry] = sent;
      assert.equal(retry.body, first.body, "the stored request, byte for byte");
      assert.ok(Date.parse(retry.at) > Date.parse(done.completed_at), "sent after the order completed");
      assert.deepEqual(JSON.parse(retry.answer).data, { received: true, applied: false, reason: "duplicate_event" });
      const rows = await sql(sb.adminDsn, "SELECT applied FROM webhook_events WHERE event_id = $1", [
        first.event.event_id,
      ]);
      assert.deepEqual(rows, [{ applied: true }], "applied once");
      const flips = sb
        .flips()
        .filter((f) => f.order_id === o.id)
        .map((f) => f.to);
      assert.deepEqual(flips, ["pending", "processing", "completed"], "the order never went back");
    } finally {
      sb.setFaults({ webhookFailAfterApplyCount: 0, webhookTimeScale: 0.0001 });
    }
  });

  test("force_sync reads the processor's state: a payment and a refund the processor settled silently", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const o = await api.order();
    sb.setFaults({ processorSilent: true, completionDelayMs: 30, refundDelayMs: 30 });
    try {
      assert.equal((await pay(o.payment_url)).status, 200);
      await sleep(300);
      const id = o.hyperswitch_payment_id;
      const stored = conforms(PaymentsResponse, (await hs(sb, "GET", `/payments/${id}`)).body, "stored");
      assert.equal(stored.status, "processing", "without force_sync: the stored payment");
      assert.equal((await api.getOrder(o.id)).status, "processing");
      const synced = conforms(
        PaymentsResponse,
        (await hs(sb, "GET", `/payments/${id}?force_sync=true`)).body,
        "force_sync",
      );
      assert.equal(synced.status, "succeeded", "force_sync: the processor's state");
      assert.ok(Date.parse(synced.updated ?? "") > Date.parse(stored.updated ?? ""), "updated moved");
      await api.waitFor(o.id, "completed"); // the sync raised payment_succeeded

      const r = await api.req("POST", `/orders/${o.id}/refund`, { body: {} });
      assert.equal(r.status, 202, r.text);
      const refundId = r.body.data.refund_id;
      await sleep(300);
      assert.equal((await hs(sb, "GET", `/refunds/${refundId}`)).body.status, "pending");
      assert.equal((await api.getOrder(o.id)).status, "refund_pending");
      const rs = conforms(RefundResponse, (await hs(sb, "GET", `/refunds/${refundId}?force_sync=true`)).body, "sync");
      assert.equal(rs.status, "succeeded");
      await api.waitFor(o.id, "refunded");
      await sb.drainWebhooks();
      assert.deepEqual(
        sentFor(id).map((s) => s.event.event_type),
        ["payment_processing", "payment_succeeded", "refund_succeeded"],
      );
    } finally {
      sb.setFaults({ processorSilent: false });
    }
  });

  test("the marketplace acknowledges a correctly signed webhook of a type it does not handle", async () => {
    const sb = sandbox();
    const api = await new Api(sb).login();
    const order = await completedOrder(api);
    const before = (await sb.counts()).webhook_events;
    const ev = {
      ...WEBHOOK_SAMPLES.webhookPaymentSucceeded,
      event_id: "evt_0000000000000000000000000000dead",
      event_type: "dispute_opened",
      content: {
        type: "dispute_details",
        object: { dispute_id: "dp_1", payment_id: order.hyperswitch_payment_id, dispute_status: "dispute_opened" },
      },
    };
    const raw = JSON.stringify(ev);
    const r = await api.req("POST", "/webhooks/hyperswitch", {
      raw,
      headers: { "x-webhook-signature-512": sign(sb.webhookSecret, raw) },
      auth: false,
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.data, { received: true, applied: false, reason: "unsupported_event_type" });
    assert.equal((await sb.counts()).webhook_events, before + 1, "counted in webhook_events");
    assert.equal((await api.getOrder(order.id)).status, "completed");
    // The real-shaped sample, signed, is accepted too (its payment is unknown here, so not applied).
    const sample = JSON.stringify(WEBHOOK_SAMPLES.webhookPaymentSucceeded);
    const s = await api.req("POST", "/webhooks/hyperswitch", {
      raw: sample,
      headers: { "x-webhook-signature-512": sign(sb.webhookSecret, sample) },
      auth: false,
    });
    assert.deepEqual([s.status, s.body.data.reason], [200, "unknown_payment"]);
  });
});
