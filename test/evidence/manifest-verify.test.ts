import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ManifestError } from "../../lib/errors";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { MANIFEST_FILE, isIgnoredFile } from "../../lib/evidence/files";
import { manifestHash, readManifest, retentionDate, writeManifest } from "../../lib/evidence/manifest";
import { Journal } from "../../lib/evidence/journal";
import { Trace } from "../../lib/evidence/trace";
import { formatVerify, sealFix, verifySession } from "../../lib/evidence/verify";
import { main as verifyMain } from "../../lib/cli/verify";
import type { Mode } from "../../lib/types";
import { BANK, rechainJournal, stepResult, tmpDir } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(ROOT, "lib/cli/verify.ts");
const TRACE_LINES = 6;

const JOURNAL_LINES = 3;

/** A small archived session: trace, notebook, report, plots (SVG + binary PNG), journal; sealed. */
function fakeSession(o: { mode?: string; id?: string; parent?: string } = {}): string {
  const mode = (o.mode ?? "staging") as Mode;
  const id = o.id ?? `20261126T154400Z-${mode}`;
  const dir = path.join(o.parent ?? tmpDir("session-"), id);
  const j = Journal.create(dir, { sessionId: id, mode, created_at: "2026-11-26T15:44:00.000Z" });
  j.append("step_result", stepResult(1, "health", "PASS"));
  j.append("step_result", { ...stepResult(2, "login", "FAIL"), reason: "401" });
  const t = Trace.open(path.join(dir, "trace.jsonl"), new SecretRegistry());
  t.append("session", { event: "opened", session_id: id, mode });
  for (let i = 1; i < TRACE_LINES; i++) t.append(i % 2 ? "step_start" : "step_end", { step: i, name: `step ${i}` });
  t.close();
  fs.writeFileSync(path.join(dir, "payment-e2e.ipynb"), '{"cells": []}\n');
  fs.writeFileSync(path.join(dir, "report.md"), "# Report\nPASS\n");
  fs.mkdirSync(path.join(dir, "plots"));
  fs.writeFileSync(path.join(dir, "plots", "poll.svg"), "<svg/>\n");
  fs.writeFileSync(path.join(dir, "plots", "poll.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
  writeManifest(dir, {
    sessionId: path.basename(dir),
    mode,
    chainHead: t.head,
    traceLines: t.seq,
    toolVersion: "0.1.0",
    gitCommit: null,
  });
  return dir;
}

/** `npm run verify` as a process: the exit code and lines the shell sees. */
const spawnCli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, encoding: "utf8" });
/**
 * `npm run verify`'s main, called in this process with the repository as its folder, as the script
 * runs it: the same lines and exit code without a Node and a TypeScript compile per row (spawnCli
 * proves the wiring once below; test/cli/npm-scripts.test.ts runs the npm script).
 */
const runCli = (...args: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const status = verifyMain(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
    ROOT,
  );
  const text = (xs: string[]) => (xs.length ? `${xs.join("\n")}\n` : "");
  return { status, stdout: text(out), stderr: text(err) };
};
const traceLines = (dir: string) => fs.readFileSync(path.join(dir, "trace.jsonl"), "utf8").split("\n").slice(0, -1);
const setTrace = (dir: string, lines: string[]) =>
  fs.writeFileSync(path.join(dir, "trace.jsonl"), lines.map((l) => `${l}\n`).join(""));

describe("manifest", () => {
  it("lists every file but itself, sorted, with sha256 and size", () => {
    const dir = fakeSession();
    const m = readManifest(dir);
    assert.deepEqual(
      m.files.map((f) => f.path),
      ["payment-e2e.ipynb", "plots/poll.png", "plots/poll.svg", "report.md", "state.jsonl", "trace.jsonl"],
    );
    assert.equal(m.files[1].bytes, 7);
    assert.match(m.files[0].sha256, /^[0-9a-f]{64}$/);
    assert.equal(m.trace_lines, TRACE_LINES);
    assert.equal(m.schema, "payment-e2e/manifest@2");
    assert.equal(m.journal_file, "state.jsonl");
    assert.equal(m.journal_lines, JOURNAL_LINES);
    assert.equal(m.journal_head, Journal.open(dir).head);
    assert.equal(m.retention_until, retentionDate(m.created_at));
    assert.equal(m.git_commit, null);
  });

  const retention: Array<[string, string]> = [
    ["2026-11-26T15:44:00.123Z", "2027-11-26"],
    ["2028-02-29T00:00:00.000Z", "2029-03-01"],
    ["2026-12-31T23:59:59.999Z", "2027-12-31"],
  ];
  for (const [created, until] of retention)
    it(`retention ${created} -> ${until}`, () => assert.equal(retentionDate(created), until));

  it("is idempotent: same bytes for unchanged files, original created_at kept after changes", async () => {
    const dir = fakeSession();
    const m1 = readManifest(dir);
    const h1 = manifestHash(dir);
    const bytes1 = fs.readFileSync(path.join(dir, MANIFEST_FILE));
    await new Promise((r) => setTimeout(r, 5)); // a later clock must not leak into the manifest
    const info = {
      sessionId: m1.session_id,
      mode: m1.mode,
      chainHead: m1.chain_head,
      traceLines: m1.trace_lines,
      toolVersion: "0.1.0",
      gitCommit: null,
    };
    writeManifest(dir, info);
    assert.deepEqual(fs.readFileSync(path.join(dir, MANIFEST_FILE)), bytes1);
    assert.equal(manifestHash(dir), h1);
    fs.writeFileSync(path.join(dir, "report.md"), "# Report\nPASS, amended\n");
    const m2 = writeManifest(dir, info);
    assert.equal(m2.created_at, m1.created_at);
    assert.notEqual(manifestHash(dir), h1);
  });

  it("never hashes editor, checkpoint or OS files (one rule: isIgnoredFile)", () => {
    const dir = fakeSession();
    for (const rel of [
      ".ipynb_checkpoints/payment-e2e-checkpoint.ipynb",
      "plots/.ipynb_checkpoints/x.svg",
      ".report.md.swp",
      ".report.md.swo",
      "report.md~",
      ".#report.md",
      "#report.md#",
      ".DS_Store",
      "__pycache__/x.cpython-311.pyc",
      ".virtual_documents/payment-e2e.ipynb.ts",
    ]) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), "not evidence");
      assert.equal(isIgnoredFile(rel), true, rel);
    }
    const m = writeManifest(dir, {
      sessionId: "s",
      mode: "staging",
      chainHead: readManifest(dir).chain_head,
      traceLines: TRACE_LINES,
      toolVersion: "0.1.0",
      gitCommit: null,
    });
    assert.deepEqual(
      m.files.map((f) => f.path),
      ["payment-e2e.ipynb", "plots/poll.png", "plots/poll.svg", "report.md", "state.jsonl", "trace.jsonl"],
    );
    for (const rel of ["payment-e2e.ipynb", "report.md", "notes.swp", "a~b.md", "plots/poll.png", "checkpoints.md"])
      assert.equal(isIgnoredFile(rel), false, rel);
  });

  it("a manifest sealed by an older tool with a checkpoint in it still verifies after a save", () => {
    const dir = fakeSession();
    const file = path.join(dir, MANIFEST_FILE);
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    m.files.unshift({ path: ".ipynb_checkpoints/payment-e2e-checkpoint.ipynb", sha256: "0".repeat(64), bytes: 2 });
    fs.writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
    const r = verifySession(dir);
    assert.ok(r.ok, formatVerify(r).join("\n"));
    assert.match(
      formatVerify(r).join("\n"),
      /^WARN {2}\.ipynb_checkpoints\/payment-e2e-checkpoint\.ipynb: an editor or checkpoint file/m,
    );
  });

  it("refuses to seal a trace that does not end at the given head", () => {
    const dir = fakeSession();
    const m = readManifest(dir);
    const info = {
      sessionId: "s",
      mode: "staging",
      chainHead: m.chain_head,
      traceLines: TRACE_LINES + 1,
      toolVersion: "0.1.0",
      gitCommit: null,
    };
    assert.throws(
      () => writeManifest(dir, info),
      (e: unknown) => e instanceof ManifestError && e.code === "EVIDENCE_MANIFEST_INVALID",
    );
  });

  it("rejects a missing or malformed manifest with stable codes", () => {
    const dir = tmpDir("nomanifest-");
    assert.throws(
      () => readManifest(dir),
      (e: unknown) => e instanceof ManifestError && e.code === "EVIDENCE_MANIFEST_MISSING",
    );
    fs.writeFileSync(path.join(dir, MANIFEST_FILE), '{"schema": "payment-e2e/manifest@1", "files": []}');
    assert.throws(
      () => readManifest(dir),
      (e: unknown) => e instanceof ManifestError && e.code === "EVIDENCE_MANIFEST_INVALID",
    );
  });
});

describe("verifySession", () => {
  const rows: Array<[string, (dir: string) => void, RegExp, boolean]> = [
    ["untouched", () => {}, /^verify: OK/m, true],
    [
      "one-byte edit in the trace",
      (d) => {
        const lines = traceLines(d);
        lines[3] = lines[3].replace("step 3", "step 8");
        setTrace(d, lines);
      },
      /^ERROR trace\.jsonl:4: hash does not match/m,
      false,
    ],
    [
      "deleted middle line",
      (d) =>
        setTrace(
          d,
          traceLines(d).filter((_, i) => i !== 2),
        ),
      /^ERROR trace\.jsonl:3: seq is 4, expected 3/m,
      false,
    ],
    [
      "cut tail",
      (d) => setTrace(d, traceLines(d).slice(0, 4)),
      /^ERROR trace\.jsonl:5: missing: trace ends at line 4, manifest expects 6/m,
      false,
    ],
    ["missing file", (d) => fs.rmSync(path.join(d, "plots", "poll.png")), /^ERROR plots\/poll\.png: missing/m, false],
    [
      "changed file",
      (d) => fs.appendFileSync(path.join(d, "report.md"), "x"),
      /^ERROR report\.md: the report block was rewritten after sealing: sha256 differs from the manifest \(14 -> 15 bytes; modified /m,
      false,
    ],
    [
      "notebook saved after sealing",
      (d) => fs.writeFileSync(path.join(d, "payment-e2e.ipynb"), '{"cells": [], "metadata": {}}\n'),
      /^ERROR payment-e2e\.ipynb: the notebook was saved after sealing: sha256 differs[^\n]*\nok {4}files[\s\S]*^fix: close the notebook in Jupyter \(it saves on its own\), then restore the sealed files .*re-seal: npm run archive -- .* --reseal "<reason>"$/m,
      false,
    ],
    [
      "checkpoint and editor files saved after sealing",
      (d) => {
        fs.mkdirSync(path.join(d, ".ipynb_checkpoints"));
        fs.writeFileSync(path.join(d, ".ipynb_checkpoints", "payment-e2e-checkpoint.ipynb"), "{}\n");
        fs.writeFileSync(path.join(d, ".report.md.swp"), "swap");
        fs.writeFileSync(path.join(d, "report.md~"), "backup");
        fs.writeFileSync(path.join(d, ".DS_Store"), "");
      },
      /^verify: OK - session \S+ \(sandbox\), 6 file\(s\), trace 6 line\(s\)(, 1 warning\(s\))?$/m,
      true,
    ],
    [
      "extra file is an error in a sealed folder (issue 24)",
      (d) => fs.writeFileSync(path.join(d, "notes.txt"), "later"),
      /^ERROR notes\.txt: extra file, not in the manifest: added after the seal of .* \[EXTRA_FILE\]$/m,
      false,
    ],
    [
      "missing manifest",
      (d) => fs.rmSync(path.join(d, MANIFEST_FILE)),
      /^ERROR manifest\.json: manifest .*cannot read/m,
      false,
    ],
  ];
  for (const [name, tamper, expected, ok] of rows) {
    it(`CLI: ${name}`, () => {
      // Sandbox: these rows are about the files; an unsigned staging seal is its own error (issue 24, tamper-sign.test.ts).
      const dir = fakeSession({ mode: "sandbox" });
      tamper(dir);
      const r = runCli(dir);
      assert.equal(r.status, ok ? 0 : 1, r.stdout + r.stderr);
      assert.match(r.stdout, expected);
      assert.match(r.stdout.trim().split("\n").pop() ?? "", ok ? /^verify: OK/ : /^verify: FAILED/);
    });
  }

  it("says evidence appended after sealing is intact and covered by re-sealing", () => {
    const dir = fakeSession();
    const t = Trace.open(path.join(dir, "trace.jsonl"), new SecretRegistry());
    t.append("operator_ack", { event: "bank statement confirmed the refund" });
    t.close();
    Journal.open(dir).append("bank_confirmed", BANK);
    const out = formatVerify(verifySession(dir)).join("\n");
    assert.match(
      out,
      /^ERROR state\.jsonl: evidence was appended to the journal after sealing: 1 line\(s\) added after the sealed \d+ bytes, which are intact/m,
    );
    assert.match(out, /^ERROR state\.jsonl:4: extra: 1 line\(s\) after the manifest's last line 3 \[CHAIN_BROKEN\]$/m);
    assert.match(out, /^ERROR trace\.jsonl: evidence was appended to the trace after sealing: 1 line\(s\)/m);
    assert.match(out, /^ERROR trace\.jsonl:7: extra: 1 line\(s\) after the manifest's last line 6 \[CHAIN_BROKEN\]$/m);
    assert.match(
      out,
      /^fix: evidence added on purpose \(e\.g\. by npm run confirm-bank\) is covered by re-sealing: npm run archive -- \S+ --reseal "<reason>"$/m,
    );
  });

  it("a trace edited after sealing cannot be re-sealed; a sealed file that is gone neither", () => {
    const dir = fakeSession();
    const lines = traceLines(dir);
    lines[2] = lines[2].replace("step 2", "step 7");
    setTrace(dir, lines);
    const r = verifySession(dir);
    assert.equal(r.brokenChain, true);
    assert.match(r.fix ?? "", /^restore trace\.jsonl and state\.jsonl .*cannot be re-sealed$/);
    assert.match(
      sealFix("s", [{ path: "notes.txt", kind: "added", words: "extra file" }]) ?? "",
      /^move notes\.txt out of the session folder, or re-seal to cover it: npm run archive -- s --reseal "<reason>"$/,
    );
    const gone = fakeSession();
    fs.rmSync(path.join(gone, "report.md"));
    assert.match(
      verifySession(gone).fix ?? "",
      /^restore report\.md .*a sealed file that is gone cannot be re-sealed$/,
    );
  });

  it("names the trace break and the changed trace file together", () => {
    const dir = fakeSession();
    const lines = traceLines(dir);
    lines.splice(1, 1);
    setTrace(dir, lines);
    const r = verifySession(dir);
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.findings.filter((f) => f.level === "error").map((f) => f.subject),
      ["trace.jsonl", "trace.jsonl:2"],
    );
  });

  it("CLI usage errors exit 2", () => {
    const real = spawnCli();
    assert.equal(real.status, 2);
    assert.match(real.stderr, /^usage: verify <session-dir>/);
    assert.equal(real.stdout, "");
    assert.equal(runCli().status, 2);
    assert.equal(runCli(path.join(tmpDir("v-"), "missing")).status, 2);
    assert.equal(runCli("a", "b").status, 2);
  });
});

describe("verifySession: the journal chain and the session's identity (issue 13)", () => {
  const journalLines = (dir: string) => fs.readFileSync(path.join(dir, "state.jsonl"), "utf8").split("\n").slice(0, -1);
  const setJournal = (dir: string, lines: string[]) =>
    fs.writeFileSync(path.join(dir, "state.jsonl"), lines.map((l) => `${l}\n`).join(""));
  const errors = (dir: string) =>
    verifySession(dir)
      .findings.filter((f) => f.level === "error")
      .map((f) => `${f.subject}: ${f.message}`);

  it("a journal line edited to fabricate a PASS is named, and so is the same edit re-chained", () => {
    const dir = fakeSession();
    setJournal(
      dir,
      journalLines(dir).map((l) => l.replace('"status":"FAIL"', '"status":"PASS"')),
    );
    const out = formatVerify(verifySession(dir)).join("\n");
    assert.match(out, /^ERROR state\.jsonl:3: hash does not match the content \(edited\) \[CHAIN_BROKEN\]$/m);
    assert.match(out, /^ERROR state\.jsonl: the journal was edited after sealing/m);
    rechainJournal(path.join(dir, "state.jsonl"));
    const r = verifySession(dir);
    assert.equal(r.brokenChain, true);
    assert.match(
      formatVerify(r).join("\n"),
      /^ERROR state\.jsonl:3: hash of line 3 differs from the recorded chain head \(chain rewritten\) \[CHAIN_BROKEN\]$/m,
    );
  });

  it("a cut journal tail, a deleted line and reordered lines are each named by line", () => {
    const cut = fakeSession();
    setJournal(cut, journalLines(cut).slice(0, 2));
    assert.ok(errors(cut).includes("state.jsonl:3: missing: journal ends at line 2, manifest expects 3 (tail cut)"));
    const deleted = fakeSession();
    setJournal(
      deleted,
      journalLines(deleted).filter((_, i) => i !== 1),
    );
    assert.ok(
      errors(deleted).some((e) => e.startsWith("state.jsonl:2: seq is 3, expected 2")),
      errors(deleted).join("\n"),
    );
    const reordered = fakeSession();
    const l = journalLines(reordered);
    setJournal(reordered, [l[0], l[2], l[1]]);
    assert.ok(errors(reordered).some((e) => e.startsWith("state.jsonl:2: seq is 3, expected 2")));
  });

  it("a renamed session folder is named: folder says X, manifest says Y", () => {
    const dir = fakeSession();
    const renamed = path.join(path.dirname(dir), "20261127T090000Z-staging");
    fs.renameSync(dir, renamed);
    assert.deepEqual(errors(renamed), [
      "manifest.json: session folder renamed or swapped: folder says 20261127T090000Z-staging, manifest says 20261126T154400Z-staging",
    ]);
  });

  it("a live session relabelled staging in its manifest is named in the manifest, the journal and the trace", () => {
    const dir = fakeSession({ mode: "live" });
    const file = path.join(dir, MANIFEST_FILE);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"mode": "live"', '"mode": "staging"'));
    assert.deepEqual(errors(dir), [
      "manifest.json: mode changed: manifest says staging, but session id 20261126T154400Z-live names mode live",
      "state.jsonl:1: mode changed: journal says live, manifest says staging",
      "trace.jsonl:1: mode changed: trace says live, manifest says staging",
    ]);
  });

  it("two sessions' journals (and traces) swapped are named as belonging to another session", () => {
    const parent = tmpDir("swap-");
    const a = fakeSession({ parent, id: "20261126T154400Z-staging" });
    const b = fakeSession({ parent, id: "20261127T090000Z-staging" });
    for (const f of ["state.jsonl", "trace.jsonl"]) {
      const tmp = path.join(parent, f);
      fs.renameSync(path.join(a, f), tmp);
      fs.renameSync(path.join(b, f), path.join(a, f));
      fs.renameSync(tmp, path.join(b, f));
    }
    const e = errors(a);
    assert.ok(
      e.includes(
        "state.jsonl:1: journal belongs to another session (swapped?): journal says 20261127T090000Z-staging, manifest says 20261126T154400Z-staging",
      ),
      e.join("\n"),
    );
    assert.ok(
      e.includes(
        "trace.jsonl:1: trace belongs to another session (swapped?): trace says 20261127T090000Z-staging, manifest says 20261126T154400Z-staging",
      ),
    );
    assert.ok(e.some((x) => x.startsWith("state.jsonl:3: hash of line 3 differs from the recorded chain head")));
  });

  it("a manifest@1 (sealed by an older tool) still verifies, with a warning", () => {
    const dir = fakeSession();
    const file = path.join(dir, MANIFEST_FILE);
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    m.schema = "payment-e2e/manifest@1";
    for (const k of ["journal_file", "journal_head", "journal_lines"]) delete m[k];
    fs.writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
    assert.equal(readManifest(dir).schema, "payment-e2e/manifest@1");
    const r = verifySession(dir);
    assert.ok(r.ok, formatVerify(r).join("\n"));
    assert.match(
      formatVerify(r).join("\n"),
      /^WARN {2}manifest\.json: sealed by an older tool \(payment-e2e\/manifest@1\): journal not chained/m,
    );
    m.schema = "payment-e2e/manifest@2";
    fs.writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
    assert.throws(() => readManifest(dir), /manifest@2 without journal_file, journal_head and journal_lines/);
  });

  it("refuses to seal a journal whose chain is broken, naming the line", () => {
    const dir = fakeSession();
    setJournal(
      dir,
      journalLines(dir).map((l, i) => (i === 1 ? l.replace('"health"', '"healthy"') : l)),
    );
    const m = readManifest(dir);
    assert.throws(
      () =>
        writeManifest(dir, {
          sessionId: m.session_id,
          mode: m.mode,
          chainHead: m.chain_head,
          traceLines: m.trace_lines,
          toolVersion: "0.1.0",
          gitCommit: null,
        }),
      (e: unknown) =>
        e instanceof ManifestError &&
        /journal chain broken, refusing to seal: state\.jsonl line 2: hash does not match the content \(edited\)/.test(
          e.message,
        ),
    );
  });
});
