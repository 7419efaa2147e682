/**
 * Issue 14 §4: every step has a wall-clock deadline that nothing outlives. A pre-flight against a
 * server that accepts and never answers ends at the step's deadline, FAIL, with the connection
 * closed (the call was cancelled, not left running); a body that ignores its signal is abandoned
 * after the unwind grace, whether the step ran out of time (FAIL) or was stopped (INTERRUPTED); and
 * the next step runs normally afterwards.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { Journal, latestStepResults } from "../../lib/evidence/journal";
import type { Runbook } from "../../lib/run/runbook";
import { STEP_LIMITS, Session, interruptAll } from "../../lib/run/session";
import { openStaging } from "./fixtures";

let sb: Sandbox;
let silent: net.Server;
let silentUrl: string;
const sockets: { open: number; closed: number } = { open: 0, closed: 0 };
const saved = { ...STEP_LIMITS };
const archive = fs.mkdtempSync(path.join(os.tmpdir(), "step-deadline-"));

before(async () => {
  sb = await startSandbox({ quiet: true });
  // Accepts, reads, never answers.
  silent = net.createServer((s) => {
    sockets.open++;
    s.on("close", () => sockets.closed++);
    s.on("data", () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/api/v1`;
  Object.assign(STEP_LIMITS, { otherS: 1, unwindMs: 300 });
});
after(async () => {
  Object.assign(STEP_LIMITS, saved);
  await new Promise<void>((r) => silent.close(() => r()));
  await sb?.stop();
});

const open = (extra: Record<string, unknown> = {}): Runbook =>
  openStaging(sb, archive, Session.create("staging", archive), extra);

test("pre-flight against a backend that never answers: FAIL at the step's deadline, the call cancelled", {
  timeout: 15_000,
}, async () => {
  const rb = open({ BASE_URL: silentUrl });
  try {
    const t0 = performance.now();
    const r = await rb.run("preflight");
    const s = (performance.now() - t0) / 1000;
    assert.equal(r.status, "FAIL");
    assert.match(r.reason ?? "", /step 0 did not finish within its 1 s wall-clock deadline/);
    assert.ok(
      s < 1 + STEP_LIMITS.unwindMs / 1000 + 1,
      `ended near its deadline (${s.toFixed(2)} s), not at the 30 s call deadline`,
    );
    assert.ok(sockets.open > 0, "the call reached the silent backend");
    for (let i = 0; i < 20 && sockets.closed < sockets.open; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(sockets.closed, sockets.open, "every connection was closed: nothing left waiting");
    assert.equal(latestStepResults(Journal.open(rb.dir).all()).get("preflight")?.status, "FAIL", "journaled FAIL");
  } finally {
    await rb.close();
  }
});

test("a body that ignores its signal is abandoned after the grace: FAIL past the deadline, then the next step runs", {
  timeout: 15_000,
}, async () => {
  const rb = open();
  try {
    const t0 = performance.now();
    const r = await rb.session.runStep("preflight", {}, () => new Promise<void>(() => undefined));
    const s = (performance.now() - t0) / 1000;
    assert.equal(r.status, "FAIL");
    assert.match(r.reason ?? "", /wall-clock deadline/);
    assert.ok(s < 1 + STEP_LIMITS.unwindMs / 1000 + 1, `the cell was not held (${s.toFixed(2)} s)`);
    const again = await rb.run("preflight");
    assert.equal(again.status, "PASS", `the re-run passes: ${again.reason}`);
  } finally {
    await rb.close();
  }
});

test("Kernel ■ on a body that ignores its signal: INTERRUPTED after the grace, never PASS or FAIL", {
  timeout: 15_000,
}, async () => {
  const rb = open();
  try {
    const pending = rb.session.runStep("preflight", {}, () => new Promise<void>(() => undefined));
    await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(interruptAll("Kernel ■"), [0]);
    const t0 = performance.now();
    const r = await pending;
    assert.equal(r.status, "INTERRUPTED");
    assert.ok(performance.now() - t0 < STEP_LIMITS.unwindMs + 1000, "the cell returned after the grace");
  } finally {
    await rb.close();
  }
});
