// Driving the runbook the way its notebook cells do, without Jupyter. Imports lib/ only, so the
// kill scenario's child process can use it without loading the sandbox.
import assert from "node:assert/strict";
import type { Params } from "../../lib/config";
import type { JournalKind } from "../../lib/evidence/journal";
import { payHeadless } from "../../lib/clients/payer";
import { Runbook } from "../../lib/run/runbook";
import type { StepResult } from "../../lib/types";

export interface Secrets {
  OPERATOR_PASSWORD?: string;
  DATABASE_URL?: string;
  HYPERSWITCH_API_KEY?: string;
}

/** What a child process needs to open the same session (passed as JSON in its environment). */
export interface OpenSpec {
  params: Params;
  env: Secrets;
}

export function open(spec: OpenSpec): Runbook {
  return Runbook.open(spec.params, spec.env as Record<string, string | undefined>);
}

/**
 * Step 4 as an operator would do it: pay the (loopback) checkout, then confirm what was seen.
 * `browser` uses the runbook's own headless payer (Chromium when installed); otherwise the form
 * is posted over plain HTTP, which is quicker and needs no browser.
 */
export async function payAndConfirm(rb: Runbook, browser = false): Promise<StepResult> {
  if (browser) {
    const p = await rb.pay();
    assert.ok(p.auto, `the headless payer did not run: ${p.note}`);
    return confirmAsAnOperator(() => rb.confirmPaid());
  }
  const o = rb.order;
  assert.ok(o, "no order in the journal: step 3 must pass first");
  // The journal keeps the link with its client secret masked; ask the backend for the live one.
  const url = (await rb.getOrder(o.id)).payment_url;
  const paid = await payHeadless(url, "success", { browser: false });
  return confirmAsAnOperator(() => rb.confirmPaid({ last4: paid.last4, processor: paid.connector ?? "" }));
}

/**
 * The paid cell run again as its answer tells the operator: "not paid yet (order pending) … if you just
 * paid, give it a few seconds". Without the orchestrator's view the cell has only the marketplace's
 * word, which its webhook brings a moment after the checkout answered (later on a loaded machine).
 * Only that answer is retried (at most 10 s); any other is returned as it is.
 */
async function confirmAsAnOperator(confirm: () => Promise<StepResult>): Promise<StepResult> {
  let r = await confirm();
  for (let i = 0; i < 20 && r.status === "SKIPPED" && /^not paid yet \(order pending\)/.test(r.reason ?? ""); i++) {
    await new Promise((res) => setTimeout(res, 500));
    r = await confirm();
  }
  return r;
}

/** Pre-flight to step 4, each asserted PASS (a scenario's faults start after these). */
export async function upToPaid(
  rb: Runbook,
  opts: { browser?: boolean; log?: (r: StepResult) => void } = {},
): Promise<StepResult[]> {
  const out: StepResult[] = [];
  for (const step of [
    () => rb.run("preflight"),
    () => rb.run("login"),
    () => rb.run("product"),
    () => rb.run("order"),
    () => payAndConfirm(rb, opts.browser),
  ]) {
    const r = await step();
    opts.log?.(r);
    assert.equal(r.status, "PASS", `step ${r.step} (${r.name}) ${r.status}: ${r.reason ?? ""}`);
    out.push(r);
  }
  return out;
}

/** Steps 5–9 in notebook order, whatever their status. */
export async function verifyAndRefund(rb: Runbook): Promise<StepResult[]> {
  return [
    await rb.run("completed"),
    await rb.run("licence"),
    await rb.run("transfer"),
    await rb.run("refund"),
    await rb.run("refunded"),
  ];
}

export function assertPass(results: StepResult[]): void {
  for (const r of results) assert.equal(r.status, "PASS", `step ${r.step} (${r.name}) ${r.status}: ${r.reason ?? ""}`);
}

/** `0-4 PASS · 5 FAIL · 6-7 SKIPPED · 8 FAIL · 9 SKIPPED` from the session's latest results. */
export function statusLine(rb: Runbook): string {
  const runs: Array<{ from: number; to: number; status: string }> = [];
  for (let n = 0; n <= 9; n++) {
    const s = rb.results.get(rb.table[n]?.id ?? "")?.status ?? "not run";
    const last = runs[runs.length - 1];
    if (last && last.status === s && last.to === n - 1) last.to = n;
    else runs.push({ from: n, to: n, status: s });
  }
  return runs.map((r) => `${r.from === r.to ? r.from : `${r.from}-${r.to}`} ${r.status}`).join(" · ");
}

export function journalCount(rb: Runbook, kind: JournalKind): number {
  return rb.journal.all().filter((e) => e.kind === kind).length;
}

/** No step result anywhere says "undefined" (issue 4 §6: drift never surfaces three cells later). */
export function assertNoUndefined(rb: Runbook): void {
  for (const r of rb.results.values()) {
    assert.doesNotMatch(
      `${r.reason ?? ""} ${JSON.stringify(r.observed)}`,
      /undefined|NaN/,
      `step ${r.step} shows undefined/NaN`,
    );
  }
}
