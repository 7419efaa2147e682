/**
 * The paperwork never says more than the journal (red-team, the paperwork after the steps): the
 * GO/NO-GO row follows the derived outcome, a later live run that fell short is not hidden behind
 * an older GO, and confirm-bank refuses to tick "Funds returned" on a refund that returned nothing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { BankConfirmError, loadEvidence } from "../../lib/report/evidence";
import { Journal } from "../../lib/evidence/journal";
import { JOURNAL_FILE } from "../../lib/evidence/files";
import { acceptance, deriveOutcome } from "../../lib/report/verdict";
import { confirmBank, validateBankDate } from "../../lib/report/bank";
import { goNoGo } from "../../lib/report/paperwork";
import { renderSessionBlock } from "../../lib/report/report";
import { IDS, day, makeSession, tmpArchive } from "./fixtures";
import { vouchedSeal } from "./vouched";

describe("GO/NO-GO agrees with the journal's verdict", () => {
  it("a live session sealed --incomplete is PARTIAL, and its row is PENDING, never GO", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "pass" });
    confirmBank(dir, { date: day() });
    Journal.open(dir).append("seal_exception", {
      rule: "incomplete",
      reason: "the plot cell threw before the report",
      what: ["plot cell threw"],
    });
    const ev = loadEvidence(dir);
    assert.equal(deriveOutcome(ev).outcome, "PARTIAL");
    const d = goNoGo([ev]);
    assert.equal(d.status, "🟡 PENDING");
    assert.equal(d.go, false);
    assert.match(d.reason, /^latest live session \S+-live: outcome PARTIAL \(run incomplete \(plot cell threw\)/);
  });

  it("a later live run that moved money and fell short is not hidden behind an older GO", () => {
    const archive = tmpArchive();
    const good = makeSession(archive, { mode: "live", scenario: "pass", at: new Date("2026-11-20T10:00:00Z") });
    confirmBank(good, { date: day() });
    vouchedSeal(good);
    const stuck = makeSession(archive, { mode: "live", scenario: "stuck", at: new Date("2026-11-27T10:00:00Z") });
    const d = goNoGo([loadEvidence(good), loadEvidence(stuck)]);
    assert.equal(d.status, "🟡 PENDING");
    assert.equal(d.sessionId, "20261127T100000Z-live");
    assert.match(
      d.reason,
      /^live session 20261127T100000Z-live, after 20261120T100000Z-live earned GO \(a later run that moved money and fell short\): /,
    );
  });

  it("an earlier live run that fell short does not stop a later one's GO, nor does a later one that moved no money", () => {
    const archive = tmpArchive();
    const stuck = makeSession(archive, { mode: "live", scenario: "stuck", at: new Date("2026-11-19T10:00:00Z") });
    const good = makeSession(archive, { mode: "live", scenario: "pass", at: new Date("2026-11-20T10:00:00Z") });
    confirmBank(good, { date: day() });
    vouchedSeal(good);
    const refused = makeSession(archive, {
      mode: "live",
      scenario: "preflight-refused",
      at: new Date("2026-11-21T10:00:00Z"),
    });
    const d = goNoGo([stuck, good, refused].map((x) => loadEvidence(x)));
    assert.equal(d.status, "✅ GO");
    assert.equal(d.sessionId, "20261120T100000Z-live");
  });
});

describe("confirm-bank confirms only a refund that returned money", () => {
  const refused = (ev: ReturnType<typeof loadEvidence>, msg: RegExp) =>
    assert.throws(
      () => validateBankDate(ev, day()),
      (e: unknown) => e instanceof BankConfirmError && e.code === "E2E_BANK_NO_REFUND" && msg.test(e.message),
    );

  it("refuses a refund a source said is another order's, and box 9 stays open", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "refund-stuck" });
    Journal.open(dir).append("refund_foreign", {
      refund_id: IDS.refund,
      attempt: 1,
      why: "the answer names another order",
    });
    refused(loadEvidence(dir), /is not this order's refund .*nothing for the bank to confirm; refund the order/);
    assert.throws(() => confirmBank(dir, { date: day() }), BankConfirmError);
    assert.equal(acceptance(loadEvidence(dir)).at(-1)?.ok, false);
  });

  it("refuses a failed refund", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "refund-stuck" });
    Journal.open(dir).append("refund_status", {
      refund_id: IDS.refund,
      attempt: 1,
      status: "failed",
      source: "orchestrator",
    });
    refused(loadEvidence(dir), /is failed: it returned no money/);
  });
});

describe("confirm-bank confirms only real money, all of it", () => {
  const refusedWith = (ev: ReturnType<typeof loadEvidence>, code: string, msg: RegExp) =>
    assert.throws(
      () => validateBankDate(ev, day()),
      (e: unknown) =>
        e instanceof BankConfirmError && e.code === code && msg.test(e.message) && !e.message.includes("\n"),
    );

  for (const mode of ["staging", "sandbox"] as const)
    it(`refuses a ${mode} session (a test processor moves no real money), and writes nothing`, () => {
      const dir = makeSession(tmpArchive(), { mode, scenario: "pass" });
      refusedWith(
        loadEvidence(dir),
        "E2E_BANK_NOT_LIVE",
        new RegExp(
          `: a ${mode} session pays a test processor and moves no real money, so no bank statement can show its refund; confirm the bank statement of the live session instead`,
        ),
      );
      const before = fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8");
      assert.throws(() => confirmBank(dir, { date: day() }), BankConfirmError);
      assert.equal(fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8"), before);
      assert.equal(loadEvidence(dir).bank, null);
    });

  it("refuses a live session whose pre-flight journaled Hyperswitch in sandbox mode, whatever its fact's words", () => {
    // The structured field decides: a fact that reads live is not read when the mode was journaled.
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "pass", hsMode: "sandbox" });
    const pf = Journal.open(dir).last("preflight")!;
    assert.equal(pf.data.hyperswitch_mode, "sandbox");
    const ev = loadEvidence(dir);
    ev.steps[0]!.observed.hyperswitch = "enabled (live)";
    refusedWith(
      ev,
      "E2E_BANK_NOT_LIVE",
      /: its pre-flight journaled Hyperswitch mode "sandbox", not live: no real money moved, so no bank statement can show its refund; run a live session against live processors and confirm that one$/,
    );
    const before = fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8");
    assert.throws(() => confirmBank(dir, { date: day() }), BankConfirmError);
    assert.equal(fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8"), before);
  });

  it("refuses a live session any of whose pre-flights saw Hyperswitch in another mode", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "pass" });
    const pf = Journal.open(dir).last("preflight")!;
    Journal.open(dir).append("preflight", { ...pf.data, hyperswitch_mode: "sandbox" });
    refusedWith(
      loadEvidence(dir),
      "E2E_BANK_NOT_LIVE",
      /: its pre-flight journaled Hyperswitch mode "sandbox", not live/,
    );
  });

  describe("a pre-flight journaled before hyperswitch_mode was (older sealed folders)", () => {
    it('reads its fact strictly: "enabled (live)" is live, and the refund is confirmed', () => {
      const dir = makeSession(tmpArchive(), {
        mode: "live",
        scenario: "pass",
        legacyPreflight: { fact: "enabled (live)" },
      });
      assert.equal(Journal.open(dir).last("preflight")!.data.hyperswitch_mode, undefined);
      assert.equal(confirmBank(dir, { date: day() }).date, day());
    });

    it('refuses "enabled (sandbox)"', () =>
      refusedWith(
        loadEvidence(makeSession(tmpArchive(), { mode: "live", legacyPreflight: { fact: "enabled (sandbox)" } })),
        "E2E_BANK_NOT_LIVE",
        /: its pre-flight saw Hyperswitch "enabled \(sandbox\)", not live: no real money moved/,
      ));

    for (const [name, fact, shown] of [
      ["no hyperswitch fact at all", null, /and it has no hyperswitch fact: /],
      [
        "a fact that only ends like live",
        "enabled (sandbox) (live)",
        /and its hyperswitch fact "enabled \(sandbox\) \(live\)" is not in the form "<status> \(live\)": /,
      ],
    ] as const)
      it(`refuses ${name}: nothing shows real money moved, and it says why`, () => {
        const dir = makeSession(tmpArchive(), { mode: "live", scenario: "pass", legacyPreflight: { fact } });
        refusedWith(
          loadEvidence(dir),
          "E2E_BANK_NOT_LIVE",
          new RegExp(
            `: no pre-flight of this session recorded the Hyperswitch mode as data \\(hyperswitch_mode: absent in pre-flights journaled before it was recorded, or null when /status never answered\\), ${shown.source}nothing shows that real money moved, so the confirmation is refused rather than risk a false "Funds returned"; run a live session against live processors and confirm that one$`,
          ),
        );
        const before = fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8");
        assert.throws(() => confirmBank(dir, { date: day() }), BankConfirmError);
        assert.equal(fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8"), before);
      });
  });

  it("refuses a partial refund (not the whole amount returned), and box 9 stays open", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "refund-stuck" });
    Journal.open(dir).append("refund_status", {
      refund_id: IDS.refund,
      attempt: 1,
      status: "succeeded",
      source: "orchestrator",
      amount: 1,
    });
    refusedWith(
      loadEvidence(dir),
      "E2E_BANK_PARTIAL",
      /the refund was partial \(0\.01 EUR of 5\.00 EUR refunded \(4\.99 EUR outstanding\)\), so a statement line is not the whole amount returned; refund the rest \(step 8 again, or the Hyperswitch dashboard\)/,
    );
    assert.throws(() => confirmBank(dir, { date: day() }), BankConfirmError);
    assert.equal(acceptance(loadEvidence(dir)).at(-1)?.ok, false);
  });

  // A refund still pending (step 9 never saw it settle): no source said the money came back, so a
  // statement line is not its confirmation, and box 9 ("Funds returned") must not tick on it.
  for (const [name, status] of [
    ["still pending (step 9 never saw it settle)", null],
    ["that the orchestrator still calls pending", "pending"],
    ["in a status that is not succeeded", "requires_merchant_action"],
  ] as const)
    it(`refuses a refund ${name}, and writes nothing`, () => {
      const dir = makeSession(tmpArchive(), { mode: "live", scenario: "refund-stuck" });
      if (status)
        Journal.open(dir).append("refund_status", {
          refund_id: IDS.refund,
          attempt: 1,
          status,
          source: "orchestrator",
        });
      refusedWith(
        loadEvidence(dir),
        "E2E_BANK_NOT_SETTLED",
        new RegExp(
          `^confirm-bank \\S+-live: refund ${IDS.refund} \\(attempt 1\\) is ${status ?? "pending"}, never succeeded: no source said the money came back, so a statement line cannot confirm it; run step 9 \\(refunded\\) again until it passes, then confirm the statement$`,
        ),
      );
      const before = fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8");
      assert.throws(() => confirmBank(dir, { date: day() }), BankConfirmError);
      assert.equal(fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8"), before);
      assert.equal(loadEvidence(dir).bank, null);
      assert.equal(acceptance(loadEvidence(dir)).at(-1)?.ok, false);
    });

  it("refuses a succeeded refund the ledger does not read as settled (a source says less came back)", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "refund-stuck" });
    const j = Journal.open(dir);
    j.append("refund_status", {
      refund_id: IDS.refund,
      attempt: 1,
      status: "succeeded",
      source: "orchestrator",
      amount: 500,
    });
    j.append("money_seen", {
      what: "refunded",
      source: "marketplace API",
      amount: 100,
      currency: "EUR",
      ref: "order refunded_cents",
    });
    refusedWith(
      loadEvidence(dir),
      "E2E_BANK_NOT_SETTLED",
      new RegExp(
        `: refund ${IDS.refund} succeeded, but the money is not settled on the evidence \\(not balanced: .*\\); reconcile it`,
      ),
    );
    assert.throws(() => confirmBank(dir, { date: day() }), BankConfirmError);
    assert.equal(loadEvidence(dir).bank, null);
  });

  it("a confirmation already recorded on a refund that never succeeded (by the older confirm-bank) does not tick box 9", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "refund-stuck" });
    // As confirm-bank wrote it before it refused unsettled refunds.
    Journal.open(dir).append("bank_confirmed", {
      date: day(),
      note: null,
      refund_id: IDS.refund,
      confirmed_by: "operator",
    });
    const box = acceptance(loadEvidence(dir)).at(-1)!;
    assert.equal(box.ok, false);
    assert.match(
      box.evidence,
      new RegExp(`by \`npm run confirm-bank\` — not counted: refund ${IDS.refund} is pending, never succeeded$`),
    );
    // Nor does the refund step's row show it as the statement's ✓.
    assert.doesNotMatch(renderSessionBlock(loadEvidence(dir)), /bank statement \d{4}-\d\d-\d\d ✓/);
  });

  it("a confirmation of an earlier refund does not tick box 9 for the session's latest one", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "pass" });
    Journal.open(dir).append("bank_confirmed", {
      date: day(),
      note: null,
      refund_id: "ref_earlier",
      confirmed_by: "operator",
    });
    const box = acceptance(loadEvidence(dir)).at(-1)!;
    assert.equal(box.ok, false);
    assert.match(
      box.evidence,
      new RegExp(`not counted: it names refund ref_earlier, not the session's latest refund ${IDS.refund}$`),
    );
  });

  it("confirms a live session whose whole refund came back", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", scenario: "pass" });
    assert.equal(confirmBank(dir, { date: day() }).date, day());
    assert.equal(acceptance(loadEvidence(dir)).at(-1)?.ok, true);
  });
});
