// §7.1 A flaky backend while money is in flight: 30 % 503 (Retry-After 1 s), 10 % connection resets
// and 10 % 2 s latency spikes on every API call from step 5 on. Steps 0–4 run clean: login is a
// POST without an Idempotency-Key, which by design (§3) is never retried.
import assert from "node:assert/strict";
import * as path from "node:path";
import { TRACE_FILE } from "../../../lib/evidence/files";
import { readTrace } from "../../../lib/evidence/chain";
import { assertPass, statusLine, upToPaid, verifyAndRefund } from "../drive";
import { ROUTE, type Scenario } from "../harness";

export const flaky: Scenario = {
  n: "1",
  title: "30 % 503 + resets + 2 s latency spikes (steps 5–9)",
  timeoutMs: 120_000,
  async run({ w, delta }) {
    // A longer completion keeps the poll window open for several faulted attempts.
    w.sb.setFaults({ completionDelayMs: 3000, refundDelayMs: 2000 });
    const rb = w.open(w.newSession(), { POLL_DEADLINE_S: 60 });
    try {
      await upToPaid(rb, { browser: true }); // the runbook's own headless payer, as in a rehearsal
      w.sb.setFaults({ errorRate: 0.3, retryAfterS: 1, resetRate: 0.1, latencySpikeMs: 2000, latencySpikeRate: 0.1 });
      const t0 = performance.now();
      assertPass(await verifyAndRefund(rb));
      const seconds = (performance.now() - t0) / 1000;
      assert.ok(seconds < 45, `steps 5–9 took ${seconds.toFixed(0)} s under faults: backoff is not bounded`);
      w.sb.setFaults({ errorRate: 0, resetRate: 0, latencySpikeRate: 0 });

      const by = (k: string) => rb.anomalies.filter((a) => a.kind === k).length;
      assert.ok(by("http_5xx") + by("network") + by("retry") > 0, "a 30 % error rate left no anomaly");
      for (const a of rb.anomalies)
        assert.ok(a.step !== null && a.step >= 5, `anomaly outside the faulted steps: ${JSON.stringify(a)}`);
      // Every anomaly is evidence: the same list is in the hash-chained trace.
      const trace = readTrace(path.join(rb.dir, TRACE_FILE));
      const traced = trace.filter((e) => e.type === "anomaly");
      const spikes = trace.filter(
        (e) => e.type === "response" && Number((e.payload as { latency_ms?: number }).latency_ms) >= 1900,
      ).length;
      assert.equal(traced.length, rb.anomalies.length);
      for (const a of rb.anomalies)
        assert.equal((traced.find((e) => e.seq === a.traceLine)?.payload as { message?: string })?.message, a.message);
      const s5 = rb.results.get("completed")!;
      assert.equal(s5.observed.max_5xx, rb.samples.filter((s) => s.step === 5 && (s.httpStatus ?? 0) >= 500).length);

      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.refunds, d.licenses_active, d.seller_transfers], [1, 1, 1, 0, 1]);
      assert.equal(d.routes[ROUTE.orders], 1);
      const refundPosts = d.routes[ROUTE.refund] ?? 0;
      assert.ok(refundPosts >= 1);
      return {
        outcome: statusLine(rb),
        notes: `${rb.anomalies.length} anomalies (${by("http_5xx")} 5xx, ${by("network")} network, ${by("retry")} retries, ${spikes} slow ≥ 2 s); POST /refund ×${refundPosts}`,
      };
    } finally {
      await rb.close();
    }
  },
};
