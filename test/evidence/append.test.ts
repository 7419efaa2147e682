/**
 * A log on a full disk never ends in a torn line (lib/evidence/append.ts): the append fails loudly,
 * the file is cut back to its last complete line, and the trace and journal still open and verify.
 * Uses a small tmpfs (mount, as root); without one the test says why it skipped.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { verifyChain } from "../../lib/evidence/chain";
import { JOURNAL_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { Journal } from "../../lib/evidence/journal";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { Trace } from "../../lib/evidence/trace";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "append-"));
let mounted: string | null = null;
after(() => {
  if (mounted && spawnSync("umount", [mounted]).status !== 0) spawnSync("umount", ["-l", mounted]);
  fs.rmSync(scratch, { recursive: true, force: true });
});

function tmpfs(kb: number): string | null {
  const dir = fs.mkdtempSync(path.join(scratch, "tmpfs-"));
  if (spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kb}k`, "tmpfs", dir]).status !== 0) return null;
  mounted = dir;
  return dir;
}

/** Fills the file system of `dir` until fewer than `leave` bytes are free. */
function fill(dir: string, leave: number): void {
  const filler = path.join(dir, "filler");
  const fd = fs.openSync(filler, "a");
  try {
    for (;;) {
      const free = fs.statfsSync(dir).bavail * fs.statfsSync(dir).bsize;
      if (free <= leave) break;
      fs.writeSync(fd, Buffer.alloc(Math.min(free - leave, 4096), 1));
    }
  } catch {
    // full already
  } finally {
    fs.closeSync(fd);
  }
}

test("an append that does not fit fails loudly and leaves the trace and the journal on a whole line", (t) => {
  const dir = tmpfs(128);
  if (!dir) {
    t.skip("cannot mount a tmpfs here (needs root)");
    return;
  }
  const session = path.join(dir, "20261126T154400Z-sandbox");
  const journal = Journal.create(session, { sessionId: "20261126T154400Z-sandbox", mode: "sandbox" });
  const trace = Trace.open(path.join(session, TRACE_FILE), new SecretRegistry());
  trace.append("note", { text: "before the disk filled" });
  fill(dir, 2048);
  const big = "x".repeat(16 * 1024);
  assert.throws(() => trace.append("note", { text: big }), /ENOSPC.*\(trace\.jsonl: the partial line was removed\)/);
  assert.throws(
    () => journal.append("preflight", { ok: true, refusals: [], warnings: [big], observed: {} }),
    /ENOSPC.*\(state\.jsonl: the partial line was removed\)/,
  );
  for (const f of [TRACE_FILE, JOURNAL_FILE]) {
    const text = fs.readFileSync(path.join(session, f), "utf8");
    assert.ok(text.endsWith("\n"), `${f} ends on a complete line`);
  }
  assert.equal(verifyChain(path.join(session, TRACE_FILE)).ok, true);
  assert.equal(Journal.open(session).all().length, 1, "the journal reads back whole");
  trace.close();
});
