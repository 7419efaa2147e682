import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  compareSessions,
  comparisonForLive,
  recordedDryRunDir,
  runCompare,
  writeComparisonFiles,
} from "../../lib/report/compare";
import { ReportError, listSessions, loadEvidence } from "../../lib/report/evidence";
import { makeSession, tmpArchive } from "./fixtures";
import { assertGolden, sanitise } from "./sanitise";

describe("compareSessions", () => {
  it("lines up the dry run and the live run step by step (golden)", () => {
    const archive = tmpArchive();
    const staging = loadEvidence(
      makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 19)), poll5xx: true }),
    );
    const live = loadEvidence(makeSession(archive, { mode: "live", scenario: "refund-stuck" }));
    const c = compareSessions(staging, live);
    assert.deepEqual(
      c.metrics.map((m) => [m.metric, m.staging, m.live]),
      [
        ["seconds-to-completed", 3.2, 3.2],
        ["seconds-to-refunded", 4.1, null],
        ["HTTP 5xx", 1, 0],
        ["anomalies", 1, 0],
        ["poll attempts", 5, 4],
      ],
    );
    assert.equal(c.plotRows.length, 8, "4 plotted metrics × 2 sessions");
    assert.match(c.table, /\| 9\. License revoked \+ funds returned \| PASS → FAIL \|/);
    assert.match(c.table, /\| seconds-to-refunded \| 4\.1 \| n\/a \| n\/a \|/);
    assertGolden("comparison.md", sanitise(c.table));
  });
});

describe("the dry run compared is the one the live pre-flight recorded", () => {
  it("not the newest staging run; none when the pre-flight recorded an override", () => {
    const archive = tmpArchive();
    // The fixture's live pre-flight records 20261119T100000Z-staging.
    const recorded = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 19, 10)) });
    makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 20, 9)) });
    const live = loadEvidence(makeSession(archive, { mode: "live" }));
    assert.equal(recordedDryRunDir(live), path.join(path.dirname(path.resolve(live.dir)), path.basename(recorded)));
    assert.equal(comparisonForLive(live, { write: false })?.stagingId, path.basename(recorded));
    const overridden = loadEvidence(
      makeSession(tmpArchive(), { mode: "live", dryRunOverride: "staging is down, approved by the CTO" }),
    );
    assert.equal(comparisonForLive(overridden), null);
  });
});

describe("runCompare", () => {
  it("writes comparison.md, .svg and .png under comparisons/, never into a session folder", () => {
    const archive = tmpArchive();
    const staging = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 19, 10)) });
    const newer = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 20, 9)) });
    const live = makeSession(archive, { mode: "live" });
    const { files, comparison, notice } = runCompare({ archiveDir: archive });
    assert.equal(comparison.liveId, path.basename(live));
    assert.equal(comparison.stagingId, path.basename(staging), "the recorded dry run, not the newest");
    assert.equal(notice, null);
    const dir = path.join(archive, "comparisons", `${path.basename(staging)}--${path.basename(live)}`);
    assert.deepEqual(
      [files.md, files.svg, files.png].map((f) => path.relative(dir, f)),
      ["comparison.md", "comparison.svg", "comparison.png"],
    );
    assert.ok(!fs.readdirSync(live).some((f) => f.startsWith("comparison")), "nothing written into the live folder");
    assert.ok(fs.readFileSync(files.svg, "utf8").startsWith("<svg"));
    assert.deepEqual([...fs.readFileSync(files.png).subarray(1, 4)].map((b) => String.fromCharCode(b)).join(""), "PNG");
    assert.match(fs.readFileSync(files.md, "utf8"), /!\[comparison\]\(comparison\.png\)/);
    assert.match(comparison.plot, /comparisons\/\S+-staging--\S+-live\/comparison$/);
    // The comparisons folder is not a session: the listings and the dry-run gate ignore it.
    assert.deepEqual(listSessions(archive), [path.basename(staging), path.basename(newer), path.basename(live)]);
    const other = runCompare({ archiveDir: archive, staging: path.basename(newer) });
    assert.equal(other.comparison.stagingId, path.basename(newer));
    assert.match(
      other.notice ?? "",
      /^--staging \S+ replaces the dry run \S+-live's pre-flight recorded \(20261119T100000Z-staging\)$/,
    );
    assert.throws(() => writeComparisonFiles(other.comparison, live), /is a session folder/);
  });
  it("names the missing session and the fix", () => {
    const archive = tmpArchive();
    assert.throws(
      () => runCompare({ archiveDir: archive }),
      (e: unknown) =>
        e instanceof ReportError &&
        e.code === "E2E_COMPARE" &&
        /no live session in .*; run the live session first or pass --live <session-id>$/.test(e.message),
    );
    makeSession(archive, { mode: "live" });
    assert.throws(
      () => runCompare({ archiveDir: archive }),
      /the dry run 20261119T100000Z-staging that \S+-live's pre-flight recorded is not in .*; restore it, or pass --staging <session-id>$/,
    );
  });
});
