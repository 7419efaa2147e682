/**
 * Issue 22 items 6–7 on a real headless run (the executor, tslab, the sandbox): the kernel keeps its
 * own copy of what it displayed (outputs.jsonl), and the archive refuses a copy of the run whose
 * notebook lacks those outputs, shows another outcome or fewer results than the journal
 * (`--restore-outputs` writes the copy back). The run is test/e2e/notebook.test.ts's: these tests only
 * read it and copy its folder, so one rehearsal serves both (a second one cost about 9 s of CPU in
 * npm test, issue 26 item 4). The fixture cases are in seal-rules.test.ts.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { ArchiveRuleRefused, type SealRuleCode } from "../../lib/errors";
import { readTrace } from "../../lib/evidence/chain";
import {
  MANIFEST_FILE,
  OUTPUTS_FILE,
  REPORT_FILE,
  SESSION_HTML,
  SESSION_NOTEBOOK,
  TRACE_FILE,
} from "../../lib/evidence/files";
import { Journal, latestStepResults } from "../../lib/evidence/journal";
import { readKernelCopy } from "../../lib/evidence/outputs";
import { currentGitCommit, readManifest, writeManifest } from "../../lib/evidence/manifest";
import { Trace } from "../../lib/evidence/trace";
import { verifySession } from "../../lib/evidence/verify";
import { type ArchiveOptions, type ArchiveResult, archiveSession } from "../../lib/host/archive";
import { BUILD_DIR } from "../../lib/host/build";
import { checkHtmlAgreement, staleOutcome } from "../../lib/host/seal-rules";
import { frameEdits, layoutEdits } from "./html-edits";
import { pyHtmlCheck } from "./html-fixture";
import { type Notebook, readNotebook, sourceOf } from "../../lib/host/nbfile";
import type { Rehearsal } from "../../scripts/rehearse";

const root = path.resolve(__dirname, "../..");

/** A copy of a session folder, unsealed (no manifest, HTML or report) unless `sealed`. */
function copyOf(dir: string, sealed = false): string {
  const to = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "seal-rules-")), path.basename(dir));
  fs.cpSync(dir, to, { recursive: true });
  if (!sealed) for (const f of [MANIFEST_FILE, SESSION_HTML, REPORT_FILE]) fs.rmSync(path.join(to, f), { force: true });
  return to;
}

/** The manifest rewritten over the folder as it is, as an older tool (or a hand) would re-seal it: hashes match again. */
function resealOver(dir: string): void {
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
}

/** The notebook as JupyterLab leaves it after Close and Shut Down without saving: no output anywhere. */
function blank(dir: string): void {
  const file = path.join(dir, SESSION_NOTEBOOK);
  const nb = readNotebook(file);
  for (const c of nb.cells) if (c.cell_type === "code") c.outputs = [];
  fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
}

export const files = (dir: string) => fs.readdirSync(dir).sort();
export const pyVerify = (dir: string) =>
  spawnSync("python3", [path.join(root, "verifier/verify_session.py"), dir], { encoding: "utf8" });
export const docsOf = (dir: string) => path.join(path.dirname(path.dirname(dir)), "docs");

/**
 * The archive seals `dir` under a written exception (`--incomplete`, `--unrefunded`: `opts`, with no
 * HTML export unless `opts.html`), never as PASS; its result. Shared with seal-rules.test.ts.
 */
export async function sealedNotPass(dir: string, opts: ArchiveOptions): Promise<ArchiveResult> {
  const r = await archiveSession(dir, { html: false, docsDir: docsOf(dir), ...opts });
  assert.equal(r.status, "sealed");
  assert.notEqual(r.outcome, "PASS");
  return r;
}

/**
 * The archive refuses to seal `dir` (no HTML export, the docs beside its archive, then `opts`): a seal
 * rule's refusal (ArchiveRuleRefused), of `code` when one is given, on one line, its message matching
 * each of `says`. Shared by these tests and seal-rules.test.ts.
 */
export async function sealRefused(
  dir: string,
  o: { code?: SealRuleCode; says?: RegExp[]; opts?: ArchiveOptions } = {},
): Promise<void> {
  await assert.rejects(archiveSession(dir, { html: false, docsDir: docsOf(dir), ...o.opts }), (e: unknown) => {
    assert.ok(e instanceof ArchiveRuleRefused, String(e));
    if (o.code) assert.equal(e.code, o.code);
    assert.doesNotMatch(e.message, /\n/);
    for (const re of o.says ?? []) assert.match(e.message, re);
    return true;
  });
}

/** Registers the tests inside the caller's describe; `get` returns its finished rehearsal (sandbox faults 300 ms). */
export function sealRulesOnARealRun(get: () => Rehearsal): void {
  describe("then its notebook loses outputs (seal rules, issue 22 items 6–7)", () => {
    let run: Rehearsal;
    before(() => {
      run = get();
      assert.ok(run.allPassed, `the run passed: ${JSON.stringify([...run.statuses])} ${run.execute.failure}`);
      assert.equal(run.archiveError, null);
    });

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
      await sealRefused(dir, {
        code: "E2E_ARCHIVE_OUTPUTS",
        says: [
          /payment-e2e\.ipynb lacks \d+ of the \d+ output\(s\) the kernel displayed \(outputs\.jsonl\), by cell: open \d+\/\d+, run:preflight/,
          /shows 0 of the journal's 10 step result\(s\)/,
          /--restore-outputs \(recorded in the trace\)$/,
        ],
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
      // report.md says so too: its reader sees outputs the tool wrote back, not ones the operator saved.
      assert.match(
        fs.readFileSync(path.join(dir, REPORT_FILE), "utf8"),
        /session · operator · the notebook's outputs were written back from the kernel's copy \(outputs\.jsonl\) by npm run archive --restore-outputs \(\d+ cells?: open, run:preflight/,
      );
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
      await sealRefused(dir, { code: "E2E_ARCHIVE_OUTPUTS", opts: { reseal: "re-sealing after a notebook cleanup" } });
      // As an older tool would have re-sealed it: the hashes match again, the agreement does not.
      resealOver(dir);
      const v = verifySession(dir);
      assert.equal(v.ok, false);
      assert.ok(
        v.findings.some(
          (f) => f.level === "error" && f.subject === SESSION_NOTEBOOK && /lacks \d+ of the \d+ output/.test(f.message),
        ),
        JSON.stringify(v.findings),
      );
      // `npm run verify` as a real process, precompiled (build/lib: the run just built it, as every
      // session's preparation does), without a TypeScript compile.
      const cli = spawnSync(process.execPath, [path.join(root, BUILD_DIR, "cli", "verify.js"), dir, "--no-anchor"], {
        cwd: root,
        encoding: "utf8",
      });
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

    test("the audit page shows what the notebook shows; one of its outputs changed and resealed fails both verifiers, naming the cell", () => {
      const ok = verifySession(run.dir);
      assert.ok(
        ok.findings.some(
          (f) => f.level === "ok" && f.subject === SESSION_HTML && /shows every code cell's outputs/.test(f.message),
        ),
        JSON.stringify(ok.findings),
      );
      assert.match(
        pyVerify(run.dir).stdout,
        /ok {4}payment-e2e\.html: shows every code cell's outputs as payment-e2e\.ipynb does/,
      );
      const dir = copyOf(run.dir, true);
      const file = path.join(dir, SESSION_HTML);
      const page = fs.readFileSync(file, "utf8");
      // The login step's row, in the login cell's output (its first occurrence): PASS made FAIL.
      const edited = page.replace(/(<td>1\. Login as buyer<\/td>\s*<td>)✅ PASS/, "$1❌ FAIL");
      assert.notEqual(edited, page, "the page shows the login row");
      fs.writeFileSync(file, edited);
      resealOver(dir);
      const v = verifySession(dir);
      const f = v.findings.find((x) => x.level === "error" && x.subject === SESSION_HTML);
      assert.equal(f?.code, "HTML_DISAGREES", JSON.stringify(v.findings.filter((x) => x.level === "error")));
      assert.match(
        f?.message ?? "",
        /^payment-e2e\.html disagrees with payment-e2e\.ipynb at code cell \d+ \(run:login\), output 1 of \d+: at character \d+ the HTML shows .*❌ FAIL.*, the notebook .*✅ PASS/,
      );
      assert.equal(v.findings.filter((x) => x.level === "error").length, 1, "nothing else changed");
      const py = pyVerify(dir);
      assert.equal(py.status, 1, py.stdout);
      assert.match(
        py.stdout,
        /ERROR payment-e2e\.html: .*at code cell \d+ \(run:login\), output 1 of \d+: .*\[HTML_DISAGREES\]/,
      );
    });

    test("the real page with an input, a Markdown cell, a hidden output, a forged block or two cells swapped: refused at the seal, reported by both verifiers", () => {
      const page = fs.readFileSync(path.join(run.dir, SESSION_HTML), "utf8");
      const base = copyOf(run.dir, true);
      for (const [what, edited] of [...frameEdits(page), ...layoutEdits(page)]) {
        fs.writeFileSync(path.join(base, SESSION_HTML), edited);
        assert.throws(
          () => checkHtmlAgreement(base),
          (e: unknown) => {
            assert.ok(e instanceof ArchiveRuleRefused, `${what}: ${e}`);
            assert.equal(e.code, "E2E_ARCHIVE_OUTPUTS");
            return true;
          },
          what,
        );
        resealOver(base);
        const f = verifySession(base).findings.find((x) => x.level === "error" && x.subject === SESSION_HTML);
        assert.equal(f?.code, "HTML_DISAGREES", what);
      }
      // The Python verifier's HTML check, one process for all the pages (its whole run is tested above).
      const nb = readNotebook(path.join(run.dir, SESSION_NOTEBOOK));
      const edits = frameEdits(page);
      const lines = pyHtmlCheck(edits.map(([, p]): [string, Notebook] => [p, nb]));
      for (const [i, line] of lines.entries())
        assert.match(line, /^ERROR payment-e2e\.html: .*\[HTML_DISAGREES\]$/, edits[i][0]);
      assert.equal(lines.length, edits.length);
    });

    test("an audit page made before the notebook's last save is refused at the seal, naming the cell, and the page is removed", async () => {
      const dir = copyOf(run.dir);
      // The page the run's archive made, then the notebook saved again: a line printed in the plot cell.
      fs.copyFileSync(path.join(run.dir, SESSION_HTML), path.join(dir, SESSION_HTML));
      const file = path.join(dir, SESSION_NOTEBOOK);
      const nb = readNotebook(file);
      const plot = nb.cells.find((c) => sourceOf(c).includes("nb.plot("));
      assert.ok(plot?.outputs);
      plot.outputs.push({ output_type: "stream", name: "stdout", text: ["printed after the export\n"] } as never);
      fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
      // Sealed without an export (the archive's own check of the page it would seal as it is).
      await sealRefused(dir, {
        code: "E2E_ARCHIVE_OUTPUTS",
        says: [
          /payment-e2e\.html disagrees with payment-e2e\.ipynb at code cell \d+ \(plot\), the HTML shows 1 output\(s\), the notebook 2/,
          /archive again, which exports the page from it: npm run archive -- /,
        ],
      });
      assert.ok(!fs.existsSync(path.join(dir, MANIFEST_FILE)), "nothing sealed");
      assert.ok(!fs.existsSync(path.join(dir, SESSION_HTML)), "the page that disagreed is gone");
      // Archived again, the page is exported from the notebook as saved: the run's own archive (the
      // rehearsal's, through this check) is that path; not repeated here (an nbconvert export, ~3 s).
    });

    test("a notebook showing another outcome than the kernel displayed is refused, naming both", async () => {
      const dir = copyOf(run.dir);
      const file = path.join(dir, SESSION_NOTEBOOK);
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replaceAll("✅ Outcome: PASS", "❌ Outcome: FAIL"));
      await sealRefused(dir, { says: [/payment-e2e\.ipynb shows outcome FAIL, the kernel displayed PASS/] });
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
      await sealRefused(dir);
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
      await sealRefused(dir, {
        says: [
          /shows 0 of the journal's 10 step result\(s\); not shown: step 0 PASS, step 1 PASS/,
          /restore the saved notebook/,
        ],
        opts: { restoreOutputs: true },
      });
    });

    test("notebook and kernel copy both deleted: refused, since the journal says npm run session made a notebook; --incomplete seals it, never as PASS", async () => {
      const dir = copyOf(run.dir);
      fs.rmSync(path.join(dir, OUTPUTS_FILE));
      fs.rmSync(path.join(dir, SESSION_NOTEBOOK));
      const before = files(dir);
      await sealRefused(dir, {
        code: "E2E_ARCHIVE_OUTPUTS",
        says: [
          /the session notebook payment-e2e\.ipynb is missing, though the journal says npm run session made it/,
          /--incomplete "<reason>"/,
        ],
      });
      assert.deepEqual(files(dir), before, "nothing written by the refusal");
      await sealedNotPass(dir, { incomplete: "notebook deleted by mistake before it was saved anywhere" });
      const exception = Journal.open(dir)
        .all()
        .find((e) => e.kind === "seal_exception");
      assert.deepEqual((exception?.data as { what?: string[] } | undefined)?.what, [
        "the session notebook payment-e2e.ipynb is missing",
      ]);
    });

    test("the report cell showed PASS, then a later cell threw: sealed --incomplete, the audit page and report.md say so, never PASS", async () => {
      const dir = copyOf(run.dir);
      const file = path.join(dir, SESSION_NOTEBOOK);
      const nb = readNotebook(file);
      // An operator's scratch cell after the report cell, which threw (tslab skips what follows).
      nb.cells.push({
        cell_type: "code",
        id: "scratch",
        metadata: {},
        execution_count: 99,
        source: "throw new Error('operator scratch');",
        outputs: [{ output_type: "error", ename: "Error", evalue: "operator scratch", traceback: [] }],
      } as unknown as Notebook["cells"][number]);
      fs.writeFileSync(file, `${JSON.stringify(nb, null, 1)}\n`);
      const r = await sealedNotPass(dir, {
        html: true,
        incomplete: "an operator's scratch cell threw after the report cell",
      });
      assert.ok(r.html, "the audit page was written");
      const page = fs.readFileSync(r.html, "utf8");
      assert.match(page, /Sealed as incomplete \(a cell threw: scratch \(Error\)\)/);
      assert.match(page, /the sealed outcome is never PASS, whatever a cell below shows/);
      assert.doesNotMatch(fs.readFileSync(path.join(dir, REPORT_FILE), "utf8"), /\*\*Outcome\*\* : \*\*✅ PASS/);
    });
  });
}
