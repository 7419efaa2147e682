/**
 * One kernel per session, and ids that never collide (issue 14 §7). Another process stands in for
 * a second kernel: it takes the session's lock and keeps it until it is killed.
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { parseConfig } from "../../lib/config";
import { SessionError } from "../../lib/errors";
import { SESSION_LOCK_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { readTrace } from "../../lib/evidence/chain";
import { acquireSessionLock, lockHolder, releaseSessionLock } from "../../lib/run/lock";
import { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { archiveSession } from "../../lib/host/archive";

const ROOT = path.join(__dirname, "..", "..");
const archive = fs.mkdtempSync(path.join(os.tmpdir(), "lock-"));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill("SIGKILL");
  fs.rmSync(archive, { recursive: true, force: true });
});

/** A second "kernel": another process that takes the lock and holds it until killed. */
async function holder(dir: string): Promise<ChildProcess> {
  const code = `require(${JSON.stringify(path.join(ROOT, "lib", "run", "lock.ts"))}).acquireSessionLock(${JSON.stringify(dir)}, "x"); setInterval(() => {}, 1000);`;
  const c = spawn(process.execPath, ["--import", "tsx", "-e", code], { cwd: ROOT, stdio: "ignore" });
  children.push(c);
  for (let i = 0; i < 200 && lockHolder(dir)?.pid !== c.pid; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(lockHolder(dir)?.pid, c.pid, "the other process holds the lock");
  return c;
}

const params = (id: string) => ({
  SESSION_ID: id,
  MODE: "sandbox",
  BASE_URL: "http://127.0.0.1:9",
  OPERATOR_EMAIL: "ops@example.com",
  ARCHIVE_DIR: archive,
});
const env = { OPERATOR_PASSWORD: "pw-123456" };

test("two sessions created in the same second get distinct, valid ids", () => {
  const at = new Date(Date.UTC(2026, 10, 26, 15, 44));
  const ids = [Session.create("sandbox", archive, {}, at), Session.create("sandbox", archive, {}, at)];
  assert.equal(ids[0], "20261126T154400Z-sandbox");
  assert.match(ids[1], /^20261126T154400Z-[0-9a-f]{4}-sandbox$/);
  for (const id of ids) assert.equal(parseConfig(params(id), env).sessionId, id);
});

test("the lock is re-entrant in one process and goes with its last holder", () => {
  const dir = path.join(archive, Session.create("sandbox", archive));
  assert.equal(acquireSessionLock(dir, "s"), null);
  assert.equal(acquireSessionLock(dir, "s"), null);
  releaseSessionLock(dir);
  assert.ok(fs.existsSync(path.join(dir, SESSION_LOCK_FILE)), "still held once");
  releaseSessionLock(dir);
  assert.ok(!fs.existsSync(path.join(dir, SESSION_LOCK_FILE)));
});

test("a second kernel is refused naming the holder; once it is gone, the lock is taken over and recorded", async () => {
  const id = Session.create("sandbox", archive);
  const dir = path.join(archive, id);
  const other = await holder(dir);
  assert.throws(
    () => Runbook.open(params(id), env),
    (e: unknown) => {
      assert.ok(e instanceof SessionError);
      assert.match(
        e.message,
        new RegExp(
          `is open in another kernel \\(pid ${other.pid} on ${os.hostname()} since .*\\): close that notebook or shut its kernel down`,
        ),
      );
      return true;
    },
  );
  await assert.rejects(archiveSession(dir, { html: false }), /is still open in a kernel \(pid \d+/);
  assert.equal(fs.existsSync(path.join(dir, TRACE_FILE)), false, "the refused kernel wrote nothing");

  other.kill("SIGKILL");
  await new Promise((r) => other.once("exit", r));
  const rb = Runbook.open(params(id), env);
  try {
    const note = readTrace(path.join(dir, TRACE_FILE)).find(
      (e) => e.type === "note" && (e.payload as { event?: string }).event === "session lock taken over",
    );
    assert.ok(note, "the takeover is in the trace");
    assert.equal((note.payload as { previous_holder: { pid: number } }).previous_holder.pid, other.pid);
    assert.equal(lockHolder(dir)?.pid, process.pid);
  } finally {
    await rb.close();
  }
  assert.equal(lockHolder(dir), null, "closing the session gives the lock up");
});
