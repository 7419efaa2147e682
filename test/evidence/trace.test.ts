import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { TraceError } from "../../lib/errors";
import { GENESIS, readTrace, verifyChain } from "../../lib/evidence/chain";
import { chainBreakText } from "../../lib/evidence/finding-text";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { REDACT_MAX_DEPTH } from "../../lib/evidence/redact";
import { Trace } from "../../lib/evidence/trace";
import { PAN_SPACED, tmpDir } from "./fixtures";

/** The fs module object itself (not an import namespace), so its methods can be mocked. */
const fsCjs = createRequire(__filename)("node:fs") as typeof fs;

const SECRET = "tr4ce-secret-value";
const reg = new SecretRegistry();
reg.add(SECRET, "TEST_SECRET");

/** A closed trace of `n` events in a fresh temp dir. */
function build(n: number): { file: string; head: string } {
  const file = path.join(tmpDir("trace-"), "s", "trace.jsonl");
  const t = Trace.open(file, reg);
  for (let i = 1; i <= n; i++) t.append(i % 2 ? "request" : "response", { i, url: `/orders/ord_${i}` });
  t.close();
  return { file, head: t.head };
}
const readLines = (f: string) => fs.readFileSync(f, "utf8").split("\n").slice(0, -1);
const writeLines = (f: string, lines: string[]) => fs.writeFileSync(f, lines.map((l) => `${l}\n`).join(""));

describe("Trace", () => {
  it("appends chained, redacted, 1-based lines", () => {
    const file = path.join(tmpDir("trace-"), "deep", "dir", "trace.jsonl");
    const t = Trace.open(file, reg);
    assert.equal(t.head, GENESIS);
    assert.equal(t.seq, 0);
    const e1 = t.append("session", { password: SECRET, note: `card ${PAN_SPACED}` });
    const e2 = t.append("note", { text: `said ${SECRET}` });
    t.close();
    assert.equal(e1.seq, 1);
    assert.equal(e1.prev, GENESIS);
    assert.equal(e2.prev, e1.hash);
    assert.match(e1.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(t.head, e2.hash);
    const text = fs.readFileSync(file, "utf8");
    assert.ok(!text.includes(SECRET), "secret never reaches the disk");
    assert.ok(!text.includes(PAN_SPACED));
    assert.deepEqual(
      readTrace(file).map((e) => e.payload),
      [{ note: "card [PAN ****4242]", password: "[REDACTED]" }, { text: "said [REDACTED]" }],
    );
  });

  it("writes a non-finite number in a payload as null, as it always did (canonicalJson itself refuses it)", () => {
    const file = path.join(tmpDir("trace-"), "trace.jsonl");
    const t = Trace.open(file, new SecretRegistry());
    t.append("poll_attempt", { latency_ms: Number.NaN, ratio: Number.POSITIVE_INFINITY });
    t.close();
    assert.match(fs.readFileSync(file, "utf8"), /"payload":\{"latency_ms":null,"ratio":null\}/);
    assert.equal(verifyChain(file).ok, true);
  });

  it("open returns the same writer while open", () => {
    const file = path.join(tmpDir("trace-"), "trace.jsonl");
    const a = Trace.open(file, reg);
    assert.equal(Trace.open(file, reg), a);
    a.close();
  });

  it("resumes after reopen, continuing seq and prev", () => {
    const { file, head } = build(3);
    const t = Trace.open(file, reg);
    assert.equal(t.seq, 3);
    assert.equal(t.head, head);
    const e = t.append("note", { resumed: true });
    t.close();
    assert.equal(e.seq, 4);
    assert.equal(e.prev, head);
    assert.deepEqual(verifyChain(file), { ok: true, lines: 4, head: e.hash });
  });

  it("catches up with lines another writer appended, and refuses a file truncated under it", () => {
    const { file } = build(2);
    const a = Trace.open(file, reg);
    a.close(); // a second, independent writer on the same file (another process in real life)
    const b = Trace.open(file, reg);
    b.close();
    b.append("note", { by: "b" });
    const e = a.append("note", { by: "a" });
    assert.equal(e.seq, 4);
    assert.ok(verifyChain(file).ok);
    fs.writeFileSync(
      file,
      readLines(file)
        .slice(0, 1)
        .map((l) => `${l}\n`)
        .join(""),
    );
    assert.throws(
      () => a.append("note", {}),
      (err: unknown) => err instanceof TraceError && err.code === "EVIDENCE_TRACE_BROKEN",
    );
  });

  it("holds no descriptor open between appends, and follows a file replaced under it (issue 26)", () => {
    const { file } = build(2);
    const t = Trace.open(file, reg);
    const fds = () => fs.readdirSync("/proc/self/fd").length;
    const before = fds();
    t.append("note", { n: 3 });
    const open = fds();
    for (let i = 0; i < 20; i++) t.append("request", { i });
    assert.equal(fds(), open, "no descriptor leaked per append");
    assert.equal(open, before, "no write descriptor held between appends (a remount read-only needs none)");
    // Another process rewrites the file by rename (same lines, new inode): the writer must append
    // to the file at the path, not to the replaced one it still holds open.
    const copy = `${file}.copy`;
    fs.copyFileSync(file, copy);
    fs.renameSync(copy, file);
    const e = t.append("note", { after: "replace" });
    assert.equal(e.seq, 24);
    assert.deepEqual(verifyChain(file), { ok: true, lines: 24, head: e.hash });
    t.close();
    assert.ok(fds() <= open, "close() leaves no descriptor");
    // A closed writer still appends (it reopens), as before.
    assert.equal(t.append("note", { closed: true }).seq, 25);
    t.close();
    assert.equal(verifyChain(file).lines, 25);
  });

  it("syncs a non-step line within 250 ms even when nothing follows it, off the call path (issue 26)", async (c) => {
    const file = path.join(tmpDir("trace-"), "trace.jsonl");
    const t = Trace.open(file, reg);
    t.append("session", {}); // synced at once: a step boundary
    const inLine = c.mock.method(fsCjs, "fdatasyncSync");
    const opens = c.mock.method(fsCjs, "open");
    const background = c.mock.method(fsCjs, "fdatasync");
    // Other tests' writers may sync in the background meanwhile: count the opens of this file.
    const ours = () => opens.mock.calls.filter((call) => call.arguments[0] === file).length;
    t.append("request", { a: 1 });
    t.append("response", { a: 1 });
    assert.equal(inLine.mock.callCount(), 0, "a request/response line is not synced before append returns");
    assert.equal(ours(), 0);
    const t0 = performance.now();
    // The timer fires after 250 ms; its open and sync then run on the thread pool (allow a busy machine).
    while (background.mock.callCount() === 0 || ours() === 0) {
      if (performance.now() - t0 > 3000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(performance.now() - t0 >= 200, "not synced before its time");
    assert.equal(ours(), 1, "one background sync covers both lines");
    assert.ok(background.mock.callCount() >= 1);
    t.append("step_end", {});
    assert.equal(inLine.mock.callCount(), 1, "a step boundary is synced before append returns");
    t.close();
  });

  it("sets a torn final fragment aside on resume and records it", () => {
    const { file } = build(2);
    fs.appendFileSync(file, '{"seq":3,"ti');
    const t = Trace.open(file, reg);
    t.close();
    assert.equal(t.seq, 3);
    assert.equal(readTrace(file)[2].type, "anomaly");
    assert.equal(fs.readdirSync(path.dirname(file)).filter((f) => f.includes(".torn-")).length, 1);
    assert.ok(verifyChain(file).ok);
  });

  it("refuses to resume a broken chain", () => {
    const { file } = build(3);
    const lines = readLines(file);
    writeLines(file, [lines[0], lines[2]]);
    assert.throws(
      () => Trace.open(file, reg),
      (e: unknown) => e instanceof TraceError && e.code === "EVIDENCE_TRACE_BROKEN" && e.line === 2,
    );
  });
});

describe("deeply nested payloads (issue 25 item 4)", () => {
  const nested = (depth: number, leaf: unknown) => {
    let v: unknown = leaf;
    for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
    return v;
  };
  for (const depth of [2_000, 100_000])
    it(`a payload nested ${depth.toLocaleString("en")} levels is written cut, with its note, and verifies`, () => {
      const file = path.join(tmpDir("trace-"), "s", "trace.jsonl");
      const t = Trace.open(file, reg);
      t.append("response", { body: nested(depth, SECRET) });
      t.close();
      const text = fs.readFileSync(file, "utf8");
      assert.ok(text.includes(`[nested deeper than ${REDACT_MAX_DEPTH} levels: not kept]`));
      assert.ok(!text.includes(SECRET));
      assert.equal(verifyChain(file).ok, true);
    });

  it("a hand-made line nested 100,000 levels is reported broken, not a crash", () => {
    const { file } = build(2);
    const lines = readLines(file);
    const e = JSON.parse(lines[1]);
    lines[1] = lines[1].replace(/"payload":\{[^}]*\}/, `"payload":${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    assert.notEqual(lines[1], JSON.stringify(e));
    writeLines(file, lines);
    const c = verifyChain(file);
    assert.equal(c.ok, false);
    assert.equal(c.firstBroken?.line, 2);
  });
});

describe("verifyChain", () => {
  it("passes an untouched trace and matches the expected head", () => {
    const { file, head } = build(5);
    assert.deepEqual(verifyChain(file, { lines: 5, head }), { ok: true, lines: 5, head });
  });

  it("names the line of a one-byte edit", () => {
    const { file, head } = build(5);
    const buf = fs.readFileSync(file);
    const lines = readLines(file);
    const at = lines[0].length + 1 + lines[1].length + 1 + lines[2].indexOf("ord_3") + 4; // the "3" on line 3
    buf[at] = "7".charCodeAt(0);
    fs.writeFileSync(file, buf);
    const c = verifyChain(file, { lines: 5, head });
    assert.equal(c.ok, false);
    assert.equal(c.firstBroken?.line, 3);
    assert.match(c.firstBroken ? chainBreakText(c.firstBroken) : "", /hash/);
  });

  it("names the line of a byte edit that breaks the JSON", () => {
    const { file } = build(4);
    const lines = readLines(file);
    lines[1] = lines[1].replace('"seq":2,', '"seq":2;');
    writeLines(file, lines);
    assert.equal(verifyChain(file).firstBroken?.line, 2);
  });

  it("names a deleted middle line", () => {
    const { file, head } = build(5);
    const lines = readLines(file);
    lines.splice(2, 1);
    writeLines(file, lines);
    const c = verifyChain(file, { lines: 5, head });
    assert.equal(c.firstBroken?.line, 3);
    assert.match(c.firstBroken ? chainBreakText(c.firstBroken) : "", /seq is 4, expected 3/);
  });

  it("names reordered lines", () => {
    const { file } = build(5);
    const lines = readLines(file);
    [lines[1], lines[2]] = [lines[2], lines[1]];
    writeLines(file, lines);
    assert.equal(verifyChain(file).firstBroken?.line, 2);
  });

  it("names a tail cut at a line boundary against the expected count", () => {
    const { file, head } = build(5);
    writeLines(file, readLines(file).slice(0, 3));
    assert.equal(verifyChain(file).ok, true, "a cut tail alone is a valid shorter chain");
    const c = verifyChain(file, { lines: 5, head });
    assert.equal(c.ok, false);
    assert.equal(c.firstBroken?.line, 4);
    assert.match(c.firstBroken ? chainBreakText(c.firstBroken) : "", /tail cut/);
  });

  it("names a tail cut in the middle of a line", () => {
    const { file, head } = build(5);
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.slice(0, text.length - 20));
    const c = verifyChain(file, { lines: 5, head });
    assert.equal(c.firstBroken?.line, 5);
    assert.match(c.firstBroken ? chainBreakText(c.firstBroken) : "", /incomplete/);
  });

  it("catches a chain rewritten from scratch and lines added afterwards", () => {
    const { file, head } = build(3);
    const other = build(3).file;
    fs.copyFileSync(other, file);
    assert.match(
      chainBreakText(verifyChain(file, { lines: 3, head }).firstBroken ?? { line: 0, kind: "not_json" }),
      /rewritten/,
    );
    const { file: f2, head: h2 } = build(3);
    const t = Trace.open(f2, reg);
    t.append("note", {});
    t.close();
    assert.deepEqual(verifyChain(f2, { lines: 3, head: h2 }).firstBroken?.line, 4);
  });

  it("readTrace throws with the line number", () => {
    const { file } = build(3);
    const lines = readLines(file);
    writeLines(file, [lines[0], lines[2], lines[1]]);
    assert.throws(
      () => readTrace(file),
      (e: unknown) => e instanceof TraceError && e.line === 2,
    );
  });
});
