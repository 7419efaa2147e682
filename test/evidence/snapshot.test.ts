/**
 * Issue 21 items 4 and 5: a session folder read once into a value whose id and mode come from the
 * session's records, never from the folder's name; chain breaks are data whose code and words
 * derive from their kind.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { type ChainBreak, type ChainBreakWhy, GENESIS, TRACE_FORMAT, checkChainText } from "../../lib/evidence/chain";
import { chainCode } from "../../lib/evidence/finding-codes";
import { chainBreakText } from "../../lib/evidence/finding-text";
import { readSessionSnapshot, recordedIdentity, unsealedChain } from "../../lib/evidence/snapshot";
import { verifySession } from "../../lib/evidence/verify";
import { listSessions, loadEvidence } from "../../lib/report/evidence";
import { makeSession, seal, tmpArchive } from "../report/fixtures";

describe("a session snapshot", () => {
  test("holds the manifest, journal, trace and files of a sealed folder, read once", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    seal(dir);
    const s = readSessionSnapshot(dir);
    assert.equal(s.sealed, true);
    assert.equal(s.manifestError, null);
    assert.equal(s.id, path.basename(dir));
    assert.equal(s.mode, "staging");
    assert.ok(s.journal?.ok && s.trace?.chain.ok, "both chains hold against the seal");
    assert.ok(s.files.includes("state.jsonl") && s.files.includes("trace.jsonl"));
    // The consumers take the value and agree with what they read from the path.
    assert.deepEqual(verifySession(s).findings, verifySession(dir).findings);
    assert.equal(loadEvidence(s).sessionId, loadEvidence(dir).sessionId);
  });

  test("an unsealed folder says why there is no manifest, and takes id and mode from the journal", () => {
    const dir = makeSession(tmpArchive(), { mode: "sandbox" });
    const s = readSessionSnapshot(dir);
    assert.equal(s.sealed, false);
    assert.equal(s.manifest, null);
    assert.ok(s.manifestError);
    assert.equal(s.mode, "sandbox");
    assert.equal(verifySession(s).fix, `the folder is not sealed: npm run archive -- ${dir}`);
  });

  test("the mode is what the session recorded: a folder renamed to another mode's suffix is not listed as that mode", () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "staging" });
    const renamed = path.join(archive, path.basename(dir).replace(/-staging$/, "-live"));
    fs.renameSync(dir, renamed);
    assert.deepEqual(recordedIdentity(renamed), { id: path.basename(dir), mode: "staging" });
    assert.equal(readSessionSnapshot(renamed).mode, "staging");
    assert.equal(loadEvidence(renamed).mode, "staging");
    assert.deepEqual(listSessions(archive, "live"), []);
    assert.deepEqual(listSessions(archive, "staging"), [path.basename(renamed)]);
  });

  test("a renamed sealed folder is verify's identity finding", () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "staging" });
    seal(dir);
    const renamed = path.join(archive, path.basename(dir).replace(/-staging$/, "-live"));
    fs.renameSync(dir, renamed);
    const v = verifySession(readSessionSnapshot(renamed));
    assert.equal(v.ok, false);
    assert.ok(v.findings.some((f) => f.code === "IDENTITY" && /folder renamed or swapped/.test(f.message)));
  });
});

describe("chain breaks are data", () => {
  const line = (seq: number, prev: string) => {
    const e = { seq, time: "2026-11-26T10:00:00.000Z", mono_ms: seq, type: "note" as const, payload: { n: seq }, prev };
    const full = { ...e, hash: TRACE_FORMAT.hash(e) };
    return { text: TRACE_FORMAT.serialize(full), hash: full.hash };
  };
  const a = line(1, GENESIS);
  const b = line(2, a.hash);
  const text = `${a.text}\n${b.text}\n`;

  test("a cut tail, lines added and a torn write each have their kind; the seal's kinds drop out on their own", () => {
    const cut = checkChainText(TRACE_FORMAT, text, { lines: 3 });
    assert.deepEqual(cut.firstBroken, { line: 3, kind: "missing", noun: "trace", ends: 2, expected: 3 });
    assert.equal(unsealedChain(cut).ok, true);
    const extra = checkChainText(TRACE_FORMAT, text, { lines: 1 });
    assert.deepEqual(extra.firstBroken, { line: 2, kind: "extra", count: 1, expected: 1 });
    assert.equal(chainBreakText(extra.firstBroken!), "extra: 1 line(s) after the manifest's last line 1");
    const torn = checkChainText(TRACE_FORMAT, `${a.text}\n${b.text}`);
    assert.equal(torn.firstBroken?.kind, "torn");
    assert.equal(unsealedChain(torn).ok, false, "a torn line is broken on its own too");
  });

  test("the finding code follows the kind, whatever the words", () => {
    const at = (b: ChainBreakWhy): ChainBreak => ({ line: 1, ...b });
    assert.equal(chainCode(at({ kind: "not_utf8" })), "INVALID_UTF8");
    assert.equal(chainCode(at({ kind: "not_canonical" })), "NOT_CANONICAL");
    assert.equal(chainCode(at({ kind: "not_record", detail: "not valid UTF-8 (a schema's words)" })), "CHAIN_BROKEN");
    assert.equal(chainCode(at({ kind: "seq", seq: 4 })), "CHAIN_BROKEN");
    assert.equal(
      chainBreakText({ line: 3, kind: "seq", seq: 4 }),
      "seq is 4, expected 3 (line deleted, inserted or reordered)",
    );
  });
});
