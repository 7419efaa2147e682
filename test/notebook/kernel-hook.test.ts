/**
 * The kernel's own hooks (lib/notebook/kernel.ts): when `npm run session` stops Jupyter under a
 * running step, it first sends the kernel SIGHUP (a lost terminal) or SIGUSR2 (Ctrl-C, SIGTERM);
 * the step is recorded INTERRUPTED, stopped by the host, and the shutdown's SIGINT that follows (the
 * one Kernel ■ sends too) changes nothing. Signals are delivered to this process's listeners with
 * process.emit, so nothing outside the test is signalled.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { parseConfig } from "../../lib/config";
import { HOST_STOP, hookKernel } from "../../lib/notebook/kernel";
import { Session } from "../../lib/run/session";

// The test runner starts its workers with report-on-signal: a SIGUSR2 would leave a diagnostic
// report file in the working folder. A kernel (launch.sh) runs without it.
if (process.report) process.report.reportOnSignal = false;
const archive = fs.mkdtempSync(path.join(os.tmpdir(), "kernel-hook-"));
after(() => fs.rmSync(archive, { recursive: true, force: true }));

/** Runs step 0 with a body that only ends when the step is stopped; `stop` is called once it runs. */
async function stoppedBy(stop: () => void) {
  const id = Session.create("sandbox", archive);
  const s = new Session(
    parseConfig(
      {
        SESSION_ID: id,
        MODE: "sandbox",
        BASE_URL: "http://127.0.0.1:9",
        OPERATOR_EMAIL: "ops@example.com",
        ARCHIVE_DIR: archive,
      },
      { OPERATOR_PASSWORD: "pw-123456" },
    ),
  );
  try {
    const running = s.runStep(
      "preflight",
      {},
      () => new Promise((_resolve, reject) => s.signal!.addEventListener("abort", () => reject(s.signal!.reason))),
    );
    await new Promise((r) => setTimeout(r, 100));
    stop();
    return await running;
  } finally {
    await s.close();
  }
}

test("SIGHUP, then Jupyter's SIGINT: the running step is INTERRUPTED, stopped by the host (terminal lost)", async () => {
  hookKernel();
  const r = await stoppedBy(() => {
    process.emit("SIGHUP", "SIGHUP");
    process.emit("SIGINT", "SIGINT");
  });
  assert.equal(r.status, "INTERRUPTED");
  assert.ok(r.reason!.startsWith(`${HOST_STOP.SIGHUP} at `), r.reason);
});

test("SIGUSR2 (Ctrl-C or SIGTERM to npm run session): stopped by the host; a plain SIGINT is still the operator's Kernel ■", async () => {
  hookKernel();
  const host = await stoppedBy(() => process.emit("SIGUSR2", "SIGUSR2"));
  assert.equal(host.status, "INTERRUPTED");
  assert.ok(host.reason!.startsWith(`${HOST_STOP.SIGUSR2} at `), host.reason);
  const operator = await stoppedBy(() => process.emit("SIGINT", "SIGINT"));
  assert.match(operator.reason!, /^interrupted by the operator \(Kernel ■\) at /);
});
