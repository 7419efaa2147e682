import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ManifestError } from "../../lib/errors";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { MANIFEST_FILE, isIgnoredFile } from "../../lib/evidence/files";
import { manifestHash, readManifest, retentionDate, writeManifest } from "../../lib/evidence/manifest";
import { Trace } from "../../lib/evidence/trace";
import { formatVerify, sealFix, verifySession } from "../../lib/evidence/verify";
import { tmpDir } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(ROOT, "lib/cli/verify.ts");
const TRACE_LINES = 6;

/** A small archived session: trace, notebook, report, plots (SVG + binary PNG), journal; sealed. */
function fakeSession(): string {
  const dir = path.join(tmpDir("session-"), "2026-11-26T15-44-staging");
  const t = Trace.open(path.join(dir, "trace.jsonl"), new SecretRegistry());
  t.append("session", { mode: "staging" });
  for (let i = 1; i < TRACE_LINES; i++) t.append(i % 2 ? "step_start" : "step_end", { step: i, name: `step ${i}` });
  t.close();
  fs.writeFileSync(path.join(dir, "payment-e2e.ipynb"), '{"cells": []}\n');
  fs.writeFileSync(path.join(dir, "report.md"), "# Report\nPASS\n");
  fs.writeFileSync(path.join(dir, "state.jsonl"), '{"step":1}\n');
  fs.mkdirSync(path.join(dir, "plots"));
  fs.writeFileSync(path.join(dir, "plots", "poll.svg"), "<svg/>\n");
  fs.writeFileSync(path.join(dir, "plots", "poll.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
  writeManifest(dir, {
    sessionId: path.basename(dir),
    mode: "staging",
    chainHead: t.head,
    traceLines: t.seq,
    toolVersion: "0.1.0",
    gitCommit: null,
  });
  return dir;
}

const runCli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, encoding: "utf8" });
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
      /^verify: OK - session \S+ \(staging\), 6 file\(s\), trace 6 line\(s\)(, 1 warning\(s\))?$/m,
      true,
    ],
    [
      "extra file is a warning only",
      (d) => fs.writeFileSync(path.join(d, "notes.txt"), "later"),
      /^WARN {2}notes\.txt: extra file/m,
      true,
    ],
    [
      "missing manifest",
      (d) => fs.rmSync(path.join(d, MANIFEST_FILE)),
      /^ERROR manifest\.json: Manifest .*cannot read/m,
      false,
    ],
  ];
  for (const [name, tamper, expected, ok] of rows) {
    it(`CLI: ${name}`, () => {
      const dir = fakeSession();
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
    fs.appendFileSync(path.join(dir, "state.jsonl"), '{"step":2}\n');
    const out = formatVerify(verifySession(dir)).join("\n");
    assert.match(
      out,
      /^ERROR state\.jsonl: evidence was appended to the journal after sealing: 1 line\(s\) added after the sealed 11 bytes, which are intact/m,
    );
    assert.match(out, /^ERROR trace\.jsonl: evidence was appended to the trace after sealing: 1 line\(s\)/m);
    assert.match(out, /^ERROR trace\.jsonl:7: extra: 1 line\(s\) after the manifest's last line 6$/m);
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
    assert.match(r.fix ?? "", /^restore trace\.jsonl .*cannot be re-sealed$/);
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
    assert.equal(runCli().status, 2);
    assert.equal(runCli(path.join(tmpDir("v-"), "missing")).status, 2);
    assert.equal(runCli("a", "b").status, 2);
  });
});
