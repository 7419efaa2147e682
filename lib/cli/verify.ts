/**
 * `npm run verify -- <session-dir> [--report <file>] [--no-anchor] [--allowed-signers <file>] [--tsa-ca <file>]`:
 * the folder against its manifest (lib/evidence/verify.ts), against the anchors the living report
 * holds for it, now and in its git history (lib/evidence/anchor.ts), the seal's signature and re-seal
 * statements against the allowed signers (lib/evidence/signature.ts), and the RFC 3161 timestamp
 * when there is one (lib/evidence/timestamp.ts; issue 24). One line per finding, the one-line fix, a summary.
 * Exit 0 intact, 1 failed, 2 usage error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { anchorFix, checkAnchors } from "../evidence/anchor";
import { formatVerify, verifySession } from "../evidence/verify";
import { readSessionSnapshot } from "../evidence/snapshot";
import { timestampFindings } from "../evidence/timestamp";
import { oneLine } from "../errors";
import { DEFAULT_ALLOWED_SIGNERS, signatureFindings } from "../evidence/signature";
import { stderr, stdout } from "./args";

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
  // Read once: the seal, the anchors, the signatures and the timestamp are judged on the same snapshot.
  const snap = readSessionSnapshot(dir);
  const result = verifySession(snap);
  if (values["no-anchor"]) {
    result.findings.push({ level: "warning", subject: "anchor", message: "not checked (--no-anchor)" });
  } else {
    const reportFile = path.resolve(repoDir, values.report ?? DEFAULT_REPORT);
    const anchors = checkAnchors(snap, { reportFile, repoDir });
    result.findings.push(...anchors);
    if (anchors.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= anchorFix(anchors, dir, values.report ?? DEFAULT_REPORT);
    }
  }
  const tsaCa = values["tsa-ca"] ?? (process.env.PAYMENT_E2E_TSA_CA?.trim() || null);
  if (tsaCa && !fs.existsSync(tsaCa)) {
    err(`verify: --tsa-ca ${tsaCa}: no such file\n${USAGE}`);
    return 2;
  }
  // Issue 24: who sealed it. After the anchors, whose fix (restore from the commit) is the more specific one.
  if (result.manifest) {
    const allowed = values["allowed-signers"] ?? path.join(path.resolve(repoDir), DEFAULT_ALLOWED_SIGNERS);
    const sig = signatureFindings(dir, result.manifest, { allowedSigners: allowed });
    result.findings.push(...sig);
    if (sig.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= `a ${result.manifest.mode} seal counts only when signed by a key in ${values["allowed-signers"] ?? DEFAULT_ALLOWED_SIGNERS}: restore manifest.json and its .sig from the committed copy (git checkout -- ${dir}), or have an allowed signer seal it (npm run archive -- ${dir} --sign-key <key>)`;
    }
  }
  if (result.manifest) {
    const stamp = timestampFindings(
      dir,
      snap.manifestSha256 ?? "",
      tsaCa,
      values["tsa-cert"] ?? (process.env.PAYMENT_E2E_TSA_CERT?.trim() || null),
    );
    result.findings.push(...stamp);
    if (stamp.some((f) => f.level === "error")) {
      result.ok = false;
      result.fix ??= `restore manifest.json and manifest.json.tsr from the commit that sealed them (git checkout -- ${dir})`;
    }
  }
  for (const line of formatVerify(result)) log(line);
  return result.ok ? 0 : 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
