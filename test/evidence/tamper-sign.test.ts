/**
 * The tamper table's issue-24 rows: signed seals, re-seals that prove what they replace, and the
 * live gate. Each row is a real session sealed by the archive step (throwaway SSH keys, the real
 * ssh-keygen), tampered as someone with write access would, then given to both verifiers —
 * `npm run verify` (lib/cli/verify.ts) and verifier/verify_session.py — which must FAIL naming the
 * same file (and line), and, for the fabricated dry runs, to the live gate, which must refuse.
 * Kept beside tamper.test.ts (the issue-13 rows) so that both can grow without colliding. Over 300
 * lines on purpose: each row builds its own signed, committed repository and reads as one attack.
 * The attacks a sandbox copy can express (wrong signer, a signature that no longer verifies, forged
 * re-seals) are also rows of the shared table (./tamper-table.ts, by finding code); these stay for
 * what it cannot: staging/live seals, statements, the live gate, confirm-bank and archive --sign-key.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { main as tsVerify } from "../../lib/cli/verify";
import { main as confirmBank } from "../../lib/cli/confirm-bank";
import { archiveSession } from "../../lib/host/archive";
import { dryRunProblem, type TrustOptions } from "../../lib/run/dry-run";
import { outcomeJudge } from "../../lib/report/outcome-check";
import { Trace } from "../../lib/evidence/trace";
import { chainJournal, day, makeSession, tmpArchive } from "../report/fixtures";
import { anchorReport, lines, rechain, reseal } from "./format-v2";
import { type Signer, commitTrust, makeSigner, writeAllowedSigners } from "./signing";
import { archiveCommand } from "../cli/in-process";

const ROOT = path.resolve(__dirname, "../..");
const VERIFIER = path.join(ROOT, "verifier", "verify_session.py");
const PYTHON = process.env.PYTHON ?? "python3";
const FINDING = /^(ok|WARN|ERROR)\s+([^\s:]+)(?::(\d+))?: (.*)$/;

interface Run {
  code: number | null;
  out: string;
  errors: Array<{ file: string; line: number | null; message: string }>;
}
const parse = (out: string, code: number | null): Run => ({
  code,
  out,
  errors: out
    .split("\n")
    .map((l) => FINDING.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === "ERROR")
    .map((m) => ({ file: m[2], line: m[3] ? Number(m[3]) : null, message: m[4] })),
});

interface Repo {
  root: string;
  archive: string;
  docs: string;
  allowed: string;
  report: string;
}

let alice: Signer;
let mallory: Signer;
const made: string[] = [];
const table: Array<[string, string, string, string]> = [];

function repo(): Repo {
  const archive = tmpArchive();
  const root = path.dirname(path.dirname(archive));
  made.push(root);
  const docs = path.join(root, "docs");
  fs.mkdirSync(docs, { recursive: true });
  fs.copyFileSync(path.join(ROOT, "docs", "GO_NO_GO_CHECKLIST.md"), path.join(docs, "GO_NO_GO_CHECKLIST.md"));
  const allowed = writeAllowedSigners(path.join(docs, "allowed_signers"), [alice]);
  return { root, archive, docs, allowed, report: path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md") };
}

function both(r: Repo, dir: string): { py: Run; ts: Run } {
  const p = spawnSync(PYTHON, [VERIFIER, dir, "--report", r.report, "--allowed-signers", r.allowed], {
    encoding: "utf8",
  });
  if (p.error) throw p.error;
  const out: string[] = [];
  const code = tsVerify(
    [dir, "--report", r.report, "--allowed-signers", r.allowed],
    (s) => out.push(s),
    (s) => out.push(s),
    r.root,
  );
  return { py: parse(p.stdout, p.status), ts: parse(out.join("\n"), code) };
}

/** Both verifiers FAIL, each naming `file` (and `line`), with the same kind of finding (`words`). */
function bothFail(row: string, r: Repo, dir: string, file: string, line: number | null, words: RegExp): void {
  const { py, ts } = both(r, dir);
  const hit = (x: Run) => x.errors.find((e) => e.file === file && (line === null || e.line === line));
  for (const [who, x] of [
    ["verify_session.py", py],
    ["npm run verify", ts],
  ] as const) {
    assert.equal(x.code, 1, `${who} must FAIL (${row}):\n${x.out}`);
    const h = hit(x);
    assert.ok(h, `${who} must name ${file}${line ? `:${line}` : ""} (${row}):\n${x.out}`);
    assert.match(h.message, words, `${who} (${row}):\n${x.out}`);
  }
  // Both print the same finding code on that finding (lib/evidence/finding-codes.ts).
  const codeOf = (x: Run) => / \[([A-Z_]+)\]$/.exec(hit(x)?.message ?? "")?.[1] ?? null;
  assert.ok(codeOf(ts), `npm run verify must print a finding code (${row}):\n${ts.out}`);
  assert.equal(codeOf(py), codeOf(ts), `the verifiers print different codes (${row}):\n${ts.out}\n${py.out}`);
  const cell = (x: Run) => {
    const h = hit(x);
    return h ? `${h.file}${h.line ? `:${h.line}` : ""}: ${h.message}` : "";
  };
  table.push([row, cell(ts), cell(py), ""]);
}

async function sealStaging(
  r: Repo,
  o: {
    key?: string;
    scenario?: "stuck" | "pass";
    hour?: number;
    mode?: "staging" | "sandbox" | "live";
    /** The seal rules' written reason for money moved and not refunded (a stuck run). */
    unrefunded?: string;
  } = {},
): Promise<string> {
  const dir = makeSession(r.archive, {
    mode: o.mode ?? "staging",
    scenario: o.scenario,
    at: new Date(Date.UTC(2026, 10, 26, o.hour ?? 9)),
  });
  chainJournal(dir);
  const a = await archiveSession(dir, { html: false, docsDir: r.docs, signKey: o.key, unrefunded: o.unrefunded });
  assert.equal(a.status, "sealed");
  return dir;
}

const manifestOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
const gate = (dir: string, t: TrustOptions) => dryRunProblem(dir, { ...t, judge: outcomeJudge });

describe("issue 24: signed seals, re-seals, the live gate (both verifiers)", () => {
  before(() => {
    alice = makeSigner("alice@example.com");
    mallory = makeSigner("mallory@example.com");
  });
  after(() => {
    const w = [40, 70, 70];
    const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));
    console.log(
      [
        `${cut("row", w[0])} | ${cut("npm run verify", w[1])} | ${cut("verify_session.py", w[2])} | live gate`,
        ...table.map((t) => `${cut(t[0], w[0])} | ${cut(t[1], w[1])} | ${cut(t[2], w[2])} | ${t[3]}`),
      ].join("\n"),
    );
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
    for (const s of [alice, mallory]) if (s) fs.rmSync(path.dirname(s.key), { recursive: true, force: true });
  });

  test("a staging seal signed by an allowed signer: both verifiers OK and name the signer; the gate accepts it once committed", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key });
    assert.ok(fs.existsSync(path.join(dir, "manifest.json.sig")));
    assert.ok(!manifestOf(dir).files.some((f: { path: string }) => f.path.endsWith(".sig")));
    const { py, ts } = both(r, dir);
    for (const x of [py, ts]) {
      assert.equal(x.code, 0, x.out);
      assert.match(x.out, /ok {4}manifest\.json\.sig: sealed by alice@example\.com \(ED25519 key SHA256:/);
    }
    const t = commitTrust(r.root, [dir], [alice]);
    assert.equal(gate(dir, t), null);
    table.push(["signed staging seal (clean)", "verify: OK, signer named", "verify: OK, signer named", "GO"]);
  });

  test("a deliberate re-seal by an allowed signer: signed statement over old hash, new hash and reason; both OK", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key });
    const before = manifestOf(dir);
    const t = Trace.open(path.join(dir, "trace.jsonl"));
    t.append("operator_ack", { event: "bank statement checked" });
    t.close();
    const a = await archiveSession(dir, {
      html: false,
      docsDir: r.docs,
      signKey: alice.key,
      reseal: "bank statement confirmed it",
    });
    assert.equal(a.status, "resealed");
    const st = JSON.parse(fs.readFileSync(path.join(dir, "reseal-1.json"), "utf8"));
    assert.equal(st.manifest_sha256, a.manifestSha256);
    assert.equal(st.previous_trace_head, before.chain_head);
    assert.equal(st.reason, "bank statement confirmed it");
    const { py, ts } = both(r, dir);
    for (const x of [py, ts]) {
      assert.equal(x.code, 0, x.out);
      assert.match(x.out, /ok {4}reseal-1\.json\.sig: re-seal signed by alice@example\.com/);
      assert.match(
        x.out,
        /ok {4}trace\.jsonl:\d+: re-seal over manifest [0-9a-f]{12}…?\.*: its sealed lines are intact/,
      );
    }
  });

  test("a re-seal statement removed from a signed staging folder: ERROR reseal-1.json in both", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key });
    const t = Trace.open(path.join(dir, "trace.jsonl"));
    t.append("operator_ack", { event: "bank statement checked" });
    t.close();
    await archiveSession(dir, {
      html: false,
      docsDir: r.docs,
      signKey: alice.key,
      reseal: "bank statement confirmed it",
    });
    for (const f of ["reseal-1.json", "reseal-1.json.sig"]) fs.rmSync(path.join(dir, f));
    bothFail("re-seal statement removed (staging)", r, dir, "reseal-1.json", null, /has no signed statement/);
  });

  test("npm run archive --sign-key on an intact unsigned staging seal signs it as it stands (manifest bytes unchanged)", async () => {
    const r = repo();
    const dir = await sealStaging(r);
    const before = fs.readFileSync(path.join(dir, "manifest.json"));
    // npm run archive's command in this process (test/cli/in-process.ts), its lines and exit code.
    const cli = (...args: string[]) => archiveCommand([dir, ...args], { PAYMENT_E2E_SIGN_KEY: "" });
    const unsigned = await cli("--docs-dir", r.docs);
    assert.equal(unsigned.code, 0, unsigned.err);
    assert.match(unsigned.out, /already sealed/);
    const signed = await cli("--docs-dir", r.docs, "--sign-key", alice.key);
    assert.equal(signed.code, 0, signed.err);
    assert.match(signed.out, /sealed at \S+ unsigned; signed now: \S+manifest\.json\.sig/);
    assert.deepEqual(fs.readFileSync(path.join(dir, "manifest.json")), before);
    const { py, ts } = both(r, dir);
    for (const x of [py, ts]) assert.equal(x.code, 0, x.out);
  });

  test("confirm-bank --reseal --sign-key on a signed live seal: the re-seal is signed, both verifiers OK", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key, mode: "live" });
    const out: string[] = [];
    const code = await confirmBank(
      [
        dir,
        "--date",
        day(0),
        "--reseal",
        "bank statement confirmed the refund",
        "--sign-key",
        alice.key,
        "--docs",
        r.report,
        "--checklist",
        path.join(r.docs, "GO_NO_GO_CHECKLIST.md"),
      ],
      (s) => out.push(s),
      (s) => out.push(s),
    );
    assert.equal(code, 0, out.join("\n"));
    const { py, ts } = both(r, dir);
    for (const x of [py, ts]) {
      assert.equal(x.code, 0, x.out);
      assert.match(x.out, /ok {4}reseal-1\.json\.sig: re-seal signed by alice@example\.com/);
    }
  });

  test("a live block that names another signer than the seal's: SIGNER_MISMATCH on that line in both; the tool's own line passes", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key, mode: "live" });
    const text = fs.readFileSync(r.report, "utf8");
    const lines = text.split("\n");
    const at = lines.findIndex((l) => l.startsWith("- Sealed by : `alice@example.com` with `ED25519 key SHA256:"));
    assert.ok(at >= 0, `the block names who sealed it:\n${text}`);
    const { py, ts } = both(r, dir);
    for (const x of [py, ts]) {
      assert.equal(x.code, 0, x.out);
      assert.match(
        x.out,
        /ok {4}\S+: the session's block names who sealed it, as the signature says \(alice@example\.com, /,
      );
    }
    lines[at] = lines[at].replace("`alice@example.com`", "`mallory@example.com`");
    fs.writeFileSync(r.report, lines.join("\n"));
    bothFail("live block names another signer", r, dir, r.report, at + 1, /names the signer "mallory@example\.com"/);
  });

  test("a signing key that does not exist is refused before anything is written (EVIDENCE_SEAL_SIGN)", async () => {
    const r = repo();
    const dir = makeSession(r.archive, { mode: "staging" });
    chainJournal(dir);
    const missing = path.join(path.dirname(alice.key), "no-such-key");
    await assert.rejects(
      archiveSession(dir, { html: false, docsDir: r.docs, signKey: missing }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "EVIDENCE_SEAL_SIGN");
        assert.match(
          e.message,
          /^seal signature: signing key \S+no-such-key not found: pass --sign-key <SSH private key>/,
        );
        return true;
      },
    );
    assert.ok(!fs.existsSync(path.join(dir, "manifest.json")), "nothing sealed");
  });

  test("an unsigned staging seal: ERROR manifest.json.sig in both; the gate refuses", async () => {
    const r = repo();
    const dir = await sealStaging(r);
    bothFail("unsigned staging seal", r, dir, "manifest.json.sig", null, /unsigned/);
    const t = commitTrust(r.root, [dir], [alice]);
    assert.match(gate(dir, t) ?? "", /its seal is unsigned/);
    table[table.length - 1][3] = "refused: unsigned";
  });

  test("a seal by a key not in allowed_signers: ERROR manifest.json.sig in both; the gate refuses", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: mallory.key });
    bothFail("seal by a key not in allowed_signers", r, dir, "manifest.json.sig", null, /not in .*allowed_signers/);
    const t = commitTrust(r.root, [dir], [alice]);
    assert.match(gate(dir, t) ?? "", /its seal does not count: signed by a key not in/);
    table[table.length - 1][3] = "refused: foreign key";
  });

  test("a signing key listed under two identities (or a pattern): ERROR manifest.json.sig in both, never 'sealed by' the first name; the gate refuses", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key });
    // Alice signed; her key is also listed, first, as mallory's: ssh-keygen names the first line.
    const asMallory: Signer = { ...alice, line: alice.line.replace(alice.identity, mallory.identity) };
    writeAllowedSigners(r.allowed, [asMallory, alice]);
    bothFail(
      "one key under two identities",
      r,
      dir,
      "manifest.json.sig",
      null,
      /listed in .* for "mallory@example\.com", "alice@example\.com": a seal must name the one person/,
    );
    for (const x of Object.values(both(r, dir))) assert.doesNotMatch(x.out, /sealed by mallory/, x.out);
    const t = commitTrust(r.root, [dir], [asMallory, alice]);
    assert.match(gate(dir, t) ?? "", /its seal does not count: the signing key .* must name the one person/);
    table[table.length - 1][3] = "refused: key of two people";
    // One line naming two identities, and a line naming a pattern.
    for (const names of ["alice@example.com,bob@example.com", "*@example.com"]) {
      writeAllowedSigners(r.allowed, [{ ...alice, line: alice.line.replace(alice.identity, names) }]);
      bothFail(`key listed as ${names}`, r, dir, "manifest.json.sig", null, /a seal must name the one person/);
    }
  });

  test("a re-seal signed by the wrong key: ERROR reseal-1.json.sig in both", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key });
    const t = Trace.open(path.join(dir, "trace.jsonl"));
    t.append("note", { event: "evidence added by someone else" });
    t.close();
    await archiveSession(dir, { html: false, docsDir: r.docs, signKey: mallory.key, reseal: "adding my own evidence" });
    bothFail("re-seal signed by the wrong key", r, dir, "reseal-1.json.sig", null, /not in .*allowed_signers/);
  });

  test("the forged re-seal: a sealed line rewritten (500 → 50), chain + manifest + anchor redone, note naming the old seal", async () => {
    const r = repo();
    const dir = await sealStaging(r, { mode: "sandbox" });
    const old = manifestOf(dir);
    const oldSha = spawnSync("sha256sum", [path.join(dir, "manifest.json")], { encoding: "utf8" }).stdout.slice(0, 64);
    fs.writeFileSync(r.report, anchorReport([dir]));
    const trace = path.join(dir, "trace.jsonl");
    const ls = lines(trace);
    const at = ls.findIndex((l) => l.includes('"minor":500'));
    assert.ok(at >= 0, "the fixture's trace has an amount of 500");
    ls[at] = ls[at].replace('"minor":500', '"minor":50');
    // The note exactly as the tool writes it, naming the replaced seal and its (true) chain heads.
    const note = {
      seq: ls.length + 1,
      time: new Date().toISOString(),
      mono_ms: 1,
      type: "note",
      payload: {
        event: "re-sealed by npm run archive --reseal",
        reason: "corrected a typo in the amount",
        previous_manifest_sha256: oldSha,
        previous_sealed_at: old.created_at,
        previous_trace_head: old.chain_head,
        previous_trace_lines: old.trace_lines,
        previous_journal_head: old.journal_head,
        previous_journal_lines: old.journal_lines,
        changes: [],
      },
      prev: "",
      hash: "",
    };
    fs.writeFileSync(trace, [...ls, JSON.stringify(note)].map((l) => `${l}\n`).join(""));
    rechain(trace, "trace.jsonl");
    reseal(dir);
    fs.writeFileSync(r.report, anchorReport([dir])); // the block re-rendered to match the forgery
    bothFail("forged re-seal (500 → 50)", r, dir, "trace.jsonl", old.trace_lines, /a sealed line was rewritten/);

    // The same note in the older form, without the replaced heads: it proves nothing.
    const ls2 = lines(trace);
    const last = JSON.parse(ls2[ls2.length - 1]);
    for (const k of ["previous_trace_head", "previous_trace_lines", "previous_journal_head", "previous_journal_lines"])
      delete last.payload[k];
    ls2[ls2.length - 1] = JSON.stringify(last);
    fs.writeFileSync(trace, ls2.map((l) => `${l}\n`).join(""));
    rechain(trace, "trace.jsonl");
    reseal(dir);
    fs.writeFileSync(r.report, anchorReport([dir]));
    bothFail("forged re-seal, note without heads", r, dir, "trace.jsonl", ls2.length, /cannot prove what it replaced/);
  });

  test("a forged re-seal whose note carries the forged chain's own heads: the committed anchor catches it (npm run verify, from git history); Python, without history, cannot — the signature closes that for staging/live", async () => {
    const r = repo();
    const dir = await sealStaging(r, { mode: "sandbox" });
    const old = manifestOf(dir);
    const oldSha = spawnSync("sha256sum", [path.join(dir, "manifest.json")], { encoding: "utf8" }).stdout.slice(0, 64);
    commitTrust(r.root, [dir], [alice]);
    const trace = path.join(dir, "trace.jsonl");
    const ls = lines(trace);
    const at = ls.findIndex((l) => l.includes('"minor":500'));
    ls[at] = ls[at].replace('"minor":500', '"minor":50');
    fs.writeFileSync(trace, ls.map((l) => `${l}\n`).join(""));
    rechain(trace, "trace.jsonl");
    const forgedHead = JSON.parse(lines(trace)[old.trace_lines - 1]).hash;
    const note = {
      seq: 0,
      time: new Date().toISOString(),
      mono_ms: 1,
      type: "note",
      payload: {
        event: "re-sealed by npm run archive --reseal",
        reason: "corrected a typo in the amount",
        previous_manifest_sha256: oldSha,
        previous_trace_head: forgedHead,
        previous_trace_lines: old.trace_lines,
        previous_journal_head: old.journal_head,
        previous_journal_lines: old.journal_lines,
      },
      prev: "",
      hash: "",
    };
    fs.appendFileSync(trace, `${JSON.stringify(note)}\n`);
    rechain(trace, "trace.jsonl");
    reseal(dir);
    commitTrust(r.root, [dir], [alice], "re-sealed");
    const { py, ts } = both(r, dir);
    assert.equal(ts.code, 1, ts.out);
    assert.ok(
      ts.errors.some(
        (e) => e.file === "trace.jsonl" && e.line === old.trace_lines && /a sealed line was rewritten/.test(e.message),
      ),
      ts.out,
    );
    assert.equal(py.code, 0, `the documented gap (docs/evidence-format.md, threat model): ${py.out}`);
    table.push([
      "forged re-seal, note with forged heads (sandbox)",
      `trace.jsonl:${old.trace_lines}: committed anchor (git history)`,
      "OK: no history, no signature (sandbox)",
      "",
    ]);
  });

  test("a fabricated staging dry run (FAIL/SKIPPED → PASS, chain + manifest + anchor redone and committed): both FAIL, the gate refuses", async () => {
    const r = repo();
    const dir = await sealStaging(r, {
      key: alice.key,
      scenario: "stuck",
      unrefunded: "refund 409 at the orchestrator, refunded from the dashboard",
    });
    commitTrust(r.root, [dir], [alice]);
    const journal = path.join(dir, "state.jsonl");
    fs.writeFileSync(
      journal,
      lines(journal)
        .map((l) => `${l.replace(/"status":"(FAIL|SKIPPED)"/g, '"status":"PASS"')}\n`)
        .join(""),
    );
    rechain(journal, "state.jsonl");
    reseal(dir);
    const t = commitTrust(r.root, [dir], [alice], "dry run re-published");
    bothFail("fabricated staging dry run", r, dir, "manifest.json.sig", null, /does not verify/);
    // The gate judges the journal before the signature: the seal stated FAIL over steps that now read PASS.
    assert.match(gate(dir, t) ?? "", /the seal stated outcome FAIL, the journal's verdict is PARTIAL/);
    table[table.length - 1][3] = "refused: stated outcome";
  });

  test("a sandbox session copied under a staging name (journal, trace, manifest, anchor redone): both FAIL, the gate refuses", async () => {
    const r = repo();
    const src = await sealStaging(r, { mode: "sandbox" });
    const id = path.basename(src);
    const staged = id.replace(/-sandbox$/, "-staging");
    const dir = path.join(r.archive, staged);
    fs.cpSync(src, dir, { recursive: true });
    fs.rmSync(src, { recursive: true });
    for (const f of ["state.jsonl", "trace.jsonl"] as const) {
      const file = path.join(dir, f);
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replaceAll(id, staged).replaceAll('"sandbox"', '"staging"'));
      rechain(file, f);
    }
    // The relabel is complete (report.md and the notebook name the new id too), so no leftover id
    // gives it away: only the missing signature does.
    for (const f of fs.readdirSync(dir).filter((n) => /\.(md|ipynb|html)$/.test(n))) {
      const file = path.join(dir, f);
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replaceAll(id, staged));
    }
    const m = manifestOf(dir);
    fs.writeFileSync(
      path.join(dir, "manifest.json"),
      `${JSON.stringify({ ...m, session_id: staged, mode: "staging" }, null, 2)}\n`,
    );
    reseal(dir);
    const t = commitTrust(r.root, [dir], [alice]);
    bothFail("sandbox relabelled as staging", r, dir, "manifest.json.sig", null, /unsigned/);
    assert.match(gate(dir, t) ?? "", /its seal is unsigned/);
    table[table.length - 1][3] = "refused: unsigned";
  });

  test("a key added to docs/allowed_signers but never committed (its holder seals a fabricated dry run): the gate refuses", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: mallory.key });
    const t = commitTrust(r.root, [dir], [alice]);
    // The working copy now trusts mallory too; the committed list (reviewed, in history) does not.
    writeAllowedSigners(t.allowedSigners, [alice, mallory]);
    const { py, ts } = both(r, dir);
    for (const x of [py, ts]) assert.equal(x.code, 0, `verify checks the list it is given:\n${x.out}`);
    assert.match(
      gate(dir, t) ?? "",
      /^docs\/allowed_signers differs from its committed version: only the committed signer list is trusted/,
    );
    fs.writeFileSync(path.join(r.docs, "other_signers"), fs.readFileSync(t.allowedSigners));
    assert.match(
      gate(dir, { ...t, allowedSigners: path.join(r.docs, "other_signers") }) ?? "",
      /^docs\/other_signers is not committed in /,
    );
    table.push(["uncommitted key in allowed_signers", "", "", "refused: list not committed"]);
  });

  test("the committed docs/allowed_signers: comments or signer lines in ssh-keygen's format; while it lists no one, both verifiers refuse a signed staging seal naming it", async () => {
    const committed = path.join(ROOT, "docs", "allowed_signers");
    const signers = fs
      .readFileSync(committed, "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.trim().startsWith("#"));
    for (const l of signers)
      assert.match(
        l,
        /^\S+ namespaces="payment-e2e-seal@v1,payment-e2e-reseal@v1" (ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa|sk-\S+) [A-Za-z0-9+/]+=*$/,
        `docs/allowed_signers: not a signer line as its header describes: ${l}`,
      );
    if (signers.length) return; // a real signer was added: the empty-list rule is checked above with a synthetic list
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key });
    const { py, ts } = both({ ...r, allowed: committed }, dir);
    for (const x of [py, ts]) {
      assert.equal(x.code, 1, x.out);
      assert.ok(
        x.errors.some(
          (e) => e.file === "manifest.json.sig" && /lists no signer: .* \[SIGNER_NOT_ALLOWED\]$/.test(e.message),
        ),
        x.out,
      );
    }
  });

  test("the gate: an empty allowed_signers refuses naming the fix; an anchor not committed refuses", async () => {
    const r = repo();
    const dir = await sealStaging(r, { key: alice.key });
    const t = commitTrust(r.root, [dir], [alice]);
    const empty = path.join(r.root, "empty_signers");
    fs.writeFileSync(empty, "# nobody yet\n");
    assert.match(gate(dir, { ...t, allowedSigners: empty }) ?? "", /lists no signer: add the operator's public key/);
    const r2 = repo();
    const dir2 = await sealStaging(r2, { key: alice.key });
    assert.match(gate(dir2, { repoDir: r2.root }) ?? "", /its anchor is not committed in the living report/);
  });
});
