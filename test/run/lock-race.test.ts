/**
 * Issue 25 item 5: a stale lock admits one holder. Six real processes ("kernels") open the same
 * session at the same instant (each spins until an agreed millisecond), round after round, each
 * round on a fresh session whose lock names a killed kernel. Exactly one may win; the winner opens
 * the session on top of its lock and writes to the trace, so two winners in one round also show up
 * as two trace lines with the same seq (the fork that made the session impossible to resume). On
 * 2 cores the old remove-then-create takeover let two kernels in within 40 rounds in 4 runs of 4.
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { after, test } from "node:test";
import { SESSION_LOCK_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { BUILD_DIR, ensureBuilt } from "../../lib/host/build";
import { Session } from "../../lib/run/session";

const ROOT = path.join(__dirname, "..", "..");
// The kernels run lib/ as the notebook's kernel does: precompiled (build/lib, rebuilt when the sources
// changed), required by plain Node, without a TypeScript compile per kernel.
ensureBuilt();
const LIB = path.join(ROOT, BUILD_DIR);
const PROCS = 6;
const ROUNDS = 60;
/** Each kernel spins only this long before the agreed instant (it sleeps through the rest of the 100 ms lead). */
const SPIN_MS = 10;
const archive = fs.mkdtempSync(path.join(os.tmpdir(), "lock-race-"));
const workers = new Set<ChildProcess>();
after(() => {
  for (const w of workers) w.kill("SIGKILL");
  fs.rmSync(archive, { recursive: true, force: true });
});

/**
 * A kernel that opens the session when told `go <epoch ms>` (spinning until then, so all of them
 * start within the same millisecond) and answers `won` or `refused`; a winner keeps the session open.
 */
const WORKER = `
const path = require("node:path");
const { acquireSessionLock, lockHolder } = require(${JSON.stringify(path.join(LIB, "run", "lock.js"))});
const { Runbook } = require(${JSON.stringify(path.join(LIB, "run", "runbook.js"))});
const rl = require("node:readline").createInterface({ input: process.stdin });
lockHolder(${JSON.stringify(archive)}); // warm: the race is decided in microseconds
const open = [];
const nap = new Int32Array(new SharedArrayBuffer(4));
rl.on("line", (line) => {
  const [, at, id] = line.split(" ");
  const dir = path.join(${JSON.stringify(archive)}, id);
  // Asleep until ${SPIN_MS} ms before the agreed instant, then spinning: all of them are awake and
  // runnable when it comes, as with a spin of the whole lead, for a tenth of its CPU.
  const nearly = Number(at) - ${SPIN_MS} - Date.now();
  if (nearly > 0) Atomics.wait(nap, 0, 0, nearly);
  while (Date.now() < Number(at)) {}
  try {
    const stale = acquireSessionLock(dir, id);
    // The kernel's session on top of it (re-entrant), writing to the trace as the holder.
    const rb = Runbook.open({ SESSION_ID: id, MODE: "sandbox", BASE_URL: "http://127.0.0.1:9",
      OPERATOR_EMAIL: "ops@example.com", ARCHIVE_DIR: ${JSON.stringify(archive)} }, { OPERATOR_PASSWORD: "pw-123456" });
    rb.trace.append("note", { event: "session lock taken over", previous_holder: stale });
    open.push(rb);
    process.stdout.write("won\\n");
  } catch (e) {
    process.stdout.write("refused " + (e.code || "") + " " + String(e.message).split("\\n")[0] + "\\n");
  }
});
process.stdout.write("ready\\n");
`;

interface Worker {
  proc: ChildProcess;
  next: () => Promise<string>;
}

function startWorker(): Promise<Worker> {
  const proc = spawn(process.execPath, ["-e", WORKER], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  workers.add(proc);
  const lines: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  readline.createInterface({ input: proc.stdout! }).on("line", (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      const timer = setTimeout(() => reject(new Error(`worker ${proc.pid} said nothing in 60 s`)), 60_000);
      waiting.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  return next().then((first) => {
    assert.equal(first, "ready");
    return { proc, next };
  });
}

/** A pid that is certainly dead: a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

test(`${PROCS} kernels race for a stale lock, ${ROUNDS} rounds: one holder each time, no duplicated seq`, {
  timeout: 5 * 60 * 1000,
}, async () => {
  const pool = await Promise.all(Array.from({ length: PROCS }, () => startWorker()));
  const problems: string[] = [];
  const dead = deadPid();
  for (let round = 1; round <= ROUNDS && problems.length === 0; round++) {
    // Each round a session whose kernel was killed while holding it: its lock names a dead process.
    const id = Session.create("sandbox", archive, {}, new Date(Date.UTC(2026, 0, 1, 0, 0, round)));
    const dir = path.join(archive, id);
    fs.writeFileSync(
      path.join(dir, SESSION_LOCK_FILE),
      `${JSON.stringify({ pid: dead, host: os.hostname(), since: new Date().toISOString() })}\n`,
    );
    const at = Date.now() + 100;
    for (const w of pool) w.proc.stdin!.write(`go ${at} ${id}\n`);
    const answers = await Promise.all(pool.map((w) => w.next()));
    const winners = answers.filter((a) => a === "won").length;
    if (winners !== 1) problems.push(`round ${round}: ${winners} holders`);
    // A loser is refused because the winner holds the session, for no other reason (a forked trace).
    for (const a of answers)
      if (!/^(won|refused E2E_SESSION session .* is open in another kernel)/.test(a))
        problems.push(`round ${round}: ${a}`);
    const seqs = fs
      .readFileSync(path.join(dir, TRACE_FILE), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    const dup = seqs.filter((s, i) => seqs.indexOf(s) !== i);
    if (dup.length) problems.push(`round ${round}: seq ${dup.join(", ")} written twice in the trace`);
  }
  assert.deepEqual(problems, [], "exactly one holder in every round");
});
