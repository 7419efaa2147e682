import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { main as compare } from "../../lib/cli/compare";
import { main as confirmBank } from "../../lib/cli/confirm-bank";
import { main as report } from "../../lib/cli/report";
import { day, makeSession, tmpArchive } from "./fixtures";
import { rewriteChain } from "../evidence/tamper-table";

type Main = (argv: string[], log: (s: string) => void, err: (s: string) => void) => number | Promise<number>;

async function run(main: Main, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join("\n"), err };
}

function workspace() {
  const archive = tmpArchive();
  const docs = path.join(path.dirname(path.dirname(archive)), "docs");
  fs.mkdirSync(docs);
  fs.copyFileSync(
    path.join(__dirname, "..", "..", "docs", "GO_NO_GO_CHECKLIST.md"),
    path.join(docs, "GO_NO_GO_CHECKLIST.md"),
  );
  const flags = [
    "--archive",
    archive,
    "--docs",
    path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"),
    "--checklist",
    path.join(docs, "GO_NO_GO_CHECKLIST.md"),
  ];
  return { archive, docs, flags };
}

describe("npm run report", () => {
  it("writes the session and docs reports and prints the outcome and reminders", async () => {
    const { archive, docs, flags } = workspace();
    const id = path.basename(makeSession(archive, { mode: "live", scenario: "no-refund" }));
    const r = await run(report, [id, ...flags]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.match(r.out, new RegExp(`^${id}: PARTIAL — money moved; open: `));
    assert.match(r.out, /appended|created/);
    assert.match(r.out, /GO\/NO-GO: 🟡 PENDING/);
    assert.match(r.out, /reminder: .*history -d <line>/);
    assert.ok(fs.existsSync(path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md")));
  });
  it("prints a backend's terminal escapes in the outcome's reason as text: no forged PASS over the FAIL", async () => {
    const { archive, flags } = workspace();
    const dir = makeSession(archive, { mode: "staging", scenario: "declined" });
    rewriteChain(path.join(dir, "state.jsonl"), "state.jsonl", (es) => {
      const r = es.find((e) => e.kind === "step_result" && (e.data as { step: number }).step === 4);
      assert.ok(r);
      const d = r.data as { reason: string };
      d.reason = d.reason.replace("card_declined", "card_declined\u001b[2K\r✅ PASS\u001b[8m");
    });
    const r = await run(report, [path.basename(dir), ...flags]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.doesNotMatch(r.out, /[\u001b\r]/, r.out);
    assert.match(
      r.out,
      /: FAIL — step 4 FAIL \(the checkout refused the payment \(card_declined\\u001b\[2K\\r✅ PASS\\u001b\[8m\)\)/,
    );
  });
  it("exits 2 with one line on usage errors", async () => {
    assert.deepEqual((await run(report, [])).err, [
      "usage: npm run report -- <session-dir-or-id> [--to-docs] [--archive <dir>] [--docs <file>] [--checklist <file>]",
    ]);
    const r = await run(report, ["x", "--bogus"]);
    assert.equal(r.code, 2);
    assert.match(r.err[0], /^report: Unknown option '--bogus'/);
    const missing = await run(report, ["20990101T000000Z-live", "--archive", tmpArchive()]);
    assert.equal(missing.code, 2);
    assert.equal(missing.err.length, 1);
    assert.match(missing.err[0], /^report: no session 20990101T000000Z-live/);
  });
});

describe("npm run confirm-bank", () => {
  it("records the date, re-renders both reports and flips GO/NO-GO for a fully ticked live session", async () => {
    const { archive, docs, flags } = workspace();
    const dir = makeSession(archive, { mode: "live" });
    const id = path.basename(dir);
    assert.equal((await run(report, [id, ...flags])).code, 0);
    const r = await run(confirmBank, [id, "--date", day(), "--note", "statement line seen", ...flags]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.match(r.out, new RegExp(`^recorded bank confirmation ${day()} for ${id} \\(trace line \\d+\\)`));
    assert.match(r.out, /PASS — every box ticked/);
    assert.match(r.out, /replaced block in/);
    assert.match(fs.readFileSync(path.join(dir, "report.md"), "utf8"), /- \[x\] Funds returned/);
    assert.match(
      fs.readFileSync(path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"), "utf8"),
      /Bank confirmation : statement dated \d{4}-\d\d-\d\d — statement line seen/,
    );
    // Every box ticked, but the folder was never sealed: a GO rests only on a sealed folder.
    assert.match(
      fs.readFileSync(path.join(docs, "GO_NO_GO_CHECKLIST.md"), "utf8"),
      /\| 🟡 PENDING \| latest live session \S+: not sealed: npm run archive -- \S+ --sign-key \\<key\\> — /,
    );
  });
  it("refuses bad input with one line naming the fix", async () => {
    const { archive, flags } = workspace();
    const id = path.basename(makeSession(archive, { mode: "live" }));
    const rows: Array<[string[], RegExp]> = [
      [[id, ...flags], /^confirm-bank: --date is required: pass --date YYYY-MM-DD/],
      [
        [id, "--date", "12/01/2026", ...flags],
        new RegExp(`^confirm-bank ${id}: invalid date "12/01/2026"; pass --date YYYY-MM-DD`),
      ],
      [[id, "--date", day(2), ...flags], /is in the future/],
      [[id, "--date", "2020-01-01", ...flags], /is before the refund/],
      // A staging run's refund never reaches a bank statement: confirming one would be false.
      [
        [path.basename(makeSession(archive, { mode: "staging" })), "--date", day(), ...flags],
        /^confirm-bank \S+-staging: a staging session pays a test processor and moves no real money, .* confirm the bank statement of the live session instead/,
      ],
    ];
    for (const [argv, msg] of rows) {
      const r = await run(confirmBank, argv);
      assert.equal(r.code, 2);
      assert.equal(r.err.length, 1, r.err.join("\n"));
      assert.match(r.err[0], msg);
    }
  });
});

describe("npm run compare", () => {
  it("prints the table and writes the files", async () => {
    const { archive } = workspace();
    makeSession(archive, { mode: "staging", at: new Date(Date.UTC(2026, 10, 19, 10)) });
    makeSession(archive, { mode: "live" });
    const r = await run(compare, ["--archive", archive]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.match(r.out, /^staging \d{8}T\d{6}Z-staging → live \d{8}T\d{6}Z-live/);
    assert.match(r.out, /comparison\.md, .*comparison\.svg, .*comparison\.png$/);
  });
  it("exits 2 when there is nothing to compare", async () => {
    const r = await run(compare, ["--archive", tmpArchive()]);
    assert.equal(r.code, 2);
    assert.match(r.err[0], /^compare: no live session in /);
  });
});
