/**
 * The step table: the one place that declares the runbook's steps. Each step has an id, a title,
 * the seed's row label, its prerequisites, the facts it records (typed, with their display labels),
 * the acceptance boxes it decides, for the poll steps its plot series, and its behaviour: `run(ctx)`,
 * in its own module under ./steps/ (issue 21 §1). The notebook template, the report rows, the
 * acceptance boxes, the plot, the comparison and the anomalies all read it; functions that take a
 * `table` default to `STEPS`, so a test can hand them a copy.
 *
 * The shape (issue 21):
 *   table (this file) ── def.run(ctx) ──▶ ./steps/<id>.ts      one module per step's behaviour
 *        │                                  └─ ./steps/{orders,payment,refunds}.ts  shared reads
 *        └── Session.runStep(id) (./session.ts): gates (pinned parameters, `requires`, `waitsFor`),
 *            deadline, trace range, builds the StepContext (./step-context.ts), journals the result
 *   Runbook (./runbook.ts): a facade over one Session: `run(id, opts)` and the cells that are not
 *   steps (the pay link, the paid cell, pasted psql output, the report's last look).
 * Steps are addressed by id; a number is the position here, for display only. State between steps
 * is the journal (the order, the product, the payment) or the facts of the steps a step requires.
 *
 * What a declaration holds, and how facts are validated, is lib/run/step-model.ts. Over 300 lines:
 * the ten declarations themselves, and the two readings of prerequisites (`blockedBy`, `awaitedChecks`).
 */
import type { StepResult } from "../types";
import {
  clock,
  machineClock,
  MACHINE_CLOCK,
  defineSteps,
  fact,
  refundStepNo,
  stepLabel,
  stepNo,
  within5min,
  type StepDef,
  type StepTable,
} from "./step-model";
import { runCompleted } from "./steps/completed";
import { runLicence } from "./steps/licence";
import { runLogin } from "./steps/login";
import { runOrder } from "./steps/order";
import { runPay } from "./steps/pay";
import { runPreflightStep } from "./steps/preflight";
import { runProduct } from "./steps/product";
import { refundOff, runRefund } from "./steps/refund";
import { runRefunded } from "./steps/refunded";
import { runTransfer } from "./steps/transfer";

export { clock, MACHINE_CLOCK, machineClock, refundStepNo, stepLabel, stepNo };

export const STEPS: StepTable = defineSteps([
  {
    id: "preflight",
    run: runPreflightStep,
    gate: true,
    title: "Pre-flight gate",
    intro:
      "Refuses to go on unless the backend is healthy, `/status` matches MODE (live ⇒ production with Hyperswitch live), Hyperswitch is not disabled, there is ≥ 1 product, the operator email is well-formed, the money guards pass, and (with `DATABASE_URL` set) the database query of steps 7 and 9 answers, before any money moves. Same gate as `npm run preflight`.",
    name: "Pre-flight",
    observed: "health, environment, hyperswitch, products, amount",
    requires: [],
    cells: ['await nb.run("preflight");'],
    facts: {
      dry_run: fact.text("dry run"),
      health: fact.text("health"),
      environment: fact.text("environment"),
      hyperswitch: fact.text("hyperswitch"),
      version: fact.text("version"),
      products: fact.int("products"),
      product: fact.text("product"),
      amount: fact.money("amount incl. VAT"),
      vat: fact.percent("VAT"),
      operator: fact.text("operator"),
      database: fact.text("database"),
    },
    boxes: [
      { short: "pre-flight", label: "Pre-flight returns 0 against the {mode} target.", check: { type: "passed" } },
    ],
  },
  {
    id: "login",
    run: runLogin,
    title: "Log in as the buyer",
    name: "Login as buyer",
    observed: "access_token captured ✓ / 401 / other",
    requires: ["preflight"],
    cells: ['await nb.run("login");'],
    facts: {
      token_captured: { label: "login", kind: "bool", yes: "access_token captured ✓", no: "no token" },
      http_status: fact.int("HTTP"),
      expires_in_s: fact.int("expires_in_s"),
      user: fact.id("user"),
    },
  },
  {
    id: "product",
    run: runProduct,
    title: "List marketplace products and pick the ~5 EUR test product",
    name: "List marketplace products",
    observed: "product_id, price",
    requires: ["login"],
    cells: ['await nb.run("product");'],
    facts: {
      product_id: fact.id("product_id"),
      title: fact.text("title"),
      price: fact.money("price incl. VAT"),
      net_price: fact.money("net"),
      vat: fact.percent("VAT"),
    },
  },
  {
    id: "order",
    run: runOrder,
    title: "Create the order (POST /orders)",
    intro: "Sent with an Idempotency-Key derived from the session: re-running this cell resumes the same order.",
    name: "POST /orders (create)",
    observed: "order_id, hyperswitch_payment_id, payment_url received",
    requires: ["product"],
    cells: ['await nb.run("order");'],
    facts: {
      order_id: fact.id("order_id", "order"),
      hyperswitch_payment_id: fact.id("hyperswitch_payment_id", "payment"),
      payment_url_received: { label: "payment_url", kind: "bool", yes: "received ✓", no: "missing" },
      total: fact.money("total"),
      status: fact.text("status"),
    },
  },
  {
    id: "pay",
    run: runPay,
    title: "Pay on the hosted Hyperswitch checkout",
    intro:
      "Open the link, pay with **your own personal card**, then fill in the **paid** cell below with what you saw (last 4 digits and processor, nothing more) and run it.",
    name: "Pay via Hyperswitch checkout",
    observed: "card last 4, transaction time, processor used",
    requires: ["order"],
    runHint: "pay at the link in step {n}, then run the paid cell",
    cells: [
      "await nb.pay();",
      '// Paid cell: after paying, fill in the last 4 digits and the connector the checkout showed\n// (leave both empty when the headless payer paid a local double), then run it.\nawait nb.paid({ last4: "", processor: "" });',
    ],
    movesMoney: true,
    facts: {
      card_last4: fact.text("card_last4"),
      transaction_time: fact.time("transaction_time"),
      time_source: fact.text("time from"),
      processor: fact.text("processor"),
      orchestrator: fact.text("orchestrator"),
      amount_check: fact.text("amounts"),
      charged: fact.money("orchestrator amount"),
      net_amount: fact.money("net_amount"),
      surcharge: fact.money("surcharge"),
      captured: fact.money("captured (amount_received)"),
    },
  },
  {
    id: "completed",
    run: runCompleted,
    title: "Poll the order until `completed`",
    name: "Poll /orders/:id until completed",
    observed: "seconds-to-completed, max 5xx during the window",
    requires: ["pay"],
    cells: ['await nb.run("completed");'],
    finalOnPass: true,
    poll: { title: "poll order until completed", secondsFact: "seconds_to_completed" },
    facts: {
      seconds_to_completed: fact.seconds("seconds-to-completed"),
      counted_from: fact.text("counted from"),
      completed_at: fact.time("completed at (the order's own time)"),
      not_observed: fact.text("not observed"),
      max_5xx: fact.int("max 5xx during the window"),
      attempts: fact.int("attempts"),
      last_status: fact.text("last_status"),
      orchestrator: fact.text("orchestrator"),
      amount_check: fact.text("amounts"),
    },
    boxes: [within5min("completed", "seconds_to_completed", "counted_from")],
  },
  {
    id: "licence",
    run: runLicence,
    title: "Licence attribution (GET /licenses/mine)",
    name: "License attribution (GET /licenses/mine)",
    observed: "license_id, type, rights JSON",
    requires: ["completed"],
    cells: ['await nb.run("licence");'],
    finalOnPass: true,
    facts: {
      license_id: fact.id("license_id", "licence"),
      type: fact.text("type"),
      rights: fact.json("rights"),
    },
    boxes: [
      {
        short: "licence visible",
        label: "License is attributed AND visible in `/licenses/mine`.",
        check: { type: "present", fact: "license_id", prefix: "licence " },
      },
    ],
  },
  {
    id: "transfer",
    run: runTransfer,
    title: "`seller_transfers` row (read-only DB)",
    intro:
      "With `DATABASE_URL` set this reads the row in a READ ONLY transaction. Without it, the cell shows the SQL to run; paste psql's output into a new cell as `` await nb.pasteTransfer(`…`); `` and run it.",
    name: "seller_transfers row (DB)",
    observed: "amount, stripe_transfer_id, status",
    requires: ["completed"],
    cells: ['await nb.run("transfer");'],
    finalOnPass: true,
    facts: {
      amount: fact.money("amount"),
      stripe_transfer_id: fact.id("stripe_transfer_id", "seller_transfer"),
      status: fact.text("status"),
      expected_amount: fact.money("expected from the order's split"),
      split: fact.text("split (marketplace API)"),
    },
    boxes: [
      {
        short: "transfer id",
        label: "`seller_transfers` row exists with non-NULL `stripe_transfer_id`.",
        check: { type: "present", fact: "stripe_transfer_id" },
      },
    ],
  },
  {
    id: "refund",
    run: runRefund,
    skipReason: refundOff,
    title: "Refund (opt-in)",
    intro:
      'Waits for steps 5–7: it acts once they passed, or after one of them FAILED (the failure is recorded as the reason). To refund before they ran, say why in this cell: `await nb.run("refund", { reason: "…" });` (recorded in the report).',
    name: "Refund (POST /orders/:id/refund)",
    observed: "refund_id, status",
    // Money moved at the payment step: the refund stays available even when verification failed (issue 4),
    // but never before the checks had their chance, unless the operator says why (issue 22 §3).
    requires: ["pay"],
    waitsFor: ["completed", "licence", "transfer"],
    cells: ['await nb.run("refund");'],
    returnsMoney: true,
    facts: {
      before_checks: fact.text("refunded before the checks passed"),
      refund_id: fact.id("refund_id", "refund"),
      status: fact.text("status"),
      http: fact.int("http"),
      attempt: fact.int("attempt"),
      amount: fact.money("amount"),
      orchestrator: fact.text("orchestrator"),
    },
    boxes: [{ short: "refund 2xx", label: "Refund POST returns 2xx.", check: { type: "http2xx", fact: "http" } }],
  },
  {
    id: "refunded",
    run: runRefunded,
    confirmsRefund: true,
    title: "Poll until refunded and the licence is gone",
    name: "License revoked + funds returned",
    observed: "seconds-to-refunded, license disappeared from /mine",
    requires: ["refund"],
    cells: ['await nb.run("refunded");'],
    finalOnPass: true,
    poll: { title: "poll order until refunded", secondsFact: "seconds_to_refunded" },
    facts: {
      seconds_to_refunded: fact.seconds("seconds-to-refunded"),
      counted_from: fact.text("counted from"),
      refunded_at: fact.time("refunded at (the order's own time)"),
      licence_gone: { label: "license disappeared from /mine", kind: "bool", yes: "yes ✓", no: "no" },
      max_5xx: fact.int("max 5xx during the window"),
      funds_returned: fact.text("funds returned"),
      orchestrator: fact.text("orchestrator"),
      refunded: fact.text("refunded (ledger)"),
      transfer_reversal: fact.text("seller transfer after the refund"),
    },
    boxes: [
      within5min("refunded", "seconds_to_refunded", "counted_from"),
      {
        short: "licence gone",
        label: "License disappears from `/licenses/mine` after refund.",
        check: { type: "true", fact: "licence_gone" },
      },
    ],
  },
]);

/** The step numbered `n` in a table. */
export function stepDef(n: number, table: StepTable = STEPS): StepDef {
  const d = table[n];
  if (!d || d.n !== n) throw new RangeError(`unknown step ${n}; steps are 0 to ${table.length - 1}`);
  return d;
}

/** The step with this id in a table. */
export function stepById(id: string, table: StepTable = STEPS): StepDef {
  const d = table.find((s) => s.id === id);
  if (!d) throw new RangeError(`unknown step id ${id}; ids are ${table.map((s) => s.id).join(", ")}`);
  return d;
}

/** The poll steps, in order (the plot's facets and the report's poll windows). */
export const pollSteps = (table: StepTable = STEPS): StepDef[] => table.filter((s) => s.poll);

// ------------------------------------------------------------------------------------ order

/** Results by step id: the live session's and the report's (lib/evidence/journal.ts latestStepResults). */
export type StepResults = ReadonlyMap<string, StepResult>;

/** What the operator does to run a step, for "has not run yet" reasons; `{n}` is its number. */
const runHintOf = (d: StepDef): string => (d.runHint ?? "run its cell first").replaceAll("{n}", String(d.n));

/**
 * Whether the step `id`'s awaited checks (`waitsFor`) had their chance: `failed` names the first that
 * FAILED (a reason to act), `wait` the first that has not passed and did not fail (not run, SKIPPED,
 * INTERRUPTED), with what to do. Both null when every awaited step passed (or it awaits none).
 * @example awaitedChecks("refund", results) // { failed: null, wait: "step 6 (…) has not run yet" }
 */
export function awaitedChecks(
  id: string,
  results: StepResults,
  table: StepTable = STEPS,
): { failed: string | null; wait: string | null } {
  let wait: string | null = null;
  for (const w of stepById(id, table).waitsFor ?? []) {
    const req = stepById(w, table);
    const r = results.get(req.id);
    if (r?.status === "FAIL")
      return {
        failed: `${stepLabel(req)} FAILED at ${machineClock(r.endedAt)}: ${r.reason ?? "no reason"}`,
        wait: null,
      };
    if (wait || r?.status === "PASS") continue;
    wait = !r
      ? `${stepLabel(req)} has not run yet`
      : r.status === "SKIPPED"
        ? `${stepLabel(req)} was skipped (${r.reason ?? "no reason"})`
        : `${stepLabel(req)} was interrupted at ${machineClock(r.endedAt)}`;
  }
  return { failed: null, wait };
}

/**
 * Why the step `id` may not act yet, or null when every prerequisite passed.
 * @example blockedBy("licence", results) // "step 5 failed at 14:02:11Z (this machine's clock)"
 */
export function blockedBy(
  id: string,
  results: StepResults,
  table: StepTable = STEPS,
  money: { moved: boolean } = { moved: false },
): string | null {
  const def = stepById(id, table);
  for (const rid of def.requires) {
    const req = stepById(rid, table);
    // Once money moved, the step that gives it back never waits on the step that moved it.
    if (money.moved && def.returnsMoney && req.movesMoney) continue;
    const r = results.get(req.id);
    if (!r) return `${stepLabel(req)} has not run yet — ${runHintOf(req)}`;
    if (r.status === "FAIL") return `step ${req.n} failed at ${machineClock(r.endedAt)}`;
    if (r.status === "INTERRUPTED")
      return `step ${req.n} was interrupted at ${machineClock(r.endedAt)} — run its cell again first`;
    if (r.status === "SKIPPED") return `step ${req.n} was skipped (${r.reason ?? "no reason"})`;
  }
  return null;
}
