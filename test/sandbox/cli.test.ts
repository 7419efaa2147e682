// `npm run sandbox`: flag/env parsing, and a real start → print → SIGTERM → clean exit.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseCli } from "../../sandbox/cli";
import { TEST_CARDS } from "../../sandbox/test-cards";

describe("sandbox CLI", () => {
  test("flags and SANDBOX_* env become options; flags win; SANDBOX_DATABASE_URL, never DATABASE_URL", () => {
    const cfg = parseCli(
      [
        "--completion-delay-ms",
        "0",
        "--error-rate",
        "0.3",
        "--stuck-processing",
        "--environment",
        "production",
        "--seed",
        "7",
        "--port",
        "9090",
      ],
      {
        SANDBOX_REFUND_DELAY_MS: "250",
        SANDBOX_ERROR_RATE: "0.9",
        SANDBOX_WEBHOOK_DUPLICATE: "1",
        DATABASE_URL: "postgres://not-for-us",
        SANDBOX_DATABASE_URL: "postgres://x@127.0.0.1/db",
      },
    );
    assert.equal(cfg.marketplacePort, 9090);
    assert.equal(cfg.hyperswitchPort, 8081);
    assert.equal(cfg.pgPort, 55432);
    assert.equal(cfg.seed, 7);
    assert.equal(cfg.databaseUrl, "postgres://x@127.0.0.1/db");
    assert.deepEqual(cfg.faults, {
      completionDelayMs: 0,
      refundDelayMs: 250,
      errorRate: 0.3,
      stuckProcessing: true,
      webhookDuplicate: true,
      statusEnvironment: "production",
    });
    assert.equal(parseCli([], { DATABASE_URL: "postgres://not-for-us" }).databaseUrl, undefined);
    assert.throws(() => parseCli(["--latency-ms", "abc"], {}), /integer/);
    assert.throws(() => parseCli(["--no-such-flag"], {}));
  });

  test("starts on 127.0.0.1, prints what an operator needs, stops cleanly on SIGTERM", {
    timeout: 60_000,
  }, async () => {
    const root = join(__dirname, "..", "..");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "sandbox/cli.ts",
        "--port",
        "0",
        "--hyperswitch-port",
        "0",
        "--pg-port",
        "0",
        "--completion-delay-ms",
        "0",
        "--quiet",
      ],
      {
        cwd: root,
        env: { ...process.env, SANDBOX_DATABASE_URL: "" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 45_000;
      while (!out.includes("Press Ctrl-C") && Date.now() < deadline && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /Press Ctrl-C/, out);
      const url = /Marketplace\s+(http:\/\/127\.0\.0\.1:\d+)\s/.exec(out)?.[1];
      assert.ok(url, out);
      assert.match(out, /Operator account\s+operator@sandbox\.test \/ \S+/);
      assert.match(out, /Read-only DSN\s+postgres:\/\/e2e_readonly:/);
      assert.match(out, /Orchestrator key\s+snd_/);
      for (const card of TEST_CARDS) assert.ok(out.includes(card.number), card.last4);
      const health = await fetch(`${url}/api/v1/health`);
      assert.equal(health.status, 200);
      const faults = (await (await fetch(`${url}/__admin/faults`)).json()) as { data: { completionDelayMs: number } };
      assert.equal(faults.data.completionDelayMs, 0);
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
      assert.match(out, /Sandbox stopped/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
