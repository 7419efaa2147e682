/**
 * Verifier parity (issue 24 §6): every case of the shared tamper table (./tamper-table.ts) is applied
 * to a copy of one real sealed session and given to both verifiers, `npm run verify` (spawned) and
 * verifier/verify_session.py. Both must FAIL and print the same set of finding codes, which must
 * include the case's expected ones, and no error line without a code; a clean copy passes both with
 * no code. The table is printed.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { anchorReport } from "./format-v2";
import { TAMPER_CASES, type TamperCtx, blockNames, blockStates, keyText, signedByAlice } from "./tamper-table";
import { PYTHON, runPython, runTs, sealedFixture } from "./verifiers";

describe("verifier parity: the shared tamper table", () => {
  let base: string;
  let work: string;
  let cleanup = () => {};
  const table: string[] = [];

  /** A fresh copy of the sealed folder and a report anchoring it. */
  function copy(slug: string): TamperCtx {
    const root = path.join(work, slug);
    const dir = path.join(root, path.basename(base));
    fs.cpSync(base, dir, { recursive: true });
    const report = path.join(root, "PAYMENT_E2E_LIVE_REPORT.md");
    fs.writeFileSync(report, anchorReport([dir]));
    return { dir, report, args: [] };
  }

  before(async () => {
    const v = spawnSync(PYTHON, ["--version"], { encoding: "utf8" });
    if (v.error || v.status !== 0) throw new Error(`${PYTHON} not found: the independent verifier needs Python 3.9+`);
    const f = await sealedFixture();
    base = f.dir;
    cleanup = f.cleanup;
    work = fs.mkdtempSync(path.join(os.tmpdir(), "parity-"));
  });

  after(() => {
    console.log(["verifier parity (codes of ERROR findings)", ...table].join("\n"));
    cleanup();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test("a clean copy passes both, with no error code", () => {
    const c = copy("clean");
    const p = runPython(c.dir, c.report);
    const t = runTs(c.dir, c.report);
    assert.equal(p.code, 0, p.out);
    assert.equal(t.code, 0, t.out);
    assert.deepEqual([p.errors, t.errors], [[], []]);
    table.push("clean copy: OK | OK");
  });

  test("a living report whose block states the seal's outcome and reason passes both", () => {
    const c = copy("clean-block");
    blockStates(c);
    const p = runPython(c.dir, c.report);
    const t = runTs(c.dir, c.report);
    assert.equal(p.code, 0, p.out);
    assert.equal(t.code, 0, t.out);
    for (const r of [p, t]) assert.match(r.out, /the session's block states outcome FAIL, as the seal recorded it/);
    table.push("block stating the seal's outcome: OK | OK");
  });

  test("a block naming the seal's signer passes both; one written before blocks named it passes with a warning", () => {
    const c = copy("signer-named");
    const alice = signedByAlice(c);
    const before = [runPython(c.dir, c.report, c.args), runTs(c.dir, c.report, c.args)];
    for (const r of before) {
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^WARN {2}\S+:\d+: the session's block does not say who sealed it/m);
    }
    blockNames(c, "alice@example.com", keyText(alice.key));
    for (const r of [runPython(c.dir, c.report, c.args), runTs(c.dir, c.report, c.args)]) {
      assert.equal(r.code, 0, r.out);
      assert.match(
        r.out,
        /the session's block names who sealed it, as the signature says \(alice@example\.com, ED25519 key SHA256:/,
      );
    }
    table.push("block naming the seal's signer: OK | OK (without the line: WARN)");
  });

  for (const tc of TAMPER_CASES) {
    test(tc.name, () => {
      const c = copy(
        tc.name
          .replace(/[^a-z0-9]+/gi, "-")
          .toLowerCase()
          .slice(0, 60),
      );
      tc.tamper(c);
      const p = runPython(c.dir, c.report, c.args);
      const t = runTs(c.dir, c.report, c.args);
      table.push(`${tc.name}: npm ${t.errors.join(",") || "OK"} | python ${p.errors.join(",") || "OK"}`);
      assert.equal(p.code, 1, `Python must FAIL:\n${p.out}`);
      assert.equal(t.code, 1, `npm run verify must FAIL:\n${t.out}`);
      for (const code of tc.expect) {
        assert.ok(p.errors.includes(code), `Python must report ${code}:\n${p.out}`);
        assert.ok(t.errors.includes(code), `npm run verify must report ${code}:\n${t.out}`);
      }
      assert.deepEqual(t.errors, p.errors, `the verifiers report different codes:\nnpm:\n${t.out}\npython:\n${p.out}`);
      // Every error carries its code, so the sets above compare every finding, not only the coded ones.
      for (const [who, r] of [
        ["npm run verify", t],
        ["Python", p],
      ] as const) {
        const bare = r.out.split("\n").filter((l) => l.startsWith("ERROR") && !/ \[[A-Z0-9_]+\]$/.test(l));
        assert.deepEqual(bare, [], `${who} printed an error without a finding code:\n${r.out}`);
      }
    });
  }
});
