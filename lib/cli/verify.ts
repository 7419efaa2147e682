/**
 * `npm run verify -- <session-dir> [--report <file>] [--no-anchor] [--allowed-signers <file>] [--tsa-ca <file>]`:
 * reads the flags, makes one call (lib/evidence/verify-sealed.ts: the folder against its manifest,
 * the living report's anchors, the seal's signature, the RFC 3161 timestamp; issue 24) and prints
 * one line per finding, the one-line fix, a summary.
 * Exit 0 intact, 1 failed, 2 usage error.
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { formatVerify } from "../evidence/verify";
import { verifySealed } from "../evidence/verify-sealed";
import { DEFAULT_ALLOWED_SIGNERS } from "../evidence/signature";
import { oneLine } from "../errors";
import { derivedOutcomeFindings } from "../report/outcome-check";
import { stderr, stdout, terminalLine } from "./args";

export const DEFAULT_REPORT = "docs/PAYMENT_E2E_LIVE_REPORT.md";
export const USAGE = `usage: verify <session-dir> [--report <file>] [--no-anchor] [--allowed-signers <file>] [--tsa-ca <file>]   (e.g. archive/payment-e2e/<session-id>)
  --report <file>   the living report whose anchors are checked (default ${DEFAULT_REPORT})
  --no-anchor       skip the anchor check (said in the output)
  --allowed-signers <file>  who may seal staging and live sessions (default ${DEFAULT_ALLOWED_SIGNERS})
  --tsa-ca <file>   the time-stamping authority's CA certificate, to check manifest.json.tsr (default PAYMENT_E2E_TSA_CA)
  --tsa-cert <file> the authority's own certificate, when its tokens do not carry it (default PAYMENT_E2E_TSA_CERT)`;

export function main(argv: string[], log = stdout, err = stderr, repoDir = process.cwd()): number {
  let parsed: {
    values: {
      report?: string;
      "no-anchor"?: boolean;
      help?: boolean;
      "allowed-signers"?: string;
      "tsa-ca"?: string;
      "tsa-cert"?: string;
    };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args: argv.filter((a) => a !== "--"),
      allowPositionals: true,
      options: {
        report: { type: "string" },
        "no-anchor": { type: "boolean" },
        "allowed-signers": { type: "string" },
        "tsa-ca": { type: "string" },
        "tsa-cert": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    err(`verify: ${oneLine(e)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    err(USAGE);
    return 2;
  }
  const dir = positionals[0];
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    err(`verify: ${dir}: no such directory\n${USAGE}`);
    return 2;
  }
  const tsaCa = values["tsa-ca"] ?? (process.env.PAYMENT_E2E_TSA_CA?.trim() || null);
  if (tsaCa && !fs.existsSync(tsaCa)) {
    err(`verify: --tsa-ca ${tsaCa}: no such file\n${USAGE}`);
    return 2;
  }
  const result = verifySealed(dir, {
    report: values["no-anchor"] ? null : (values.report ?? DEFAULT_REPORT),
    repoDir,
    allowedSigners: values["allowed-signers"],
    tsaCa,
    tsaCert: values["tsa-cert"] ?? (process.env.PAYMENT_E2E_TSA_CERT?.trim() || null),
    judge: derivedOutcomeFindings,
  });
  // A finding names what the folder holds (a file name, a quoted value): shown, never obeyed by the terminal.
  for (const line of formatVerify(result)) log(terminalLine(line));
  return result.ok ? 0 : 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
