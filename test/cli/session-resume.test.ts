/**
 * `npm run session` and earlier sessions (issue 22 items 8–9), without Jupyter (`--no-jupyter`), through
 * the function its process runs (test/cli/in-process.ts; the process itself: session-cli.test.ts): a new session is refused while an earlier one has money moved and no refund,
 * naming it, unless `--new-anyway` (which the new journal records); `--resume` reopens the newest
 * unfinished session or the one named, and refuses a sealed one without touching a byte of it.
 * The same in real JupyterLab: test/ui/session-life.test.ts.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { SESSION_NOTEBOOK } from "../../lib/evidence/files";
import { Journal } from "../../lib/evidence/journal";
import { loadEvidence } from "../../lib/report/evidence";
import { renderSessionBlock } from "../../lib/report/report";
import { makeSession, seal, tmpArchive } from "../report/fixtures";
import { sessionCommand } from "./in-process";

const root = path.resolve(__dirname, "../..");

const session = (...args: string[]) => sessionCommand(args, { OPERATOR_PASSWORD: "" });

/** Every file's bytes and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ent of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!ent.isFile()) continue;
    const abs = path.join(ent.parentPath, ent.name);
    out[path.relative(dir, abs)] = `${fs.statSync(abs).mtimeMs} ${fs.readFileSync(abs).toString("base64")}`;
  }
  return out;
}

const withNotebook = (dir: string) => {
  fs.copyFileSync(path.join(root, "notebooks", "payment-e2e.ipynb"), path.join(dir, SESSION_NOTEBOOK));
  return dir;
};

describe("npm run session and the sessions before it", { timeout: 5 * 60 * 1000 }, () => {
  test("--help lists --resume and --new-anyway", async () => {
    const r = await session("--help");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /--resume \[<id>\]\s+reopen an unfinished session/);
    assert.match(r.out, /--new-anyway\s+create a new session although an earlier one moved money/);
  });

  test("a new session is refused while an earlier one moved money without a refund; --new-anyway records it", async () => {
    const archive = tmpArchive();
    // step 5 stuck, the refund refused (409): money moved, no refund.
    const stuck = makeSession(archive, { mode: "staging", scenario: "stuck", at: new Date(Date.UTC(2026, 10, 20, 9)) });
    const id = path.basename(stuck);
    const args = ["--mode", "staging", "--base-url", "https://staging.example.com", "--archive-dir", archive];
    const refused = await session(...args, "--no-jupyter");
    assert.equal(refused.code, 2, refused.err);
    assert.match(
      refused.err,
      new RegExp(
        `^session: session ${id} moved money and has no refund yet: resume it with \`npm run session -- --resume ${id}\` and refund at step 8, or start a new session anyway with --new-anyway\\n$`,
      ),
    );
    assert.deepEqual(fs.readdirSync(archive), [id], "nothing is created on a refusal");

    const anyway = await session(...args, "--no-jupyter", "--new-anyway");
    assert.equal(anyway.code, 0, anyway.err);
    assert.match(anyway.out, new RegExp(`note: --new-anyway: ${id} still has money moved and no refund`));
    const fresh = /Session (\S+) prepared/.exec(anyway.out)?.[1];
    assert.ok(fresh, anyway.out);
    const head = Journal.open(path.join(archive, fresh)).last("session_created");
    assert.deepEqual(head?.data.new_anyway_beside, [id]);
    // The new session's report names the one it was created beside (the journal alone did before).
    const block = renderSessionBlock(loadEvidence(path.join(archive, fresh)));
    assert.match(
      block,
      new RegExp(
        `session · operator · created with --new-anyway beside session ${id}, which moved money and had no refund recorded`,
      ),
    );

    // A sandbox rehearsal with money outstanding does not hold a staging session back, nor the reverse.
    const other = tmpArchive();
    makeSession(other, { mode: "sandbox", scenario: "stuck", at: new Date(Date.UTC(2026, 10, 20, 9)) });
    const ok = await session("--mode", "staging", "--archive-dir", other, "--no-jupyter");
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /note: 1 unfinished earlier session \(newest \S+-sandbox\); npm run session -- --resume <id>/);
  });

  test("--resume reopens the newest unfinished session, or the one named; a sealed one is refused untouched", async () => {
    const archive = tmpArchive();
    const older = withNotebook(makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 20, 9)) }));
    const sealed = withNotebook(
      makeSession(archive, { mode: "staging", scenario: "stuck", at: new Date(Date.UTC(2026, 10, 21, 9)) }),
    );
    seal(sealed);
    const newer = withNotebook(makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 22, 9)) }));
    const before = snapshot(sealed);

    const sealedR = await session("--resume", path.basename(sealed), "--archive-dir", archive, "--no-jupyter");
    assert.equal(sealedR.code, 2, sealedR.err);
    assert.match(
      sealedR.err,
      new RegExp(
        `^session: session ${path.basename(sealed)} is sealed \\(manifest\\.json\\): a sealed session is never run again`,
      ),
    );
    assert.deepEqual(snapshot(sealed), before, "the sealed folder is left as it was");

    const latest = await session("--archive-dir", archive, "--no-jupyter", "--resume");
    assert.equal(latest.code, 0, latest.err);
    assert.match(latest.out, new RegExp(`^Session ${path.basename(newer)} resumed`, "m"));
    const named = await session("--resume", path.basename(older), "--archive-dir", archive, "--no-jupyter");
    assert.equal(named.code, 0, named.err);
    assert.match(named.out, new RegExp(`^Session ${path.basename(older)} resumed`, "m"));
    assert.equal(fs.readdirSync(archive).length, 3, "--resume creates no session");

    const params = await session(
      "--resume",
      "--base-url",
      "https://x.example.com",
      "--archive-dir",
      archive,
      "--no-jupyter",
    );
    assert.equal(params.code, 2);
    assert.match(
      params.err,
      /--resume reopens a session with the parameters it was created with; leave out --base-url/,
    );
    const none = await session("--resume", "20261101T000000Z-staging", "--archive-dir", archive, "--no-jupyter");
    assert.equal(none.code, 2);
    assert.match(none.err, /no session 20261101T000000Z-staging in /);
    const wrongMode = await session("--resume", "--mode", "live", "--archive-dir", archive, "--no-jupyter");
    assert.equal(wrongMode.code, 2);
    assert.match(
      wrongMode.err,
      /no unfinished live session in .* to resume: start one with npm run session -- --mode live/,
    );
  });
});
