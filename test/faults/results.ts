// The scenario table the suite prints at the end and writes to test/.artifacts/faults/ (git-ignored);
// `npm run faults:refresh` (this file's main) copies a full two-backend run into the committed
// test/faults/RESULTS.md. DB columns are rows added while the scenario ran, read from the
// sandbox's own database, not from the runbook's view of it.
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import type { Delta } from "./harness";

export interface Row {
  n: string;
  scenario: string;
  backend: string;
  /** What the runbook did, e.g. `0-9 PASS` or `5 FAIL · 6-7 SKIPPED`. */
  outcome: string;
  /** Short facts worth a column: anomalies, requests, the refusal. */
  notes: string;
  delta: Delta | null;
  ok: boolean;
}

export const rows: Row[] = [];

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderTable(list: Row[]): string {
  const head =
    "| # | scenario | backend | outcome | orders | payments | refunds | POST /orders | notes | test |\n|---|---|---|---|---:|---:|---:|---:|---|---|";
  const body = list.map((r) => {
    const d = r.delta;
    const num = (v: number | undefined) => (d ? String(v ?? 0) : "?");
    return `| ${r.n} | ${cell(r.scenario)} | ${r.backend} | ${cell(r.outcome)} | ${num(d?.orders)} | ${num(d?.payments)} | ${num(d?.refunds)} | ${num(d?.routes["POST /api/v1/orders"])} | ${cell(r.notes)} | ${r.ok ? "✔" : "✘"} |`;
  });
  return [head, ...body].join("\n");
}

/** Where every run writes its table: git-ignored, so a test run never changes a tracked file. */
export const RESULTS_DIR = path.join(__dirname, "..", ".artifacts", "faults");
export const RESULTS_FILE = path.join(RESULTS_DIR, "RESULTS.md");
/** What the run covered, for `npm run faults:refresh` to judge whether it was complete. */
export const RUN_FILE = path.join(RESULTS_DIR, "run.json");
/** The committed table, written only by `npm run faults:refresh` from a full run on both backends. */
export const COMMITTED_FILE = path.join(__dirname, "RESULTS.md");
export const BOTH_BACKENDS = ["pglite", "postgres"] as const;

export interface RunSummary {
  expected: number;
  ran: number;
  failed: number;
  backends: string[];
  subset: boolean;
}

export function resultsMarkdown(list: Row[]): string {
  const failed = list.filter((r) => !r.ok).length;
  return [
    "# Fault-injection suite: scenario against outcome",
    "",
    "Written by `npm run faults:refresh` from a full run of test/faults/faults.test.ts on PGlite and PostgreSQL",
    "(`npm run test:faults` writes its table to the git-ignored test/.artifacts/faults/ instead). Each scenario runs",
    "the runbook against the sandbox with one fault knob set and asserts the outcome and the database state.",
    "orders / payments / refunds are the rows added to `orders`, `hs_payments` and `hs_refunds` during the scenario,",
    "counted in the sandbox's database; POST /orders is the number of order-creation requests the sandbox received.",
    "",
    renderTable(list),
    "",
    `${list.length - failed} passed, ${failed} failed.`,
    "",
  ].join("\n");
}

/** Prints the table and writes it, with what the run covered, to the git-ignored RESULTS_DIR. */
export function report(list: Row[], expected: number): void {
  console.log(`\n${renderTable(list)}\n`);
  const summary: RunSummary = {
    expected,
    ran: list.length,
    failed: list.filter((r) => !r.ok).length,
    backends: [...new Set(list.map((r) => r.backend))],
    subset: Boolean(process.env.FAULTS_ONLY),
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(RESULTS_FILE, resultsMarkdown(list));
  fs.writeFileSync(RUN_FILE, `${JSON.stringify(summary, null, 2)}\n`);
  const rel = path.relative(process.cwd(), RESULTS_FILE);
  console.log(
    list.length === expected
      ? `fault suite: table written to ${rel}`
      : `fault suite: ${list.length} of ${expected} scenarios ran; table written to ${rel}`,
  );
}

/** Why a run may not replace the committed table, or null when it was a full, green run on both backends. */
export function refreshProblem(s: RunSummary | null, testExit: number | null): string | null {
  if (!s) return "the suite wrote no run summary";
  if (s.subset) return "FAULTS_ONLY selected a subset";
  const missing = BOTH_BACKENDS.filter((b) => !s.backends.includes(b));
  if (missing.length > 0) return `no rows from ${missing.join(" and ")}`;
  if (s.ran !== s.expected) return `${s.ran} of ${s.expected} scenarios ran`;
  if (s.failed > 0 || testExit !== 0) return `${s.failed} scenario(s) failed (test exit ${testExit})`;
  return null;
}

/**
 * `npm run faults:refresh`: a full run on PGlite and PostgreSQL, then the committed
 * test/faults/RESULTS.md from its table. Exit 2 without TEST_PG_URL or with FAULTS_ONLY; 1 when the
 * run was partial or failed (the committed table is then left as it was).
 */
function refresh(): number {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    console.log(
      "usage: TEST_PG_URL=postgres://… npm run faults:refresh   (full fault run on PGlite and PostgreSQL, then rewrites test/faults/RESULTS.md)",
    );
    return 0;
  }
  if (!process.env.TEST_PG_URL) {
    console.error(
      "faults:refresh: refused: the committed table needs both backends; set TEST_PG_URL to a PostgreSQL URL (postgres://…@127.0.0.1:5432/…) and run it again",
    );
    return 2;
  }
  if (process.env.FAULTS_ONLY) {
    console.error("faults:refresh: refused: FAULTS_ONLY selects a subset; unset it and run it again");
    return 2;
  }
  fs.rmSync(RUN_FILE, { force: true });
  const suite = path.join(__dirname, "faults.test.ts");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", suite], {
    stdio: "inherit",
    cwd: path.join(__dirname, "..", ".."),
  });
  let summary: RunSummary | null = null;
  try {
    summary = JSON.parse(fs.readFileSync(RUN_FILE, "utf8")) as RunSummary;
  } catch {
    summary = null;
  }
  const problem = refreshProblem(summary, r.status);
  if (problem) {
    console.error(`faults:refresh: refused to write ${path.relative(process.cwd(), COMMITTED_FILE)}: ${problem}`);
    return 1;
  }
  fs.copyFileSync(RESULTS_FILE, COMMITTED_FILE);
  console.log(`faults:refresh: wrote ${path.relative(process.cwd(), COMMITTED_FILE)}`);
  return 0;
}

if (require.main === module) process.exitCode = refresh();
