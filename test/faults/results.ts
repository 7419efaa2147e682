// The scenario table the suite prints at the end and commits as test/faults/RESULTS.md
// (the closing note's table). DB columns are rows added while the scenario ran, read from the
// sandbox's own database, not from the runbook's view of it.
import * as fs from "node:fs";
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

export const RESULTS_FILE = path.join(__dirname, "RESULTS.md");

export function resultsMarkdown(list: Row[]): string {
  const failed = list.filter((r) => !r.ok).length;
  return [
    "# Fault-injection suite: scenario against outcome",
    "",
    "Written by `npm run test:faults` (test/faults/faults.test.ts). Each scenario runs the runbook against the",
    "sandbox with one fault knob set and asserts the outcome and the database state. orders / payments / refunds",
    "are the rows added to `orders`, `hs_payments` and `hs_refunds` during the scenario, counted in the sandbox's",
    "database; POST /orders is the number of order-creation requests the sandbox received.",
    "",
    renderTable(list),
    "",
    `${list.length - failed} passed, ${failed} failed.`,
    "",
  ].join("\n");
}

/** Prints the table and writes RESULTS.md (only for a complete run, so a filtered run never clobbers it). */
export function report(list: Row[], expected: number): void {
  console.log(`\n${renderTable(list)}\n`);
  if (list.length === expected) fs.writeFileSync(RESULTS_FILE, resultsMarkdown(list));
  else
    console.log(
      `fault suite: ${list.length} of ${expected} scenarios ran; ${path.basename(RESULTS_FILE)} left as it was`,
    );
}
