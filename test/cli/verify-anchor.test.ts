/**
 * Anchors (issue 13): a staging/live block in the living report states the manifest sha256 and the
 * trace and journal heads; `npm run verify` compares the sealed folder with that block and with every
 * anchor the report's git history held. A trace and manifest rewritten together after the commit are
 * caught; a deliberate re-seal (recorded in the trace) is accepted.
 */
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { makeSigner, writeAllowedSigners } from "../evidence/signing";
import { PYTHON } from "../evidence/verifiers";
import { main as verify } from "../../lib/cli/verify";
import {
  type Anchor,
  blockAnchor,
  checkAnchors,
  describeAnchor,
  findAnchor,
  formatAnchor,
  parseAnchor,
} from "../../lib/evidence/anchor";
import { TRACE_FILE } from "../../lib/evidence/files";
import { manifestHash, readManifest } from "../../lib/evidence/manifest";
import { Trace } from "../../lib/evidence/trace";
import { archiveSession } from "../../lib/host/archive";
import { publishReport } from "../../lib/report/report";
import { makeSession, seal, tmpArchive } from "../report/fixtures";
import { TERMINAL_CONTROLS } from "./terminal";

const REPO = path.resolve(__dirname, "../..");
const SIGNER = makeSigner("anchor-test@example.com");

/** A repository with docs/ (report + checklist) and a sealed, published staging session, committed. */
async function publishedStaging() {
  const archive = tmpArchive();
  const root = path.dirname(path.dirname(archive));
  const docs = path.join(root, "docs");
  fs.mkdirSync(docs);
  fs.copyFileSync(path.join(REPO, "docs", "GO_NO_GO_CHECKLIST.md"), path.join(docs, "GO_NO_GO_CHECKLIST.md"));
  const dir = makeSession(archive, { mode: "staging" });
  // Signed by a throwaway key the repository's docs/allowed_signers trusts (issue 24).
  writeAllowedSigners(path.join(docs, "allowed_signers"), [SIGNER]);
  await archiveSession(dir, { html: false, docsDir: docs, signKey: SIGNER.key });
  const git = (...args: string[]) =>
    execFileSync(
      "git",
      ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", ...args],
      { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
  git("init", "-q");
  git("add", "-A");
  git("commit", "-qm", "staging dry run sealed and published");
  const report = path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md");
  const run = (...args: string[]) => {
    const out: string[] = [];
    const code = verify(
      [dir, ...args],
      (s) => out.push(s),
      (s) => out.push(s),
      root,
    );
    return { code, out: out.join("\n") };
  };
  return { root, dir, docs, report, git, run };
}

describe("the anchor line", () => {
  test("formatAnchor and parseAnchor round-trip, with and without a chained journal", () => {
    const a: Anchor = {
      manifestSha256: "a".repeat(64),
      traceHead: "b".repeat(64),
      traceLines: 42,
      journalHead: "c".repeat(64),
      journalLines: 12,
    };
    assert.equal(
      formatAnchor(a),
      `<!-- payment-e2e:anchor {"journal_head":"${"c".repeat(64)}","journal_lines":12,"manifest_sha256":"${"a".repeat(64)}","trace_head":"${"b".repeat(64)}","trace_lines":42} -->`,
    );
    assert.deepEqual(parseAnchor(formatAnchor(a)), a);
    const old = { ...a, journalHead: null, journalLines: null };
    assert.match(formatAnchor(old), /"journal_head":null,"journal_lines":null/);
    assert.deepEqual(parseAnchor(formatAnchor(old)), old);
    assert.equal(parseAnchor("no anchor here"), null);
    // Strict: the whole line, canonical JSON, exactly the five keys.
    assert.equal(parseAnchor(`- ${formatAnchor(a)}`), null, "not alone on its line");
    assert.equal(parseAnchor(formatAnchor(a).replace('{"journal_head"', '{ "journal_head"')), null, "not canonical");
    assert.equal(parseAnchor(formatAnchor(a).replace(',"trace_lines":42', "")), null, "a key missing");
    assert.equal(parseAnchor(formatAnchor({ ...a, journalHead: null })), null, "head null but lines set");
  });

  test("a block holds exactly one anchor-shaped line; a second one, escaped text or the older form are told apart", () => {
    const a: Anchor = {
      manifestSha256: "a".repeat(64),
      traceHead: "b".repeat(64),
      traceLines: 42,
      journalHead: "c".repeat(64),
      journalLines: 12,
    };
    const forged = formatAnchor({ ...a, traceLines: 43 });
    const block = (...ls: string[]) => ["<!-- session:x -->", ...ls, "<!-- /session:x -->"].join("\n");
    assert.deepEqual(blockAnchor(block(formatAnchor(a))), { anchor: a, shaped: [2], problem: null, legacy: false });
    // The operator notes hold a second anchor (before or after the tool's): an error, never a choice.
    for (const two of [block(forged, formatAnchor(a)), block(formatAnchor(a), forged)]) {
      const r = blockAnchor(two);
      assert.equal(r.problem, "ambiguous");
      assert.equal(r.anchor, null);
    }
    // Text that went through the escaper (a backend string, an operator note) is anchor-shaped: also an error.
    assert.equal(blockAnchor(block(formatAnchor(a), `- note: \\${forged}`)).problem, "ambiguous");
    assert.equal(blockAnchor(block(`&lt;${forged.slice(1)}`)).problem, "malformed");
    // The line form written before the strict anchor is still read alone, and counted as a second anchor.
    const legacy = `- Anchor : manifest sha256 \`${a.manifestSha256}\` · trace head \`${a.traceHead}\` (42 lines) · journal head \`${a.journalHead}\` (12 lines)`;
    assert.deepEqual(blockAnchor(block(legacy)), { anchor: a, shaped: [2], problem: null, legacy: true });
    assert.equal(blockAnchor(block(formatAnchor(a), legacy)).problem, "ambiguous");
    // The words the report writes for people are not anchor-shaped.
    assert.equal(blockAnchor(block(formatAnchor(a), `- ${describeAnchor(a)}`)).shaped.length, 1);
  });
});

describe("npm run verify checks the anchors", () => {
  test("a published, committed session: OK against the committed anchor", async () => {
    const s = await publishedStaging();
    const id = path.basename(s.dir);
    const a = findAnchor(fs.readFileSync(s.report, "utf8"), id);
    assert.equal(a?.manifestSha256, manifestHash(s.dir));
    assert.equal(a?.traceHead, readManifest(s.dir).chain_head);
    const r = s.run();
    assert.equal(r.code, 0, r.out);
    assert.match(
      r.out,
      /ok {4}anchor: matches the anchor committed in docs\/PAYMENT_E2E_LIVE_REPORT\.md at [0-9a-f]{7} \(\d{4}-\d\d-\d\d\)/,
    );
    const skipped = s.run("--no-anchor");
    assert.equal(skipped.code, 0);
    assert.match(skipped.out, /anchor: not checked \(--no-anchor\)/);
  });

  test("the published block states the seal's outcome; one edited to another outcome, anchor kept, fails (OUTCOME_MISMATCH)", async () => {
    const s = await publishedStaging();
    const ok = s.run();
    assert.equal(ok.code, 0, ok.out);
    assert.match(
      ok.out,
      /docs\/PAYMENT_E2E_LIVE_REPORT\.md: the session's block states outcome PASS, as the seal recorded it/,
    );
    const text = fs.readFileSync(s.report, "utf8");
    // The block the auditor reads says FAIL where the sealed journal says PASS; the anchor line is untouched.
    const at = text.indexOf(`<!-- session:${path.basename(s.dir)} -->`);
    const edited = text.slice(0, at) + text.slice(at).replace(/(> \*\*Outcome\*\* : \*\*)✅ PASS/, "$1❌ FAIL");
    assert.notEqual(edited, text);
    fs.writeFileSync(s.report, edited);
    const lines = edited.split("\n");
    const open = lines.indexOf(`<!-- session:${path.basename(s.dir)} -->`);
    const line = lines.findIndex((l, i) => i > open && l.startsWith("> **Outcome** : ")) + 1;
    const r = s.run();
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      new RegExp(
        `ERROR docs/PAYMENT_E2E_LIVE_REPORT\\.md:${line}: states outcome "FAIL", the seal recorded PASS \\(state\\.jsonl:\\d+\\) \\[OUTCOME_MISMATCH\\]`,
      ),
    );
    assert.match(
      r.out,
      /fix: the session's block in docs\/PAYMENT_E2E_LIVE_REPORT\.md states another outcome than its seal recorded: re-render it from the sealed folder \(npm run report -- \S+\) and commit/,
    );
  });

  test("trace and manifest rewritten after the commit: ERROR naming the file, even once the block is re-rendered", async () => {
    const s = await publishedStaging();
    const t = Trace.open(path.join(s.dir, TRACE_FILE));
    t.append("note", { event: "a line slipped in after the commit" });
    t.close();
    seal(s.dir); // a consistent folder: verifySession alone would pass
    let r = s.run();
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /ERROR trace\.jsonl:\d+: manifest\.json differs from the anchor committed in docs\/PAYMENT_E2E_LIVE_REPORT\.md at [0-9a-f]{7} \(\d{4}-\d\d-\d\d\): trace and manifest rewritten after the commit/,
    );
    assert.match(r.out, /^fix: restore the session folder from the commit that published its anchor/m);
    // The block rewritten to match the forged folder: the git history still holds the old anchor.
    publishReport(s.dir, { docsReport: s.report, checklist: path.join(s.docs, "GO_NO_GO_CHECKLIST.md") });
    s.git("commit", "-qam", "report re-rendered");
    r = s.run();
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /ERROR trace\.jsonl:\d+: manifest\.json differs from the anchor committed .*rewritten after the commit/,
    );
  });

  test("a deliberate re-seal is accepted: the trace records the previous manifest hash", async () => {
    const s = await publishedStaging();
    const before = manifestHash(s.dir);
    const t = Trace.open(path.join(s.dir, TRACE_FILE));
    t.append("operator_ack", { event: "evidence added on purpose" });
    t.close();
    const r1 = await archiveSession(s.dir, {
      html: false,
      docsDir: s.docs,
      reseal: "operator note added on purpose",
      signKey: SIGNER.key,
    });
    assert.equal(r1.status, "resealed");
    let r = s.run();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /anchor: the anchor committed at [0-9a-f]{7} .*replaced by a deliberate re-seal/);
    assert.match(
      r.out,
      /WARN {2}anchor: matches the anchor in docs\/PAYMENT_E2E_LIVE_REPORT\.md, which is not committed yet/,
    );
    s.git("commit", "-qam", "re-sealed");
    r = s.run();
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /ERROR/);
    assert.notEqual(manifestHash(s.dir), before);
  });

  test("a second anchor pasted into the block's operator notes: ERROR ANCHOR_AMBIGUOUS, whichever comes first", async () => {
    const s = await publishedStaging();
    const id = path.basename(s.dir);
    const text = fs.readFileSync(s.report, "utf8");
    const a = findAnchor(text, id)!;
    const forged = formatAnchor({ ...a, traceLines: a.traceLines + 1 });
    const notes = `<!-- notes:${id} -->\n`;
    assert.ok(text.includes(notes), "the block has an operator notes region");
    fs.writeFileSync(s.report, text.replace(notes, `${notes}${forged}\n`));
    const r = s.run();
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /^ERROR docs\/PAYMENT_E2E_LIVE_REPORT\.md:\d+: 2 anchor-shaped lines in one session block .* \[ANCHOR_AMBIGUOUS\]$/m,
    );
  });

  test("the block changed by hand in the working copy: ERROR", async () => {
    const s = await publishedStaging();
    const text = fs.readFileSync(s.report, "utf8");
    const a = findAnchor(text, path.basename(s.dir))!;
    fs.writeFileSync(s.report, text.replaceAll(a.traceHead, "0".repeat(64)));
    const r = s.run();
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /ERROR trace\.jsonl:\d+: manifest\.json differs from the anchor in docs\/PAYMENT_E2E_LIVE_REPORT\.md/,
    );
  });

  test("a sandbox session has no anchor; a sealed staging one missing from the report warns with the fix; no git warns", async () => {
    const archive = tmpArchive();
    const sandbox = makeSession(archive, { mode: "sandbox", at: new Date(Date.UTC(2026, 10, 21)) });
    seal(sandbox);
    assert.deepEqual(checkAnchors(sandbox, { repoDir: path.dirname(path.dirname(archive)) }), [
      { level: "ok", subject: "anchor", message: "no anchor (sandbox sessions are not published)" },
    ]);
    const staging = makeSession(archive, { mode: "staging" });
    seal(staging);
    const f = checkAnchors(staging, { repoDir: path.dirname(path.dirname(archive)) });
    assert.equal(f[0].level, "warning");
    assert.match(f[0].message, /is sealed but .*: publish its block with npm run report -- \S+, then commit/);
    // A report with the block but no repository: compared, and the missing history said.
    const root = path.dirname(path.dirname(archive));
    const report = path.join(root, "PAYMENT_E2E_LIVE_REPORT.md");
    const m = readManifest(staging);
    fs.writeFileSync(
      report,
      `<!-- session:${m.session_id} -->\n${formatAnchor({ manifestSha256: manifestHash(staging), traceHead: m.chain_head, traceLines: m.trace_lines, journalHead: null, journalLines: null })}\n<!-- /session:${m.session_id} -->\n`,
    );
    const g = checkAnchors(staging, { repoDir: root, reportFile: report });
    assert.ok(!g.some((x) => x.level === "error"), JSON.stringify(g));
    assert.ok(g.some((x) => x.level === "warning" && /git history not checked/.test(x.message)));
  });
});

describe("npm run verify prints what a folder holds as text", () => {
  test("a file added to a sealed folder whose name carries terminal escapes cannot forge OK over FAILED", () => {
    const dir = makeSession(tmpArchive(), { mode: "sandbox" });
    seal(dir);
    // ESC[2K and \r erase the line, the forged OK follows, ESC[8m conceals the real FAILED below it.
    const name = "x\u001b[2K\rverify: OK - forged\u001b[8m\u009b8m\u202e";
    fs.writeFileSync(path.join(dir, name), "planted after the seal\n");
    const out: string[] = [];
    const code = verify(
      [dir, "--no-anchor"],
      (s) => out.push(s),
      (s) => out.push(s),
    );
    const text = out.join("\n");
    assert.equal(code, 1, text);
    assert.doesNotMatch(text, TERMINAL_CONTROLS);
    assert.match(text, /x\\u001b\[2K\\rverify: OK - forged\\u001b\[8m\\u009b8m\\u202e: extra file/);
    assert.match(out.at(-1) ?? "", /^verify: FAILED/);
    // The auditor's own verifier prints the same finding the same way.
    const py = spawnSync(PYTHON, [path.join(REPO, "verifier", "verify_session.py"), dir], { encoding: "utf8" });
    assert.equal(py.status, 1, py.stdout + py.stderr);
    assert.doesNotMatch(py.stdout, TERMINAL_CONTROLS);
    assert.match(py.stdout, /x\\u001b\[2K\\rverify: OK - forged\\u001b\[8m\\u009b8m\\u202e/);
    assert.match(py.stdout.trimEnd().split("\n").at(-1) ?? "", /^verify: FAILED/);
  });
});
