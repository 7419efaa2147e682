/**
 * `npm run preflight -- [--mode staging] [--base-url URL] [--email ADDR]` — the notebook's gate as
 * a command whose exit code a pipeline can use:
 *   0 go · 1 refused by a check or guard · 2 bad parameter · 3 backend unreachable or off-contract.
 * Flags fall back to the environment (BASE_URL or the seed's STAGING_URL, MODE, OPERATOR_EMAIL, …).
 * The command reads them into the notebook's config, makes one call (run/preflight.ts `preflightGate`)
 * and prints the verdict. The gate's trace goes to a temporary folder of its own, removed once the
 * verdict is printed, and kept (its path printed) when the backend check failed. Each line is
 * printed through `terminalLine` (./args.ts): a backend's escape sequence is shown, never obeyed.
 */
import { factLines } from "../report/display";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { type Config, DEFAULTS, parseConfig } from "../config";
import { ConfigError, oneLine } from "../errors";
import { preflightGate } from "../run/preflight";
import { outcomeJudge } from "../report/outcome-check";
import { SESSION_FLAGS, terminalLine, wantsHelp } from "./args";

export const EXIT = { go: 0, refused: 1, config: 2, backend: 3 } as const;

export const USAGE = `usage: npm run preflight -- [--mode sandbox|staging|live] [--base-url ORIGIN] [--email ADDR] [--archive-dir DIR]
       [--product NAME] [--max-price AMOUNT] [--live-confirm "charge <amount> <CUR>"] [--dry-run-override "<reason>"]
  each flag falls back to the environment (MODE, BASE_URL or STAGING_URL, OPERATOR_EMAIL, PRODUCT, MAX_PRICE, …)
  HYPERSWITCH_URL and DATABASE_URL from the environment are checked as the notebook checks them;
  staging and live need HYPERSWITCH_URL and HYPERSWITCH_API_KEY (the amounts are compared at the orchestrator)
  exit 0 go · 1 refused by a check or guard · 2 bad parameter · 3 backend unreachable or off-contract`;

/** Each flag falls back to the environment variable of the same name (see `main`). */
const FLAGS = {
  ...SESSION_FLAGS,
  product: { type: "string" },
  "max-price": { type: "string" },
  "live-confirm": { type: "string" },
  "dry-run-override": { type: "string" },
} as const;

function parseFlags(argv: string[]) {
  return parseArgs({ args: argv, options: FLAGS }).values;
}

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  print: (s: string) => void = console.log,
): Promise<number> {
  if (wantsHelp(argv)) {
    print(USAGE);
    return EXIT.go;
  }
  // Every line below may carry backend text (a title, a version, an error): shown, never acted on.
  const out = (s: string) => print(terminalLine(s));
  let args: ReturnType<typeof parseFlags>;
  try {
    args = parseFlags(argv);
  } catch (err) {
    out(`preflight: ${oneLine(err)}`);
    return EXIT.config;
  }
  const mode = args.mode ?? env.MODE ?? "staging";
  let cfg: Config;
  try {
    // The gate needs no password and no session: validate the rest with the notebook's own rules.
    cfg = parseConfig(
      {
        MODE: mode,
        BASE_URL: args["base-url"] ?? env.BASE_URL ?? env.STAGING_URL,
        HYPERSWITCH_URL: env.HYPERSWITCH_URL,
        OPERATOR_EMAIL: args.email ?? env.OPERATOR_EMAIL,
        PRODUCT: args.product ?? env.PRODUCT,
        MAX_PRICE: args["max-price"] ?? env.MAX_PRICE ?? DEFAULTS.maxPrice,
        SESSION_ID: `19700101T000000Z-${mode}`,
        LIVE_CONFIRM: args["live-confirm"] ?? env.LIVE_CONFIRM,
        DRY_RUN_OVERRIDE: args["dry-run-override"] ?? env.DRY_RUN_OVERRIDE,
        ARCHIVE_DIR: args["archive-dir"],
      },
      { ...env, OPERATOR_PASSWORD: env.OPERATOR_PASSWORD || "not-needed-for-preflight" },
    );
  } catch (err) {
    out(`preflight: ${oneLine(err)}`);
    return err instanceof ConfigError ? EXIT.config : EXIT.refused;
  }
  const gate = await preflightGate(cfg, env, (a) => out(`  anomaly: ${a.message}`), outcomeJudge);
  if ("error" in gate) {
    // The one case where the trace is the diagnosis: kept, and said where.
    out(`preflight: backend check failed: ${oneLine(gate.error)}`);
    out(`trace: ${gate.traceFile} (kept: the requests and answers of the failed check; remove its folder when done)`);
    return EXIT.backend;
  }
  // A verdict is printed in full below; its trace (a temporary folder of its own) is not left behind.
  fs.rmSync(path.dirname(gate.traceFile), { recursive: true, force: true });
  const rep = gate.report;
  out(`Pre-flight (${cfg.mode}) against ${cfg.baseUrl}`);
  for (const line of factLines({ step: 0, observed: rep.observed })) out(`  ${line}`);
  for (const w of rep.warnings) out(`  WARNING: ${w.message}`);
  for (const r of rep.refusals) out(`  REFUSED: ${r}`);
  out("");
  out(rep.reminder);
  out(rep.ok ? "GO: pre-flight passed" : "NO-GO: pre-flight refused");
  return rep.ok ? EXIT.go : EXIT.refused;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
