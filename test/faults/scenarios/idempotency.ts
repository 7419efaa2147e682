// §7.8 (issue 4 §2) POST /orders after a network error. The sandbox's own `resetRate` cuts the
// connection BEFORE the request is handled and hits every route alike, so it cannot produce the
// dangerous case. A loopback proxy in front of the marketplace does: the backend creates the order,
// and the client never hears about it.
//  a. the response is lost (connection cut): the client retries with the same Idempotency-Key;
//  b. the kernel is SIGKILLed while its POST is in flight (journal: order_intent, no order_created);
//     the notebook is run again and re-sends the POST with the same key.
// Either way: one order and one payment in the DB, though the backend saw two POST /orders.
import assert from "node:assert/strict";
import * as path from "node:path";
import { Journal } from "../../../lib/evidence/journal";
import { assertPass, journalCount, statusLine, upToPaid, verifyAndRefund } from "../drive";
import { ROUTE, faultyProxy, runKernelAndKill, type Scenario } from "../harness";

const isOrderPost = (method: string, url: string) => method === "POST" && url === "/api/v1/orders";

export const lostResponse: Scenario = {
  n: "8a",
  title: "POST /orders response lost after the backend created the order",
  async run({ w, delta }) {
    let first = true;
    const proxy = await faultyProxy(w.sb.marketplaceUrl, (m, u) => {
      if (!isOrderPost(m, u) || !first) return "pass";
      first = false;
      return "drop";
    });
    const rb = w.open(w.newSession(), { BASE_URL: proxy.url });
    try {
      for (const step of [() => rb.run("preflight"), () => rb.run("login"), () => rb.run("product")])
        assert.equal((await step()).status, "PASS");
      const s3 = await rb.run("order");
      assert.equal(s3.status, "PASS", s3.reason);
      assert.deepEqual(
        proxy.acted.filter((a) => a !== "pass"),
        ["drop"],
      );
      const retry = rb.anomalies.find((a) => a.kind === "retry");
      assert.match(
        retry?.message ?? "",
        /^POST \/orders: network error: .+; retry 1\/4 in \d+ ms with the same Idempotency-Key$/,
      );
      assert.equal(
        rb.journal.last("order_created")?.data.http_status,
        200,
        "the retry got the existing order back (200), not a new one (201)",
      );
      assert.match(
        String(s3.observed.resumed),
        new RegExp(
          `^resumed order ${s3.observed.order_id} created at .+ \\(returned by the backend for this session's Idempotency-Key\\)$`,
        ),
      );
      assert.equal(journalCount(rb, "order_created"), 1);
      const d = await delta();
      assert.deepEqual([d.orders, d.payments, d.routes[ROUTE.orders]], [1, 1, 2]);
      return {
        outcome: `0-3 PASS (1 retry); order not paid`,
        notes: "1st response cut after the backend acted; retry with the same key → 200, the same order",
      };
    } finally {
      await rb.close();
      await proxy.close();
    }
  },
};

export const killedMidPost: Scenario = {
  n: "8b",
  title: "kernel SIGKILLed while POST /orders was in flight, notebook run again",
  timeoutMs: 90_000,
  async run({ w, delta }) {
    let hold = true;
    const proxy = await faultyProxy(w.sb.marketplaceUrl, (m, u) => (isOrderPost(m, u) && hold ? "hold" : "pass"));
    const id = w.newSession();
    const spec = w.spec(id, { BASE_URL: proxy.url });
    try {
      const killed = await runKernelAndKill(spec, { promise: proxy.held });
      assert.equal(
        killed.signal,
        "SIGKILL",
        `the kernel was not killed mid-POST (exit ${killed.code}): ${killed.lines.join(" / ")} ${killed.stderr}`,
      );
      assert.ok(
        killed.lines.includes("step 2 PASS") && !killed.lines.some((l) => l.startsWith("step 3")),
        killed.lines.join(" / "),
      );
      const left = Journal.open(path.join(w.archive, id));
      assert.ok(left.last("order_intent"), "the intent was journaled before the POST");
      assert.equal(left.last("order_created"), undefined, "the kernel died before it heard back");
      const [orphan] = await w.sql<{ id: string }>("SELECT id FROM orders ORDER BY created_at DESC LIMIT 1");
      assert.equal((await delta()).orders, 1, "the backend created the order the dead kernel never heard of");

      hold = false;
      const rb = w.open(id, { BASE_URL: proxy.url });
      try {
        await upToPaid(rb);
        const s3 = rb.results.get("order")!;
        assert.equal(s3.observed.order_id, orphan.id, "the re-run adopted the order the dead kernel created");
        assert.match(
          String(s3.observed.resumed),
          new RegExp(
            `^resumed order ${orphan.id} created at .+ \\(returned by the backend for this session's Idempotency-Key\\)$`,
          ),
        );
        assertPass(await verifyAndRefund(rb));
        const d = await delta();
        assert.deepEqual([d.orders, d.payments, d.refunds, d.routes[ROUTE.orders]], [1, 1, 1, 2]);
        return {
          outcome: `killed in step 3; re-run: ${statusLine(rb)}`,
          notes: "re-sent POST with the same key → 200, the orphaned order; paid and refunded once",
        };
      } finally {
        await rb.close();
      }
    } finally {
      await proxy.close();
    }
  },
};
