/**
 * Issue 22 items 6–7: what the auditor reads agrees with what happened. The archive refuses an
 * incomplete run (`--incomplete "<reason>"`, never PASS) and money moved with no refund
 * (`--unrefunded "<reason>"`), and leaves no unscanned export behind; the kernel keeps its own copy of
 * what it displayed (outputs.jsonl). Fixture sessions here; the cases that need a real headless run
 * (a notebook that lost its outputs, shows another outcome or fewer results than the journal) are in
 * seal-rules-run.ts, run on test/e2e/notebook.test.ts's rehearsal.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { SecretLeakError, ScanPathError } from "../../lib/errors";
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
import type { Sink } from "../../lib/notebook";
import { Trace } from "../../lib/evidence/trace";
import { verifySession } from "../../lib/evidence/verify";
import { archiveSession } from "../../lib/host/archive";
import { incompleteReasons, type Notebook, readNotebook } from "../../lib/host/nbfile";
import { stepMarkdown } from "../../lib/report/display";
import { loadEvidence } from "../../lib/report/evidence";
import { validateBankDate } from "../../lib/report/bank";
import { deriveOutcome } from "../../lib/report/verdict";
import type { StepResult } from "../../lib/types";
import { makeSession, tmpArchive } from "../report/fixtures";
import { docsOf, files, pyVerify, sealRefused, sealedNotPass } from "./seal-rules-run";
import { archiveCommand } from "../cli/in-process";

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

/** `npm run archive` in this process (test/cli/in-process.ts): its lines and exit code, as the process prints them. */
const archiveCli = async (...args: string[]) => {
  const r = await archiveCommand(args);
  return { status: r.code, stdout: r.out, stderr: r.err };
};

describe("seal rules on fixture sessions", () => {
  test("money moved and no refund: refused (exit 1) naming --unrefunded; sealed with a reason, the report says so without advice a sealed session cannot follow", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "no-refund" });
    notebookFor(dir);
    const before = files(dir);
    const cli = await archiveCli(dir, "--docs-dir", docsOf(dir));
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.match(cli.stderr, /refused: money moved and no refund has succeeded — .* --unrefunded "<reason>"/);
    assert.match(cli.stderr, /E2E_ARCHIVE_UNREFUNDED/);
    assert.deepEqual(files(dir), before, "nothing written");
    const short = await archiveCli(dir, "--unrefunded", "ok");
    assert.equal(short.status, 2);
    assert.match(short.stderr, /--unrefunded needs a written reason of at least 10 characters/);
    await sealedNotPass(dir, { unrefunded: "refunded by hand from the Hyperswitch dashboard, ticket OPS-7" });
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
      html: true,
      docsDir: docsOf(dir),
      reseal: "an operator note added later",
    });
    assert.equal(again.status, "resealed");
    // The re-seal's audit page still says what no cell shows: the journaled exception holds, though
    // the flag was not given again (the page said nothing of it before).
    const page = fs.readFileSync(again.html ?? "", "utf8");
    assert.match(
      page,
      /Sealed with money moved and not refunded through the runbook, with the reason .{0,6}refunded by hand from the Hyperswitch dashboard, ticket OPS-7/,
    );
    assert.match(page, /Re-sealed on purpose by npm run archive --reseal/);
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
    await sealRefused(dir, {
      code: "E2E_ARCHIVE_INCOMPLETE",
      says: [
        /the run is incomplete: the executor stopped \(notebook not saved \(ENOSPC\)\) in cell 10; saved through cell 9; never ran: plot, report/,
        /--incomplete "<reason>"$/,
      ],
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
    await sealRefused(dir, { code: "E2E_ARCHIVE_OUTPUTS", says: [new RegExp(`not shown: step ${failed.step} FAIL`)] });
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
    await sealRefused(dir, { code: "E2E_ARCHIVE_UNREFUNDED" });
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
