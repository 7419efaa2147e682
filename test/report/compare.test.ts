import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { compareSessions, latestStagingDir, runCompare } from "../../lib/report/compare";
import { ReportError, loadEvidence } from "../../lib/report/evidence";
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

describe("latestStagingDir", () => {
  it("prefers the newest fully passed dry run, else the newest staging session", () => {
    const archive = tmpArchive();
    assert.equal(latestStagingDir(archive), null);
    const failed = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 18)), scenario: "stuck" });
    assert.equal(latestStagingDir(archive), failed);
    const passed = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 17)) });
    assert.equal(latestStagingDir(archive), passed);
  });
});

describe("runCompare", () => {
  it("writes comparison.md, .svg and .png into the live session folder", () => {
    const archive = tmpArchive();
    makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 19)) });
    const live = makeSession(archive, { mode: "live" });
    const { files, comparison } = runCompare({ archiveDir: archive });
    assert.equal(comparison.liveId, path.basename(live));
    assert.deepEqual(
      [files.md, files.svg, files.png].map((f) => path.relative(live, f)),
      ["comparison.md", "comparison.svg", "comparison.png"],
    );
    assert.ok(fs.readFileSync(files.svg, "utf8").startsWith("<svg"));
    assert.deepEqual([...fs.readFileSync(files.png).subarray(1, 4)].map((b) => String.fromCharCode(b)).join(""), "PNG");
    assert.match(fs.readFileSync(files.md, "utf8"), /!\[comparison\]\(comparison\.png\)/);
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
      /no staging session in .*; run a staging dry run first or pass --staging <session-id>$/,
    );
  });
});
