// `npm run sandbox`: the whole stack on 127.0.0.1 until Ctrl-C.
import { parseArgs } from "node:util";
import { TEST_CARDS } from "./test-cards";
import { DEFAULT_FAULTS, type Faults } from "./faults";

type Kind = "int" | "float" | "bool" | "string";
// flag -> [fault key, kind]; each flag may also come from env SANDBOX_<FLAG_IN_CAPS>.
const FAULT_FLAGS: Record<string, [keyof Faults, Kind]> = {
  "completion-delay-ms": ["completionDelayMs", "int"],
  "completion-jitter-ms": ["completionJitterMs", "int"],
  "refund-delay-ms": ["refundDelayMs", "int"],
  "refund-jitter-ms": ["refundJitterMs", "int"],
  "latency-ms": ["latencyMs", "int"],
  "latency-spike-ms": ["latencySpikeMs", "int"],
  "latency-spike-rate": ["latencySpikeRate", "float"],
  "error-rate": ["errorRate", "float"],
  "retry-after-s": ["retryAfterS", "int"],
  "reset-rate": ["resetRate", "float"],
  "stuck-processing": ["stuckProcessing", "bool"],
  "webhook-duplicate": ["webhookDuplicate", "bool"],
  "webhook-out-of-order": ["webhookOutOfOrder", "bool"],
  "schema-drift": ["schemaDrift", "bool"],
  environment: ["statusEnvironment", "string"],
  "hyperswitch-status": ["hyperswitchStatus", "string"],
  "hyperswitch-mode": ["hyperswitchMode", "string"],
  "db-down": ["dbDown", "bool"],
  "payment-outcome": ["paymentOutcome", "string"],
  "refund-outcome": ["refundOutcome", "string"],
  "webhook-time-scale": ["webhookTimeScale", "float"],
  "webhook-fail-count": ["webhookFailCount", "int"],
  "webhook-fail-after-apply-count": ["webhookFailAfterApplyCount", "int"],
  "processor-silent": ["processorSilent", "bool"],
  "surcharge-minor": ["surchargeMinor", "int"],
  "partial-capture-minor": ["partialCaptureMinor", "int"],
  "void-outcome": ["voidOutcome", "string"],
  "partial-refund-cents": ["partialRefundCents", "int"],
  "over-refund-cents": ["overRefundCents", "int"],
  "transfer-delta-cents": ["transferDeltaCents", "int"],
  "transfer-not-reversed": ["transferNotReversed", "bool"],
  "transfer-reversed-cents": ["transferReversedCents", "int"],
};
const PORT_FLAGS = { port: 8080, "hyperswitch-port": 8081, "pg-port": 55432, seed: 42 } as const;

const envName = (flag: string) => `SANDBOX_${flag.toUpperCase().replace(/-/g, "_")}`;

function usage(): string {
  const lines = ["Usage: npm run sandbox -- [options]", "", "Ports and seed:"];
  for (const [f, d] of Object.entries(PORT_FLAGS))
    lines.push(`${`  --${f} <n>`.padEnd(32)}default ${d}   (env ${envName(f)})`);
  lines.push("", "Faults (also settable later: PUT /__admin/faults on the marketplace port):");
  for (const [f, [k, kind]] of Object.entries(FAULT_FLAGS)) {
    lines.push(
      `  --${f}${kind === "bool" ? "" : " <v>"}`.padEnd(32) +
        `default ${String(DEFAULT_FAULTS[k])}   (env ${envName(f)})`,
    );
  }
  lines.push(
    "",
    "  --quiet                       no background log lines",
    "",
    "Env SANDBOX_DATABASE_URL=<admin DSN> uses that PostgreSQL server (a fresh database per start) instead of PGlite.",
  );
  return lines.join("\n");
}

function convert(flag: string, kind: Kind, raw: string | boolean): unknown {
  if (kind === "bool") return raw === true || raw === "1" || raw === "true" || raw === "yes";
  const s = String(raw);
  if (kind === "string") return s;
  const n = Number(s);
  if (s.trim() === "" || !Number.isFinite(n) || (kind === "int" && !Number.isInteger(n))) {
    throw new Error(`--${flag} expects ${kind === "int" ? "an integer" : "a number"}, got "${s}"`);
  }
  return n;
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv) {
  const options: Record<string, { type: "string" | "boolean" }> = {
    help: { type: "boolean" },
    quiet: { type: "boolean" },
  };
  for (const f of Object.keys(PORT_FLAGS)) options[f] = { type: "string" };
  for (const [f, [, kind]] of Object.entries(FAULT_FLAGS))
    options[f] = { type: kind === "bool" ? "boolean" : "string" };
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  const pick = (f: string): string | boolean | undefined =>
    (values as Record<string, string | boolean | undefined>)[f] ?? env[envName(f)];
  const faults: Partial<Faults> = {};
  for (const [f, [key, kind]] of Object.entries(FAULT_FLAGS)) {
    const raw = pick(f);
    if (raw !== undefined) (faults as Record<string, unknown>)[key] = convert(f, kind, raw);
  }
  const num = (f: keyof typeof PORT_FLAGS) => {
    const raw = pick(f);
    return raw === undefined ? PORT_FLAGS[f] : (convert(f, "int", raw) as number);
  };
  return {
    help: values.help === true,
    quiet: values.quiet === true || env.SANDBOX_QUIET === "1",
    marketplacePort: num("port"),
    hyperswitchPort: num("hyperswitch-port"),
    pgPort: num("pg-port"),
    seed: num("seed"),
    databaseUrl: env.SANDBOX_DATABASE_URL || undefined,
    faults,
  };
}

async function main(): Promise<void> {
  let cfg: ReturnType<typeof parseCli>;
  try {
    cfg = parseCli(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`sandbox: ${(err as Error).message}\n\n${usage()}`);
    process.exit(2);
  }
  if (cfg.help) {
    console.log(usage());
    return;
  }
  console.log(
    `Starting the sandbox on 127.0.0.1 (${cfg.databaseUrl ? "PostgreSQL from SANDBOX_DATABASE_URL" : "embedded PGlite"})…`,
  );
  // Loaded only now: --help and a bad flag answer without the server stack (fastify, pg, PGlite).
  const { startSandbox } = await import("./index");
  const sb = await startSandbox({ ...cfg, host: "127.0.0.1" });
  const changed = Object.entries(cfg.faults)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  // Installed before the banner: "Press Ctrl-C to stop." is read as ready (by a person or a script),
  // and a signal that came before the handlers would end the process without stopping the sandbox.
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) {
      console.error("sandbox: forced exit");
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${sig}: stopping the sandbox…`);
    sb.stop().then(
      () => {
        console.log("Sandbox stopped.");
        process.exit(0);
      },
      (err) => {
        console.error(`sandbox: stop failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  watchParent(() => shutdown("the command that started the sandbox exited"));
  console.log(
    [
      "",
      "Sandbox is up.",
      `  Marketplace       ${sb.marketplaceUrl}   (BASE_URL / --base-url; API under /api/v1, health: ${sb.marketplaceUrl}/api/v1/health)`,
      `  Orchestrator      ${sb.hyperswitchUrl}          (hosted checkout under /checkout/…)`,
      `  Admin (loopback)  ${sb.marketplaceUrl}/__admin/faults | counts | flips | stats`,
      `  Operator account  ${sb.operator.email} / ${sb.operator.password}`,
      `  Read-only DSN     ${sb.readonlyDsn}`,
      `  Orchestrator key  ${sb.apiKey}`,
      `  Database          ${sb.backend}`,
      `  Seed              ${cfg.seed}${changed ? `; faults: ${changed}` : ""}`,
      "  Test cards (any future expiry MM/YY, any CVC):",
      ...TEST_CARDS.map((c) => `    ${c.number}  ${c.result}`),
      "",
      "Press Ctrl-C to stop.",
    ].join("\n"),
  );
}

/**
 * Calls `onLost` once this process is orphaned. `npm run sandbox` passes SIGINT/SIGTERM to its shell,
 * which dies without passing it on; this process (the script is one node process, no tsx parent) is
 * then re-parented, and stops instead of holding the ports. lib/cli/session.ts watches a deeper chain
 * through /proc for Jupyter; the sandbox shares no code with lib/ (docs/architecture.md), and one
 * level is all it needs.
 */
function watchParent(onLost: () => void, everyMs = 500): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onLost();
    }
  }, everyMs);
  timer.unref();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`sandbox: failed to start: ${(err as Error).message}`);
    process.exit(1);
  });
}
