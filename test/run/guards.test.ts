import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  clockSkew,
  liveConfirmPhrase,
  liveConfirmed,
  modeMatchesEnvironment,
  operatorEmailIsWellFormed,
  priceUnderCap,
  transportIsSafe,
} from "../../lib/run/guards";
import { keyMatchesMode } from "../../lib/run/orchestrator-guards";
import { dryRunDone, passedDryRuns, stagingDryRuns } from "../../lib/run/dry-run";
import { outcomeJudge } from "../../lib/report/outcome-check";
import { chainJournal, makeSession, seal, tmpArchive } from "../report/fixtures";
import { toV1 } from "../evidence/format-v2";
import { commitTrust, makeSigner } from "../evidence/signing";
import { SEAL_NAMESPACE, signFile } from "../../lib/evidence/signature";
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
  assert.match(r.warnings[0].message, /degraded/);
});

test("live requires https except on loopback", () => {
  assert.equal(transportIsSafe("live", "http://shop.example.com").refusals.length, 1);
  assert.equal(transportIsSafe("live", "https://shop.example.com").refusals.length, 0);
  assert.equal(transportIsSafe("live", "http://127.0.0.1:8080").refusals.length, 0);
  assert.equal(transportIsSafe("staging", "http://staging.example.com").refusals.length, 0);
});

test("live requires TLS on every connection: an https HYPERSWITCH_URL and a verified DATABASE_URL", () => {
  const base = "https://shop.example.com";
  const pg = (q: string) => `postgres://reader:${"s3cr3t"}-pw@db.example.com:5432/app${q}`;
  const hs = transportIsSafe("live", base, { hyperswitchUrl: "http://hs.example.com" }).refusals;
  assert.equal(hs.length, 1);
  assert.match(
    hs[0].message,
    /^refused \(https\): MODE=live requires an https HYPERSWITCH_URL .*the api-key would travel in clear/,
  );
  for (const q of ["", "?sslmode=disable", "?sslmode=prefer", "?sslmode=no-verify"]) {
    const r = transportIsSafe("live", base, { databaseUrl: pg(q) }).refusals;
    assert.equal(r.length, 1, q);
    assert.match(r[0].message, /requires DATABASE_URL with sslmode=verify-full .*add \?sslmode=verify-full$/);
    assert.ok(!r[0].message.includes("s3cr3t"), "the DSN is never echoed");
  }
  const req = transportIsSafe("live", base, { databaseUrl: pg("?sslmode=require") });
  assert.equal(req.refusals.length, 0);
  assert.match(req.warnings[0].message, /sslmode=require: write sslmode=verify-full/);
  for (const ok of [pg("?sslmode=verify-full"), pg("?sslmode=verify-ca"), "postgres://r:PASSWORD@127.0.0.1:5432/app"])
    assert.deepEqual(transportIsSafe("live", base, { databaseUrl: ok, hyperswitchUrl: "https://hs.example.com" }), {
      refusals: [],
      warnings: [],
    });
  assert.equal(
    transportIsSafe("staging", base, { databaseUrl: pg(""), hyperswitchUrl: "http://hs" }).refusals.length,
    0,
  );
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
  assert.match(ov.warnings[0].message, /overridden by operator/);
  const archive = tmpArchive();
  const ok = sealedStaging(archive, new Date(Date.UTC(2026, 10, 26, 11)));
  // Unsigned and unanchored (issue 24): refused; signed by an allowed signer and anchored in the committed report: GO.
  assert.match(dryRunDone("live", archive, "", { repoDir: rootOf(archive) }).refusals[0].message, /seal is unsigned/);
  signFile(path.join(ok, "manifest.json"), SIGNER.key, SEAL_NAMESPACE);
  const r = dryRunDone("live", archive, "", { ...commitTrust(rootOf(archive), [ok], [SIGNER]), judge: outcomeJudge });
  assert.equal(r.refusals.length, 0, r.refusals[0]?.message);
  assert.equal(r.dryRun?.sessionId, path.basename(ok));
});

/** The throwaway signer the gate's tests trust (issue 24); the repository root of a tmpArchive(). */
const SIGNER = makeSigner("gate-test@example.com");
const rootOf = (archive: string) => path.dirname(path.dirname(archive));

/** A staging dry run that passed every step, journal chained, sealed as the archive seals. */
function sealedStaging(archive: string, at: Date, o: { scenario?: "stuck" } = {}): string {
  const dir = makeSession(archive, { mode: "staging", at, scenario: o.scenario });
  chainJournal(dir);
  seal(dir);
  return dir;
}

describe("the live gate accepts only a sealed, verified staging session", () => {
  test("each kind of staging folder that is no dry run is refused, with the reason and the fix", () => {
    const archive = tmpArchive();
    const at = (h: number) => new Date(Date.UTC(2026, 10, 26, h));
    // Unsealed: passed every step, never archived.
    const unsealed = makeSession(archive, { mode: "staging", at: at(9) });
    chainJournal(unsealed);
    // A sandbox rehearsal renamed to look like a staging run.
    const sandbox = makeSession(tmpArchive(), { mode: "sandbox", at: at(10) });
    const renamed = path.join(archive, path.basename(sandbox).replace(/-sandbox$/, "-staging"));
    fs.renameSync(sandbox, renamed);
    // Sealed, then its report edited: verify fails.
    const edited = makeSession(archive, { mode: "staging", at: at(11) });
    fs.writeFileSync(path.join(edited, "report.md"), "# the block as sealed\n");
    chainJournal(edited);
    seal(edited);
    fs.appendFileSync(path.join(edited, "report.md"), "edited after sealing\n");
    // Sealed by an older tool: journal without prev/hash, manifest@1.
    const unchained = makeSession(archive, { mode: "staging", at: at(12) });
    seal(unchained);
    toV1(unchained);
    // Sealed and chained, but step 5 failed.
    const failed = sealedStaging(archive, at(13), { scenario: "stuck" });

    const trust = { repoDir: rootOf(archive) };
    const reasons = Object.fromEntries(stagingDryRuns(archive, trust).rejected.map((r) => [r.sessionId, r.reason]));
    assert.equal(stagingDryRuns(archive).passed.length, 0);
    assert.equal(reasons[path.basename(unsealed)], `not sealed — run npm run archive -- ${unsealed}`);
    assert.match(
      reasons[path.basename(renamed)],
      /records session \S+-sandbox in mode sandbox, not this staging folder: a renamed or copied session is no dry run/,
    );
    assert.match(reasons[path.basename(edited)], /^fails verify \(report\.md: .*\) — run npm run verify -- /);
    assert.match(reasons[path.basename(unchained)], /^journal not chained/);
    assert.match(reasons[path.basename(failed)], /^step 5 \(\w+\) FAIL: not every step passed/);

    const refusal = dryRunDone("live", archive, "", trust).refusals[0].message;
    assert.doesNotMatch(refusal, /\n/);
    assert.match(
      refusal,
      new RegExp(
        `no passed staging dry run in \\S+ \\(rejected: ${path.basename(failed)}: step 5 .*; ${path.basename(unchained)}: journal not chained.*; and 2 older staging session\\(s\\)\\) — run MODE=staging first and seal it`,
      ),
    );
    // A sealed, verified one is accepted once signed by an allowed signer and anchored in the committed report.
    const good = sealedStaging(archive, at(14));
    signFile(path.join(good, "manifest.json"), SIGNER.key, SEAL_NAMESPACE);
    const signed = { ...commitTrust(rootOf(archive), [good], [SIGNER]), judge: outcomeJudge };
    assert.deepEqual(passedDryRuns(archive, signed), [{ sessionId: path.basename(good), dir: good }]);
    assert.equal(dryRunDone("live", archive, "", signed).dryRun?.sessionId, path.basename(good));
  });
});

test("clock skew above 5 s is a warning", () => {
  assert.equal(clockSkew(4000).warnings.length, 0);
  assert.match(clockSkew(-7200).warnings[0].message, /clock skew -7.2 s/);
  assert.equal(clockSkew(-7200).warnings[0].kind, "clock_skew", "the session records it as a clock_skew anomaly");
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
