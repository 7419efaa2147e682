import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ReportError, loadEvidence } from "../../lib/report/evidence";
import { confirmBank } from "../../lib/report/bank";
import {
  DOCS_MARKERS,
  appendToReport,
  publishReport,
  renderBlockHtml,
  renderReportSkeleton,
  renderSessionBlock,
  writeSessionReport,
} from "../../lib/report/report";
import { day, makeSession, seal, tmpArchive } from "./fixtures";
import { Journal } from "../../lib/evidence/journal";
import { stepMarkdown } from "../../lib/report/display";
import { blockAnchor, formatAnchor, parseAnchor } from "../../lib/evidence/anchor";
import { manifestHash, readManifest } from "../../lib/evidence/manifest";
import { assertGolden, sanitise } from "./sanitise";
import { testSigner, vouchedSeal } from "./vouched";

const STAGING_AT = new Date(Date.UTC(2026, 10, 19, 10, 0, 0));
const LIVE_AT = new Date(Date.UTC(2026, 10, 20, 14, 2, 11));

/** An archive with a passed staging dry run, and a docs folder holding a fresh checklist. */
function workspace() {
  const archive = tmpArchive();
  const docs = path.join(path.dirname(path.dirname(archive)), "docs");
  fs.mkdirSync(docs);
  fs.copyFileSync(
    path.join(__dirname, "..", "..", "docs", "GO_NO_GO_CHECKLIST.md"),
    path.join(docs, "GO_NO_GO_CHECKLIST.md"),
  );
  return {
    archive,
    docsReport: path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"),
    checklist: path.join(docs, "GO_NO_GO_CHECKLIST.md"),
  };
}

describe("session block (golden files)", () => {
  it("staging dry run that passed, with a poll 5xx and a recorded note", () => {
    const dir = makeSession(tmpArchive(), {
      mode: "staging",
      at: STAGING_AT,
      poll5xx: true,
      operatorNotes: "checkout page slow to load",
    });
    assertGolden("staging-pass.md", sanitise(renderSessionBlock(loadEvidence(dir))));
  });

  it("live run with the bank confirmed and the dry-run comparison", () => {
    const archive = tmpArchive();
    makeSession(archive, { mode: "staging", at: STAGING_AT, poll5xx: true });
    const live = makeSession(archive, { mode: "live", at: LIVE_AT });
    confirmBank(live, { date: day(), note: "refund line on the statement" });
    const r = writeSessionReport(live);
    assert.equal(r.outcome, "PASS");
    assert.ok(r.comparison);
    // Beside the sessions, never inside the live folder.
    const cmp = path.join(archive, "comparisons", `${r.comparison.stagingId}--${r.comparison.liveId}`);
    for (const ext of ["md", "svg", "png"]) assert.ok(fs.statSync(path.join(cmp, `comparison.${ext}`)).size > 0, ext);
    assert.ok(!fs.existsSync(path.join(live, "comparison.png")));
    assertGolden("live-pass-bank.md", sanitise(r.markdown));
    assertGolden("live-pass-bank.html", sanitise(renderBlockHtml(r.markdown)));
  });

  it("live run stuck at step 5: FAIL, refund now, later steps SKIPPED", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", at: LIVE_AT, scenario: "stuck" });
    const md = renderSessionBlock(loadEvidence(dir));
    assert.match(md, /\*\*❌ FAIL\*\* — money moved but nothing was verified/);
    assertGolden("live-stuck.md", sanitise(md));
  });

  it("the fixtures' step 9 reads the seller transfer as step 9 does: the amount_reversed column, never the status alone", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging", at: STAGING_AT });
    const ev = loadEvidence(dir);
    const md = renderSessionBlock(ev);
    // lib/run/steps/refunded.ts journals the database's reversed amount under this label (reversalSource).
    assert.match(
      md,
      /\n\| reversal \| 3\.75 EUR \(the whole transfer, on a full refund\) \| — \| 3\.75 EUR \(seller_transfers\.amount_reversed \(status reversed\)\) \| ✅ balanced \|\n/,
    );
    assert.doesNotMatch(md, /seller_transfers\.status reversed/);
    assert.equal(ev.steps[9]?.observed.transfer_reversal, "reversed: 3.75 EUR");
  });

  it("says which clock its own times come from: the heading, each step's start and end, the anomalies, a skip's reason", () => {
    const staging = makeSession(tmpArchive(), { mode: "staging", at: STAGING_AT, poll5xx: true });
    const ev = loadEvidence(staging);
    const md = renderSessionBlock(ev);
    assert.match(md, /^### Session — 2026-11-19T10:00Z \(this machine's clock\) — staging dry-run$/m);
    assert.match(
      md,
      /^\*\*Anomalies \/ surprises\*\* \(collected from the evidence; their times by this machine's clock\) :$/m,
    );
    // The step's window, as the notebook and its HTML show it under each step.
    const step = ev.steps[1];
    assert.ok(step);
    assert.match(stepMarkdown(step), /<sub>started \S+Z · ended \S+Z \(this machine's clock\) · \d+ ms<\/sub>$/);
    // A backend's time is shown as it came: the payment's transaction time carries no label.
    assert.match(md, /transaction_time: \d{4}-\d\d-\d\dT[\d:.]+Z, processor/);
    // A skip's reason names the failed step's end by this machine's clock (lib/run/steps.ts blockedBy).
    const stuck = renderSessionBlock(
      loadEvidence(makeSession(tmpArchive(), { mode: "live", at: LIVE_AT, scenario: "stuck" })),
    );
    assert.match(stuck, /\*\*Step 6 ⏭️ SKIPPED\*\* : step 5 failed at \d\d:\d\d:\d\dZ \(this machine's clock\)/);
  });

  it("says 'pending archive' before the manifest, then its hash", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    assert.match(renderSessionBlock(loadEvidence(dir)), /- Manifest : pending archive/);
    seal(dir);
    assert.match(
      renderSessionBlock(loadEvidence(dir)),
      /- Manifest : `[0-9a-f]{64}` \(SHA-256 of manifest\.json\), retention until \d{4}-\d\d-\d\d\n/,
    );
  });

  it("never prints an absolute machine path", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    const md = renderSessionBlock(loadEvidence(dir));
    assert.ok(!md.includes(path.dirname(dir)), "temp folder leaked");
    assert.match(md, /`…\/payment-e2e\/\d{8}T\d{6}Z-staging\/`/);
  });
});

describe("renderBlockHtml", () => {
  it("renders the table, drops the markers and shows raw HTML from values as text", () => {
    const html = renderBlockHtml(
      '<!-- session:x -->\n<a id="session-x"></a>\n\n| a | b |\n| --- | --- |\n| <img src=x onerror=alert(1)> | 2 |\n\n<sub>small</sub>\n<!-- /session:x -->\n',
    );
    assert.ok(!html.includes("<!--"));
    assert.ok(html.includes('<a id="session-x"></a>'));
    assert.ok(html.includes("<table>"));
    assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
    assert.ok(html.includes("<sub>small</sub>"));
  });

  it("links only to the web, anchors and files; images never load from elsewhere", () => {
    const html = renderBlockHtml(
      "[ok](https://example.com/a) [step](#step-5) [plot](poll-latency.png) [bad](javascript:alert(1)) [data](data:text/html,x) ![t](https://tracker.example/p.png) ![p](poll-latency.png)\n",
    );
    assert.match(html, /<a href="https:\/\/example\.com\/a" rel="noopener noreferrer nofollow">ok<\/a>/);
    assert.match(html, /<a href="#step-5"/);
    assert.match(html, /<a href="poll-latency\.png"/);
    assert.doesNotMatch(html, /javascript:|data:text/);
    assert.match(html, /bad \(link removed: not a web address\)/);
    assert.match(html, /\[image not loaded: t\]/);
    assert.match(html, /<img src="poll-latency\.png" alt="p">/);
  });
});

describe("docs report: append, never overwrite", () => {
  it("creates the report from the template, then appends blocks keeping earlier ones byte for byte", () => {
    const { archive, docsReport } = workspace();
    const first = loadEvidence(makeSession(archive, { mode: "staging", at: STAGING_AT }));
    assert.equal(appendToReport(docsReport, first).action, "created");
    const afterFirst = fs.readFileSync(docsReport, "utf8");
    assert.ok(afterFirst.startsWith(renderReportSkeleton().slice(0, renderReportSkeleton().indexOf(DOCS_MARKERS.end))));
    const end = afterFirst.indexOf(DOCS_MARKERS.end);
    const second = loadEvidence(makeSession(archive, { mode: "live", at: LIVE_AT }));
    assert.equal(appendToReport(docsReport, second).action, "appended");
    const afterSecond = fs.readFileSync(docsReport, "utf8");
    assert.equal(
      afterSecond.slice(0, end),
      afterFirst.slice(0, end),
      "everything before the end marker is preserved byte for byte",
    );
    assert.equal(
      afterSecond.slice(afterSecond.indexOf(DOCS_MARKERS.end)),
      afterFirst.slice(end),
      "the tail after the marker too",
    );
    assert.ok(
      afterSecond.indexOf(`<!-- session:${first.sessionId} -->`) <
        afterSecond.indexOf(`<!-- session:${second.sessionId} -->`),
    );
  });

  it("writing the same session twice replaces only its block and keeps the operator's notes", () => {
    const { archive, docsReport } = workspace();
    const s1 = makeSession(archive, { mode: "staging", at: STAGING_AT });
    const s2 = makeSession(archive, { mode: "live", at: LIVE_AT });
    const s3 = makeSession(archive, { mode: "live", at: new Date(Date.UTC(2026, 10, 21)), scenario: "no-refund" });
    for (const d of [s1, s2, s3]) appendToReport(docsReport, loadEvidence(d));
    const id2 = path.basename(s2);
    // The operator types judgement into the notes region of block 2.
    const typed = fs
      .readFileSync(docsReport, "utf8")
      .replace(new RegExp(`(<!-- notes:${id2} -->\\n)[^<]*`), "$1Checkout showed the VAT line twice.\n");
    fs.writeFileSync(docsReport, typed);
    const open = typed.indexOf(`<!-- session:${id2} -->`);
    const close = typed.indexOf(`<!-- /session:${id2} -->`) + `<!-- /session:${id2} -->\n`.length;
    confirmBank(s2, { date: day() });
    assert.equal(appendToReport(docsReport, loadEvidence(s2)).action, "replaced");
    const after = fs.readFileSync(docsReport, "utf8");
    assert.equal(after.slice(0, open), typed.slice(0, open), "blocks before are untouched");
    assert.equal(
      after.slice(after.indexOf(`<!-- /session:${id2} -->`) + `<!-- /session:${id2} -->\n`.length),
      typed.slice(close),
      "blocks after are untouched",
    );
    assert.equal(after.split(`<!-- session:${id2} -->`).length, 2, "one block per session");
    const block = after.slice(open, after.indexOf(`<!-- /session:${id2} -->`));
    assert.match(block, /- \[x\] Funds returned to the operator's card/);
    assert.match(block, /Checkout showed the VAT line twice\./);
  });

  it("refuses a report whose end marker or block closer was removed", () => {
    const { archive, docsReport } = workspace();
    const ev = loadEvidence(makeSession(archive, { mode: "staging" }));
    fs.writeFileSync(docsReport, "# Report\n");
    assert.throws(
      () => appendToReport(docsReport, ev),
      (e: unknown) =>
        e instanceof ReportError &&
        e.code === "E2E_REPORT_MARKERS" &&
        /has no <!-- sessions:end --> marker; restore it/.test(e.message),
    );
    fs.writeFileSync(docsReport, `# Report\n<!-- session:${ev.sessionId} -->\nhalf a block\n<!-- sessions:end -->\n`);
    assert.throws(() => appendToReport(docsReport, ev), /without <!-- \/session:.*restore the closing marker/);
  });
});

describe("publishReport", () => {
  it("sandbox rehearsals stay in their folder unless asked, staging and live go to docs", () => {
    const { archive, docsReport, checklist } = workspace();
    const sandbox = makeSession(archive, { mode: "sandbox" });
    const p = publishReport(sandbox, { docsReport, checklist });
    assert.equal(p.docs, null);
    assert.ok(!fs.existsSync(docsReport));
    assert.ok(fs.existsSync(path.join(sandbox, "report.md")));
    assert.equal(publishReport(sandbox, { docsReport, checklist, toDocs: true }).docs?.action, "created");
    assert.equal(
      publishReport(sandbox, { docsReport, checklist }).docs?.action,
      "replaced",
      "once there, it is kept up to date",
    );
    const staging = makeSession(archive, { mode: "staging", at: STAGING_AT });
    assert.equal(publishReport(staging, { docsReport, checklist }).docs?.action, "appended");
  });

  it("never writes into a sealed folder, even once evidence is added (the re-seal writes it)", () => {
    const dir = makeSession(tmpArchive(), { mode: "live" });
    const first = writeSessionReport(dir);
    assert.ok(first.written);
    seal(dir);
    const sealed = fs.readFileSync(first.path, "utf8");
    assert.equal(writeSessionReport(dir).written, false);
    assert.equal(fs.readFileSync(first.path, "utf8"), sealed);
    confirmBank(dir, { date: day() });
    const again = writeSessionReport(dir);
    assert.equal(again.written, false);
    assert.equal(fs.readFileSync(first.path, "utf8"), sealed);
    assert.match(
      again.markdown,
      /stale: evidence was added after archiving; seal it again with `npm run archive -- <session-dir> --reseal "<reason>"`/,
    );
    assert.doesNotMatch(again.markdown, /Anchored :|payment-e2e:anchor/, "a stale seal is not anchored");
    assert.ok(writeSessionReport(dir, { sealing: true }).written);
  });

  it("a journal changed after its seal without the trace (a bank line written in by hand) is stale: never a fresh, anchored block over it", () => {
    const dir = makeSession(tmpArchive(), { mode: "live" });
    const first = writeSessionReport(dir);
    assert.equal(first.outcome, "PARTIAL", first.reason);
    seal(dir);
    // Appended by hand, chained as the writer chains it: the sealed report.md says PARTIAL.
    Journal.open(dir).append("bank_confirmed", {
      date: day(),
      note: null,
      refund_id: null,
      confirmed_by: "operator",
    });
    const again = writeSessionReport(dir);
    assert.equal(again.written, false);
    assert.equal(loadEvidence(dir).manifest!.stale, true, "the journal moved on since the seal");
    assert.match(again.markdown, /stale: evidence was added after archiving/);
    assert.doesNotMatch(
      again.markdown,
      /Anchored :|payment-e2e:anchor/,
      "a block over a changed journal is not anchored",
    );
  });

  it("a sealed staging block carries the anchor line: manifest sha256, trace head and lines", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    seal(dir);
    const md = renderSessionBlock(loadEvidence(dir));
    const block = blockAnchor(md);
    assert.equal(block.shaped.length, 1, "exactly one anchor-shaped line: the strict comment");
    assert.equal(block.problem, null);
    const a = block.anchor;
    assert.equal(a?.manifestSha256, manifestHash(dir));
    assert.equal(a?.traceHead, readManifest(dir).chain_head);
    assert.equal(a?.traceLines, readManifest(dir).trace_lines);
  });

  it("text from the operator or the backend cannot forge the anchor: escaped, it is a second anchor-shaped line, an error", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    seal(dir);
    const ev = loadEvidence(dir);
    const real = blockAnchor(renderSessionBlock(ev)).anchor!;
    const forged = formatAnchor({ ...real, traceLines: real.traceLines + 7 });
    ev.notes = [`\n${forged}`, forged];
    const md = renderSessionBlock(ev);
    assert.ok(!md.split("\n").includes(forged), "the forged line never appears as written");
    assert.equal(
      md.split("\n").filter((l) => parseAnchor(l) !== null).length,
      1,
      "only the tool's line is a strict anchor",
    );
    const block = blockAnchor(md);
    assert.equal(block.problem, "ambiguous", "the escaped copies still count: never a silent choice");
    assert.equal(block.anchor, null);
  });

  it("adds no file to a folder sealed without a report (verify would flag an extra file)", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    seal(dir);
    const r = writeSessionReport(dir);
    assert.equal(r.written, false);
    assert.ok(!fs.existsSync(r.path));
    assert.match(r.markdown, /- Manifest : `[0-9a-f]{64}`/);
  });

  it("two sandbox sessions (staging, then live with a fake bank confirmation): both blocks, outcome, boxes, comparison, GO", () => {
    const { archive, docsReport, checklist } = workspace();
    const staging = makeSession(archive, { mode: "staging", at: STAGING_AT });
    const live = makeSession(archive, { mode: "live", at: LIVE_AT });
    publishReport(staging, { docsReport, checklist });
    const withStaging = fs.readFileSync(docsReport, "utf8");
    const stagingBlock = withStaging.slice(
      withStaging.indexOf(`<!-- session:${path.basename(staging)} -->`),
      withStaging.indexOf(DOCS_MARKERS.end),
    );
    const pending = publishReport(live, { docsReport, checklist });
    assert.equal(pending.session.outcome, "PARTIAL");
    assert.equal(pending.goNoGo?.status, "🟡 PENDING");
    assert.match(fs.readFileSync(checklist, "utf8"), /\| 🟡 PENDING \| latest live session .*box 9 open/);
    confirmBank(live, { date: day() });
    // Every box ticked, but nothing sealed yet: a GO rests only on a sealed folder.
    const unsealed = publishReport(live, { docsReport, checklist });
    assert.equal(unsealed.session.outcome, "PASS");
    assert.equal(unsealed.goNoGo?.status, "🟡 PENDING");
    assert.match(unsealed.goNoGo?.reason ?? "", /: not sealed: npm run archive -- \S+ --sign-key <key>$/);
    vouchedSeal(live);
    const done = publishReport(live, { docsReport, checklist });
    assert.equal(done.session.outcome, "PASS");
    assert.equal(done.goNoGo?.status, "✅ GO");
    assert.equal(done.goNoGo?.signer?.identity, testSigner().identity);
    const key = done.goNoGo?.signer?.key ?? "";
    const text = fs.readFileSync(docsReport, "utf8");
    assert.ok(text.includes(stagingBlock), "the staging block is preserved byte for byte");
    // The block names who sealed it (the signature's signer), beside the anchor.
    assert.ok(text.includes(`- Sealed by : \`ops@example.com\` with \`${key}\` — `), text);
    assert.match(text, /### Session — 2026-11-20T14:02Z \(this machine's clock\) — prod live run/);
    assert.match(text, /\*\*Dry run vs live\*\* \(staging `\d{8}T\d{6}Z-staging` → live `\d{8}T\d{6}Z-live`\)/);
    assert.equal((text.match(/- \[x\] /g) ?? []).length, 8 + 9);
    // The row carries the seal it rests on: the manifest sha256 and the trace chain head.
    assert.match(
      fs.readFileSync(checklist, "utf8"),
      new RegExp(
        `\\| ✅ GO \\| live session ${path.basename(live)}: all 9 boxes ticked, bank statement \\d{4}-\\d\\d-\\d\\d — sealed by \`ops@example\\.com\` \\(\`${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\`\\) — manifest sha256 \`${manifestHash(live)}\` · trace head \`${readManifest(live).chain_head}\` — \\[session block\\]\\(PAYMENT_E2E_LIVE_REPORT\\.md#session-${path.basename(live)}\\) \\|`,
      ),
    );
  });
});
