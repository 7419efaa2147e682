/**
 * The live gate holds a staging dry run to the verdict its journal derives, as the GO/NO-GO row and
 * `npm run verify` do (lib/report/outcome-check.ts): every step PASS is not enough. Each folder is
 * sealed by the real archive (signed with a throwaway allowed key, its anchor committed), then given
 * to the real gate (`dryRunDone`, and `npm run preflight -- --mode live` in its process).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { archiveSession } from "../../lib/host/archive";
import { Journal } from "../../lib/evidence/journal";
import { SEAL_NAMESPACE, signFile } from "../../lib/evidence/signature";
import { dryRunDone, stagingDryRuns } from "../../lib/run/dry-run";
import { outcomeJudge } from "../../lib/report/outcome-check";
import { main as preflight } from "../../lib/cli/preflight";
import { chainJournal, makeSession, tmpArchive } from "../report/fixtures";
import { reseal } from "../evidence/format-v2";
import { rewriteChain } from "../evidence/tamper-table";
import { type Signer, commitTrust, makeSigner } from "../evidence/signing";

const ROOT = path.resolve(__dirname, "../..");
let alice: Signer;
const roots: string[] = [];
before(() => {
  alice = makeSigner("gate-verdict@example.com");
});
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  if (alice) fs.rmSync(path.dirname(alice.key), { recursive: true, force: true });
});

const IMPOSSIBLE = {
  step: 9,
  what: "seconds-to-refunded",
  why: "the refund's created_at 2026-11-26T09:00:40Z is later than the Date header of the answer that carried it (2026-11-26T09:00:05Z)",
};

/** A staging run whose every step PASSed, `time_impossible` journaled `where`, sealed and signed by the real archive. */
async function stagingRun(where: "before-seal" | "forged-after-seal"): Promise<{ archive: string; dir: string }> {
  const archive = tmpArchive();
  const root = path.dirname(path.dirname(archive));
  roots.push(root);
  const dir = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 26, 9)) });
  chainJournal(dir);
  if (where === "before-seal") Journal.open(dir).append("time_impossible", IMPOSSIBLE);
  const docsDir = path.join(root, "docs");
  fs.mkdirSync(docsDir, { recursive: true });
  fs.copyFileSync(path.join(ROOT, "docs", "GO_NO_GO_CHECKLIST.md"), path.join(docsDir, "GO_NO_GO_CHECKLIST.md"));
  const a = await archiveSession(dir, { html: false, docsDir, signKey: alice.key });
  assert.equal(a.status, "sealed");
  if (where === "forged-after-seal") {
    // The seal stated PASS (honestly, then); the journal now holds an impossible backend time before
    // that statement, chain, manifest and signature redone by a key holder: everything the files
    // state agrees with the statement, which is no longer the journal's verdict.
    rewriteChain(path.join(dir, "state.jsonl"), "state.jsonl", (es) => {
      const seal = es.findIndex((e) => e.kind === "outcome_stated");
      assert.ok(seal > 0);
      es.splice(seal, 0, { at: es[seal].at, kind: "time_impossible", data: IMPOSSIBLE });
    });
    reseal(dir);
    fs.rmSync(path.join(dir, "manifest.json.sig"));
    signFile(path.join(dir, "manifest.json"), alice.key, SEAL_NAMESPACE);
  }
  return { archive, dir };
}

const rootOf = (archive: string) => path.dirname(path.dirname(archive));
const sealedOutcome = (dir: string) =>
  /\*\*Outcome\*\* : \*\*\S+ (\w+)\*\*/.exec(fs.readFileSync(path.join(dir, "report.md"), "utf8"))?.[1];

describe("the live gate takes a dry run only when its journal's verdict is PASS", () => {
  test("every step PASS but a backend time impossible, sealed PARTIAL: refused, naming the verdict", async () => {
    const { archive, dir } = await stagingRun("before-seal");
    assert.equal(sealedOutcome(dir), "PARTIAL");
    const trust = { ...commitTrust(rootOf(archive), [dir], [alice]), judge: outcomeJudge };
    const r = stagingDryRuns(archive, trust);
    assert.deepEqual(r.passed, [], "a PARTIAL staging run is no passed dry run");
    assert.match(r.rejected[0]?.reason ?? "", /its journal's verdict is PARTIAL \(money moved; open: backend time — /);
    assert.match(dryRunDone("live", archive, "", trust).refusals[0]?.message ?? "", /no passed staging dry run/);
  });

  test("sealed stating PASS while its journal derives PARTIAL (re-signed by an allowed key): refused", async () => {
    const { archive, dir } = await stagingRun("forged-after-seal");
    assert.equal(sealedOutcome(dir), "PASS");
    const trust = { ...commitTrust(rootOf(archive), [dir], [alice]), judge: outcomeJudge };
    const reason = stagingDryRuns(archive, trust).rejected[0]?.reason ?? "";
    assert.match(reason, /the seal stated outcome PASS, the journal's verdict is PARTIAL/);
    assert.equal(dryRunDone("live", archive, "", trust).dryRun, null);
    // npm run preflight makes the same check (its live gate is the notebook's): refused, exit 1, before any
    // request (an http origin is refused first in live mode, the dry run still judged and named).
    const out: string[] = [];
    const code = await preflight(
      [
        "--mode",
        "live",
        "--base-url",
        "http://payments.invalid",
        "--email",
        "ops@example.com",
        "--archive-dir",
        archive,
      ],
      { PATH: process.env.PATH, HOME: process.env.HOME },
      (s) => out.push(s),
    );
    assert.equal(code, 1, out.join("\n"));
    assert.match(out.join("\n"), /the seal stated outcome PASS, the journal's verdict is PARTIAL/);
  });

  test("a gate given no judge refuses rather than trusting every step PASS", async () => {
    const { archive, dir } = await stagingRun("forged-after-seal");
    const trust = commitTrust(rootOf(archive), [dir], [alice]);
    assert.match(stagingDryRuns(archive, trust).rejected[0]?.reason ?? "", /cannot be checked against its journal/);
  });
});
