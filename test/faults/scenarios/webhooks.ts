// §7.5 Webhooks delivered twice, or out of order (`payment_processing` after `payment_succeeded`), or
// retried by the orchestrator with the same `event_id` after the status moved on (issue 23 item 6):
// the full run passes and the final state is right: the order refunded, its one licence revoked,
// its one seller transfer reversed, and every extra delivery recorded as not applied.
import assert from "node:assert/strict";
import type { Faults } from "../../../sandbox/index";
import { assertPass, statusLine, upToPaid, verifyAndRefund } from "../drive";
import type { Scenario, World } from "../harness";

interface EventRow {
  event_type: string;
  applied: boolean;
  reason: string | null;
}

async function fullRunWith(w: World, faults: Partial<Faults>) {
  w.sb.setFaults(faults);
  const rb = w.open(w.newSession());
  try {
    await upToPaid(rb);
    assertPass(await verifyAndRefund(rb));
    await w.sb.drainWebhooks();
    const id = rb.order!.id;
    const [order] = await w.sql<{
      status: string;
      refund_status: string;
      hyperswitch_payment_id: string;
      refund_id: string;
    }>("SELECT status, refund_status, hyperswitch_payment_id, refund_id FROM orders WHERE id = $1", [id]);
    assert.deepEqual([order.status, order.refund_status], ["refunded", "succeeded"]);
    const lic = await w.sql<{ revoked: boolean }>(
      "SELECT revoked_at IS NOT NULL AS revoked FROM licenses WHERE order_id = $1",
      [id],
    );
    assert.deepEqual(lic, [{ revoked: true }], "exactly one licence, revoked");
    const st = await w.sql<{ status: string; reversed: boolean }>(
      "SELECT status, reversed_at IS NOT NULL AS reversed FROM seller_transfers WHERE order_id = $1",
      [id],
    );
    assert.deepEqual(st, [{ status: "reversed", reversed: true }], "exactly one seller transfer, reversed");
    const events = await w.sql<EventRow>(
      "SELECT event_type, applied, reason FROM webhook_events WHERE resource_id IN ($1, $2) ORDER BY received_at, event_id",
      [order.hyperswitch_payment_id, order.refund_id],
    );
    // The order never went backwards, whatever arrived late.
    const flips = w.sb
      .flips()
      .filter((f) => f.order_id === id)
      .map((f) => f.to);
    assert.deepEqual(
      flips.filter((s) => s !== "processing"),
      ["pending", "completed", "refund_pending", "refunded"],
    );
    assert.equal(
      flips.lastIndexOf("processing") < flips.indexOf("completed") || !flips.includes("processing"),
      true,
      `order went back to processing: ${flips.join(" → ")}`,
    );
    return { rb, events, flips };
  } finally {
    await rb.close();
  }
}

const WEBHOOK_ROUTE = "POST /api/v1/webhooks/hyperswitch";
const applied = (events: EventRow[]) => events.filter((e) => e.applied).map((e) => e.event_type);
const skipped = (events: EventRow[]) => events.filter((e) => !e.applied).map((e) => `${e.event_type}: ${e.reason}`);

export const webhookDuplicate: Scenario = {
  n: "5a",
  title: "every webhook delivered twice",
  async run({ w, delta }) {
    const { rb, events } = await fullRunWith(w, { webhookDuplicate: true });
    // A second copy has the same event_id: the marketplace acknowledges it and stores nothing.
    assert.deepEqual(applied(events), ["payment_processing", "payment_succeeded", "refund_succeeded"]);
    assert.deepEqual(skipped(events), []);
    const d = await delta();
    assert.deepEqual(
      [d.orders, d.payments, d.refunds, d.licenses_active, d.seller_transfers, d.webhook_events],
      [1, 1, 1, 0, 1, 3],
    );
    assert.equal(d.routes[WEBHOOK_ROUTE], 6, "every event was delivered twice");
    return {
      outcome: `${statusLine(rb)}; order refunded, 1 licence revoked, 1 transfer reversed`,
      notes: "6 deliveries of 3 events: each applied once, copies acknowledged as duplicates",
    };
  },
};

export const webhookOutOfOrder: Scenario = {
  n: "5b",
  title: "payment_processing delivered after payment_succeeded",
  async run({ w, delta }) {
    const { rb, events } = await fullRunWith(w, { webhookOutOfOrder: true });
    assert.deepEqual(applied(events), ["payment_succeeded", "refund_succeeded"]);
    const late = skipped(events);
    assert.equal(late.length, 1, late.join("; "));
    assert.match(late[0], /^payment_processing: (stale_event|invalid_transition_from_completed)$/);
    const d = await delta();
    assert.deepEqual(
      [d.orders, d.payments, d.refunds, d.licenses_active, d.seller_transfers, d.webhook_events],
      [1, 1, 1, 0, 1, 3],
    );
    assert.equal(d.routes[WEBHOOK_ROUTE], 3);
    return {
      outcome: `${statusLine(rb)}; order refunded, 1 licence revoked, 1 transfer reversed`,
      notes: `late ${late[0]} (not applied); the order never went back to processing`,
    };
  },
};

export const webhookRetrySameEvent: Scenario = {
  n: "5c",
  title: "a webhook retried with the same event_id after the status moved on",
  async run({ w, delta }) {
    // The marketplace applies payment_processing and payment_succeeded but their answers are "lost"
    // (503): the orchestrator re-sends each stored request 60 s x 0.02 = 1.2 s later, unchanged, by
    // which time the payment has moved on from processing (and the order completed).
    const { rb, events } = await fullRunWith(w, { webhookFailAfterApplyCount: 2, webhookTimeScale: 0.02 });
    assert.deepEqual(applied(events), ["payment_processing", "payment_succeeded", "refund_succeeded"]);
    assert.deepEqual(skipped(events), []);
    const id = rb.order!.id;
    const [order] = await w.sql<{ hyperswitch_payment_id: string; completed_at: Date }>(
      "SELECT hyperswitch_payment_id, completed_at FROM orders WHERE id = $1",
      [id],
    );
    const sent = w.sb
      .sentWebhooks()
      .map((s) => ({ ...s, event: JSON.parse(s.body) as { event_id: string; event_type: string; content: any } }))
      .filter((s) => s.event.content.object.payment_id === order.hyperswitch_payment_id);
    const retries = sent.filter((s) => s.retry > 0);
    // Both are re-sent about 1.2 s after their first sends; under load the two retries may cross.
    assert.deepEqual(retries.map((r) => `${r.event.event_type}:${r.status}`).sort(), [
      "payment_processing:200",
      "payment_succeeded:200",
    ]);
    for (const r of retries) {
      const first = sent.find((s) => s.retry === 0 && s.event.event_id === r.event.event_id);
      assert.ok(first, `the retry of ${r.event.event_type} re-sends an event_id first sent before`);
      assert.equal(first.status, 503);
      assert.equal(r.body, first.body, "the stored request, byte for byte");
      assert.equal(JSON.parse(r.answer).data.reason, "duplicate_event", "acknowledged, not applied again");
    }
    assert.ok(
      Date.parse(retries[0].at) > new Date(order.completed_at).getTime(),
      "the processing retry arrived after the order completed",
    );
    const d = await delta();
    assert.deepEqual(
      [d.orders, d.payments, d.refunds, d.licenses_active, d.seller_transfers, d.webhook_events],
      [1, 1, 1, 0, 1, 3],
    );
    assert.equal(d.routes[WEBHOOK_ROUTE], 5, "3 events, 2 of them sent twice");
    return {
      outcome: `${statusLine(rb)}; order refunded, 1 licence revoked, 1 transfer reversed`,
      notes:
        "2 answers lost: both retries re-sent the stored body with the same event_id after the payment moved on; each applied once",
    };
  },
};
