/**
 * Issue 23 item 6, the runbook's side of the orchestrator's wire, against the sandbox: an orchestrator
 * error body is read as Hyperswitch's (`{"error":{type, code, message}}`), its code and type kept on
 * the error, in its message and in the trace; and `force_sync` reaches the processor's state (the
 * `processorSilent` fault: the processor settled, nobody told the orchestrator, so only the runbook's
 * force_sync reads move the payment and the refund on).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { HsPayment, paths } from "../../lib/contract";
import { HttpStatusError } from "../../lib/errors";
import { readTrace } from "../../lib/evidence/chain";
import { TRACE_FILE } from "../../lib/evidence/files";
import type { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { hs, sleep } from "../sandbox/helpers";
import { openStaging, orderAndPay } from "./fixtures";

const newDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** The trace's anomaly messages. */
const tracedAnomalies = (rb: Runbook) =>
  readTrace(path.join(rb.dir, TRACE_FILE))
    .filter((e) => e.type === "anomaly")
    .map((e) => String((e.payload as { message?: unknown }).message));

describe("the orchestrator's wire, read by the runbook", () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 100, refundDelayMs: 100 } });
  });
  after(async () => sb?.stop());

  const open = (dir: string, key: string) =>
    openStaging(
      sb,
      dir,
      Session.create("staging", dir),
      { POLL_DEADLINE_S: 30, REFUND_DEADLINE_S: 30, HYPERSWITCH_URL: sb.hyperswitchUrl },
      { HYPERSWITCH_API_KEY: key },
    );

  test("a Hyperswitch error body keeps its code and type: on the error, in its message, in the trace", async () => {
    const dir = newDir("hs-error-");
    const rb = open(dir, sb.apiKey);
    try {
      const missing = "pay_missing00000000000000000000";
      const err = await rb
        .hs!.call({
          method: "GET",
          path: paths.hsPaymentSynced(missing),
          endpoint: "GET /payments/:id",
          schema: HsPayment,
          enveloped: false,
          headers: { "api-key": sb.apiKey },
        })
        .then(
          () => assert.fail("a missing payment answered 2xx"),
          (e: unknown) => e,
        );
      assert.ok(err instanceof HttpStatusError, String(err));
      assert.deepEqual([err.status, err.serverCode, err.serverType], [404, "HE_02", "invalid_request"]);
      assert.match(err.message, /answered 404: HE_02 \(invalid_request\): Payment does not exist in our records$/);
    } finally {
      await rb.close();
    }
  });

  test("a refused cross-check (wrong api-key) says IR_01 and its type in the anomaly and the trace", async () => {
    const dir = newDir("hs-error-key-");
    const rb = open(dir, `${sb.apiKey}0`); // the sandbox's key, one character longer: refused
    try {
      await orderAndPay(rb);
      await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      const want =
        /^orchestrator cross-check failed: .* answered 401: IR_01 \(invalid_request\): API key not provided or invalid/;
      assert.ok(
        rb.anomalies.some((a) => want.test(a.message)),
        rb.anomalies.map((a) => a.message).join("\n"),
      );
      assert.ok(
        tracedAnomalies(rb).some((m) => want.test(m)),
        "the trace holds the code and the type",
      );
    } finally {
      await rb.close();
    }
  });

  test("force_sync: a payment and a refund the processor settled silently complete through the runbook's reads", async () => {
    sb.setFaults({ processorSilent: true });
    const dir = newDir("hs-sync-");
    const rb = open(dir, sb.apiKey);
    try {
      await orderAndPay(rb);
      await sleep(400); // the processor has settled by now; the stored payment does not know
      const id = rb.order!.paymentId;
      assert.equal((await hs(sb, "GET", `/payments/${id}`)).body.status, "processing");
      assert.equal((await rb.getOrder(rb.order!.id)).status, "processing");
      const four = await rb.confirmPaid({ last4: "4242", processor: "sandbox_card" });
      assert.equal(four.status, "PASS", four.reason);
      const five = await rb.run("completed");
      assert.equal(five.status, "PASS", five.reason);
      assert.equal((await hs(sb, "GET", `/payments/${id}`)).body.status, "succeeded", "synced by the runbook");
      // Step 7 (the DB row) is not what this test is about: the refund is told why it goes on without it.
      const refund = () => rb.run("refund", { reason: "force_sync test: step 7's DB row is not checked here" });
      for (const r of [await rb.run("licence"), await refund(), await rb.run("refunded")])
        assert.equal(r.status, "PASS", `${r.step}: ${r.reason}`);
      assert.equal((await rb.getOrder(rb.order!.id)).status, "refunded");
    } finally {
      sb.setFaults({ processorSilent: false });
      await rb.close();
    }
  });
});
