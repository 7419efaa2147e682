/**
 * Both verifiers as an auditor runs them, `npm run verify` (lib/cli/verify.ts, spawned) and
 * verifier/verify_session.py, with their finding codes read back; and a sealed fixture session.
 * Shared by test/evidence/parity.test.ts and test/evidence/timestamp.test.ts.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { archiveSession, type ArchiveOptions } from "../../lib/host/archive";
import { makeSession, tmpArchive } from "../report/fixtures";
import { Journal, latestStepResults } from "../../lib/evidence/journal";
import { banner, stepMarkdown } from "../../lib/report/display";
import { inertText } from "../../lib/report/inert";
import { writeSessionReport } from "../../lib/report/report";
import { main as verifyMain } from "../../lib/cli/verify";

const ROOT = path.resolve(__dirname, "../..");
export const PYTHON = process.env.PYTHON ?? "python3";

export interface VerifierRun {
  code: number | null;
  /** Codes of the ERROR findings, sorted, without repeats. */
  errors: string[];
  out: string;
}

const CODE = /^ERROR\s.*\s\[([A-Z0-9_]+)\]$/;
function parse(stdout: string, stderr: string, status: number | null): VerifierRun {
  const codes = new Set<string>();
  for (const l of stdout.split("\n")) {
    const m = CODE.exec(l);
    if (m) codes.add(m[1]);
  }
  return { code: status, errors: [...codes].sort(), out: stdout + stderr };
}

/** verifier/verify_session.py on a folder, with the living report; extra args appended. */
export function runPython(dir: string, report: string, extra: string[] = []): VerifierRun {
  const r = spawnSync(PYTHON, [path.join(ROOT, "verifier", "verify_session.py"), dir, "--report", report, ...extra], {
    encoding: "utf8",
  });
  if (r.error) throw r.error;
  return parse(r.stdout, r.stderr, r.status);
}

/**
 * `npm run verify` (lib/cli/verify.ts) on a folder, with the living report; extra args appended.
 * Its `main` is called in this process with the repository as its folder, as the script runs it:
 * the same lines and exit code, without a Node and a TypeScript compile per call (the command line
 * itself is run by test/cli/npm-scripts.test.ts and test/evidence/auditor-readme.test.ts).
 */
export function runTs(dir: string, report: string, extra: string[] = []): VerifierRun {
  const out: string[] = [];
  const err: string[] = [];
  const code = verifyMain(
    [dir, "--report", report, ...extra],
    (l) => out.push(l),
    (l) => err.push(l),
    ROOT,
  );
  const text = (xs: string[]) => (xs.length ? `${xs.join("\n")}\n` : "");
  return parse(text(out), text(err), code);
}

/** A markdown display output, as the cell API writes it. */
const md = (text: string): MdOutput => ({ output_type: "display_data", data: { "text/markdown": text }, metadata: {} });
interface MdOutput {
  output_type: string;
  data: { "text/markdown": string };
  metadata: object;
}

/**
 * A notebook as the runbook leaves it after its report cell: the open cell's session line and banner,
 * one cell per step showing its result, the report cell's block and outcome line; the report cell's
 * `outcome_stated` journaled as the cell journals it; `unrun`: sources of cells after it that never ran. Plus an HTML page of those outputs rendered by the
 * audit page's own Markdown renderer (the archive's nbconvert export needs Jupyter).
 */
export function writeRunNotebook(dir: string, o: { unrun?: string[] } = {}): void {
  const id = path.basename(dir);
  const report = writeSessionReport(dir);
  const ev = report.evidence;
  Journal.open(dir).append("outcome_stated", {
    by: "report_cell",
    outcome: report.outcome,
    reason: report.reason,
    money_moved: ev.moneyMoved,
  });
  const icon = { PASS: "✅", FAIL: "❌", PARTIAL: "⚠️" }[report.outcome];
  const line = `**Outcome: ${icon} ${report.outcome}** — ${inertText(report.reason)}`;
  const code = (n: number, source: string, outputs: MdOutput[]) => ({
    cell_type: "code",
    execution_count: n,
    id: `c${n}`,
    metadata: {},
    outputs,
    source: [source],
  });
  const steps = [...latestStepResults(Journal.open(dir).all()).values()];
  const cells = [
    code(1, "const nb = openNotebook(params, tslab);", [
      md(`**Session** \`${id}\` · mode **sandbox**`),
      md(banner(`${icon} Outcome: ${report.outcome}`, [inertText(report.reason)])),
    ]),
    ...steps.map((r, i) => code(i + 2, `await nb.run("${r.id}");`, [md(stepMarkdown(r))])),
    code(steps.length + 2, "await nb.report();", [md(report.markdown), md(line)]),
    // Cells after the report cell that never ran (an incomplete run).
    ...(o.unrun ?? []).map((source, i) => ({ ...code(steps.length + 3 + i, source, []), execution_count: null })),
  ];
  const notebook = { cells, metadata: {}, nbformat: 4, nbformat_minor: 5 };
  fs.writeFileSync(path.join(dir, "payment-e2e.ipynb"), `${JSON.stringify(notebook, null, 1)}\n`);
}

/**
 * A sealed sandbox session whose notebook, like the runbook's, names its session id and shows its
 * outcome: a declined card (step 4 FAIL, no money moved), so the outcome an edit would forge is PASS.
 */
export async function sealedFixture(
  opts: Pick<ArchiveOptions, "tsa" | "html"> = { tsa: null },
): Promise<{ dir: string; cleanup: () => void }> {
  const archive = tmpArchive();
  const dir = makeSession(archive, {
    mode: "sandbox",
    scenario: "declined",
    at: new Date(Date.UTC(2026, 10, 20, 14, 2, 11)),
  });
  writeRunNotebook(dir);
  // The page the auditor opens, exported by the archive as for a real session (nbconvert and the audit
  // template): the seal and both verifiers hold it to the notebook, template frame and all.
  const r = await archiveSession(dir, { html: true, docsDir: path.join(archive, "..", "..", "docs"), ...opts });
  assert.equal(r.status, "sealed");
  assert.equal(r.outcome, "FAIL");
  return { dir, cleanup: () => fs.rmSync(path.dirname(path.dirname(archive)), { recursive: true, force: true }) };
}
