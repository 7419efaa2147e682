import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { BankConfirmError, ReportError, loadEvidence } from "../../lib/report/evidence";
import { Journal } from "../../lib/evidence/journal";
import { JOURNAL_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { acceptance, actionItems, addBusinessDays, deriveOutcome } from "../../lib/report/verdict";
import {
  GO_NO_GO_ROW,
  goNoGo,
  goNoGoForArchive,
  housekeeping,
  pastRetention,
  updateGoNoGo,
} from "../../lib/report/paperwork";
import { confirmBank, validateBankDate } from "../../lib/report/bank";
import { readTrace, verifyChain } from "../../lib/evidence/chain";
import type { Mode, Outcome } from "../../lib/types";
import { day, makeSession, seal, tmpArchive, type Scenario } from "./fixtures";
import { testSigner, vouchedSeal } from "./vouched";

function session(mode: Mode, scenario: Scenario, o: { bank?: boolean; override?: string } = {}) {
  const dir = makeSession(tmpArchive(), { mode, scenario, dryRunOverride: o.override });
  if (o.bank) {
    // As the real flow does it: confirm-bank on a sealed folder re-seals it over the confirmation,
    // signed by an allowed signer (a GO needs that).
    confirmBank(dir, { date: day() });
    vouchedSeal(dir);
  }
  return loadEvidence(dir);
}

describe("deriveOutcome", () => {
  const table: Array<[Scenario, Mode, boolean, Outcome, RegExp]> = [
    ["pass", "staging", false, "PASS", /^every box ticked: pre-flight and steps 1–9 PASS within the limits$/],
    ["pass", "sandbox", false, "PASS", /^every box ticked/],
    [
      "pass",
      "live",
      false,
      "PARTIAL",
      /^money moved; open: bank statement — pending: confirm by \d{4}-\d\d-\d\d with `npm run confirm-bank -- \S+ --date YYYY-MM-DD`$/,
    ],
    ["pass", "live", true, "PASS", /^every box ticked; the bank statement confirmed the refund on \d{4}-\d\d-\d\d$/],
    ["preflight-refused", "live", false, "FAIL", /^step 0 FAIL \(refused \(environment\): .*\) before money moved$/],
    [
      "declined",
      "staging",
      false,
      "FAIL",
      /^step 4 FAIL \(the checkout refused the payment \(card_declined\)\) before money moved \(order \S+ unpaid at the last look, 2026-11-20T14:03:30.000Z: order failed\)$/,
    ],
    [
      "stuck",
      "live",
      false,
      "FAIL",
      /^money moved but nothing was verified; open: end-to-end, completed ≤ 5 min, licence visible, transfer id, refund 2xx, refunded ≤ 5 min, licence gone, bank statement — step 5 FAIL: order completed not reached/,
    ],
    [
      "no-refund",
      "staging",
      false,
      "PARTIAL",
      /^money moved; open: end-to-end, refund 2xx, refunded ≤ 5 min, licence gone — step 8 SKIPPED: REFUND is off/,
    ],
    [
      "transfer-null",
      "staging",
      false,
      "PARTIAL",
      /^money moved; open: end-to-end, transfer id — step 7 FAIL: seller_transfers row has a NULL stripe_transfer_id$/,
    ],
    [
      "slow",
      "staging",
      false,
      "PARTIAL",
      /^money moved; open: completed ≤ 5 min — seconds-to-completed 412 s > 300 s; step 5 PASS/,
    ],
    [
      "refund-stuck",
      "live",
      false,
      "PARTIAL",
      /^money moved; open: end-to-end, refunded ≤ 5 min, licence gone, bank statement — step 9 FAIL/,
    ],
  ];
  for (const [scenario, mode, bank, outcome, reason] of table) {
    it(`${scenario} · ${mode}${bank ? " · bank confirmed" : ""} → ${outcome}`, () => {
      const v = deriveOutcome(session(mode, scenario, { bank }));
      assert.equal(v.outcome, outcome);
      assert.match(v.reason, reason);
    });
  }
  it("nothing ran → FAIL", () => {
    const dir = path.join(tmpArchive(), "20261120T140211Z-staging");
    Journal.create(dir, { sessionId: "20261120T140211Z-staging", mode: "staging" });
    assert.deepEqual(deriveOutcome(loadEvidence(dir)), {
      outcome: "FAIL",
      reason: "nothing ran: no step result in the journal",
    });
  });
});

describe("acceptance boxes, each from evidence", () => {
  const table: Array<[Scenario, Mode, boolean, string]> = [
    ["pass", "live", false, "111111110"],
    ["pass", "live", true, "111111111"],
    ["preflight-refused", "live", false, "000000000"],
    ["declined", "staging", false, "100000000"],
    ["stuck", "staging", false, "100000000"],
    ["no-refund", "staging", false, "101110000"],
    ["transfer-null", "staging", false, "101101110"],
    ["slow", "staging", false, "110111110"],
    ["refund-stuck", "live", false, "101111000"],
  ];
  for (const [scenario, mode, bank, bits] of table) {
    it(`${scenario}${bank ? " + bank" : ""} → ${bits}`, () => {
      const boxes = acceptance(session(mode, scenario, { bank }));
      assert.equal(boxes.map((b) => (b.ok ? "1" : "0")).join(""), bits);
      assert.deepEqual(
        boxes.map((b) => b.n),
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    });
  }
  it("says why a box is open", () => {
    const staging = acceptance(session("staging", "pass"));
    assert.equal(staging[8].evidence, "open: a staging run moves no real money");
    const slow = acceptance(session("staging", "slow"));
    assert.match(slow[2].evidence, /^seconds-to-completed 412 s > 300 s; step 5 PASS \(trace L\d+–L\d+\)$/);
    const stuck = acceptance(session("staging", "stuck"));
    assert.match(stuck[5].evidence, /^step 8 FAIL: .* answered 409/);
    assert.equal(acceptance(session("staging", "no-refund"))[8].evidence, "open: no refund recorded");
  });
});

describe("actionItems", () => {
  const table: Array<[Scenario, Mode, string | undefined, RegExp[]]> = [
    ["pass", "staging", undefined, []],
    [
      "pass",
      "live",
      undefined,
      [/^Confirm the bank statement by \d{4}-\d\d-\d\d: `npm run confirm-bank -- \S+-live --date YYYY-MM-DD`\.$/],
    ],
    [
      "pass",
      "live",
      "staging was down all week",
      [/^Confirm the bank/, /overridden \("staging was down all week"\): justify it at the GO\/NO-GO review/],
    ],
    [
      "stuck",
      "staging",
      undefined,
      [
        /^Step 5 \(Poll \/orders\/:id until completed\) failed: .* — file an issue for the marketplace squad\.$/,
        /^Step 8 \(Refund/,
        /^\*\*Refund now\*\*: money moved and was not refunded — .* ord_\w+ from the Hyperswitch dashboard\.$/,
      ],
    ],
    ["no-refund", "staging", undefined, [/^\*\*Refund now\*\*/]],
    ["refund-stuck", "staging", undefined, [/^Step 9 .* file an issue/, /^Refund not confirmed for ord_\w+/]],
    [
      "preflight-refused",
      "live",
      undefined,
      [/^Fix the pre-flight refusal, then start a fresh session: refused \(environment\)/],
    ],
  ];
  for (const [scenario, mode, override, want] of table) {
    it(`${scenario} · ${mode}${override ? " · override" : ""}`, () => {
      const items = actionItems(session(mode, scenario, { override }));
      assert.equal(items.length, want.length, items.join("\n"));
      for (const [i, re] of want.entries()) assert.match(items[i], re);
    });
  }
});

describe("addBusinessDays", () => {
  const rows: Array<[string, number, string]> = [
    ["2026-11-20", 7, "2026-12-01"], // Friday → Tuesday, two weekends skipped
    ["2026-11-21", 1, "2026-11-23"], // Saturday → Monday
    ["2026-11-23T09:00:00.000Z", 5, "2026-11-30"],
    ["2026-12-31", 1, "2027-01-01"],
  ];
  for (const [from, n, want] of rows) it(`${from} + ${n}`, () => assert.equal(addBusinessDays(from, n), want));
});

describe("GO/NO-GO", () => {
  it("is PENDING without a live session, or with one whose bank is pending, and GO only when fully confirmed", () => {
    assert.deepEqual(goNoGo([]), {
      go: false,
      status: "🟡 PENDING",
      reason: "no live session yet: run a staging dry run, then the live run",
      sessionId: null,
      anchor: null,
      signer: null,
    });
    assert.equal(goNoGo([session("staging", "pass")]).go, false, "a staging pass never flips the row");
    // A sandbox session's bank statement is refused (no real money moved), and it never flips the row.
    assert.throws(
      () => session("sandbox", "pass", { bank: true }),
      (e: unknown) => e instanceof BankConfirmError && e.code === "E2E_BANK_NOT_LIVE",
    );
    assert.equal(goNoGo([session("sandbox", "pass")]).go, false);
    const pending = goNoGo([session("live", "pass")]);
    assert.equal(pending.status, "🟡 PENDING");
    assert.match(pending.reason, /^latest live session \S+-live: box 9 open \(pending: confirm by /);
    const partial = goNoGo([session("live", "no-refund")]);
    assert.match(partial.reason, /box 2 open .*box 6 open .*box 9 open \(open: no refund recorded\)$/);
    const full = session("live", "pass", { bank: true });
    const go = goNoGo([session("staging", "pass"), full, session("live", "refund-stuck")]);
    assert.equal(go.status, "✅ GO");
    assert.equal(go.sessionId, full.sessionId);
  });

  it("stays PENDING when the fully ticked live session's trace chain is broken", () => {
    const ev = session("live", "pass", { bank: true });
    const file = path.join(ev.dir, TRACE_FILE);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"status":"ok"', '"status":"OK"'));
    const d = goNoGo([loadEvidence(ev.dir)]);
    assert.equal(d.go, false);
    assert.match(d.reason, /^latest live session \S+: trace chain broken at line \d+/);
  });

  it("a live session whose journal does not read holds GO back, naming it (its first line broken: no mode; a later line broken)", () => {
    const archive = tmpArchive();
    const at = (h: number) => new Date(Date.UTC(2026, 10, 26, h));
    const full = makeSession(archive, { mode: "live", scenario: "pass", at: at(9) });
    confirmBank(full, { date: day() });
    vouchedSeal(full);
    assert.equal(goNoGoForArchive(archive).status, "✅ GO", goNoGoForArchive(archive).reason);
    const edit = (dir: string, line: number) => {
      const file = path.join(dir, JOURNAL_FILE);
      const lines = fs.readFileSync(file, "utf8").split("\n");
      lines[line] = lines[line].replace(/"at":"(\d)/, '"at":"1$1');
      fs.writeFileSync(file, lines.join("\n"));
    };
    // A later live run whose journal's first line (session_created, the mode) was edited.
    const first = makeSession(archive, { mode: "live", scenario: "refund-stuck", at: at(10) });
    edit(first, 0);
    const d = goNoGoForArchive(archive);
    assert.equal(d.go, false);
    assert.equal(d.status, "🟡 PENDING");
    assert.match(
      d.reason,
      new RegExp(
        `^session that cannot be read, which may be a live run that moved money: ${path.basename(first)} \\(mode unknown: its session_created line does not read: .*\\) — restore its journal \\(your copy, or git checkout\\) and run npm run report on it; GO waits \\(live session ${path.basename(full)}: all 9 boxes ticked`,
      ),
    );
    assert.ok(!d.reason.includes(archive), "no path of this machine in the row");
    // A later line broken: the mode reads, the journal does not.
    fs.rmSync(first, { recursive: true });
    const later = makeSession(archive, { mode: "live", scenario: "refund-stuck", at: at(11) });
    edit(later, 3);
    const l = goNoGoForArchive(archive);
    assert.equal(l.go, false);
    assert.match(l.reason, new RegExp(`^session that cannot be read, .*: ${path.basename(later)} \\(live: `));
  });

  it("rewrites only the row's Status and Evidence cells, idempotently", () => {
    const file = path.join(tmpArchive(), "GO_NO_GO.md");
    const before = `# Checklist\n\n| # | Item | Status | Evidence |\n| --- | --- | --- | --- |\n| 6.0 | Other row | ✅ GO | x |\n| 6.1 | ${GO_NO_GO_ROW} | 🟡 PENDING | old |\n| 6.2 | Last | 🟡 PENDING | y |\n`;
    fs.writeFileSync(file, before);
    const full = session("live", "pass", { bank: true });
    const r = updateGoNoGo(file, goNoGo([full]), "PAYMENT_E2E_LIVE_REPORT.md");
    assert.equal(r.changed, true);
    const signerKey = goNoGo([full]).signer?.key ?? "";
    assert.match(signerKey, /^ED25519 key SHA256:\S+$/);
    const after = fs.readFileSync(file, "utf8");
    const changed = after.split("\n").filter((l, i) => l !== before.split("\n")[i]);
    assert.deepEqual(changed, [
      `| 6.1 | ${GO_NO_GO_ROW} | ✅ GO | live session ${full.sessionId}: all 9 boxes ticked, bank statement ${day()} — sealed by \`${testSigner().identity}\` (\`${signerKey}\`) — manifest sha256 \`${full.manifest?.anchor?.manifestSha256}\` · trace head \`${full.manifest?.anchor?.traceHead}\` — [session block](PAYMENT_E2E_LIVE_REPORT.md#session-${full.sessionId}) |`,
    ]);
    assert.equal(updateGoNoGo(file, goNoGo([full]), "PAYMENT_E2E_LIVE_REPORT.md").changed, false);
    updateGoNoGo(file, goNoGo([session("live", "pass")]), "PAYMENT_E2E_LIVE_REPORT.md");
    assert.match(
      fs.readFileSync(file, "utf8"),
      /\| 6\.1 \| Flux paiement E2E avec vrais fonds \| 🟡 PENDING \| latest live session .* — \[report\]\(PAYMENT_E2E_LIVE_REPORT\.md\) \|/,
    );
  });

  it("names the fix when the checklist or its row is missing", () => {
    const dir = tmpArchive();
    assert.throws(
      () => updateGoNoGo(path.join(dir, "none.md"), goNoGo([]), "r.md"),
      (e: unknown) =>
        e instanceof ReportError &&
        e.code === "E2E_CHECKLIST" &&
        /restore docs\/GO_NO_GO_CHECKLIST\.md from git/.test(e.message),
    );
    fs.writeFileSync(path.join(dir, "c.md"), "| a | b |\n");
    assert.throws(
      () => updateGoNoGo(path.join(dir, "c.md"), goNoGo([]), "r.md"),
      /has no table row "Flux paiement E2E avec vrais fonds"; add it back/,
    );
  });
});

describe("confirm-bank validation", () => {
  const bad: Array<[string, Scenario, () => string, string, RegExp]> = [
    [
      "not a date",
      "pass",
      () => "yesterday",
      "E2E_BANK_DATE",
      /: invalid date "yesterday"; pass --date YYYY-MM-DD, the day the refund shows on the bank statement$/,
    ],
    ["no such day", "pass", () => "2026-02-30", "E2E_BANK_DATE", /invalid date "2026-02-30"/],
    ["compact form", "pass", () => "20261201", "E2E_BANK_DATE", /invalid date "20261201"/],
    [
      "in the future",
      "pass",
      () => day(1),
      "E2E_BANK_DATE",
      /is in the future \(today is \d{4}-\d\d-\d\d UTC\); pass the statement date once the refund has appeared$/,
    ],
    [
      "before the refund",
      "pass",
      () => day(-1),
      "E2E_BANK_DATE",
      /is before the refund \(created \d{4}-\d\d-\d\d\); pass a statement date on or after \d{4}-\d\d-\d\d$/,
    ],
    [
      "no refund",
      "no-refund",
      () => day(),
      "E2E_BANK_NO_REFUND",
      /no refund recorded in this session, so there is nothing for the bank to confirm; run step 8 \(refund\) first$/,
    ],
  ];
  for (const [name, scenario, date, code, msg] of bad) {
    it(`refuses ${name}`, () => {
      const ev = session("live", scenario);
      assert.throws(
        () => validateBankDate(ev, date()),
        (e: unknown) => {
          assert.ok(e instanceof BankConfirmError && e instanceof ReportError);
          assert.equal(e.code, code);
          assert.equal(e.name, "BankConfirmError");
          assert.equal(e.session, ev.sessionId);
          assert.match(e.message, new RegExp(`^confirm-bank ${ev.sessionId}: `));
          assert.match(e.message, msg);
          assert.ok(!e.message.includes("\n"));
          return true;
        },
      );
    });
  }

  it("records the confirmation in the journal and as one chained trace line", () => {
    const dir = makeSession(tmpArchive(), { mode: "live" });
    const lines = verifyChain(path.join(dir, TRACE_FILE)).lines;
    const r = confirmBank(dir, { date: day(), note: "  seen on the statement  " });
    assert.equal(r.traceLine, lines + 1);
    const chain = verifyChain(path.join(dir, TRACE_FILE));
    assert.ok(chain.ok);
    assert.equal(chain.lines, lines + 1);
    const last = readTrace(path.join(dir, TRACE_FILE)).at(-1)!;
    assert.equal(last.type, "operator_ack");
    assert.deepEqual(last.payload, {
      date: day(),
      event: "bank statement confirmed the refund",
      note: "seen on the statement",
      refund_id: "ref_5Tb2Nw8Ya1",
    });
    const entry = Journal.open(dir).last("bank_confirmed")!;
    assert.equal(entry.data.date, day());
    assert.deepEqual(loadEvidence(dir).bank, {
      date: day(),
      note: "seen on the statement",
      recordedAt: entry.at,
      refundId: "ref_5Tb2Nw8Ya1",
    });
  });

  it("nothing is written when the date is refused", () => {
    const dir = makeSession(tmpArchive(), { mode: "live" });
    const before =
      fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8") + fs.readFileSync(path.join(dir, TRACE_FILE), "utf8");
    assert.throws(() => confirmBank(dir, { date: day(3) }), BankConfirmError);
    assert.equal(
      fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8") + fs.readFileSync(path.join(dir, TRACE_FILE), "utf8"),
      before,
    );
  });
});

describe("housekeeping", () => {
  it("lists sessions past their retention date and never deletes them", () => {
    const archive = tmpArchive();
    const old = makeSession(archive, { mode: "live", at: new Date(Date.UTC(2024, 0, 5)) });
    const recent = makeSession(archive, { mode: "staging" });
    seal(old);
    seal(recent);
    const m = path.join(old, "manifest.json");
    fs.writeFileSync(
      m,
      fs.readFileSync(m, "utf8").replace(/"retention_until": "[^"]+"/, '"retention_until": "2025-01-05"'),
    );
    assert.deepEqual(pastRetention(archive), [{ sessionId: path.basename(old), retentionUntil: "2025-01-05" }]);
    const reminders = housekeeping(loadEvidence(recent), { archiveDir: archive });
    assert.ok(reminders.some((r) => r.includes("history -d <line>")));
    assert.ok(
      reminders.some(
        (r) =>
          r.startsWith(`\`${path.basename(old)}\` is past its retention date (2025-01-05)`) &&
          r.endsWith("this tool lists, it never deletes."),
      ),
    );
    assert.ok(fs.existsSync(old));
  });
  it("skips the password reminder for a sandbox rehearsal", () => {
    const ev = session("sandbox", "pass");
    assert.ok(!housekeeping(ev, { archiveDir: path.dirname(ev.dir) }).some((r) => r.includes("OPERATOR_PASSWORD")));
  });
});
