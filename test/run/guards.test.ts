import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import {
  clockSkew,
  dryRunDone,
  keyMatchesMode,
  liveConfirmPhrase,
  liveConfirmed,
  modeMatchesEnvironment,
  operatorEmailIsWellFormed,
  priceUnderCap,
  transportIsSafe,
} from "../../lib/run/guards";
import { Journal } from "../../lib/evidence/journal";
import type { StatusT } from "../../lib/contract";

const status = (
  environment: "staging" | "production",
  mode: "sandbox" | "live",
  st: "enabled" | "degraded" | "disabled" = "enabled",
): StatusT => ({ environment, services: { hyperswitch: { status: st, mode } } });

const envCases: Array<[string, Parameters<typeof modeMatchesEnvironment>[0], StatusT, number, RegExp | null]> = [
  ["live on production/live", "live", status("production", "live"), 0, null],
  [
    "live against staging (the seed's warning)",
    "live",
    status("staging", "sandbox"),
    1,
    /a live run against staging charges nothing real/,
  ],
  [
    "live on production with sandbox processors",
    "live",
    status("production", "sandbox"),
    1,
    /Hyperswitch is in sandbox mode/,
  ],
  ["staging on staging", "staging", status("staging", "sandbox"), 0, null],
  ["staging pointed at production", "staging", status("production", "live"), 2, /real money would move/],
  ["sandbox on a production-claiming backend", "sandbox", status("production", "sandbox"), 1, /environment=production/],
  ["Hyperswitch disabled", "staging", status("staging", "sandbox", "disabled"), 1, /Hyperswitch disabled/],
];
for (const [name, mode, st, n, msg] of envCases) {
  test(`mode vs environment: ${name}`, () => {
    const r = modeMatchesEnvironment(mode, st);
    assert.equal(r.refusals.length, n, r.refusals.map((e) => e.message).join("; "));
    if (msg) assert.match(r.refusals[0].message, msg);
    for (const e of r.refusals) assert.equal(e.code, "E2E_GUARD");
  });
}

test("degraded Hyperswitch is a warning, not a refusal", () => {
  const r = modeMatchesEnvironment("staging", status("staging", "sandbox", "degraded"));
  assert.equal(r.refusals.length, 0);
  assert.match(r.warnings[0], /degraded/);
});

test("live requires https except on loopback", () => {
  assert.equal(transportIsSafe("live", "http://shop.example.com").refusals.length, 1);
  assert.equal(transportIsSafe("live", "https://shop.example.com").refusals.length, 0);
  assert.equal(transportIsSafe("live", "http://127.0.0.1:8080").refusals.length, 0);
  assert.equal(transportIsSafe("staging", "http://staging.example.com").refusals.length, 0);
});

test("live confirmation must name the amount", () => {
  assert.equal(liveConfirmPhrase(500, "EUR"), "charge 5.00 EUR");
  assert.equal(liveConfirmed("live", "charge 5.00 EUR", 500, "EUR").refusals.length, 0);
  assert.match(liveConfirmed("live", "yes", 500, "EUR").refusals[0].message, /LIVE_CONFIRM = "charge 5.00 EUR"/);
  assert.equal(liveConfirmed("live", "charge 4.00 EUR", 500, "EUR").refusals.length, 1);
  assert.equal(liveConfirmed("staging", "", 500, "EUR").refusals.length, 0);
});

test("price cap incl. VAT", () => {
  assert.equal(priceUnderCap(500, "EUR", 500).refusals.length, 0);
  assert.match(priceUnderCap(49900, "EUR", 500).refusals[0].message, /499.00 EUR incl. VAT, above MAX_PRICE 5.00 EUR/);
});

test("key mode matches run mode by Hyperswitch's prefixes: prd_ is live; snd_, dev_, integ_ are not", () => {
  for (const k of ["snd_abcdefgh", "dev_abcdefgh", "integ_abcdefgh"]) {
    assert.match(keyMatchesMode("live", k).refusals[0]?.message ?? "", /MODE=live but .* not a production key/, k);
    assert.equal(keyMatchesMode("staging", k).refusals.length, 0, k);
    assert.equal(keyMatchesMode("sandbox", k).refusals.length, 0, k);
  }
  assert.equal(keyMatchesMode("live", "prd_abcdefgh").refusals.length, 0);
  assert.match(keyMatchesMode("staging", "prd_abcdefgh").refusals[0]?.message ?? "", /is a production key \(prd_…\)/);
  // Anything else is refused in every mode, with one line (the old "anything not snd_ is live" rule is gone).
  for (const mode of ["live", "staging", "sandbox"] as const)
    for (const k of ["prod_live_key_123", "sk_live_abc", "abcdef"]) {
      const r = keyMatchesMode(mode, k).refusals;
      assert.equal(r.length, 1, `${mode} ${k}`);
      assert.match(
        r[0].message,
        /^refused \(key-mode\): HYPERSWITCH_API_KEY has no Hyperswitch prefix \(prd_, snd_, dev_, integ_\)/,
      );
      assert.doesNotMatch(r[0].message, /\n/);
      assert.ok(!r[0].message.includes(k), "the key itself is never echoed");
    }
  assert.equal(keyMatchesMode("live", null).refusals.length, 0);
});

test("a live run needs a passed staging dry run, or a written override", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guards-"));
  assert.match(dryRunDone("live", dir, "").refusals[0].message, /no passed staging dry run/);
  const ov = dryRunDone("live", dir, "staging is down for maintenance, approved by CTO");
  assert.equal(ov.refusals.length, 0);
  assert.match(ov.warnings[0], /overridden by operator/);
  // A staging session that failed a step does not count; one that passed does.
  const failed = Journal.create(path.join(dir, "20261126T100000Z-staging"), {
    sessionId: "20261126T100000Z-staging",
    mode: "staging",
  });
  for (let n = 0; n <= 9; n++) failed.append("step_result", { step: n, status: n === 5 ? "FAIL" : "PASS" });
  assert.equal(dryRunDone("live", dir, "").refusals.length, 1);
  const passed = Journal.create(path.join(dir, "20261126T110000Z-staging"), {
    sessionId: "20261126T110000Z-staging",
    mode: "staging",
  });
  for (let n = 0; n <= 9; n++) passed.append("step_result", { step: n, status: "PASS" });
  const ok = dryRunDone("live", dir, "");
  assert.equal(ok.refusals.length, 0);
  assert.equal(ok.dryRun?.sessionId, "20261126T110000Z-staging");
});

test("clock skew above 5 s is a warning", () => {
  assert.equal(clockSkew(4000).warnings.length, 0);
  assert.match(clockSkew(-7200).warnings[0], /clock skew -7.2 s/);
});

// Pre-flight's refusal keeps its wording; the rule is the parameters cell's (lib/config.ts).
const emailCases: Array<[string, string | null]> = [
  ["ops-test@example.com", null],
  [
    "ops..test@example.com",
    'refused (email): OPERATOR_EMAIL "ops..test@example.com" is not a well-formed address — set OPERATOR_EMAIL to the buyer account\'s address, e.g. ops-test@example.com',
  ],
  [
    "ops@",
    'refused (email): OPERATOR_EMAIL "ops@" is not a well-formed address — set OPERATOR_EMAIL to the buyer account\'s address, e.g. ops-test@example.com',
  ],
];
for (const [email, refusal] of emailCases) {
  test(`operator email guard: ${email}`, () => {
    const r = operatorEmailIsWellFormed(email);
    assert.deepEqual(
      r.refusals.map((e) => e.message),
      refusal ? [refusal] : [],
    );
    for (const e of r.refusals) assert.equal(e.code, "E2E_GUARD");
  });
}
