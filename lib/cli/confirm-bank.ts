/**
 * `npm run confirm-bank -- <session-dir-or-id> --date YYYY-MM-DD [--note "…"] [--to-docs]`
 * Days after a run, records that the refund shows on the bank statement (journal + trace), then
 * re-renders the session's block (session folder, docs report) and the GO/NO-GO row.
 * Exit 0 when recorded, 2 on a refused date or a usage error (one line naming the fix).
 */
import { parseArgs } from "node:util";
import { resolveSessionDir } from "../report/evidence";
import { confirmBank } from "../report/paperwork";
import { REPORT_DEFAULTS, publishReport } from "../report/report";
import { PUBLISH_FLAGS, exitOnError, stderr, stdout } from "./args";
import { summary } from "./report";

export const USAGE =
  'usage: npm run confirm-bank -- <session-dir-or-id> --date YYYY-MM-DD [--note "…"] [--to-docs] [--archive <dir>] [--docs <file>] [--checklist <file>]';

export function main(argv: string[], log = stdout, err = stderr, today?: Date): number {
  // BankConfirmError messages already start with "confirm-bank <session>:".
  return exitOnError({ name: "confirm-bank", usage: USAGE, err, selfNamed: true }, () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...PUBLISH_FLAGS, date: { type: "string" }, note: { type: "string" } },
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
    const c = confirmBank(dir, { date: values.date, note: values.note, today });
    log(`recorded bank confirmation ${c.date} for ${c.sessionId} (trace line ${c.traceLine})`);
    const p = publishReport(dir, {
      toDocs: values["to-docs"],
      docsReport: values.docs,
      checklist: values.checklist,
      today,
    });
    for (const line of summary(p)) log(line);
    return 0;
  });
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
