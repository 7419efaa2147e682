// §7.7 Unsafe runs are refused before any POST: each with a one-line error that names the fix, no
// order in the database, and no POST /orders (nor any POST at all, for pre-flight refusals) in the
// sandbox's own request counts.
import assert from "node:assert/strict";
import * as path from "node:path";
import type { Params } from "../../../lib/config";
import { ConfigError } from "../../../lib/errors";
import { liveConfirmPhrase } from "../../../lib/run/guards";
import { TRACE_FILE } from "../../../lib/evidence/files";
import type { Runbook } from "../../../lib/run/runbook";
import { readTrace } from "../../../lib/evidence/chain";
import type { Mode } from "../../../lib/types";
import type { Faults } from "../../../sandbox/index";
import type { Secrets } from "../drive";
import { ROUTE, type Delta, type Scenario, type ScenarioCtx } from "../harness";

const oneLine = (s: string) => assert.doesNotMatch(s, /\n/, "a refusal is one line");

function nothingPosted(d: Delta): void {
  assert.deepEqual([d.orders, d.payments, d.refunds], [0, 0, 0]);
  assert.equal(d.routes[ROUTE.orders], undefined, "POST /orders reached the sandbox");
  const posts = Object.keys(d.routes).filter((r) => r.startsWith("POST "));
  assert.deepEqual(posts, [], `POSTs reached the sandbox: ${posts.join(", ")}`);
}

/** Pre-flight refuses; steps 1–3 then say SKIPPED and send nothing. Returns the refusals. */
async function refusedAtPreflight(
  ctx: ScenarioCtx,
  mode: Mode,
  params: Params,
  opts: { faults?: Partial<Faults>; secrets?: Secrets } = {},
): Promise<{ rb: Runbook; refusals: string[]; d: Delta }> {
  if (opts.faults) ctx.w.sb.setFaults(opts.faults);
  const rb = ctx.w.open(ctx.w.newSession(mode), params, opts.secrets);
  try {
    const s0 = await rb.run("preflight");
    assert.equal(s0.status, "FAIL", "pre-flight let an unsafe run through");
    const refusals = rb.preflightReport?.refusals ?? [];
    assert.ok(refusals.length >= 1);
    for (const r of refusals) {
      oneLine(r);
      assert.match(r, /^refused \([a-z-]+\): \S/, r);
    }
    for (const r of [await rb.run("login"), await rb.run("product"), await rb.run("order")]) {
      assert.equal(r.status, "SKIPPED", `step ${r.step} ran after a refused pre-flight`);
      assert.match(r.reason ?? "", /failed at|was skipped/);
    }
    assert.equal(rb.journal.last("order_intent"), undefined);
    const d = await ctx.delta();
    nothingPosted(d);
    return { rb, refusals, d };
  } finally {
    await rb.close();
  }
}

/** Runbook.open itself refuses (bad parameter or environment): no HTTP request of any kind. */
async function refusedAtOpen(
  ctx: ScenarioCtx,
  params: Params,
  secrets: Secrets,
  variable: string,
  fix: RegExp,
): Promise<string> {
  const id = ctx.w.newSession();
  let err: unknown = null;
  try {
    await ctx.w.open(id, params, secrets).close();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  assert.equal(err.variable, variable);
  oneLine(err.message);
  assert.match(err.message, fix);
  const d = await ctx.delta();
  nothingPosted(d);
  assert.deepEqual(d.routes, {}, "no request at all");
  return err.message;
}

const envRefusal = (refusals: string[]) => refusals.find((r) => r.startsWith("refused (environment)")) ?? "";
/** For the table: what was refused and the fix it names, without the middle. */
function short(s: string): string {
  const [what, ...fix] = s.split(" — ");
  if (!fix.length || what.length < 60) return s;
  return `${what.slice(0, what.indexOf(":", what.indexOf(")")) + 1)} … — ${fix.join(" — ")}`;
}

export const guardScenarios: Scenario[] = [
  {
    n: "7a",
    title: "MODE=sandbox, /status says production",
    async run(ctx) {
      const { refusals } = await refusedAtPreflight(
        ctx,
        "sandbox",
        {},
        { faults: { statusEnvironment: "production" } },
      );
      assert.match(
        envRefusal(refusals),
        /^refused \(environment\): MODE=sandbox but the backend says environment=production: real money would move — use MODE=live with its confirmations, or point BASE_URL at staging$/,
      );
      return { outcome: "pre-flight FAIL · 1-3 SKIPPED", notes: short(envRefusal(refusals)) };
    },
  },
  {
    n: "7b",
    title: "MODE=staging, /status says production",
    async run(ctx) {
      const { refusals } = await refusedAtPreflight(
        ctx,
        "staging",
        {},
        { faults: { statusEnvironment: "production" } },
      );
      assert.match(
        envRefusal(refusals),
        /^refused \(environment\): MODE=staging but the backend says environment=production/,
      );
      return { outcome: "pre-flight FAIL · 1-3 SKIPPED", notes: short(envRefusal(refusals)) };
    },
  },
  {
    n: "7c",
    title: "MODE=live against staging (confirmation, dry-run override given)",
    async run(ctx) {
      // Every other live requirement is met, so the environment is the one thing refused.
      const params = {
        LIVE_CONFIRM: liveConfirmPhrase(500, "EUR"),
        DRY_RUN_OVERRIDE: "fault suite: no dry run needed to test a refusal",
      };
      // A production-shaped key (pre-flight only checks its prefix; it reaches no orchestrator here).
      const secrets = { HYPERSWITCH_API_KEY: "prd_fault_suite_placeholder" };
      const { refusals } = await refusedAtPreflight(ctx, "live", params, { secrets });
      assert.deepEqual(
        refusals.map((r) => r.replace(/:.*/, "")),
        ["refused (environment)"],
      );
      assert.match(
        refusals[0],
        /MODE=live but the backend says environment=staging: a live run against staging charges nothing real/,
      );
      return { outcome: "pre-flight FAIL · 1-3 SKIPPED", notes: short(refusals[0]) };
    },
  },
  {
    n: "7d",
    title: "backend turns production between pre-flight and step 3",
    async run(ctx) {
      const rb = ctx.w.open(ctx.w.newSession());
      try {
        for (const step of [() => rb.run("preflight"), () => rb.run("login"), () => rb.run("product")])
          assert.equal((await step()).status, "PASS");
        ctx.w.sb.setFaults({ statusEnvironment: "production" });
        const s3 = await rb.run("order");
        assert.equal(s3.status, "FAIL");
        oneLine(s3.reason ?? "");
        assert.match(
          s3.reason ?? "",
          /^refused \(environment\): MODE=sandbox but the backend says environment=production/,
        );
        assert.equal(rb.journal.last("order_intent"), undefined, "nothing journaled as intended");
        const d = await ctx.delta();
        assert.deepEqual([d.orders, d.payments], [0, 0]);
        assert.equal(d.routes[ROUTE.orders], undefined);
        assert.deepEqual(
          Object.keys(d.routes).filter((r) => r.startsWith("POST ")),
          [ROUTE.login],
        );
        return {
          outcome: "0-2 PASS · 3 FAIL (guards re-checked at step 3)",
          notes: "only POST was the login; no POST /orders",
        };
      } finally {
        await rb.close();
      }
    },
  },
  {
    n: "7e",
    title: "MODE=live with an http:// non-loopback BASE_URL",
    async run(ctx) {
      // example.invalid never resolves: the guard must refuse before even trying.
      const { rb, refusals, d } = await refusedAtPreflight(ctx, "live", { BASE_URL: "http://example.invalid" });
      assert.match(
        refusals[0],
        /^refused \(https\): MODE=live requires an https BASE_URL \(got http:\/\/example\.invalid\) — use the https origin of production$/,
      );
      assert.equal(rb.api.counters.requests, 0, "the client sent a request");
      assert.equal(readTrace(path.join(rb.dir, TRACE_FILE)).filter((e) => e.type === "request").length, 0);
      assert.deepEqual(d.routes, {});
      return { outcome: "pre-flight FAIL · 1-3 SKIPPED; 0 requests sent", notes: short(refusals[0]) };
    },
  },
  {
    n: "7f",
    title: "price over the cap (MAX_PRICE 1.00, product 5.00 EUR)",
    async run(ctx) {
      const cheapest = await refusedAtPreflight(ctx, "sandbox", { MAX_PRICE: "1.00" });
      assert.match(cheapest.refusals[0], /^refused \(price\): no product costs ≤ 1\.00 EUR incl\. VAT/);
      const named = await refusedAtPreflight(ctx, "sandbox", { MAX_PRICE: "1.00", PRODUCT: "prd_e2e_test_licence" });
      assert.match(
        named.refusals[0],
        /^refused \(price\): product costs 5\.00 EUR incl\. VAT, above MAX_PRICE 1\.00 EUR/,
      );
      return {
        outcome: "pre-flight FAIL · 1-3 SKIPPED (by cap and by named product)",
        notes: short(named.refusals[0]),
      };
    },
  },
  {
    n: "7g",
    title: "malformed OPERATOR_EMAIL",
    async run(ctx) {
      const msg = await refusedAtOpen(
        ctx,
        { OPERATOR_EMAIL: "ops@" },
        {},
        "OPERATOR_EMAIL",
        /^OPERATOR_EMAIL: invalid value "ops@"; set OPERATOR_EMAIL to the buyer account's address/,
      );
      await refusedAtOpen(
        ctx,
        { OPERATOR_EMAIL: "ops test@example.com" },
        {},
        "OPERATOR_EMAIL",
        /^OPERATOR_EMAIL: invalid value/,
      );
      // Shaped like an address: one rule (lib/config.ts) refuses it already when the session opens,
      // where pre-flight used to be the first to notice (issue 10).
      await refusedAtOpen(
        ctx,
        { OPERATOR_EMAIL: "ops..test@example.com" },
        {},
        "OPERATOR_EMAIL",
        /^OPERATOR_EMAIL: invalid value "ops\.\.test@example\.com"; set OPERATOR_EMAIL to the buyer account's address, e\.g\. ops-test@example\.com$/,
      );
      return { outcome: "refused when the session opens (ConfigError); 0 POSTs", notes: short(msg) };
    },
  },
  {
    n: "7h",
    title: "OPERATOR_PASSWORD missing",
    async run(ctx) {
      const msg = await refusedAtOpen(
        ctx,
        {},
        { OPERATOR_PASSWORD: undefined },
        "OPERATOR_PASSWORD",
        /^OPERATOR_PASSWORD: missing; export OPERATOR_PASSWORD in the environment before starting Jupyter/,
      );
      await refusedAtOpen(ctx, {}, { OPERATOR_PASSWORD: "" }, "OPERATOR_PASSWORD", /^OPERATOR_PASSWORD: missing/);
      return { outcome: "refused when the session opens (ConfigError); 0 requests", notes: short(msg) };
    },
  },
];
