/**
 * `npm run confirm-bank -- <session-dir-or-id> --date YYYY-MM-DD [--note "…"] [--reseal "<reason>"] [--sign-key <key>] [--to-docs]`
 * Days after a run, records that the refund shows on the bank statement (journal + trace), then
 * re-renders the session's block (session folder, docs report) and the GO/NO-GO row.
 * A sealed folder (manifest.json) is never written to silently: the bank confirmation is evidence
 * added on purpose, so on a sealed folder the command is refused unless `--reseal "<reason>"` is
 * given, which records the confirmation and re-seals the folder at once (the trace notes the reason
 * and the previous manifest hash; `npm run archive` does the sealing, signed with `--sign-key`, else
 * $PAYMENT_E2E_SIGN_KEY or git's ssh user.signingkey: issue 24).
 * Only a live session's whole refund is confirmed: a staging or sandbox session (a test processor,
 * no real money: E2E_BANK_NOT_LIVE), a partial refund (E2E_BANK_PARTIAL), a failed or foreign one
 * (E2E_BANK_NO_REFUND), one still pending or otherwise never succeeded, or succeeded but not settled
 * on the evidence (E2E_BANK_NOT_SETTLED) are refused, since the confirmation would be a false statement.
 * Exit 0 when recorded, 2 on a refused date or session, a sealed folder without --reseal, or a usage
 * error (one line naming the fix).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { MANIFEST_FILE } from "../evidence/files";
import { archiveSession, resealReasonProblem } from "../host/archive";
import { resolveSessionDir } from "../report/evidence";
import { confirmBank } from "../report/bank";
import { REPORT_DEFAULTS, publishReport } from "../report/report";
import { PUBLISH_FLAGS, exitOnError, stderr, stdout, wantsHelp } from "./args";
import { BankConfirmError, oneLine } from "../errors";
import { summary } from "./report";

export const USAGE =
  'usage: npm run confirm-bank -- <session-dir-or-id> --date YYYY-MM-DD [--note "…"] [--reseal "<reason>"] [--sign-key <key>] [--to-docs] [--archive <dir>] [--docs <file>] [--checklist <file>]';

type Flags = { docs?: string; checklist?: string; "to-docs"?: boolean; "sign-key"?: string };

/** Exit code; on a sealed folder with --reseal, records, then re-seals through the archive step. */
export async function main(argv: string[], log = stdout, err = stderr, today?: Date): Promise<number> {
  if (wantsHelp(argv)) {
    log(USAGE);
    return 0;
  }
  const r = record(argv, log, err, today);
  if (typeof r === "number") return r;
  try {
    const sealed = await archiveSession(r.dir, {
      reseal: r.reason,
      docsDir: path.dirname(r.flags.docs ?? REPORT_DEFAULTS.docsReport),
      signKey: r.flags["sign-key"],
    });
    log(
      `re-sealed ${r.dir} (reason and previous seal recorded in the trace): manifest sha256 ${sealed.manifestSha256}`,
    );
    publish(r.dir, r.flags, log, today);
    return 0;
  } catch (e) {
    err(`confirm-bank: recorded, but the re-seal was refused: ${oneLine(e)}`);
    return 1;
  }
}

function publish(dir: string, flags: Flags, log: typeof stdout, today?: Date): void {
  const p = publishReport(dir, { toDocs: flags["to-docs"], docsReport: flags.docs, checklist: flags.checklist, today });
  for (const line of summary(p)) log(line);
}

/** Records the confirmation (and publishes when the folder is not sealed): an exit code, or what to re-seal. */
function record(
  argv: string[],
  log: typeof stdout,
  err: typeof stderr,
  today: Date | undefined,
): number | { dir: string; reason: string; flags: Flags } {
  let out: number | { dir: string; reason: string; flags: Flags } = 2;
  // BankConfirmError messages already start with "confirm-bank <session>:".
  const namesItself = (e: unknown) => e instanceof BankConfirmError;
  const code = exitOnError({ name: "confirm-bank", usage: USAGE, err, namesItself }, () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...PUBLISH_FLAGS,
        date: { type: "string" },
        note: { type: "string" },
        reseal: { type: "string" },
        "sign-key": { type: "string" },
      },
    });
    if (positionals.length !== 1 || !values.date) {
      err(
        positionals.length !== 1
          ? USAGE
          : "confirm-bank: --date is required: pass --date YYYY-MM-DD, the day the refund shows on the bank statement",
      );
      return 2;
    }
    const dir = resolveSessionDir(positionals[0], values.archive ?? REPORT_DEFAULTS.archiveDir);
    const sealed = fs.existsSync(path.join(dir, MANIFEST_FILE));
    if (sealed && values.reseal === undefined) {
      err(
        `confirm-bank: ${dir} is sealed (manifest.json) and the tool never writes into a sealed folder unasked — record the confirmation and re-seal at once: add --reseal "bank statement confirmed the refund"`,
      );
      return 2;
    }
    const problem = values.reseal === undefined ? null : resealReasonProblem(values.reseal, dir);
    if (problem) {
      err(`confirm-bank: ${problem}`);
      return 2;
    }
    const c = confirmBank(dir, { date: values.date, note: values.note, today });
    log(`recorded bank confirmation ${c.date} for ${c.sessionId} (trace line ${c.traceLine})`);
    if (sealed && values.reseal !== undefined) {
      out = { dir, reason: values.reseal, flags: values };
      return 0;
    }
    publish(dir, values, log, today);
    return 0;
  });
  return code === 0 && typeof out === "object" ? out : code;
}

if (require.main === module)
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
