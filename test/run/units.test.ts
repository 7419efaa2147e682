/** Pure parts of lib/run: the step table and its prerequisites, product choice (poll pacing: poll.test.ts). */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { chooseProduct } from "../../lib/run/preflight";
import { STEPS, blockedBy } from "../../lib/run/steps";
import type { StepResult } from "../../lib/types";
import { stepResult } from "./fixtures";

test("the step table has the seed's 9 steps plus pre-flight, in order", () => {
  assert.deepEqual(
    STEPS.map((s) => s.n),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal(STEPS[9].name, "License revoked + funds returned");
});

test("blockedBy names the failed prerequisite and its time", () => {
  const m = new Map<string, StepResult>([
    ["pay", stepResult(4, "PASS")],
    ["completed", stepResult(5, "FAIL")],
  ]);
  assert.equal(blockedBy("licence", m), "step 5 failed at 14:02:11Z (this machine's clock)");
  assert.equal(blockedBy("transfer", m), "step 5 failed at 14:02:11Z (this machine's clock)");
  assert.equal(blockedBy("refund", m), null, "refund stays available once money moved");
  assert.match(blockedBy("refunded", m)!, /step 8 .* has not run yet/);
  m.set("refund", stepResult(8, "SKIPPED", "REFUND is off"));
  assert.match(blockedBy("refunded", m)!, /step 8 was skipped \(REFUND is off\)/);
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
