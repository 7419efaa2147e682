/**
 * Sealed folders are read-only to the tool (issue 13): every `npm run` command that takes a session
 * or an archive is run, as a real process, against a sealed staging dry run and a sealed live run
 * (its refusals and usage text through the same function in this process: test/cli/in-process.ts);
 * afterwards no byte and no modification time in either folder has changed, and verify still passes.
 * Commands that would add evidence (confirm-bank, archive --reseal) are refused without a written
 * reason; comparisons go to `<archive>/comparisons/`, never into a session folder.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { SESSION_NOTEBOOK } from "../../lib/evidence/files";
import { verifySession } from "../../lib/evidence/verify";
import { archiveSession } from "../../lib/host/archive";
import { BUILD_DIR, ensureBuilt } from "../../lib/host/build";
import { passedDryRuns } from "../../lib/run/dry-run";
import { outcomeJudge } from "../../lib/report/outcome-check";
import { chainJournal, day, makeSession, tmpArchive } from "../report/fixtures";
import { makeSigner, writeAllowedSigners } from "../evidence/signing";
import { main as confirmBank } from "../../lib/cli/confirm-bank";
import { archiveCommand, sessionCommand } from "./in-process";

const REPO = path.resolve(__dirname, "../..");

/** A notebook with one executed cell and its output, as Jupyter saves it. */
const NOTEBOOK = `${JSON.stringify(
  {
    cells: [
      {
        cell_type: "code",
        execution_count: 1,
        id: "step-1",
        metadata: {},
        outputs: [{ name: "stdout", output_type: "stream", text: ["Step 1 ✅ PASS\n"] }],
        source: ["await nb.run('login')"],
      },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  },
  null,
  1,
)}\n`;

/** Every file's bytes and modification time, editor files included. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ent of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!ent.isFile()) continue;
    const abs = path.join(ent.parentPath, ent.name);
    out[path.relative(dir, abs)] = `${fs.statSync(abs).mtimeMs} ${fs.readFileSync(abs).toString("base64")}`;
  }
  return out;
}

describe("every command leaves a sealed folder as it was", { timeout: 5 * 60 * 1000 }, () => {
  let root: string;
  let archive: string;
  let staging: string;
  let live: string;
  const before_: Record<string, Record<string, string>> = {};

  /**
   * Runs `lib/cli/<name>.ts` as `npm run <name>` would, from the temporary repository root: a real
   * process of the command, precompiled (build/lib, as the notebook's kernel runs lib; rebuilt when
   * the sources changed), without a TypeScript compile per run.
   */
  const cli = (name: string, ...args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(REPO, BUILD_DIR, "cli", `${name}.js`), ...args], {
      cwd: root,
      encoding: "utf8",
      // TMPDIR passed on: npm test's own temporary folder (a preflight leaves its trace there).
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: "UTC", TMPDIR: process.env.TMPDIR ?? "/tmp" },
      timeout: 60_000,
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  before(async () => {
    ensureBuilt();
    archive = tmpArchive();
    root = path.dirname(path.dirname(archive));
    const docs = path.join(root, "docs");
    fs.mkdirSync(docs);
    fs.copyFileSync(path.join(REPO, "docs", "GO_NO_GO_CHECKLIST.md"), path.join(docs, "GO_NO_GO_CHECKLIST.md"));
    // The live run's pre-flight (fixture) records this staging session as its dry run.
    staging = makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 19, 10)) });
    live = makeSession(archive, { mode: "live" });
    // Staging and live seals are signed by an allowed signer (issue 24): a throwaway one here.
    const signer = makeSigner("readonly-test@example.com");
    writeAllowedSigners(path.join(docs, "allowed_signers"), [signer]);
    for (const dir of [staging, live]) {
      fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), NOTEBOOK);
      chainJournal(dir);
      assert.equal((await archiveSession(dir, { html: false, docsDir: docs, signKey: signer.key })).status, "sealed");
    }
    await new Promise((r) => setTimeout(r, 20)); // any later write would show in mtime
    before_.staging = snapshot(staging);
    before_.live = snapshot(live);
  });

  const unchanged = () => {
    assert.deepEqual(snapshot(staging), before_.staging, "no byte or time changed in the staging folder");
    assert.deepEqual(snapshot(live), before_.live, "no byte or time changed in the live folder");
  };

  test("verify: OK, and writes nothing", () => {
    for (const dir of [staging, live]) {
      const r = cli("verify", dir);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /anchor: /);
    }
    unchanged();
  });

  test("report: re-renders the docs block, leaves the sealed folders untouched", () => {
    for (const dir of [staging, live]) {
      const r = cli("report", dir);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /left the sealed session folder untouched/);
    }
    assert.match(
      fs.readFileSync(path.join(root, "docs", "PAYMENT_E2E_LIVE_REPORT.md"), "utf8"),
      /^<!-- payment-e2e:anchor \{"journal_head":"[0-9a-f]{64}","journal_lines":\d+,"manifest_sha256":"[0-9a-f]{64}","trace_head":"[0-9a-f]{64}","trace_lines":\d+\} -->$/m,
    );
    unchanged();
  });

  test("compare: the recorded dry run, written under comparisons/", () => {
    const r = cli("compare", "--archive", archive);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /wrote .*comparisons\/\S+-staging--\S+-live\/comparison\.md/);
    unchanged();
  });

  test("archive: nothing to do on an intact seal; --reseal without a written reason refused (exit 2)", async () => {
    const again = cli("archive", live);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /already sealed at \S+; nothing to do/);
    for (const args of [["--reseal"], ["--reseal", "because"]]) {
      const ran = await archiveCommand([live, ...args]);
      const r = { code: ran.code, out: ran.out + ran.err };
      assert.equal(r.code, 2, r.out);
      assert.match(
        r.out,
        /^archive: --reseal needs a written reason of at least 10 characters, recorded in the trace: npm run archive -- \S+ --reseal "/m,
      );
      assert.equal(r.out.trim().split("\n").length, 1);
    }
    unchanged();
  });

  test("scan: reads only", () => {
    const r = cli("scan", archive);
    assert.equal(r.code, 0, r.out);
    unchanged();
  });

  test("confirm-bank: refused on a sealed folder unless re-sealing with a reason", async () => {
    // Its main in this process: the refusal's lines and exit code, as the process prints them.
    const confirm = async (...args: string[]) => {
      const lines: string[] = [];
      const code = await confirmBank(
        args,
        (l) => lines.push(l),
        (l) => lines.push(l),
      );
      return { code, out: lines.join("\n") };
    };
    const r = await confirm(live, "--date", day(0));
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /is sealed \(manifest\.json\).* add --reseal "bank statement confirmed the refund"/);
    const short = await confirm(live, "--date", day(0), "--reseal", "ok");
    assert.equal(short.code, 2, short.out);
    unchanged();
  });

  test("preflight reads the archive (the live gate) and writes nothing there; session --help and --resume", async () => {
    const r = cli(
      "preflight",
      "--mode",
      "live",
      "--base-url",
      "http://127.0.0.1:9",
      "--email",
      "ops-test@example.com",
      "--archive-dir",
      archive,
    );
    assert.ok(r.code === 1 || r.code === 3, r.out);
    // The gate trusts an anchor only once the living report is committed (issue 24 §4).
    for (const args of [
      ["init", "-q"],
      ["add", "-A"],
      ["commit", "-qm", "sealed"],
    ])
      spawnSync("git", ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args], {
        cwd: root,
      });
    assert.deepEqual(
      passedDryRuns(archive, { repoDir: root, judge: outcomeJudge }).map((d) => d.sessionId),
      [path.basename(staging)],
      "the sealed staging run is what the live gate accepts",
    );
    assert.equal((await sessionCommand(["--help"])).code, 0);
    // Reopening a sealed session for running is refused, naming the seal (issue 22 item 8).
    for (const dir of [staging, live]) {
      const resume = await sessionCommand(["--resume", path.basename(dir), "--archive-dir", archive, "--no-jupyter"]);
      assert.equal(resume.code, 2, resume.out + resume.err);
      assert.match(resume.err, /is sealed \(manifest\.json\): a sealed session is never run again/);
    }
    unchanged();
  });

  test("at the end: both folders still verify", () => {
    for (const dir of [staging, live]) assert.ok(verifySession(dir).ok, dir);
    unchanged();
  });
});
