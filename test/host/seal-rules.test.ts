/**
 * Issue 22 items 6–7: what the auditor reads agrees with what happened. The kernel keeps its own
 * copy of what it displayed (outputs.jsonl); the archive refuses a notebook that lacks those outputs,
 * shows another outcome or fewer results than the journal (`--restore-outputs` writes the copy back),
 * an incomplete run (`--incomplete "<reason>"`, never PASS) and money moved with no refund
 * (`--unrefunded "<reason>"`), and leaves no unscanned export behind. One real headless run (the
 * executor, tslab, the sandbox) is copied for the notebook cases; fixtures for the rest.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { SecretLeakError, ArchiveRuleRefused, ScanPathError } from "../../lib/errors";
import { readTrace } from "../../lib/evidence/chain";
import {
  MANIFEST_FILE,
  OUTPUTS_FILE,
  REPORT_FILE,
  SECRET_HASHES_FILE,
  SESSION_HTML,
  SESSION_NOTEBOOK,
  TRACE_FILE,
} from "../../lib/evidence/files";
import { Journal, latestStepResults } from "../../lib/evidence/journal";
import { KernelCopy, readKernelCopy } from "../../lib/evidence/outputs";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { guardSink, recordSink } from "../../lib/notebook/sink";
import type { Sink } from "../../lib/report/display";
import { currentGitCommit, readManifest, writeManifest } from "../../lib/evidence/manifest";
import { Trace } from "../../lib/evidence/trace";
import { verifySession } from "../../lib/evidence/verify";
import { archiveSession } from "../../lib/host/archive";
import { staleOutcome } from "../../lib/host/seal-rules";
import { incompleteReasons, type Notebook, readNotebook, sourceOf } from "../../lib/host/nbfile";
import { stepMarkdown } from "../../lib/report/display";
import { loadEvidence } from "../../lib/report/evidence";
import { validateBankDate } from "../../lib/report/paperwork";
import { deriveOutcome } from "../../lib/report/verdict";
import type { StepResult } from "../../lib/types";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { rehearse, type Rehearsal } from "../../scripts/rehearse";
import { makeSession, tmpArchive } from "../report/fixtures";

const root = path.resolve(__dirname, "../..");

/** A copy of a session folder, unsealed (no manifest, HTML or report) unless `sealed`. */
function copyOf(dir: string, sealed = false): string {
  const to = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "seal-rules-")), path.basename(dir));
  fs.cpSync(dir, to, { recursive: true });
  if (!sealed) for (const f of [MANIFEST_FILE, SESSION_HTML, REPORT_FILE]) fs.rmSync(path.join(to, f), { force: true });
  return to;
}

/** The notebook as JupyterLab leaves it after Close and Shut Down without saving: no output anywhere. */
function blank(dir: string): void {
  const file = path.join(dir, SESSION_NOTEBOOK);
  const nb = readNotebook(file);
  for (const c of nb.cells) if (c.cell_type === "code") c.outputs = [];
  fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
}

const files = (dir: string) => fs.readdirSync(dir).sort();
const pyVerify = (dir: string) =>
  spawnSync("python3", [path.join(root, "verifier/verify_session.py"), dir], { encoding: "utf8" });
const docsOf = (dir: string) => path.join(path.dirname(path.dirname(dir)), "docs");

describe("a real headless run, then its notebook loses outputs", { timeout: 10 * 60 * 1000 }, () => {
  let sb: Sandbox;
  let run: Rehearsal;
  let archiveDir: string;
  before(async () => {
    archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), "seal-rules-run-"));
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 300, refundDelayMs: 300 } });
    run = await rehearse({ sandbox: sb, archiveDir });
    assert.ok(run.allPassed, `the run passed: ${JSON.stringify([...run.statuses])} ${run.execute.failure}`);
    assert.equal(run.archiveError, null);
  });
  after(async () => sb?.stop());

  test("the kernel kept its copy: every step cell's outputs, hashed into the manifest; verify agrees", () => {
    const copy = readKernelCopy(run.dir);
    assert.ok(copy);
    for (const cell of ["open", "run:preflight", "run:login", "pay", "paid", "run:refunded", "plot", "report"])
      assert.ok(copy.get(cell)?.outputs.length, `${cell} has outputs in the kernel's copy`);
    assert.ok(readManifest(run.dir).files.some((f) => f.path === OUTPUTS_FILE));
    assert.doesNotMatch(fs.readFileSync(path.join(run.dir, OUTPUTS_FILE), "utf8"), /client_secret=(?!\[REDACTED\])/);
    const v = verifySession(run.dir);
    assert.ok(v.ok, JSON.stringify(v.findings.filter((f) => f.level === "error")));
    assert.ok(v.findings.some((f) => f.level === "ok" && /shows every output the kernel displayed/.test(f.message)));
  });

  test("closed without saving: archive refuses naming the cells, writes nothing; --restore-outputs restores, records and seals", async () => {
    const dir = copyOf(run.dir);
    blank(dir);
    const before = files(dir);
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir) }), (e: unknown) => {
      assert.ok(e instanceof ArchiveRuleRefused, String(e));
      assert.equal(e.code, "E2E_ARCHIVE_OUTPUTS");
      assert.doesNotMatch(e.message, /\n/);
      assert.match(
        e.message,
        /payment-e2e\.ipynb lacks \d+ of the \d+ output\(s\) the kernel displayed \(outputs\.jsonl\), by cell: open \d+\/\d+, run:preflight/,
      );
      assert.match(e.message, /shows 0 of the journal's 10 step result\(s\)/);
      assert.match(e.message, /--restore-outputs \(recorded in the trace\)$/);
      return true;
    });
    assert.deepEqual(files(dir), before, "no manifest, HTML or report written");
    const r = await archiveSession(dir, { html: false, docsDir: docsOf(dir), restoreOutputs: true });
    assert.equal(r.status, "sealed");
    assert.equal(r.outcome, "PASS");
    const note = readTrace(path.join(dir, TRACE_FILE)).find(
      (e) => e.type === "note" && /outputs restored/.test(String((e.payload as { event?: string }).event)),
    );
    assert.ok(note, "the restore is in the trace");
    assert.ok(((note.payload as { cells: string[] }).cells ?? []).includes("run:login"));
    const nb = readNotebook(path.join(dir, SESSION_NOTEBOOK));
    assert.ok(nb.metadata.payment_e2e_restored, "the notebook says it was restored");
    const login = nb.cells.find((c) => sourceOf(c).includes('nb.run("login")'));
    assert.match(JSON.stringify(login?.outputs), /1\. Login as buyer \| ✅ PASS/);
    assert.ok(verifySession(dir).ok);
    const py = pyVerify(dir);
    assert.equal(py.status, 0, py.stdout);
    assert.match(py.stdout, /ok {4}payment-e2e\.ipynb: shows every output the kernel displayed/);
  });

  test("a sealed session stripped of its outputs: a re-seal with a reason is refused; a manifest rewritten over it fails verify", async () => {
    const dir = copyOf(run.dir, true);
    blank(dir);
    await assert.rejects(
      archiveSession(dir, { html: false, docsDir: docsOf(dir), reseal: "re-sealing after a notebook cleanup" }),
      (e: unknown) => e instanceof ArchiveRuleRefused && e.code === "E2E_ARCHIVE_OUTPUTS",
    );
    // As an older tool would have re-sealed it: the hashes match again, the agreement does not.
    const m = readManifest(dir);
    const t = Trace.open(path.join(dir, TRACE_FILE));
    writeManifest(dir, {
      sessionId: m.session_id,
      mode: m.mode,
      chainHead: t.head,
      traceLines: t.seq,
      toolVersion: m.tool_version,
      gitCommit: currentGitCommit(root),
    });
    t.close();
    const v = verifySession(dir);
    assert.equal(v.ok, false);
    assert.ok(
      v.findings.some(
        (f) => f.level === "error" && f.subject === SESSION_NOTEBOOK && /lacks \d+ of the \d+ output/.test(f.message),
      ),
      JSON.stringify(v.findings),
    );
    const cli = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(root, "lib/cli/verify.ts"), dir, "--no-anchor"],
      {
        cwd: root,
        encoding: "utf8",
      },
    );
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /ERROR payment-e2e\.ipynb: payment-e2e\.ipynb lacks/);
    // The standard-library verifier, from docs/evidence-format.md alone, says the same.
    const py = spawnSync("python3", [path.join(root, "verifier/verify_session.py"), dir], { encoding: "utf8" });
    assert.equal(py.status, 1, py.stdout + py.stderr);
    const tsLine = cli.stdout.split("\n").find((l) => l.startsWith("ERROR payment-e2e.ipynb"));
    assert.ok(tsLine && py.stdout.split("\n").includes(tsLine), `${tsLine}\n---\n${py.stdout}`);
    // And on the intact session both say OK, with the same agreement line.
    const ok = spawnSync("python3", [path.join(root, "verifier/verify_session.py"), run.dir], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, /ok {4}payment-e2e\.ipynb: shows every output the kernel displayed/);
  });

  test("a notebook showing another outcome than the kernel displayed is refused, naming both", async () => {
    const dir = copyOf(run.dir);
    const file = path.join(dir, SESSION_NOTEBOOK);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replaceAll("✅ Outcome: PASS", "❌ Outcome: FAIL"));
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir) }), (e: unknown) => {
      assert.ok(e instanceof ArchiveRuleRefused);
      assert.match(e.message, /payment-e2e\.ipynb shows outcome FAIL, the kernel displayed PASS/);
      return true;
    });
  });

  test("a step run after the report cell: the notebook's PASS is older than the journal's verdict, refused (review 3)", async () => {
    const dir = copyOf(run.dir);
    const file = path.join(dir, SESSION_NOTEBOOK);
    assert.equal(staleOutcome(dir, readNotebook(file)), null, "the finished run agrees with its journal");
    // A re-run step set the banner back to "in progress" (the notebook API does), the report cell still says PASS.
    const text = fs.readFileSync(file, "utf8");
    assert.ok(text.includes("✅ Outcome: PASS"), "the banner the report cell set");
    fs.writeFileSync(file, text.replaceAll("✅ Outcome: PASS", "**Outcome:** ⏳ in progress"));
    assert.match(
      staleOutcome(dir, readNotebook(file)) ?? "",
      /report cell shows outcome PASS, but the outcome banner is back to "in progress"/,
    );
    // The banner still says PASS, but the journal's latest result for step 9 is now a FAIL.
    fs.writeFileSync(file, text);
    const j = Journal.open(dir);
    const last9 = [...latestStepResults(j.all()).values()].find((r) => r.step === 9)!;
    j.append("step_result", {
      ...last9,
      status: "FAIL",
      reason: "re-run after the report: the order is refund_pending again",
    });
    assert.match(
      staleOutcome(dir, readNotebook(file)) ?? "",
      /notebook shows outcome PASS, but the journal's verdict is (FAIL|PARTIAL)/,
    );
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir) }), (e: unknown) => {
      assert.ok(e instanceof ArchiveRuleRefused, String(e));
      return true;
    });
    assert.ok(!fs.existsSync(path.join(dir, MANIFEST_FILE)), "nothing sealed");
  });

  test("no kernel copy, the saved notebook complete: held to the journal, it shows every result and seals PASS", async () => {
    const dir = copyOf(run.dir);
    fs.rmSync(path.join(dir, OUTPUTS_FILE));
    const r = await archiveSession(dir, { html: false, docsDir: docsOf(dir) });
    assert.equal(r.status, "sealed");
    assert.equal(r.outcome, "PASS");
  });

  test("no kernel copy (an older tool) and a blank notebook: refused on the journal, with no restore offered", async () => {
    const dir = copyOf(run.dir);
    fs.rmSync(path.join(dir, OUTPUTS_FILE));
    blank(dir);
    await assert.rejects(
      archiveSession(dir, { html: false, docsDir: docsOf(dir), restoreOutputs: true }),
      (e: unknown) => {
        assert.ok(e instanceof ArchiveRuleRefused);
        assert.match(e.message, /shows 0 of the journal's 10 step result\(s\); not shown: step 0 PASS, step 1 PASS/);
        assert.match(e.message, /restore the saved notebook/);
        return true;
      },
    );
  });

  test("notebook and kernel copy both deleted: refused, since the journal says npm run session made a notebook; --incomplete seals it, never as PASS", async () => {
    const dir = copyOf(run.dir);
    fs.rmSync(path.join(dir, OUTPUTS_FILE));
    fs.rmSync(path.join(dir, SESSION_NOTEBOOK));
    const before = files(dir);
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir) }), (e: unknown) => {
      assert.ok(e instanceof ArchiveRuleRefused);
      assert.equal(e.code, "E2E_ARCHIVE_OUTPUTS");
      assert.match(
        e.message,
        /the session notebook payment-e2e\.ipynb is missing, though the journal says npm run session made it/,
      );
      assert.match(e.message, /--incomplete "<reason>"/);
      return true;
    });
    assert.deepEqual(files(dir), before, "nothing written by the refusal");
    const r = await archiveSession(dir, {
      html: false,
      docsDir: docsOf(dir),
      incomplete: "notebook deleted by mistake before it was saved anywhere",
    });
    assert.equal(r.status, "sealed");
    assert.notEqual(r.outcome, "PASS");
    const exception = Journal.open(dir)
      .all()
      .find((e) => e.kind === "seal_exception");
    assert.deepEqual((exception?.data as { what?: string[] } | undefined)?.what, [
      "the session notebook payment-e2e.ipynb is missing",
    ]);
  });
});

// ------------------------------------------------------------------------------ fixtures

/** A notebook of runbook cells showing each journaled step result; `silent` cells show nothing. */
function notebookFor(
  dir: string,
  o: { silent?: string[]; meta?: Record<string, unknown>; opened?: boolean } = {},
): void {
  const results = [...latestStepResults(Journal.open(dir).all()).values()] as StepResult[];
  const cell = (id: string, source: string, shown: string[]) => ({
    cell_type: "code",
    id,
    metadata: {},
    execution_count: shown.length ? 1 : null,
    source,
    outputs: shown.map((s) => ({ output_type: "display_data", data: { "text/markdown": s }, metadata: {} })),
  });
  const nb = {
    cells: [
      // The open cell as the cell API shows it (`opened`): the notebook ran in a kernel.
      ...(o.opened ? [cell("open", "const nb = openNotebook(params);", ["**Outcome:** ⏳ in progress"])] : []),
      ...results.map((r) => cell(`s${r.step}`, `await nb.run("${r.id}");`, [stepMarkdown(r)])),
      ...["plot", "report"].map((m) => cell(m, `await nb.${m}();`, o.silent?.includes(m) ? [] : [`${m} shown`])),
    ],
    metadata: o.meta ?? {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), `${JSON.stringify(nb, null, 1)}\n`);
}

const archiveCli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", path.join(root, "lib/cli/archive.ts"), ...args], {
    cwd: root,
    encoding: "utf8",
  });

describe("seal rules on fixture sessions", () => {
  test("money moved and no refund: refused (exit 1) naming --unrefunded; sealed with a reason, the report says so without advice a sealed session cannot follow", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "no-refund" });
    notebookFor(dir);
    const before = files(dir);
    const cli = archiveCli(dir, "--docs-dir", docsOf(dir));
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.match(cli.stderr, /refused: money moved and no refund has succeeded — .* --unrefunded "<reason>"/);
    assert.match(cli.stderr, /E2E_ARCHIVE_UNREFUNDED/);
    assert.deepEqual(files(dir), before, "nothing written");
    const short = archiveCli(dir, "--unrefunded", "ok");
    assert.equal(short.status, 2);
    assert.match(short.stderr, /--unrefunded needs a written reason of at least 10 characters/);
    const r = await archiveSession(dir, {
      html: false,
      docsDir: docsOf(dir),
      unrefunded: "refunded by hand from the Hyperswitch dashboard, ticket OPS-7",
    });
    assert.equal(r.status, "sealed");
    assert.notEqual(r.outcome, "PASS");
    const report = fs.readFileSync(path.join(dir, REPORT_FILE), "utf8");
    assert.match(report, /\*\*Not refunded\*\*: money moved and no refund succeeded; the session was sealed so/);
    assert.match(report, /ticket OPS-7/);
    assert.doesNotMatch(report, /Refund now|it resumes\)/);
    assert.equal(Journal.open(dir).last("seal_exception")?.data.rule, "unrefunded");
    assert.ok(verifySession(dir).ok);
    assert.equal(pyVerify(dir).status, 0, pyVerify(dir).stdout);
    // confirm-bank on it asks for nothing a sealed session cannot do either.
    assert.throws(
      () => validateBankDate(loadEvidence(dir), new Date().toISOString().slice(0, 10)),
      /sealed unrefunded \("refunded by hand .*"\): there is nothing for the bank to confirm here/,
    );
    // A re-seal (evidence added on purpose) keeps the sealed reason: not asked again, not journaled twice (review 8).
    const t = Trace.open(path.join(dir, TRACE_FILE));
    t.append("note", { event: "operator note added after the seal" });
    t.close();
    const again = await archiveSession(dir, {
      html: false,
      docsDir: docsOf(dir),
      reseal: "an operator note added later",
    });
    assert.equal(again.status, "resealed");
    assert.equal(
      Journal.open(dir)
        .all()
        .filter((e) => e.kind === "seal_exception").length,
      1,
    );
    assert.match(fs.readFileSync(path.join(dir, REPORT_FILE), "utf8"), /ticket OPS-7/);
  });

  test("an incomplete run (the executor stopped; plot and report never ran): refused; with --incomplete sealed, never as PASS", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "pass" });
    notebookFor(dir, {
      silent: ["plot", "report"],
      meta: {
        payment_e2e: { executed_through: 9, complete: false, stopped_in: 10, reason: "notebook not saved (ENOSPC)" },
      },
    });
    assert.equal(deriveOutcome(loadEvidence(dir)).outcome, "PASS", "every step passed");
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir) }), (e: unknown) => {
      assert.ok(e instanceof ArchiveRuleRefused);
      assert.equal(e.code, "E2E_ARCHIVE_INCOMPLETE");
      assert.match(
        e.message,
        /the run is incomplete: the executor stopped \(notebook not saved \(ENOSPC\)\) in cell 10; saved through cell 9; never ran: plot, report/,
      );
      assert.match(e.message, /--incomplete "<reason>"$/);
      return true;
    });
    assert.ok(!fs.existsSync(path.join(dir, REPORT_FILE)));
    const r = await archiveSession(dir, {
      html: false,
      docsDir: docsOf(dir),
      incomplete: "disk filled after step 9, accepted",
    });
    assert.equal(r.outcome, "PARTIAL");
    const report = fs.readFileSync(path.join(dir, REPORT_FILE), "utf8");
    assert.doesNotMatch(report, /✅ PASS\*\*/);
    assert.match(report, /run incomplete \(.*never ran: plot, report\), sealed with --incomplete/);
  });

  test("--incomplete on a seal the scan refuses leaves no exception: the finished run seals as PASS (review 8)", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "pass" });
    notebookFor(dir, { silent: ["plot", "report"] });
    const file = path.join(dir, SESSION_NOTEBOOK);
    const pan = "4242".repeat(4); // built at run time: the pre-commit scan refuses one in a file
    const nb = readNotebook(file);
    nb.cells.push({
      cell_type: "markdown",
      id: "m",
      metadata: {},
      source: `paid with ${pan}`,
    } as Notebook["cells"][number]);
    fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
    await assert.rejects(
      archiveSession(dir, { html: false, docsDir: docsOf(dir), incomplete: "report cell never ran, accepted" }),
      (e: unknown) => e instanceof SecretLeakError,
    );
    assert.equal(Journal.open(dir).last("seal_exception"), undefined, "a refused seal journals no exception");
    // The operator removes the card number, finishes the run and archives without the flag.
    notebookFor(dir);
    const r = await archiveSession(dir, { html: false, docsDir: docsOf(dir) });
    assert.equal(r.status, "sealed");
    assert.equal(r.outcome, "PASS");
    assert.doesNotMatch(fs.readFileSync(path.join(dir, REPORT_FILE), "utf8"), /sealed with --incomplete/);
  });

  test("a cell that threw is named; the notebook's metadata decides nothing alone", () => {
    const nb = {
      cells: [
        {
          cell_type: "code",
          id: "mine",
          metadata: {},
          source: "throw new Error('x')",
          outputs: [{ output_type: "error", ename: "Error" }],
        },
        { cell_type: "code", id: "r8", metadata: {}, source: 'await nb.run("refund");', outputs: [] },
      ],
      metadata: { payment_e2e: { executed_through: 1, complete: false, errored: ["mine"], silent: ["r8"] } },
      nbformat: 4,
      nbformat_minor: 5,
    } as unknown as Notebook;
    assert.deepEqual(incompleteReasons(nb), ["a cell threw: mine (Error)", "never ran: r8"]);
  });

  test("the kernel's copy holds what was shown: redacted, the pay link's client secret masked, updates replace", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "seal-copy-"));
    const registry = new SecretRegistry();
    const token = `tok_${"q7".repeat(12)}`;
    registry.add(token, "test token");
    const shown: string[] = [];
    const inner: Sink = {
      markdown: (x) => shown.push(x),
      text: (x) => shown.push(x),
      html: () => {},
      svg: () => {},
      png: () => {},
    };
    const copy = new KernelCopy(dir);
    const run = { copy, cell: "pay", call: copy.begin("pay") };
    const link = guardSink(recordSink(inner, run, copy.newDisplay()), registry);
    const secret = `pay_x_secret_${"z9".repeat(10)}`;
    link.link("**Pay →**", `https://checkout.example/pay?client_secret=${secret}`);
    guardSink(recordSink(inner, run), registry).markdown(`token ${token} seen`);
    assert.ok(shown[0].includes(secret), "the operator sees the link unmasked");
    const text = fs.readFileSync(path.join(dir, OUTPUTS_FILE), "utf8");
    assert.ok(
      !text.includes(secret) && !text.includes(token),
      "neither the client secret nor the token is in outputs.jsonl",
    );
    assert.deepEqual(
      readKernelCopy(dir)
        ?.get("pay")
        ?.outputs.map((o) => o.data),
      [`[**Pay →**](https://checkout.example/pay?client_secret=[REDACTED])`, shown[1]],
    );
    run.call = copy.begin("paid"); // the paid cell overwrites the link in the pay cell's output
    run.cell = "paid";
    link.markdown("~~payment link~~");
    assert.deepEqual(readKernelCopy(dir)?.get("pay")?.outputs[0], { kind: "markdown", data: "~~payment link~~" });
  });

  test("a kernel's copy that cannot be written never throws into the cell; it says why", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "seal-copy-"));
    fs.mkdirSync(path.join(dir, OUTPUTS_FILE)); // not a file: every append fails
    const copy = new KernelCopy(dir);
    const call = copy.begin("open");
    copy.record("open", call, null, "markdown", "hello");
    assert.match(copy.failed ?? "", /EISDIR/);
  });

  test("a scan refusal leaves no unscanned HTML export behind", { timeout: 120_000 }, async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "pass" });
    const pan = "4242".repeat(4); // built at run time: the pre-commit scan refuses one in a file
    const nb = {
      cells: [{ cell_type: "markdown", id: "m", metadata: {}, source: `paid with ${pan}` }],
      metadata: {},
      nbformat: 4,
      nbformat_minor: 5,
    };
    fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), `${JSON.stringify(nb, null, 1)}\n`);
    await assert.rejects(archiveSession(dir, { docsDir: docsOf(dir) }), (e: unknown) => e instanceof SecretLeakError);
    assert.ok(!fs.existsSync(path.join(dir, SESSION_HTML)), "the HTML export is removed with the refusal");
    assert.ok(!fs.existsSync(path.join(dir, MANIFEST_FILE)));
  });

  test("outputs.jsonl gone: a notebook the cell API ran must still show every journaled result; a FAIL edited to PASS is refused", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "stuck" });
    notebookFor(dir, { opened: true });
    const failed = [...latestStepResults(Journal.open(dir).all()).values()].find((r) => r.status === "FAIL");
    assert.ok(failed, "the fixture run has a FAIL");
    const file = path.join(dir, SESSION_NOTEBOOK);
    const nb = readNotebook(file);
    const row = nb.cells.find((c) => c.id === `s${failed.step}`);
    assert.ok(row?.outputs?.length);
    row.outputs = JSON.parse(JSON.stringify(row.outputs).replaceAll("❌ FAIL", "✅ PASS"));
    fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
    assert.ok(!fs.existsSync(path.join(dir, OUTPUTS_FILE)), "no kernel copy to compare with");
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir) }), (e: unknown) => {
      assert.ok(e instanceof ArchiveRuleRefused, String(e));
      assert.equal(e.code, "E2E_ARCHIVE_OUTPUTS");
      assert.match(e.message, new RegExp(`not shown: step ${failed.step} FAIL`));
      return true;
    });
    assert.ok(!fs.existsSync(path.join(dir, MANIFEST_FILE)), "nothing sealed");
  });

  test("a refusal after the HTML export that is not a hit (the scan cannot run) leaves no unscanned export behind", {
    timeout: 120_000,
  }, async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "pass" });
    notebookFor(dir);
    // The kernel's hashes file, unreadable: the scan refuses rather than look for less (after the export).
    fs.writeFileSync(path.join(dir, SECRET_HASHES_FILE), "not a header\n");
    await assert.rejects(archiveSession(dir, { docsDir: docsOf(dir) }), (e: unknown) => e instanceof ScanPathError);
    assert.ok(!fs.existsSync(path.join(dir, SESSION_HTML)), "the export the scan never read is removed");
    assert.deepEqual(
      files(dir).filter((f) => f.includes(".html")),
      [],
      "no partial page either",
    );
    assert.ok(!fs.existsSync(path.join(dir, MANIFEST_FILE)));
  });

  test("a seal-rule refusal removes an export an interrupted archive left in a folder never sealed", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "no-refund" });
    notebookFor(dir);
    fs.writeFileSync(path.join(dir, SESSION_HTML), "<html>exported, never scanned</html>\n");
    await assert.rejects(
      archiveSession(dir, { html: false, docsDir: docsOf(dir) }),
      (e: unknown) => e instanceof ArchiveRuleRefused && e.code === "E2E_ARCHIVE_UNREFUNDED",
    );
    assert.ok(!fs.existsSync(path.join(dir, SESSION_HTML)), "the leftover export is removed with the refusal");
  });

  test("a secret in an --unrefunded reason refuses the seal before the reason is journaled", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "no-refund" });
    notebookFor(dir);
    const token = `tok_${"k4".repeat(12)}`;
    await assert.rejects(
      archiveSession(dir, {
        html: false,
        docsDir: docsOf(dir),
        extraSecrets: [token],
        unrefunded: `refunded by hand with the API, key ${token}`,
      }),
      (e: unknown) => {
        assert.ok(e instanceof SecretLeakError, String(e));
        assert.match(e.message, /--unrefunded "<reason>":1: secret/);
        return true;
      },
    );
    assert.equal(Journal.open(dir).last("seal_exception"), undefined, "no exception journaled");
    for (const f of files(dir))
      if (fs.statSync(path.join(dir, f)).isFile())
        assert.ok(!fs.readFileSync(path.join(dir, f), "utf8").includes(token), `${f} does not hold the token`);
    // Said without the secret, the same reason seals.
    const r = await archiveSession(dir, {
      html: false,
      docsDir: docsOf(dir),
      extraSecrets: [token],
      unrefunded: "refunded by hand with the API, ticket OPS-9",
    });
    assert.equal(r.status, "sealed");
  });
});
