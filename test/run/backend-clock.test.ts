/**
 * Issue 22 §1–2: the clocks of steps 5 and 9 come from the backend, and step 5 never passes without
 * seeing the order completed. Against the sandbox, headless: a slow completion with the paid cell run
 * late, a quick completion with the paid cell run after it, a backend answering 503 mid-poll (poll
 * gaps stretched), the refund's interval, and the refund run before step 5. The recorded seconds must
 * equal the backend's own interval (its database), and lie inside the bracket of when the test paid.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { Refund, paths } from "../../lib/contract";
import { loadEvidence } from "../../lib/report/evidence";
import { acceptance, actionItems, deriveOutcome } from "../../lib/report/verdict";
import { Session } from "../../lib/run/session";
import { sql, sleep } from "../sandbox/helpers";
import { openStaging, openWithoutOrchestrator, orderAndPay, until } from "./fixtures";

interface OrderRow {
  paid_at?: Date | null;
  completed_at: Date | null;
  refunded_at: Date | null;
  status: string;
}

const round1 = (s: number) => Math.round(s * 10) / 10;

async function orderRow(sb: Sandbox, id: string): Promise<OrderRow> {
  return (await sql<OrderRow>(sb.adminDsn, "SELECT * FROM orders WHERE id = $1", [id]))[0];
}

/** Recorded seconds = the backend's interval, and inside what the test's own bracket allows. */
function assertBackendInterval(
  recorded: unknown,
  startMs: { before: number; after: number },
  endAt: Date | null,
  backendStart: Date | null | undefined,
): void {
  assert.ok(endAt, "the backend recorded the end");
  const end = endAt.getTime();
  assert.equal(typeof recorded, "number", `seconds recorded: ${String(recorded)}`);
  const s = recorded as number;
  const lo = round1((end - startMs.after) / 1000) - 0.1;
  const hi = round1((end - startMs.before) / 1000) + 0.1;
  assert.ok(
    s >= lo && s <= hi,
    `recorded ${s} s, but the payment/refund was made ${lo.toFixed(1)}–${hi.toFixed(1)} s before the end`,
  );
  assert.ok(backendStart, "the backend recorded the start");
  assert.equal(s, round1((end - backendStart.getTime()) / 1000), "exactly the backend's own interval");
}

function newDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

describe("without HYPERSWITCH_URL: the order's own times", () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 1500, refundDelayMs: 1500 } });
  });
  after(async () => sb?.stop());

  // Only a sandbox run may go without the orchestrator (pre-flight refuses staging without it).
  const open = (dir: string) =>
    openWithoutOrchestrator(sb, dir, { POLL_DEADLINE_S: 60 }, { DATABASE_URL: sb.readonlyDsn });

  test("slow completion, paid cell run late: seconds-to-completed counts from the payment, not the paid cell", async () => {
    sb.setFaults({ completionDelayMs: 4000 });
    const dir = newDir("clock-late-");
    const rb = open(dir);
    try {
      const paidAt = await orderAndPay(rb);
      await sleep(2500); // the operator gets round to the paid cell 2.5 s after paying
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "PASS", four.reason);
      const five = await rb.run("completed");
      assert.equal(five.status, "PASS", five.reason);
      const row = await orderRow(sb, rb.order!.id);
      assertBackendInterval(five.observed.seconds_to_completed, paidAt, row.completed_at, row.paid_at);
      assert.ok((five.observed.seconds_to_completed as number) >= 3.9, "at least the 4 s completion delay");
      assert.equal(four.observed.transaction_time, row.paid_at?.toISOString(), "step 4 records the backend's time");
      assert.equal(four.observed.time_source, "the order's paid_at");
      assert.equal(five.observed.completed_at, row.completed_at?.toISOString());
      assert.match(
        String(five.observed.counted_from),
        /^the order's paid_at \(.+\) to the order's completed_at \(.+\)$/,
      );
    } finally {
      sb.setFaults({ completionDelayMs: 1500 });
      await rb.close();
    }
  });

  test("quick completion, paid cell run after it: 1.5 s recorded, not the ~0 s the notebook would see", async () => {
    const dir = newDir("clock-quick-");
    const rb = open(dir);
    try {
      const paidAt = await orderAndPay(rb);
      await until("order completed", async () => (await rb.getOrder(rb.order!.id)).status === "completed");
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "PASS", four.reason);
      const five = await rb.run("completed");
      assert.equal(five.status, "PASS", five.reason);
      const row = await orderRow(sb, rb.order!.id);
      assertBackendInterval(five.observed.seconds_to_completed, paidAt, row.completed_at, row.paid_at);
      assert.ok((five.observed.seconds_to_completed as number) >= 1.4, "the 1.5 s completion delay");
    } finally {
      await rb.close();
    }
  });

  test("503s mid-poll in step 5 stretch the poll gaps, not the recorded seconds", async () => {
    sb.setFaults({ completionDelayMs: 2000, refundDelayMs: 2000, retryAfterS: 0 });
    const dir = newDir("clock-503-");
    const rb = open(dir);
    try {
      const paidAt = await orderAndPay(rb);
      await until("order left pending", async () => (await rb.getOrder(rb.order!.id)).status !== "pending");
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "PASS", four.reason);
      // Every answer a 503 for 3 s: the poller backs off (0.5, 1, 2, 4 s …) past the completion.
      sb.setFaults({ errorRate: 1 });
      const healed = sleep(3000).then(() => sb.setFaults({ errorRate: 0 }));
      const five = await rb.run("completed");
      await healed;
      assert.equal(five.status, "PASS", five.reason);
      assert.ok((five.observed.max_5xx as number) >= 3, `503s seen: ${five.observed.max_5xx}`);
      const row = await orderRow(sb, rb.order!.id);
      const reachedAt = Date.parse(rb.samples.filter((s) => s.step === 5).at(-1)!.at);
      assert.ok(reachedAt - row.completed_at!.getTime() > 1000, "the poll saw it late (the gap was stretched)");
      assertBackendInterval(five.observed.seconds_to_completed, paidAt, row.completed_at, row.paid_at);
    } finally {
      sb.setFaults({ completionDelayMs: 1500, errorRate: 0, retryAfterS: 1 });
      await rb.close();
    }
  });

  test("503s mid-poll in step 9: seconds-to-refunded is the backend's refund interval", async () => {
    sb.setFaults({ refundDelayMs: 2000, retryAfterS: 0 });
    const dir = newDir("clock-503-refund-");
    const rb = open(dir);
    try {
      await orderAndPay(rb);
      await until("order left pending", async () => (await rb.getOrder(rb.order!.id)).status !== "pending");
      assert.equal((await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" })).status, "PASS");
      for (const r of [await rb.run("completed"), await rb.run("licence"), await rb.run("transfer")])
        assert.equal(r.status, "PASS", r.reason);
      const refundBefore = Date.now();
      const eight = await rb.run("refund");
      const refundAfter = Date.now();
      assert.equal(eight.status, "PASS", eight.reason);
      sb.setFaults({ errorRate: 1 });
      const healed9 = sleep(3000).then(() => sb.setFaults({ errorRate: 0 }));
      const nine = await rb.run("refunded");
      await healed9;
      assert.equal(nine.status, "PASS", nine.reason);
      const refunded = await orderRow(sb, rb.order!.id);
      const [refund] = await sql<{ created_at: Date }>(sb.adminDsn, "SELECT created_at FROM refunds WHERE id = $1", [
        eight.observed.refund_id,
      ]);
      const seen9 = Date.parse(rb.samples.filter((s) => s.step === 9).at(-1)!.at);
      assert.ok(seen9 - refunded.refunded_at!.getTime() > 1000, "step 9's poll saw it late too");
      assertBackendInterval(
        nine.observed.seconds_to_refunded,
        { before: refundBefore, after: refundAfter },
        refunded.refunded_at,
        refund.created_at,
      );
      assert.match(String(nine.observed.counted_from), /^the refund's created_at \(.+\) to the order's refunded_at/);
      assert.equal(nine.observed.refunded_at, refunded.refunded_at?.toISOString());
    } finally {
      sb.setFaults({ refundDelayMs: 1500, errorRate: 0, retryAfterS: 1 });
      await rb.close();
    }
  });

  test("step 9: an order refunded an hour before the refund's own time is impossible: not measured, never 0 s", async () => {
    sb.setFaults({ refundDelayMs: 100 });
    const rb = open(newDir("clock-skew-refund-"));
    try {
      await orderAndPay(rb);
      await until("order left pending", async () => (await rb.getOrder(rb.order!.id)).status !== "pending");
      assert.equal((await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" })).status, "PASS");
      for (const r of [await rb.run("completed"), await rb.run("licence"), await rb.run("transfer")])
        assert.equal(r.status, "PASS", r.reason);
      assert.equal((await rb.run("refund")).status, "PASS");
      await until("order refunded", async () => (await orderRow(sb, rb.order!.id)).refunded_at !== null);
      // The marketplace's clock an hour behind the refund's: refunded_at before the refund's created_at.
      await sql(
        sb.adminDsn,
        "UPDATE orders SET refunded_at = refunded_at - interval '1 hour', updated_at = updated_at - interval '1 hour' WHERE id = $1",
        [rb.order!.id],
      );
      const nine = await rb.run("refunded");
      // An hour is no clock skew (the tolerance is seconds): the interval is not measured, and the
      // session is not PASS over it (test/run/backend-impossible-time.test.ts covers the rest).
      assert.equal(nine.observed.seconds_to_refunded ?? null, null);
      assert.match(
        String(nine.observed.counted_from),
        /^not measured: the order's refunded_at \(\S+\) is 3\d{3}\.\d s before the refund's created_at/,
      );
      assert.ok(
        rb.anomalies.some(
          (a) => a.kind === "impossible_time" && /^impossible backend time: the order's refunded_at/.test(a.message),
        ),
        JSON.stringify(rb.anomalies),
      );
      assert.notEqual(deriveOutcome(loadEvidence(rb.dir)).outcome, "PASS");
    } finally {
      sb.setFaults({ refundDelayMs: 1500 });
      await rb.close();
    }
  });

  for (const [status, refundDelayMs] of [
    ["refunded", 100],
    ["refund_pending", 60_000],
  ] as const)
    test(`refund before step 5 (order ${status}): step 5 is not PASS, says what it saw; the outcome is not PASS`, async () => {
      sb.setFaults({ refundDelayMs });
      const dir = newDir("clock-refunded-");
      const rb = open(dir);
      try {
        await orderAndPay(rb);
        await until("order completed", async () => (await rb.getOrder(rb.order!.id)).status === "completed");
        assert.equal((await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" })).status, "PASS");
        // The refund goes through before step 5 runs (as an early refund cell would send it).
        await rb.api.call({
          method: "POST",
          path: paths.refund(rb.order!.id),
          endpoint: "POST /orders/:id/refund",
          schema: Refund,
          auth: true,
          body: { reason: "early" },
          idempotencyKey: `${rb.cfg.sessionId}:early-refund`,
        });
        await until(`order ${status}`, async () => (await rb.getOrder(rb.order!.id)).status === status);
        const five = await rb.run("completed");
        assert.notEqual(five.status, "PASS");
        assert.equal(five.status, "FAIL");
        assert.match(
          five.reason!,
          new RegExp(
            `^not observed: the order was already ${status} when step 5 first looked .*the move to completed, its time against the 5-minute limit, and the licence and seller transfer before the refund can no longer be checked`,
          ),
        );
        assert.match(String(five.observed.not_observed), new RegExp(`^the order was already ${status}`));
        assert.equal(five.observed.seconds_to_completed ?? null, null, "no seconds made up");
        assert.equal(five.observed.last_status, status);
        const ev = loadEvidence(rb.dir);
        const v = deriveOutcome(ev);
        assert.notEqual(v.outcome, "PASS", v.reason);
        const box = acceptance(ev).find((b) => b.short === "completed ≤ 5 min")!;
        assert.equal(box.ok, false);
        assert.match(box.evidence, /step 5 FAIL: not observed/);
        assert.ok(actionItems(ev).some((a) => /^Step 5 .* could not be checked: the order was already/.test(a)));
      } finally {
        sb.setFaults({ refundDelayMs: 1500 });
        await rb.close();
      }
    });
});

describe("with HYPERSWITCH_URL: the orchestrator's time, never later than the order's paid_at", () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 1500, refundDelayMs: 500 } });
  });
  after(async () => sb?.stop());

  test("paid cell after the payment settled: counted from the payment, not from the settled `updated`", async () => {
    const dir = newDir("clock-hs-");
    const rb = openStaging(
      sb,
      dir,
      Session.create("staging", dir),
      { POLL_DEADLINE_S: 60, HYPERSWITCH_URL: sb.hyperswitchUrl },
      { HYPERSWITCH_API_KEY: sb.apiKey },
    );
    try {
      const paidAt = await orderAndPay(rb);
      await until("order completed", async () => (await rb.getOrder(rb.order!.id)).status === "completed");
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "PASS", four.reason);
      const five = await rb.run("completed");
      assert.equal(five.status, "PASS", five.reason);
      const row = await orderRow(sb, rb.order!.id);
      assertBackendInterval(five.observed.seconds_to_completed, paidAt, row.completed_at, row.paid_at);
      assert.ok((five.observed.seconds_to_completed as number) >= 1.4);
    } finally {
      await rb.close();
    }
  });

  test("no HYPERSWITCH_URL and a backend without paid_at: the box stays unticked and says why", async () => {
    const dir = newDir("clock-none-");
    const rb = openWithoutOrchestrator(sb, dir, { POLL_DEADLINE_S: 60 });
    try {
      await orderAndPay(rb);
      await until("order completed", async () => (await rb.getOrder(rb.order!.id)).status === "completed");
      // A backend that keeps no paid_at: the completed order's updated_at is not the payment's time.
      await sql(sb.adminDsn, "UPDATE orders SET paid_at = NULL WHERE id = $1", [rb.order!.id]);
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "PASS", four.reason);
      assert.equal(four.observed.transaction_time ?? null, null, "no time made up");
      assert.match(String(four.observed.time_source), /^no backend time for the payment: the order \(completed\)/);
      const five = await rb.run("completed");
      assert.equal(five.status, "PASS", five.reason);
      assert.equal(five.observed.seconds_to_completed ?? null, null);
      const box = acceptance(loadEvidence(rb.dir)).find((b) => b.short === "completed ≤ 5 min")!;
      assert.equal(box.ok, false, "unticked");
      assert.match(box.evidence, /^seconds-to-completed not measured: no backend time for the payment/);
    } finally {
      await rb.close();
    }
  });
});
