/**
 * Issue 6 "Done when", against the real runbook and the sandbox: a session labelled staging, then
 * one labelled live (the sandbox told to report production + live processors) with a fake bank
 * confirmation. The docs report holds both blocks, the first preserved byte for byte, with derived
 * outcomes, computed boxes and the comparison; the GO/NO-GO row flips only at the end.
 * The sandbox is this machine's loopback: both sessions are created stating why (`via_tunnel`, as
 * `npm run session --via-tunnel` journals it), and every view names the origin; without the
 * statement the staging run does not satisfy the live gate and the live run is not GO.
 */
import { outcomeJudge } from "../../lib/report/outcome-check";
import { execFileSync } from "node:child_process";
import { makeSigner, writeAllowedSigners } from "../evidence/signing";
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { main as confirmBankCli } from "../../lib/cli/confirm-bank";
import { verifyChain } from "../../lib/evidence/chain";
import { publishReport } from "../../lib/report/report";
import { GO_NO_GO_ROW } from "../../lib/report/paperwork";
import { Runbook } from "../../lib/run/runbook";
import { Session } from "../../lib/run/session";
import { chainJournal, tmpArchive } from "./fixtures";
import { archiveSession } from "../../lib/host/archive";
import { formatVerify, verifySession } from "../../lib/evidence/verify";
import { inertText } from "../../lib/report/inert";
import { REPORT_FILE } from "../../lib/evidence/files";

/** What the operator states at creation for a run through this machine's loopback (hostile on purpose in the live one). */
const STAGING_TUNNEL = "rehearsal: the sandbox stands in for staging behind a tunnel";
const LIVE_TUNNEL = "ssh -L tunnel to prod <img src=x onerror=alert(1)> | [x](javascript:alert(1))";

function commitAll(root: string): void {
  for (const args of [
    ["init", "-q"],
    ["add", "-A"],
    ["commit", "-qm", "staging dry run sealed and published"],
  ])
    execFileSync(
      "git",
      ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args],
      {
        cwd: root,
        stdio: "ignore",
      },
    );
}

async function runSession(
  sb: Sandbox,
  mode: "staging" | "live",
  archiveDir: string,
  o: { viaTunnel?: string; dryRunOverride?: string } = {},
): Promise<string> {
  // As npm run session journals them: the origin, and the tunnel statement when given.
  const id = Session.create(mode, archiveDir, {
    base_url: sb.marketplaceUrl,
    ...(o.viaTunnel ? { via_tunnel: o.viaTunnel } : {}),
  });
  const rb = Runbook.open(
    {
      MODE: mode,
      BASE_URL: sb.marketplaceUrl,
      HYPERSWITCH_URL: sb.hyperswitchUrl,
      OPERATOR_EMAIL: sb.operator.email,
      SESSION_ID: id,
      ARCHIVE_DIR: archiveDir,
      REFUND: true,
      AUTO_PAY: "success",
      LIVE_CONFIRM: mode === "live" ? "charge 5.00 EUR" : "",
      DRY_RUN_OVERRIDE: o.dryRunOverride ?? "",
    },
    {
      OPERATOR_PASSWORD: sb.operator.password,
      DATABASE_URL: sb.readonlyDsn,
      // Staging and live compare the amounts at the orchestrator double (a production-shaped key live).
      HYPERSWITCH_API_KEY: mode === "live" ? sb.liveApiKey : sb.apiKey,
    },
  );
  // As the notebook hands it down: the live gate judges the dry run's outcome with the report's derivation.
  rb.judge = outcomeJudge;
  try {
    for (const step of [
      () => rb.run("preflight"),
      () => rb.run("login"),
      () => rb.run("product"),
      () => rb.run("order"),
    ])
      assert.equal((await step()).status, "PASS");
    await rb.pay();
    for (const step of [
      () => rb.confirmPaid(),
      () => rb.run("completed"),
      () => rb.run("licence"),
      () => rb.run("transfer"),
      () => rb.run("refund"),
      () => rb.run("refunded"),
    ]) {
      const r = await step();
      assert.equal(r.status, "PASS", `${mode} step ${r.step}: ${r.reason}`);
    }
  } finally {
    await rb.close();
    rb.trace.close();
  }
  return rb.dir;
}

/**
 * The docs folder beside an archive, as the repository holds it: the GO/NO-GO checklist, the living
 * report's path, and an allowed signer (its key signs the seals; committed by the caller with the anchors).
 */
function docsBeside(archiveDir: string) {
  const docs = path.join(path.dirname(path.dirname(archiveDir)), "docs");
  fs.mkdirSync(docs);
  const checklist = path.join(docs, "GO_NO_GO_CHECKLIST.md");
  fs.copyFileSync(path.join(__dirname, "..", "..", "docs", "GO_NO_GO_CHECKLIST.md"), checklist);
  const signer = makeSigner("sandbox-sessions@example.com");
  writeAllowedSigners(path.join(docs, "allowed_signers"), [signer]);
  return { docs, checklist, docsReport: path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"), signer };
}

describe("two sandbox sessions through the report layer", { timeout: 3 * 60 * 1000 }, () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 300, refundDelayMs: 300 } });
  });
  after(async () => {
    await sb?.stop();
  });

  it("staging block preserved, live block PARTIAL then PASS after confirm-bank, GO only at the end", async () => {
    const archiveDir = tmpArchive();
    const { docs, checklist, docsReport, signer } = docsBeside(archiveDir);

    const staging = await runSession(sb, "staging", archiveDir, { viaTunnel: STAGING_TUNNEL });
    // The live gate takes only a sealed, verified staging run with a chained journal.
    chainJournal(staging); // a no-op once the journal writer chains its entries
    // ... signed by an allowed signer, its anchor committed in the repository holding the archive (issue 24).
    await archiveSession(staging, { html: false, docsDir: docs, signKey: signer.key });
    const s = publishReport(staging, { docsReport, checklist });
    commitAll(path.dirname(docs));
    assert.equal(s.session.outcome, "PASS");
    assert.equal(s.session.written, false, "the sealed folder is left untouched");
    const afterStaging = fs.readFileSync(docsReport, "utf8");
    const stagingBlock = afterStaging.slice(
      afterStaging.indexOf(`<!-- session:${path.basename(staging)} -->`),
      afterStaging.indexOf("<!-- sessions:end -->"),
    );
    assert.match(stagingBlock, /### Session — \d{4}-\d\d-\d\dT\d\d:\d\dZ \(this machine's clock\) — staging dry-run/);
    // The block and the sealed report.md name the loopback origin and the statement.
    const backend = `> **Backend** : ${inertText(`${sb.marketplaceUrl} (this machine's loopback: a tunnel or a local backend; production not verified by the tool) — operator stated: "${STAGING_TUNNEL}"`)}\n`;
    assert.ok(stagingBlock.includes(backend), stagingBlock);
    assert.ok(fs.readFileSync(path.join(staging, REPORT_FILE), "utf8").includes(backend));
    // npm run verify's summary names it too.
    assert.match(
      formatVerify(verifySession(staging)).at(-1) ?? "",
      new RegExp(
        `^verify: OK - session \\S+-staging \\(staging\\), .*, backend ${sb.marketplaceUrl.replace(/\./g, "\\.")} \\(this machine's loopback: a tunnel or a local backend; production not verified by the tool\\) — operator stated: "${STAGING_TUNNEL}"$`,
      ),
    );

    await new Promise((r) => setTimeout(r, 1100)); // session ids have 1 s resolution
    sb.setFaults({ statusEnvironment: "production", hyperswitchMode: "live" });
    const live = await runSession(sb, "live", archiveDir, { viaTunnel: LIVE_TUNNEL });
    const pending = publishReport(live, { docsReport, checklist });
    assert.equal(pending.session.outcome, "PARTIAL");
    assert.equal(pending.goNoGo?.go, false);
    assert.match(
      fs.readFileSync(checklist, "utf8"),
      /🟡 PENDING \| latest live session \S+: box 9 open \(pending: confirm by/,
    );
    // Pending too, the row names the loopback origin with the statement.
    assert.ok(
      fs.readFileSync(checklist, "utf8").includes(inertText(`— backend ${sb.marketplaceUrl} (this machine's loopback`)),
    );
    const cmp = path.join(archiveDir, "comparisons", `${path.basename(staging)}--${path.basename(live)}`);
    for (const f of ["comparison.md", "comparison.svg", "comparison.png"])
      assert.ok(fs.existsSync(path.join(cmp, f)), f);

    // The live folder is sealed and committed before the bank statement arrives, days later.
    // Signed by the allowed signer: a GO rests only on a seal someone vouched for.
    await archiveSession(live, { html: false, docsDir: docs, signKey: signer.key });
    const out: string[] = [];
    const err: string[] = [];
    const bank = (...extra: string[]) =>
      confirmBankCli(
        [
          live,
          "--date",
          new Date().toISOString().slice(0, 10),
          "--note",
          "fake bank confirmation (sandbox rehearsal)",
          "--docs",
          docsReport,
          "--checklist",
          checklist,
          ...extra,
        ],
        (l) => out.push(l),
        (l) => err.push(l),
      );
    assert.equal(await bank(), 2, "a sealed folder is not written to unasked");
    assert.match(err[0], /is sealed .* add --reseal "bank statement confirmed the refund"$/);
    err.length = 0;
    const code = await bank("--reseal", "bank statement confirmed the refund", "--sign-key", signer.key);
    assert.equal(code, 0, err.join("\n"));
    assert.match(out.join("\n"), /re-sealed \S+ \(reason and previous seal recorded in the trace\)/);
    assert.ok(verifyChain(path.join(live, "trace.jsonl")).ok);
    assert.ok(verifySession(live).ok, "sealed again over the bank confirmation");

    const text = fs.readFileSync(docsReport, "utf8");
    assert.ok(text.includes(stagingBlock), "the staging block is byte-for-byte preserved");
    const liveBlock = text.slice(
      text.indexOf(`<!-- session:${path.basename(live)} -->`),
      text.indexOf(`<!-- /session:${path.basename(live)} -->`),
    );
    assert.match(liveBlock, /### Session — \d{4}-\d\d-\d\dT\d\d:\d\dZ \(this machine's clock\) — prod live run/);
    assert.match(liveBlock, /\*\*✅ PASS\*\* — every box ticked; the bank statement confirmed the refund/);
    assert.equal((liveBlock.match(/- \[x\] /g) ?? []).length, 9);
    assert.match(liveBlock, /\*\*Dry run vs live\*\* \(staging `\S+-staging` → live `\S+-live`\)/);
    assert.match(liveBlock, /\| order \| `ord_\w+` \|/);
    // The live gate counted the staging run through its tunnel, and says so with the statement.
    assert.ok(
      liveBlock.includes(inertText(`staging dry run ${path.basename(staging)} ran against ${sb.marketplaceUrl}`)),
    );
    assert.ok(liveBlock.includes(inertText(`operator stated: "${STAGING_TUNNEL}"`)));
    // The GO row names the loopback origin and shows the hostile statement as text.
    const row =
      fs
        .readFileSync(checklist, "utf8")
        .split("\n")
        .find((l) => l.startsWith("|") && l.includes(GO_NO_GO_ROW)) ?? "";
    assert.ok(
      row.includes(
        inertText(
          `— backend ${sb.marketplaceUrl} (this machine's loopback: a tunnel or a local backend; production not verified by the tool) — operator stated: "${LIVE_TUNNEL}"`,
        ),
      ),
      row,
    );
    assert.ok(!/(?<!\\)<img/.test(row) && !/(?<!\\)\]\(javascript/.test(row), row);
    assert.ok(liveBlock.includes(inertText(`operator stated: "${LIVE_TUNNEL}"`)));
    assert.match(
      fs.readFileSync(checklist, "utf8"),
      /\| ✅ GO \| live session \S+-live: all 9 boxes ticked, .* — sealed by `sandbox-sessions@example\.com` \(`ED25519 key SHA256:\S+`\) — manifest sha256/,
    );
    assert.match(liveBlock, /^- Sealed by : `sandbox-sessions@example\.com` with `ED25519 key SHA256:\S+` — /m);
  });
  it("a loopback staging dry run without the tunnel statement does not satisfy the live gate", async () => {
    const archiveDir = tmpArchive();
    const { docs, checklist, docsReport, signer } = docsBeside(archiveDir);
    sb.setFaults({ statusEnvironment: "staging", hyperswitchMode: "sandbox" });
    // Everything the gate asks of a dry run but the statement: passed, chained, signed, anchored, committed.
    const staging = await runSession(sb, "staging", archiveDir);
    chainJournal(staging);
    await archiveSession(staging, { html: false, docsDir: docs, signKey: signer.key });
    const s = publishReport(staging, { docsReport, checklist });
    commitAll(path.dirname(docs));
    assert.equal(s.session.outcome, "PASS");
    assert.ok(
      fs
        .readFileSync(path.join(staging, REPORT_FILE), "utf8")
        .includes(
          `> **Backend** : ${inertText(`${sb.marketplaceUrl} (this machine's loopback: a tunnel or a local backend; production not verified by the tool) — no tunnel statement recorded when the session was created`)}\n`,
        ),
    );

    await new Promise((r) => setTimeout(r, 1100)); // session ids have 1 s resolution
    sb.setFaults({ statusEnvironment: "production", hyperswitchMode: "live" });
    const id = Session.create("live", archiveDir, { base_url: sb.marketplaceUrl, via_tunnel: LIVE_TUNNEL });
    const rb = Runbook.open(
      {
        MODE: "live",
        BASE_URL: sb.marketplaceUrl,
        HYPERSWITCH_URL: sb.hyperswitchUrl,
        OPERATOR_EMAIL: sb.operator.email,
        SESSION_ID: id,
        ARCHIVE_DIR: archiveDir,
        REFUND: true,
        LIVE_CONFIRM: "charge 5.00 EUR",
      },
      { OPERATOR_PASSWORD: sb.operator.password, DATABASE_URL: sb.readonlyDsn, HYPERSWITCH_API_KEY: sb.liveApiKey },
    );
    rb.judge = outcomeJudge;
    try {
      const r = await rb.run("preflight");
      assert.equal(r.status, "FAIL");
      assert.match(
        r.reason ?? "",
        new RegExp(
          `${path.basename(staging)}: its backend was this machine's loopback \\(${sb.marketplaceUrl.replace(/\./g, "\\.")}\\) and the session states no reason: .* --via-tunnel "<why>"`,
        ),
      );
    } finally {
      await rb.close();
      rb.trace.close();
    }
  });

  it("the same live run on loopback without the tunnel statement is not GO, naming the fix", async () => {
    const archiveDir = tmpArchive();
    const { docs, checklist, docsReport, signer } = docsBeside(archiveDir);
    commitAll(path.dirname(docs));
    sb.setFaults({ statusEnvironment: "production", hyperswitchMode: "live" });
    const live = await runSession(sb, "live", archiveDir, { dryRunOverride: "staging rehearsed in the other test" });
    await archiveSession(live, { html: false, docsDir: docs, signKey: signer.key });
    const err: string[] = [];
    const code = await confirmBankCli(
      [
        live,
        "--date",
        new Date().toISOString().slice(0, 10),
        "--docs",
        docsReport,
        "--checklist",
        checklist,
        "--reseal",
        "bank statement confirmed the refund",
        "--sign-key",
        signer.key,
      ],
      () => undefined,
      (l) => err.push(l),
    );
    assert.equal(code, 0, err.join("\n"));
    const d = publishReport(live, { docsReport, checklist });
    assert.equal(d.session.outcome, "PASS", "every box ticked: only the backend holds GO back");
    assert.equal(d.goNoGo?.go, false);
    const row =
      fs
        .readFileSync(checklist, "utf8")
        .split("\n")
        .find((l) => l.startsWith("|") && l.includes(GO_NO_GO_ROW)) ?? "";
    assert.match(row, /\| 🟡 PENDING \| /);
    assert.ok(
      row.includes(
        inertText(
          `latest live session ${path.basename(live)}: not GO: its backend was this machine's loopback (${sb.marketplaceUrl}) and the session states no reason: a local backend can claim production — run a new live session against the real origin, or, through a tunnel, create it with npm run session -- --mode live --via-tunnel "<why>"`,
        ),
      ),
      row,
    );
  });
});
