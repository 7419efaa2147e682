/**
 * The journal (issue 13): chained like the trace, one schema-checked reader, a torn tail set aside
 * and recorded before the next append (nothing lost, nothing swallowed), an edited or reordered
 * line named with its file and line, and a journal from an older tool read but never appended to.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { SessionError } from "../../lib/errors";
import { canonicalJson } from "../../lib/evidence/canonical";
import { GENESIS, readTrace } from "../../lib/evidence/chain";
import { JOURNAL_QUARANTINE_FILE } from "../../lib/evidence/files";
import { Journal, type JournalRepair, readJournalFile } from "../../lib/evidence/journal";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { Trace } from "../../lib/evidence/trace";
import { BANK, rechainJournal, stepResult, tmpDir } from "./fixtures";

const ID = "20261126T154400Z-sandbox";
const fresh = () => {
  const dir = path.join(tmpDir("journal-"), ID);
  const j = Journal.create(dir, { sessionId: ID, mode: "sandbox" });
  return { dir, j, file: path.join(dir, "state.jsonl") };
};
const lines = (file: string) => fs.readFileSync(file, "utf8").split("\n").slice(0, -1);
const write = (file: string, ls: string[]) => fs.writeFileSync(file, ls.map((l) => `${l}\n`).join(""));
const sha = (s: string | Buffer) => crypto.createHash("sha256").update(s).digest("hex");
const INTENT = { idempotency_key: `${ID}:order`, product_id: "prd_1", total_minor: 500 };
const ORDER = {
  order_id: "ord_1",
  payment_id: "pay_1",
  payment_url: "http://127.0.0.1:8081/checkout/x",
  total_cents: 500,
  currency: "EUR",
  created_at: "2026-11-26T15:44:30.000Z",
  http_status: 201,
};
const PAID = { at: "2026-11-26T15:46:00.000Z", last4: "4242", processor: "stripe", via: "operator" };

describe("Journal chain", () => {
  it("writes the specified bytes: {seq,at,kind,data,prev,hash}, hash = sha256(JCS of the rest), first prev zeros", () => {
    const { j, file } = fresh();
    j.append("preflight", {
      warnings: [],
      refusals: [],
      ok: true,
      observed: { amount: { minor: 500, currency: "EUR" } },
    });
    const [l1, l2] = lines(file);
    const e1 = JSON.parse(l1);
    const e2 = JSON.parse(l2);
    assert.deepEqual(Object.keys(e1), ["seq", "at", "kind", "data", "prev", "hash"]);
    assert.equal(e1.prev, GENESIS);
    assert.equal(e2.prev, e1.hash);
    for (const e of [e1, e2]) {
      const { hash, ...rest } = e;
      assert.equal(hash, sha(canonicalJson(rest)));
    }
    assert.ok(
      l2.includes(
        '"data":{"observed":{"amount":{"currency":"EUR","minor":500}},"ok":true,"refusals":[],"warnings":[]}',
      ),
      "data is canonical",
    );
    assert.equal(j.seq, 2);
    assert.equal(j.head, e2.hash);
    const read = readJournalFile(file);
    assert.equal(read.ok, true);
    assert.equal(read.chained, true);
    assert.equal(read.head, e2.hash);
    assert.deepEqual(Journal.open(path.dirname(file)).all(), [e1, e2]);
  });

  it("redacts data before hashing, and writes a non-finite number as null", () => {
    const { j, file } = fresh();
    j.append("preflight", {
      ok: true,
      refusals: [],
      warnings: [],
      observed: { password: "hunter2-not-a-real-one", ratio: Number.NaN },
    });
    const text = fs.readFileSync(file, "utf8");
    assert.ok(!text.includes("hunter2"));
    assert.match(text, /"ratio":null/);
    assert.equal(readJournalFile(file).ok, true);
  });

  it("a second writer (another process) continues the chain instead of forking it", () => {
    const { dir, j, file } = fresh();
    const other = Journal.open(dir);
    other.append("bank_confirmed", BANK);
    j.append("archived", {});
    assert.deepEqual(
      lines(file).map((l) => JSON.parse(l).seq),
      [1, 2, 3],
    );
    assert.equal(readJournalFile(file).ok, true);
  });

  it("refuses to write an entry its schema does not allow (a runbook bug), writing nothing", () => {
    const { j, file } = fresh();
    assert.throws(
      () => j.append("step_result", { ...stepResult(3, "order", "PASS"), status: "PASSED" as never }),
      /refusing to write step_result: .*data\.status/,
    );
    assert.throws(() => j.append("nonsense" as never, {} as never), /refusing to write nonsense: .*kind/);
    assert.equal(lines(file).length, 1);
  });
});

describe("Journal: a torn tail (a kernel killed mid-write)", () => {
  it("is set aside before the next append: the appended entry is kept, and a second append leaves it openable", () => {
    const { dir, j, file } = fresh();
    j.append("order_intent", INTENT);
    Trace.open(path.join(dir, "trace.jsonl"), new SecretRegistry()).append("note", { text: "kernel started" });
    const fragment = '{"seq":3,"at":"2026-11-26T15:45:00.000Z","kind":"order_cre';
    fs.appendFileSync(file, fragment);

    // Read-only opens (report, verify) see the entries before the tear and change nothing.
    const before = fs.readFileSync(file);
    const reopened = Journal.open(dir);
    assert.equal(reopened.all().length, 2);
    assert.equal(reopened.tornTail?.bytes, Buffer.byteLength(fragment));
    assert.deepEqual(fs.readFileSync(file), before);

    reopened.append("order_created", ORDER);
    reopened.append("payment_confirmed", PAID);
    const after = Journal.open(dir);
    assert.deepEqual(
      after.all().map((e) => e.kind),
      ["session_created", "order_intent", "journal_repaired", "order_created", "payment_confirmed"],
    );
    assert.equal(readJournalFile(file).ok, true);
    assert.deepEqual(after.last("journal_repaired")?.data, {
      bytes: Buffer.byteLength(fragment),
      quarantine_file: JOURNAL_QUARANTINE_FILE,
      sha256: sha(fragment),
    });
    const q = lines(path.join(dir, JOURNAL_QUARANTINE_FILE)).map((l) => JSON.parse(l));
    assert.equal(q.length, 1);
    assert.equal(q[0].bytes, Buffer.byteLength(fragment));
    assert.equal(q[0].sha256, sha(fragment));
    assert.equal(q[0].fragment, fragment);
    const anomaly = readTrace(path.join(dir, "trace.jsonl")).find((e) => e.type === "anomaly");
    assert.match(
      String((anomaly?.payload as { message?: string } | undefined)?.message),
      /^journal state\.jsonl ended in a torn write \(\d+ byte\(s\), sha256 [0-9a-f]{64}\): set aside in state\.quarantine\.jsonl, recorded as journal_repaired at line 3/,
    );
  });

  it("hands the repair to onRepair (the session records the anomaly), and keeps a multi-byte fragment's exact bytes", () => {
    const { dir, file } = fresh();
    const torn = Buffer.from('{"seq":2,"data":{"note":"caf\u00e9', "utf8").subarray(0, -1); // cut inside é
    fs.appendFileSync(file, torn);
    const j = Journal.open(dir);
    const seen: JournalRepair[] = [];
    j.onRepair = (r) => seen.push(r);
    const r = j.repairTail();
    assert.deepEqual(seen, [r]);
    assert.equal(r?.bytes, torn.length);
    assert.equal(r?.sha256, sha(torn));
    assert.equal(r?.line, 2);
    assert.equal(j.repairTail(), null, "nothing left to repair");
    assert.ok(!fs.existsSync(path.join(dir, "trace.jsonl")), "no trace written when the session records it");
  });
});

describe("Journal: evidence edited by hand", () => {
  const refused = (dir: string, re: RegExp) =>
    assert.throws(
      () => Journal.open(dir),
      (e: unknown) =>
        e instanceof SessionError && re.test(e.message) && /do not edit evidence by hand; restore it/.test(e.message),
    );

  it("an edited line is named with the file and line", () => {
    const { dir, j, file } = fresh();
    j.append("step_result", stepResult(1, "health", "FAIL"));
    j.append("archived", {});
    write(
      file,
      lines(file).map((l) => l.replace('"status":"FAIL"', '"status":"PASS"')),
    );
    refused(dir, /state\.jsonl line 2: hash does not match the content \(edited\)/);
    assert.equal(readJournalFile(file).firstBroken?.line, 2);
  });

  it("rewritten and re-chained while a kernel holds it open: the kernel refuses to append, never adopts the rewrite", () => {
    const { dir, j, file } = fresh();
    j.append("step_result", stepResult(5, "completed", "FAIL"));
    // Another writer appending (the host, another Journal of the same folder) is not an edit.
    Journal.open(dir).append("archived", {});
    j.append("archived", {});
    // A FAIL turned into a PASS, its line longer, the chain recomputed: every hash holds on disk.
    write(
      file,
      lines(file).map((l) => l.replace('"status":"FAIL"', '"reason":"completed in time","status":"PASS"')),
    );
    rechainJournal(file);
    assert.equal(readJournalFile(file).firstBroken, undefined, "the rewrite is a valid chain");
    assert.throws(
      () => j.append("archived", {}),
      (e: unknown) =>
        e instanceof SessionError &&
        /state\.jsonl: line 2 changed while this session had it open/.test(e.message) &&
        /do not edit evidence by hand; restore it/.test(e.message),
    );
    assert.equal(j.all().find((e) => e.kind === "step_result")?.data.status, "FAIL", "the kernel keeps what it wrote");
  });

  it("rewritten in place at the same size (FAIL to PASS, re-chained): the kernel refuses to append", async () => {
    const { j, file } = fresh();
    j.append("step_result", stepResult(5, "completed", "FAIL"));
    const size = fs.statSync(file).size;
    await new Promise((r) => setTimeout(r, 20)); // a later modification time than the kernel's own write
    write(
      file,
      lines(file).map((l) => l.replace('"status":"FAIL"', '"status":"PASS"')),
    );
    rechainJournal(file);
    assert.equal(fs.statSync(file).size, size, "the same number of bytes");
    assert.throws(() => j.append("archived", {}), /line 2 changed while this session had it open/);
  });

  it("reordered or deleted lines are named", () => {
    const { dir, j, file } = fresh();
    j.append("order_intent", INTENT);
    j.append("order_created", ORDER);
    const [a, b, c] = lines(file);
    write(file, [a, c, b]);
    refused(dir, /state\.jsonl line 2: seq is 3, expected 2 \(line deleted, inserted or reordered\)/);
    write(file, [a, c]);
    refused(dir, /line 2: seq is 3, expected 2/);
  });

  it("lines this process already read and accepted are still checked for their place and their neighbours", () => {
    // The reader remembers lines it accepted (schema, canonical bytes, own hash), and checks only
    // their position again: a remembered line moved, or followed by an edited one, is still named.
    const { dir, j, file } = fresh();
    j.append("order_intent", INTENT);
    j.append("order_created", ORDER);
    const [a, b, c] = lines(file);
    assert.equal(readJournalFile(file).firstBroken, undefined, "read once: every line accepted");
    write(file, [a, c, b]);
    refused(dir, /state\.jsonl line 2: seq is 3, expected 2 \(line deleted, inserted or reordered\)/);
    write(file, [a, b.replace('"total_minor":500', '"total_minor":50000'), c]);
    refused(dir, /state\.jsonl line 2: hash does not match the content \(edited\)/);
    const other = fresh();
    other.j.append("order_intent", INTENT);
    write(file, [a, lines(other.file)[1], c]);
    refused(dir, /state\.jsonl line 2: (prev|hash)/);
    write(file, [a, b, c]);
    assert.equal(readJournalFile(file).firstBroken, undefined, "restored: accepted again");
  });

  it("a corrupt line that is not the tail is refused, not tolerated as torn", () => {
    const { dir, j, file } = fresh();
    j.append("order_intent", INTENT);
    const [a, b] = lines(file);
    write(file, [a, b.slice(0, 20), b]);
    refused(dir, /line 2: not valid JSON/);
  });

  it("an entry of an unknown kind, re-chained so the hashes hold, is still refused by the schema", () => {
    const { dir, j, file } = fresh();
    j.append("order_intent", INTENT);
    write(
      file,
      lines(file).map((l) => l.replace('"kind":"order_intent"', '"kind":"order_paid"')),
    );
    rechainJournal(file);
    refused(dir, /line 2: not a journal entry: kind/);
  });
});

describe("Journal: written by an older tool (no prev, no hash)", () => {
  it("is readable for reports, never appended to, and says it is not chained", () => {
    const dir = path.join(tmpDir("legacy-"), ID);
    fs.mkdirSync(dir);
    const file = path.join(dir, "state.jsonl");
    const old = [
      { seq: 1, at: "2026-11-01T10:00:00.000Z", kind: "session_created", data: { sessionId: ID, mode: "sandbox" } },
      {
        seq: 2,
        at: "2026-11-01T10:01:00.000Z",
        kind: "step_result",
        data: stepResult(0, "preflight", "PASS"),
      },
    ];
    write(
      file,
      old.map((e) => JSON.stringify(e)),
    );
    const j = Journal.open(dir);
    assert.equal(j.chained, false);
    assert.deepEqual(j.all(), old);
    assert.equal(readJournalFile(file).chained, false);
    const before = fs.readFileSync(file, "utf8");
    assert.throws(
      () => j.append("archived", {}),
      (e: unknown) =>
        e instanceof SessionError &&
        /written by an older tool \(entries not hash-chained\) and is never appended to; start a new session: npm run session -- --mode <mode>$/.test(
          e.message,
        ),
    );
    assert.equal(fs.readFileSync(file, "utf8"), before);
  });
});
