/**
 * A backend time that cannot be true never becomes a gate's clock (lib/run/backend-time.ts): a
 * completion before the payment, a refund created before the payment, before the order's completion
 * or in the future of the answer that carried it (the marketplace's POST answer, or the orchestrator's
 * when that carried none), an order time that is not a time. Against the sandbox, headless, with
 * the fault harness's proxy rewriting the marketplace's answers (its Date header kept) or the
 * database moved by hand. Each time: the seconds are not measured (never 0 s), the journal holds
 * `time_impossible`, the report shows an `impossible_time` anomaly and an action item, and the
 * outcome of an otherwise complete run is not PASS.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { readJournalFile } from "../../lib/evidence/journal";
import { JOURNAL_FILE } from "../../lib/evidence/files";
import { loadEvidence } from "../../lib/report/evidence";
import { acceptance, actionItems, deriveOutcome } from "../../lib/report/verdict";
import type { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import type { StepResult } from "../../lib/types";
import { sql } from "../sandbox/helpers";
import { openStaging, orderAndPay, rewritingProxy, until, type Rewrite } from "./fixtures";

type Body = Record<string, unknown>;

const hourBefore = (iso: unknown) => new Date(Date.parse(String(iso)) - 3600_000).toISOString();
const hourAfter = (iso: unknown) => new Date(Date.parse(String(iso)) + 3600_000).toISOString();

describe("backend times that cannot be true", () => {
  let sb: Sandbox;
  let proxy: Awaited<ReturnType<typeof rewritingProxy>>;
  let hsProxy: Awaited<ReturnType<typeof rewritingProxy>>;
  /** Rewrites the `data` of the marketplace's envelope ({success, data}). */
  let rewrite: Rewrite | null = null;
  /** Rewrites the orchestrator's answers (no envelope). */
  let hsRewrite: Rewrite | null = null;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 200, refundDelayMs: 200 } });
    // The marketplace's envelope ({success, data}): only `data` is rewritten.
    proxy = await rewritingProxy(sb.marketplaceUrl, () => {
      const r = rewrite;
      return r ? (method, url, json) => ({ ...json, data: r(method, url, json.data as Body) }) : null;
    });
    hsProxy = await rewritingProxy(sb.hyperswitchUrl, () => hsRewrite);
  });
  after(async () => {
    await proxy?.close();
    await hsProxy?.close();
    await sb?.stop();
  });

  /** A staging runbook through the marketplace proxy; with `hs`, the orchestrator read through its own. */
  const open = (hs = false) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clock-impossible-"));
    return openStaging(
      sb,
      dir,
      Session.create("staging", dir),
      {
        BASE_URL: proxy.url,
        POLL_DEADLINE_S: 30,
        REFUND_DEADLINE_S: 30,
        ...(hs ? { HYPERSWITCH_URL: hsProxy.url } : {}),
      },
      { DATABASE_URL: sb.readonlyDsn, ...(hs ? { HYPERSWITCH_API_KEY: sb.apiKey } : {}) },
    );
  };

  /** Paid, the order completed in the marketplace, the paid cell PASS. */
  async function paid(rb: Runbook): Promise<void> {
    await orderAndPay(rb);
    await until("order completed", async () => (await rb.getOrder(rb.order!.id)).status === "completed");
    const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
    assert.equal(four.status, "PASS", four.reason);
  }

  async function steps(rb: Runbook, ids: string[]): Promise<StepResult[]> {
    const out: StepResult[] = [];
    for (const id of ids) out.push(await rb.run(id));
    return out;
  }

  /** The journal's `time_impossible` entries, the report's anomalies of that kind, and the verdict. */
  function judged(rb: Runbook) {
    const entries = readJournalFile(path.join(rb.dir, JOURNAL_FILE)).entries.filter(
      (e) => e.kind === "time_impossible",
    );
    const ev = loadEvidence(rb.dir);
    return {
      entries,
      anomalies: ev.anomalies.filter((a) => a.kind === "impossible_time"),
      verdict: deriveOutcome(ev),
      actions: actionItems(ev),
      box: (short: string) => acceptance(ev).find((b) => b.short === short)!,
    };
  }

  /** Step 9 did not measure from the refund's impossible time, said why (`want`), and the run is not PASS over it. */
  function refundNotMeasured(nine: { observed: Record<string, unknown> }, j: ReturnType<typeof judged>, want: RegExp) {
    assert.equal(nine.observed.seconds_to_refunded ?? null, null, "not measured from an impossible time");
    assert.match(String(nine.observed.counted_from), want);
    assert.equal(j.entries.length, 1, JSON.stringify(j.entries));
    assert.equal(j.anomalies.length, 1);
    assert.equal(j.box("refunded ≤ 5 min").ok, false);
    assert.notEqual(j.verdict.outcome, "PASS", j.verdict.reason);
  }

  test("(c) the order completed an hour before its payment: not 0 s, not measured, and the outcome is not PASS", async () => {
    const rb = open();
    try {
      await paid(rb);
      // The marketplace's own completed_at an hour before its paid_at.
      await sql(sb.adminDsn, "UPDATE orders SET completed_at = paid_at - interval '1 hour' WHERE id = $1", [
        rb.order!.id,
      ]);
      const [five, ...rest] = await steps(rb, ["completed", "licence", "transfer", "refund", "refunded"]);
      for (const r of rest) assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      assert.equal(five.observed.seconds_to_completed ?? null, null, "never a 0 s made of an impossible time");
      assert.match(
        String(five.observed.counted_from),
        /^not measured: the order's completed_at \(\S+\) is 3600\.0 s before the order's paid_at \(\S+\)$/,
      );
      assert.match(
        five.reason ?? "",
        /^impossible backend time: .* check the marketplace's and the orchestrator's clocks/,
      );
      const j = judged(rb);
      assert.equal(j.entries.length, 1);
      assert.equal(j.anomalies.length, 1);
      assert.equal(j.box("completed ≤ 5 min").ok, false);
      assert.notEqual(j.verdict.outcome, "PASS", j.verdict.reason);
      assert.match(j.verdict.reason, /completed ≤ 5 min/);
      assert.ok(j.actions.some((a) => /^\*\*Backend time impossible\*\* for ord_\w+: impossible backend time/.test(a)));
    } finally {
      await rb.close();
    }
  });

  for (const [name, shift, want] of [
    ["(a) created an hour before the payment", hourBefore, /is 3\d{3}\.\d s before the order's paid_at/],
    [
      "(b) created an hour in the future of its own answer",
      hourAfter,
      /is 3\d{3}\.\d s after the Date header of the answer that carried it \(\S+\): a time in the future/,
    ],
  ] as const)
    test(`the refund ${name}: seconds-to-refunded not measured, the outcome not PASS`, async () => {
      const rb = open();
      try {
        await paid(rb);
        for (const r of await steps(rb, ["completed", "licence", "transfer"]))
          assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
        rewrite = (m, u, d) => (m === "POST" && u.endsWith("/refund") ? { ...d, created_at: shift(d.created_at) } : d);
        const eight = await rb.run("refund");
        rewrite = null;
        assert.equal(eight.status, "PASS", eight.reason);
        const nine = await rb.run("refunded");
        assert.match(String(nine.observed.counted_from), /^not measured: the refund's created_at \(\S+\) /);
        refundNotMeasured(nine, judged(rb), want);
      } finally {
        rewrite = null;
        await rb.close();
      }
    });

  test("(e) the refund created after the payment but before the order completed (step 5's time): not measured, not PASS", async () => {
    // Completion 7 s after the payment, so a refund time can lie between the two by more than the tolerance.
    sb.setFaults({ completionDelayMs: 7000 });
    const rb = open();
    try {
      await paid(rb);
      const [five, ...rest] = await steps(rb, ["completed", "licence", "transfer"]);
      for (const r of [five, ...rest]) assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const done = Date.parse(String(five.observed.completed_at));
      rewrite = (m, u, d) =>
        m === "POST" && u.endsWith("/refund") ? { ...d, created_at: new Date(done - 6000).toISOString() } : d;
      const eight = await rb.run("refund");
      rewrite = null;
      assert.equal(eight.status, "PASS", eight.reason);
      const nine = await rb.run("refunded");
      assert.equal(nine.observed.seconds_to_refunded ?? null, null, "not measured from an impossible time");
      assert.match(
        String(nine.observed.counted_from),
        /^not measured: the refund's created_at \(\S+\) is 6\.0 s before the order's completed time \(step 5\) \(\S+\)$/,
      );
      const j = judged(rb);
      assert.equal(j.entries.length, 1, JSON.stringify(j.entries));
      assert.notEqual(j.verdict.outcome, "PASS", j.verdict.reason);
    } finally {
      rewrite = null;
      sb.setFaults({ completionDelayMs: 200 });
      await rb.close();
    }
  });

  // The refund's POST answer carries no created_at, so step 9 counts from the orchestrator's. Its
  // created_at 7 s after the Date header of the orchestrator's own answer cannot be true; with the
  // order's refunded_at 4.5 s ahead of its answer (within the tolerance), the interval alone reads
  // as skew (0 s), so only the answer's Date header shows it.
  const orderRead = (m: string, u: string) => m === "GET" && /\/orders\/[^/]+$/.test(u.split("?")[0]);
  const ahead = (ms: number) => new Date(Date.now() + ms).toISOString();
  const FUTURE =
    /^not measured: the orchestrator's refund created_at \(\S+\) is [67]\.\d s after the Date header of the answer that carried it \(\S+\): a time in the future$/;
  const NOT_A_TIME =
    /^not measured: the orchestrator's refund created_at "in a moment, promise" is not an ISO 8601 time$/;
  for (const [name, lie, created, want] of [
    ["in the future of its own answer: not measured, not PASS", true, () => ahead(7000), FUTURE],
    ["not a time: not measured, not PASS", true, () => "in a moment, promise", NOT_A_TIME],
    ["honest: measured from it, PASS", false, null, null],
  ] as const)
    test(`(f) the orchestrator's refund created_at (the POST answer carried none), ${name}`, async () => {
      const rb = open(true);
      try {
        await paid(rb);
        for (const r of await steps(rb, ["completed", "licence", "transfer"]))
          assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
        rewrite = (m, u, d) =>
          m === "POST" && u.endsWith("/refund")
            ? { ...d, created_at: null }
            : lie && orderRead(m, u) && d.status === "refunded"
              ? { ...d, refunded_at: ahead(4500) }
              : d;
        hsRewrite = (m, u, d) =>
          created && m === "GET" && /\/refunds\/[^/?]+/.test(u) ? { ...d, created_at: created() } : d;
        const eight = await rb.run("refund");
        assert.equal(eight.status, "PASS", eight.reason);
        const nine = await rb.run("refunded");
        assert.equal(nine.status, "PASS", nine.reason);
        const j = judged(rb);
        if (!lie) {
          assert.match(String(nine.observed.counted_from), /^the orchestrator's refund created_at \(\S+\) to /);
          assert.equal(typeof nine.observed.seconds_to_refunded, "number");
          assert.equal(j.entries.length, 0, JSON.stringify(j.entries));
          assert.equal(j.verdict.outcome, "PASS", j.verdict.reason);
          return;
        }
        refundNotMeasured(nine, j, want!);
      } finally {
        rewrite = null;
        hsRewrite = null;
        await rb.close();
      }
    });

  test("(d) a completed_at that is not a time: never the updated_at in its place; not measured, not PASS", async () => {
    const rb = open();
    try {
      await paid(rb);
      rewrite = (m, u, d) =>
        m === "GET" && /\/orders\/[^/]+$/.test(u.split("?")[0]) && d.status === "completed"
          ? { ...d, completed_at: "in a moment, promise" }
          : d;
      const five = await rb.run("completed");
      rewrite = null;
      assert.equal(five.observed.seconds_to_completed ?? null, null);
      assert.equal(
        five.observed.counted_from,
        `not measured: the order's completed_at "in a moment, promise" is not an ISO 8601 time`,
      );
      for (const r of await steps(rb, ["licence", "transfer", "refund", "refunded"]))
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const j = judged(rb);
      assert.equal(j.entries.length, 1);
      assert.notEqual(j.verdict.outcome, "PASS", j.verdict.reason);
    } finally {
      rewrite = null;
      await rb.close();
    }
  });

  test("(d) a paid_at without a time zone: the payment is confirmed, its time is not; seconds-to-completed not measured", async () => {
    const rb = open();
    try {
      await orderAndPay(rb);
      await until("order completed", async () => (await rb.getOrder(rb.order!.id)).status === "completed");
      // A naive timestamp (no zone): read in this machine's zone it would be hours off on an operator's laptop.
      rewrite = (m, u, d) =>
        m === "GET" && /\/orders\/[^/]+$/.test(u.split("?")[0]) && typeof d.paid_at === "string"
          ? { ...d, paid_at: d.paid_at.replace(/Z$/, "") }
          : d;
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      rewrite = null;
      assert.equal(four.status, "PASS", four.reason);
      assert.equal(four.observed.transaction_time ?? null, null, "no time taken from another field");
      assert.match(String(four.observed.time_source), /^the order's paid_at "\S+" has no time zone/);
      for (const r of await steps(rb, ["completed", "licence", "transfer", "refund", "refunded"]))
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const j = judged(rb);
      assert.equal(j.entries.length, 1);
      assert.equal(j.entries[0].kind === "time_impossible" && j.entries[0].data.step, 4);
      assert.equal(j.box("completed ≤ 5 min").ok, false);
      assert.notEqual(j.verdict.outcome, "PASS", j.verdict.reason);
    } finally {
      rewrite = null;
      await rb.close();
    }
  });

  test("honest times: no time_impossible, and the run is PASS", async () => {
    const rb = open();
    try {
      await paid(rb);
      for (const r of await steps(rb, ["completed", "licence", "transfer", "refund", "refunded"]))
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      const j = judged(rb);
      assert.equal(j.entries.length, 0);
      assert.equal(j.verdict.outcome, "PASS", j.verdict.reason);
    } finally {
      await rb.close();
    }
  });
});
