import { strict as assert } from "node:assert";
import { test } from "node:test";
import { cell, stepMarkdown } from "../../lib/report/display";
import { parsePastedTransfer, transferSqlFor } from "../../lib/clients/db";
import { backoffMs, retryAfterMs } from "../../lib/clients/http";
import { injectParameters, hygieneProblems, type Notebook } from "../../lib/notebook/nbfile";
import { nextDelayMs } from "../../lib/run/poll";
import { chooseProduct } from "../../lib/run/preflight";
import { STEPS, blockedBy } from "../../lib/run/steps";
import type { StepResult } from "../../lib/types";

const result = (step: number, status: StepResult["status"], reason?: string): StepResult => ({
  step,
  id: STEPS[step].id,
  name: STEPS[step].name,
  status,
  reason,
  observed: {},
  trace: { from: 1, to: 2 },
  startedAt: "2026-11-26T14:02:00.000Z",
  endedAt: "2026-11-26T14:02:11.000Z",
  durationMs: 11000,
});

test("the step table has the seed's 9 steps plus pre-flight, in order", () => {
  assert.deepEqual(
    STEPS.map((s) => s.n),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal(STEPS[9].name, "License revoked + funds returned");
});

test("blockedBy names the failed prerequisite and its time", () => {
  const m = new Map<number, StepResult>([
    [4, result(4, "PASS")],
    [5, result(5, "FAIL")],
  ]);
  assert.equal(blockedBy(6, m), "step 5 failed at 14:02:11Z");
  assert.equal(blockedBy(7, m), "step 5 failed at 14:02:11Z");
  assert.equal(blockedBy(8, m), null, "refund stays available once money moved");
  assert.match(blockedBy(9, m)!, /step 8 .* has not run yet/);
  m.set(8, result(8, "SKIPPED", "REFUND is off"));
  assert.match(blockedBy(9, m)!, /step 8 was skipped \(REFUND is off\)/);
});

test("poll pacing: ≤ 4 req/s early, gentler later, Retry-After and errors back off", () => {
  assert.equal(nextDelayMs(0, 0, null), 250);
  assert.equal(nextDelayMs(30, 0, null), 500);
  assert.equal(nextDelayMs(90, 0, null), 1000);
  assert.equal(nextDelayMs(200, 0, null), 2000);
  assert.equal(nextDelayMs(0, 2, null), 1000);
  assert.equal(nextDelayMs(0, 10, null), 10000);
  assert.equal(nextDelayMs(0, 0, 3000), 3000);
});

test("Retry-After as seconds or HTTP date, capped", () => {
  assert.equal(retryAfterMs("2"), 2000);
  assert.equal(retryAfterMs(undefined), null);
  assert.equal(retryAfterMs("99999"), 60000);
  const now = Date.parse("2026-11-26T14:00:00Z");
  assert.equal(retryAfterMs("Thu, 26 Nov 2026 14:00:05 GMT", now), 5000);
  assert.equal(retryAfterMs("soon"), null);
});

test("backoff is capped exponential with jitter", () => {
  assert.equal(
    backoffMs(1, () => 0),
    125,
  );
  assert.equal(
    backoffMs(1, () => 1),
    250,
  );
  assert.equal(
    backoffMs(10, () => 1),
    8000,
  );
});

test("product choice: by id, or the one closest under the cap", () => {
  const p = (id: string, price: number) => ({
    id,
    title: id,
    price_cents: price,
    currency: "EUR",
    vat_rate: 0.2,
    seller_id: "s",
    license_type: "personal",
  });
  const all = [p("a", 100), p("b", 417), p("c", 49900)];
  assert.equal(chooseProduct(all, "cheapest", 500).id, "b");
  assert.equal(chooseProduct(all, "c", 500).id, "c"); // the cap is enforced by the price guard, with its own message
  assert.throws(
    () => chooseProduct(all, "zzz", 500),
    /no product zzz in the marketplace — set PRODUCT to one of: a, b, c/,
  );
  assert.throws(() => chooseProduct([p("c", 49900)], "cheapest", 500), /no product costs ≤ 5.00 EUR incl. VAT/);
});

test("Markdown cells escape pipes and newlines", () => {
  assert.equal(cell("a|b\nc"), "a\\|b c");
  assert.equal(cell(null), "—");
  const md = stepMarkdown({
    ...result(5, "FAIL", "order completed not reached within 6 s"),
    observed: { "seconds-to-completed": null },
  });
  assert.match(md, /\| 5\. Poll \/orders\/:id until completed \| ❌ FAIL \| seconds-to-completed: — \| trace L1–L2 \|/);
  assert.match(md, /\*\*❌ FAIL:\*\* order completed not reached within 6 s/);
});

test("pasted psql output gives transfer id, status and amount", () => {
  const pasted = ` id | order_id | seller_id | amount | currency | stripe_transfer_id | status
----+----------+-----------+--------+----------+--------------------+--------
 st_1 | ord_9 | sel_1 | 375 | EUR | tr_1AbC | paid
(1 row)`;
  assert.deepEqual(parsePastedTransfer(pasted), {
    stripe_transfer_id: "tr_1AbC",
    status: "paid",
    amount: 375,
    currency: "EUR",
  });
  assert.deepEqual(parsePastedTransfer("(0 rows)"), {
    stripe_transfer_id: null,
    status: null,
    amount: null,
    currency: null,
  });
  assert.match(transferSqlFor("ord_1'x"), /WHERE order_id = 'ord_1''x'/);
});

test("parameters are injected after the parameters cell (papermill's convention); secrets are refused", () => {
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      { cell_type: "markdown", metadata: {}, source: "# t" },
      {
        cell_type: "code",
        metadata: { tags: ["parameters"] },
        source: 'let MODE = "sandbox";',
        outputs: [],
        execution_count: null,
      },
      { cell_type: "code", metadata: {}, source: "go()", outputs: [], execution_count: null },
    ],
  };
  const out = injectParameters(nb, { MODE: "staging", REFUND: true, MAX_PRICE: 5 });
  assert.equal(out.cells[2].metadata.tags?.[0], "injected-parameters");
  assert.equal(out.cells[2].source, '// Injected parameters\nMODE = "staging";\nREFUND = true;\nMAX_PRICE = 5;');
  assert.equal(injectParameters(out, { MODE: "live" }).cells.length, 4, "re-injection replaces, never stacks");
  assert.throws(
    () => injectParameters(nb, { OPERATOR_PASSWORD: "x" }),
    /OPERATOR_PASSWORD is a secret: pass it in the environment/,
  );
  assert.deepEqual(hygieneProblems(nb), []);
  nb.cells[2].outputs = [{ output_type: "stream", text: "x" }];
  nb.cells[2].execution_count = 3;
  assert.deepEqual(hygieneProblems(nb), ["cell 2 has 1 output(s)", "cell 2 has an execution count"]);
});
