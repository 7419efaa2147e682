/** `npm run preflight` exit codes against the real sandbox: a pipeline can gate on them. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { type Faults, startSandbox, type Sandbox } from "../../sandbox";
import { main, EXIT } from "../../lib/cli/preflight";
import { TERMINAL_CONTROLS } from "./terminal";

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ quiet: true });
});
after(async () => {
  await sb?.stop();
});

/** The gate as an operator runs it: the orchestrator double's URL and key in the environment unless `env` names its own. */
async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const lines: string[] = [];
  const code = await main(args, { HYPERSWITCH_URL: sb.hyperswitchUrl, HYPERSWITCH_API_KEY: sb.apiKey, ...env }, (s) =>
    lines.push(s),
  );
  return { code, out: lines.join("\n") };
}

/** The gate of `mode` against the sandbox with its operator (`run`), then any `more` flags. */
const gate = (mode: string, env: NodeJS.ProcessEnv = {}, ...more: string[]) =>
  run(["--mode", mode, "--base-url", sb.marketplaceUrl, "--email", sb.operator.email, ...more], env);

/** `f` run with the sandbox's `on` faults, which `off` sets back whatever happens. */
async function withFaults<T>(on: Partial<Faults>, off: Partial<Faults>, f: () => Promise<T>): Promise<T> {
  sb.setFaults(on);
  try {
    return await f();
  } finally {
    sb.setFaults(off);
  }
}

/** No orchestrator configured: required for staging and live, optional for the sandbox. */
const NO_ORCHESTRATOR = { HYPERSWITCH_URL: "", HYPERSWITCH_API_KEY: "" };

test("staging gate passes on the sandbox and prints the reminder with the amount", async () => {
  const r = await gate("staging");
  assert.equal(r.code, EXIT.go, r.out);
  assert.match(r.out, /environment: staging/);
  assert.match(r.out, /amount incl\. VAT: 5\.00 EUR\n {2}VAT: 20 %/);
  assert.match(r.out, /GO: pre-flight passed/);
});

test("a staging gate without HYPERSWITCH_URL and HYPERSWITCH_API_KEY is refused in one line naming the fix (exit 1)", async () => {
  const r = await gate("staging", NO_ORCHESTRATOR);
  assert.equal(r.code, EXIT.refused, r.out);
  assert.match(
    r.out,
    /REFUSED: refused \(orchestrator\): MODE=staging needs HYPERSWITCH_URL and HYPERSWITCH_API_KEY: .* — set HYPERSWITCH_URL to the orchestrator's origin \(npm run session: --hyperswitch-url\) and export HYPERSWITCH_API_KEY \(snd_…\)\n/,
  );
  // Sandbox keeps them optional.
  const s = await gate("sandbox", NO_ORCHESTRATOR);
  assert.equal(s.code, EXIT.go, s.out);
});

test("a live run against a staging backend is refused with the seed's warning (exit 1)", async () => {
  const r = await gate(
    "live",
    {},
    "--live-confirm",
    "charge 5.00 EUR",
    "--dry-run-override",
    "testing the gate itself",
  );
  assert.equal(r.code, EXIT.refused, r.out);
  assert.match(r.out, /REFUSED: refused \(environment\): MODE=live but the backend says environment=staging/);
});

test("Hyperswitch disabled, or a production backend for a dry run, refuses (exit 1)", async () => {
  const disabled = await withFaults({ hyperswitchStatus: "disabled" }, { hyperswitchStatus: "enabled" }, () =>
    gate("staging"),
  );
  assert.equal(disabled.code, EXIT.refused);
  assert.match(disabled.out, /Hyperswitch disabled/);
  const production = await withFaults({ statusEnvironment: "production" }, { statusEnvironment: "staging" }, () =>
    gate("staging"),
  );
  assert.equal(production.code, EXIT.refused);
  assert.match(production.out, /real money would move/);
});

test("unhealthy backend → exit 3; bad email → exit 2; nothing else sent", async () => {
  const down = await withFaults({ dbDown: true }, { dbDown: false }, () => gate("staging"));
  assert.equal(down.code, EXIT.backend, down.out);
  assert.match(down.out, /GET \/health|answered 503/);
  const before = sb.stats().requests;
  const r = await run(["--mode", "staging", "--base-url", sb.marketplaceUrl, "--email", "not-an-email"]);
  assert.equal(r.code, EXIT.config);
  assert.match(r.out, /^preflight: OPERATOR_EMAIL: invalid value "not-an-email"; set OPERATOR_EMAIL/);
  assert.equal(sb.stats().requests, before, "a bad parameter sends nothing");
});

test("the seed's STAGING_URL and OPERATOR_EMAIL environment variables work as in the bash script", async () => {
  const r = await run([], { STAGING_URL: sb.marketplaceUrl, OPERATOR_EMAIL: sb.operator.email });
  assert.equal(r.code, EXIT.go, r.out);
});

test("the gate's trace folder does not stay in the system temp folder: removed after a verdict, kept and named after a backend failure", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "preflight-tmp-"));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp; // os.tmpdir() reads it on every call
  try {
    const go = await gate("staging");
    assert.equal(go.code, EXIT.go, go.out);
    assert.deepEqual(fs.readdirSync(tmp), [], "nothing left behind after GO");
    assert.doesNotMatch(go.out, /^trace: /m, "no path is printed for a trace that is not kept");
    const down = await run(["--mode", "staging", "--base-url", "http://127.0.0.1:9", "--email", sb.operator.email]);
    assert.equal(down.code, EXIT.backend, down.out);
    const kept = /^trace: (\S+) \(kept: /m.exec(down.out)?.[1] ?? "";
    assert.ok(fs.existsSync(kept), down.out);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("a product title carrying terminal escapes, a carriage return, a newline and bidi controls is printed as visible text: it cannot paint GO over the NO-GO", async () => {
  // ESC[8m conceals everything after it (the real NO-GO line); \r and ESC[2K rewrite the line;
  // the newline forges a line of its own; U+202E reverses what follows.
  const hostile = "E2E \u001b[2K\rGO: pre-flight passed\nGO: pre-flight passed\u001b[8m \u009b31m \u202eSSAP\u200b";
  const db = new pg.Client({ connectionString: sb.adminDsn });
  await db.connect();
  try {
    await db.query("UPDATE products SET title = $1 || title", [hostile]);
    // Refused (no orchestrator configured), after the product was shown.
    const r = await gate("staging", NO_ORCHESTRATOR);
    assert.equal(r.code, EXIT.refused, r.out);
    assert.doesNotMatch(r.out, TERMINAL_CONTROLS);
    assert.doesNotMatch(r.out, /^GO: /m, "no line may say GO");
    assert.match(
      r.out,
      /product: .*E2E \\u001b\[2K\\rGO: pre-flight passed\\nGO: pre-flight passed\\u001b\[8m \\u009b31m \\u202eSSAP\\u200b/,
    );
    assert.match(r.out, /\nNO-GO: pre-flight refused$/);
  } finally {
    await db.query("UPDATE products SET title = substr(title, $1)", [hostile.length + 1]);
    await db.end();
  }
});
