/**
 * `npm run archive -- <session-dir> [--docs-dir docs] [--reseal "<reason>"] [--sign-key <key>]` — seal a session after the operator
 * saved and closed the notebook: HTML export, the session report block, a secret/card scan that
 * refuses on a hit, the manifest, and the session's block in the living report.
 * Exit 0 sealed, or already sealed and intact (nothing written); 1 refused: a secret or card number,
 * or a sealed folder that changed since (the one line says what changed and the fix); 2 usage error,
 * a --reseal without a written reason (≥ 10 characters) included.
 * `--reseal "<reason>"` seals a changed folder again on purpose; the trace records the reason and
 * the previous manifest hash, and reseal-<k>.json (signed) states old hash, new hash and reason.
 * `--sign-key <private key>` (or $PAYMENT_E2E_SIGN_KEY, or git's user.signingkey with gpg.format ssh)
 * signs the manifest into manifest.json.sig (issue 24); on an intact unsigned seal it only signs.
 * The seal rules (lib/host/seal-rules.ts) refuse with exit 1 a notebook that disagrees with the
 * kernel's copy of its outputs or with the journal (`--restore-outputs` writes the copy back), an
 * incomplete run (`--incomplete "<reason>"`) and money moved with no successful refund
 * (`--unrefunded "<reason>"`).
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { archiveSession, resealReasonProblem } from "../host/archive";
import { exceptionReasonProblem } from "../host/seal-rules";
import { ArchiveRuleRefused, SecretLeakError, oneLine } from "../errors";
import { terminalLine, wantsHelp } from "./args";

export const USAGE = `usage: npm run archive -- <session-dir> [--docs-dir <dir>] [--reseal "<reason>"] [--restore-outputs]
                       [--unrefunded "<reason>"] [--incomplete "<reason>"] [--sign-key <key>]
  --docs-dir <dir>         where the living report is (default docs)
  --reseal "<reason>"      seal a changed, already sealed folder again; the reason (≥ 10 characters) goes into the trace
  --restore-outputs        write the kernel's copy of the outputs (outputs.jsonl) back into a notebook that lacks them (recorded in the trace)
  --unrefunded "<reason>"  seal although money moved and no refund succeeded; the reason is journaled and the report says so
  --incomplete "<reason>"  seal an incomplete run (a cell threw or never ran, the executor stopped); never sealed as PASS
  --sign-key <key>         the SSH private key that signs the seal (default $PAYMENT_E2E_SIGN_KEY, else git's
                           user.signingkey when gpg.format is ssh); staging and live seals must be signed
  exit 0 sealed or already sealed and intact · 1 refused (secret, card number, changed seal, a seal rule) · 2 usage`;

async function main(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(USAGE);
    return 0;
  }
  let parsed: {
    values: {
      "docs-dir"?: string;
      reseal?: string;
      "restore-outputs"?: boolean;
      unrefunded?: string;
      incomplete?: string;
      "sign-key"?: string;
    };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        "docs-dir": { type: "string" },
        reseal: { type: "string" },
        "restore-outputs": { type: "boolean" },
        unrefunded: { type: "string" },
        incomplete: { type: "string" },
        "sign-key": { type: "string" },
      },
    });
  } catch (err) {
    const dir = argv.find((a) => !a.startsWith("-"));
    const flag = (["unrefunded", "incomplete"] as const).find((f) => argv.at(-1) === `--${f}`);
    console.error(
      `archive: ${flag ? exceptionReasonProblem(flag, "", dir) : argv.includes("--reseal") ? resealReasonProblem(undefined, dir) : oneLine(err)}`,
    );
    return 2;
  }
  const { values, positionals } = parsed;
  const dir = positionals[0];
  if (!dir || !fs.existsSync(dir)) {
    console.error(
      "archive: name a session folder, e.g. npm run archive -- archive/payment-e2e/20261126T154400Z-staging",
    );
    return 2;
  }
  if (values.reseal !== undefined) {
    const problem = resealReasonProblem(values.reseal, dir);
    if (problem) {
      console.error(`archive: ${problem}`);
      return 2;
    }
  }
  for (const flag of ["unrefunded", "incomplete"] as const) {
    const problem = exceptionReasonProblem(flag, values[flag], dir);
    if (problem) {
      console.error(`archive: ${problem}`);
      return 2;
    }
  }
  try {
    const r = await archiveSession(dir, {
      docsDir: values["docs-dir"],
      reseal: values.reseal,
      restoreOutputs: values["restore-outputs"],
      unrefunded: values.unrefunded,
      incomplete: values.incomplete,
      signKey: values["sign-key"],
    });
    if (r.status === "signed") {
      console.log(`archive: ${dir} was sealed at ${r.sealedAt} unsigned; signed now: ${r.signature}`);
      if (r.timestamp) console.log(`  timestamp: ${r.timestamp.file} (${r.timestamp.time ?? "time unreadable"})`);
      return 0;
    }
    if (r.status === "already-sealed") {
      console.log(
        `archive: ${dir} already sealed at ${r.sealedAt}; ${r.timestamp ? "timestamped it" : r.docsReport ? "its report block was not published yet" : "nothing to do"} (manifest sha256 ${r.manifestSha256})`,
      );
      if (r.docsReport) console.log(`  report block: ${r.docsReport} (published now)`);
      if (r.timestamp) console.log(`  timestamp: ${r.timestamp.file} (${r.timestamp.time ?? "time unreadable"})`);
      return 0;
    }
    console.log(
      `${r.status === "resealed" ? "re-sealed (recorded in the trace)" : "archived"} ${dir}: ${r.manifest.files.length} files, ${r.scannedFiles} scanned, 0 hits`,
    );
    console.log(`  outcome: ${r.outcome}`);
    console.log(`  manifest sha256: ${r.manifestSha256}`);
    console.log(
      `  chain head: ${r.manifest.chain_head} (${r.manifest.trace_lines} lines) — anchor it in the ticket or commit message`,
    );
    console.log(`  retention until: ${r.manifest.retention_until}`);
    if (r.docsReport) console.log(`  report block: ${r.docsReport}`);
    if (r.signature) console.log(`  signature: ${r.signature}`);
    else if (r.manifest.mode !== "sandbox")
      console.error(
        `archive: WARNING the ${r.manifest.mode} seal is unsigned and npm run verify will fail it: sign it with npm run archive -- ${dir} --sign-key <your SSH private key> (its public key must be in docs/allowed_signers)`,
      );
    if (r.timestamp) console.log(`  timestamp: ${r.timestamp.file} (${r.timestamp.time ?? "time unreadable"})`);
    return 0;
  } catch (err) {
    if (err instanceof SecretLeakError) for (const h of err.hits) console.error(terminalLine(`  ${h}`));
    if (err instanceof ArchiveRuleRefused) console.error(`  ${err.code}`);
    // A refusal may quote the evidence (a file name, a backend's error): shown, never obeyed by the terminal.
    console.error(`archive: ${terminalLine(oneLine(err))}`);
    return 1;
  }
}

/** The command as its process runs it: main's exit code (test/cli/in-process.ts calls it in a test's process). */
export const command = main;

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
