/**
 * The README's auditor (issue 24, "done when"): the commands of README.md's Verify section, exactly
 * as written, run in a folder holding nothing of ours but verifier/verify_session.py, the signer list,
 * the living report and the sealed session — so Python and ssh-keygen alone check it. On a signed
 * staging seal they print the signer and OK; on the same folder rewritten consistently they fail.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { archiveSession } from "../../lib/host/archive";
import { chainJournal, makeSession, tmpArchive } from "../report/fixtures";
import { anchorReport, lines, rechain, reseal } from "./format-v2";
import { type Signer, makeSigner, writeAllowedSigners } from "./signing";

const ROOT = path.resolve(__dirname, "../..");

/** The shell lines of the README's Verify section's code block (comments dropped). */
function readmeAuditorLines(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(
    readme.indexOf("\n## Verify"),
    readme.indexOf("\n## ", readme.indexOf("\n## Verify") + 1),
  );
  const block = /\n```[a-z]*\n([\s\S]*?)\n```/.exec(section);
  assert.ok(block, "README's Verify section has no code block");
  return block[1].split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
}

let signer: Signer;
let root: string;
let id: string;

before(async () => {
  signer = makeSigner("auditor-readme@example.com");
  const archive = tmpArchive();
  root = path.dirname(path.dirname(archive));
  const docs = path.join(root, "docs");
  fs.mkdirSync(docs);
  fs.copyFileSync(path.join(ROOT, "docs", "GO_NO_GO_CHECKLIST.md"), path.join(docs, "GO_NO_GO_CHECKLIST.md"));
  writeAllowedSigners(path.join(docs, "allowed_signers"), [signer]);
  const dir = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 26, 9)) });
  chainJournal(dir);
  const a = await archiveSession(dir, { html: false, docsDir: docs, signKey: signer.key });
  assert.equal(a.status, "sealed");
  id = path.basename(dir);
  fs.writeFileSync(path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"), anchorReport([dir]));
  // Of our code, the auditor has the one verifier file: no node_modules, no lib/.
  fs.mkdirSync(path.join(root, "verifier"));
  fs.copyFileSync(path.join(ROOT, "verifier", "verify_session.py"), path.join(root, "verifier", "verify_session.py"));
});

after(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
  if (signer) fs.rmSync(path.dirname(signer.key), { recursive: true, force: true });
});

/** Runs the README's lines in the auditor's folder, `<session-id>` and the printed identity filled in. */
function audit(): { code: number | null; out: string } {
  const script = readmeAuditorLines()
    .map((l) => l.replaceAll("<session-id>", id).replaceAll("<identity printed above>", signer.identity))
    .join("\n");
  assert.doesNotMatch(script, /<[a-z -]+>/, "a placeholder of the README is not filled in here");
  const r = spawnSync("bash", ["-e", "-c", script], { cwd: root, encoding: "utf8" });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout + r.stderr };
}

test("README's Verify commands, as written, check a signed staging seal with Python and ssh-keygen alone", () => {
  const lines = readmeAuditorLines();
  assert.ok(
    lines.some((l) => l.startsWith("python3 verifier/verify_session.py ")),
    "README shows python3 verifier/verify_session.py",
  );
  assert.ok(
    lines.some((l) => l.startsWith("ssh-keygen -Y verify ")),
    "README shows ssh-keygen -Y verify",
  );
  const r = audit();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^ok {4}manifest\.json\.sig: sealed by auditor-readme@example\.com \(ED25519 key SHA256:/m);
  assert.match(r.out, /^verify: OK/m);
  // find-principals names the signer; ssh-keygen -Y verify says the signature is good.
  assert.match(r.out, /^auditor-readme@example\.com$/m);
  assert.match(r.out, /^Good "payment-e2e-seal@v1" signature for auditor-readme@example\.com with ED25519 key/m);
});

test("the same commands fail on a consistent rewrite of that folder (trace line, chain, manifest, anchor redone)", () => {
  const dir = path.join(root, "archive", "payment-e2e", id);
  const trace = path.join(dir, "trace.jsonl");
  const ls = lines(trace);
  ls[1] = ls[1].replace(/"time":"[^"]+"/, '"time":"2001-01-01T00:00:00.000Z"');
  fs.writeFileSync(trace, ls.map((l) => `${l}\n`).join(""));
  rechain(trace, "trace.jsonl");
  reseal(dir);
  fs.writeFileSync(path.join(root, "docs", "PAYMENT_E2E_LIVE_REPORT.md"), anchorReport([dir]));
  const r = audit();
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, /^ERROR manifest\.json\.sig: signature by auditor-readme@example\.com does not verify/m);
  assert.match(r.out, /^verify: FAILED/m);
});
