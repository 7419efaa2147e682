/**
 * Which staging dry run the live gate takes (red-team, the paperwork after the steps): a run sealed
 * --incomplete is PARTIAL and never a dry run, and an older pass does not speak over a newer staging
 * run that moved money and fell short.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { dryRunDone, stagingDryRuns } from "../../lib/run/dry-run";
import { outcomeJudge } from "../../lib/report/outcome-check";
import { Journal } from "../../lib/evidence/journal";
import { SEAL_NAMESPACE, signFile } from "../../lib/evidence/signature";
import { chainJournal, makeSession, seal, tmpArchive, type Scenario } from "../report/fixtures";
import { commitTrust, makeSigner } from "../evidence/signing";

const SIGNER = makeSigner("gate-latest@example.com");
const rootOf = (archive: string) => path.dirname(path.dirname(archive));
const at = (h: number) => new Date(Date.UTC(2026, 10, 26, h));

/** Sealed and signed as the archive does; `incomplete` journals the seal exception first. */
function sealedStaging(archive: string, h: number, o: { scenario?: Scenario; incomplete?: boolean } = {}): string {
  const dir = makeSession(archive, { mode: "staging", at: at(h), scenario: o.scenario });
  chainJournal(dir);
  if (o.incomplete)
    Journal.open(dir).append("seal_exception", {
      rule: "incomplete",
      reason: "the plot cell threw before the report",
      what: ["plot cell threw"],
    });
  seal(dir);
  signFile(path.join(dir, "manifest.json"), SIGNER.key, SEAL_NAMESPACE);
  return dir;
}

describe("the live gate takes staging as it is now", () => {
  test("a staging run sealed --incomplete is refused: its outcome is PARTIAL", () => {
    const archive = tmpArchive();
    const dir = sealedStaging(archive, 9, { incomplete: true });
    const trust = { ...commitTrust(rootOf(archive), [dir], [SIGNER]), judge: outcomeJudge };
    const r = stagingDryRuns(archive, trust);
    assert.equal(r.passed.length, 0);
    assert.match(
      r.rejected[0].reason,
      /^sealed as incomplete \("the plot cell threw before the report"\): its outcome is PARTIAL/,
    );
    assert.match(dryRunDone("live", archive, "", trust).refusals[0]?.message ?? "", /no passed staging dry run/);
  });

  test("an older pass is refused after a newer staging run moved money and failed; a newer pass counts again", () => {
    const archive = tmpArchive();
    const good = sealedStaging(archive, 9);
    const stuck = sealedStaging(archive, 10, { scenario: "stuck" });
    // Refused before money moved (staging down): not a regression of the payment path.
    const refused = sealedStaging(archive, 11, { scenario: "preflight-refused" });
    const trust = { ...commitTrust(rootOf(archive), [good, stuck, refused], [SIGNER]), judge: outcomeJudge };
    const r = stagingDryRuns(archive, trust);
    assert.deepEqual(r.passed, []);
    const why = Object.fromEntries(r.rejected.map((x) => [x.sessionId, x.reason]));
    assert.match(
      why[path.basename(good)],
      new RegExp(`^a newer staging dry run, ${path.basename(stuck)}, moved money and did not pass`),
    );
    const refusal = dryRunDone("live", archive, "", trust).refusals[0]?.message ?? "";
    assert.match(refusal, /no passed staging dry run/);
    const again = sealedStaging(archive, 12);
    const trust2 = {
      ...commitTrust(rootOf(archive), [good, stuck, refused, again], [SIGNER], "new pass"),
      judge: outcomeJudge,
    };
    assert.equal(dryRunDone("live", archive, "", trust2).dryRun?.sessionId, path.basename(again));
  });

  test("an older pass is refused after a newer staging session whose journal does not read (its first line, or a later one, edited)", () => {
    for (const line of [0, 3]) {
      const archive = tmpArchive();
      const good = sealedStaging(archive, 9);
      const broken = sealedStaging(archive, 10, { scenario: "stuck" });
      const file = path.join(broken, "state.jsonl");
      const lines = fs.readFileSync(file, "utf8").split("\n");
      lines[line] = lines[line].replace(/"at":"(\d)/, '"at":"1$1');
      fs.writeFileSync(file, lines.join("\n"));
      const trust = { ...commitTrust(rootOf(archive), [good, broken], [SIGNER]), judge: outcomeJudge };
      const r = stagingDryRuns(archive, trust);
      assert.deepEqual(r.passed, [], `line ${line + 1} edited`);
      const why = Object.fromEntries(r.rejected.map((x) => [x.sessionId, x.reason]));
      assert.match(why[path.basename(broken)], /^journal unreadable/);
      assert.match(
        why[path.basename(good)],
        new RegExp(
          `^a newer staging session, ${path.basename(broken)}, cannot be read \\(its journal does not read\\) and may have moved money and fallen short: .* restore its journal`,
        ),
      );
      const refusal = dryRunDone("live", archive, "", trust).refusals[0]?.message ?? "";
      assert.match(refusal, new RegExp(`no passed staging dry run .*${path.basename(broken)}: journal unreadable`));
    }
  });
});
