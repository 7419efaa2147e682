/**
 * `npm run compare -- [--staging <id>] [--live <id>] [--archive <dir>]`
 * The dry run the live session's pre-flight recorded against the live run (the latest live session
 * unless --live), step by step; writes comparison.{md,svg,png} under
 * `<archive>/comparisons/<staging-id>--<live-id>/`, never into a session folder. `--staging` picks
 * another staging session, with a one-line notice.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runCompare } from "../report/compare";
import { REPORT_DEFAULTS } from "../report/report";
import { exitOnError, stderr, stdout, terminalText, wantsHelp } from "./args";

export const USAGE = "usage: npm run compare -- [--staging <session-id>] [--live <session-id>] [--archive <dir>]";

export function main(argv: string[], log = stdout, err = stderr): number {
  if (wantsHelp(argv)) {
    log(USAGE);
    return 0;
  }
  return exitOnError({ name: "compare", usage: USAGE, err }, () => {
    const { values } = parseArgs({
      args: argv,
      options: { staging: { type: "string" }, live: { type: "string" }, archive: { type: "string" } },
    });
    const { comparison, files, notice } = runCompare({
      archiveDir: values.archive ?? REPORT_DEFAULTS.archiveDir,
      staging: values.staging,
      live: values.live,
    });
    const rel = (f: string) => path.relative(process.cwd(), f) || f;
    if (notice) err(`compare: notice: ${notice}`);
    log(terminalText(`staging ${comparison.stagingId} → live ${comparison.liveId}\n\n${comparison.table}\n`));
    log(`wrote ${rel(files.md)}, ${rel(files.svg)}, ${rel(files.png)}`);
    return 0;
  });
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
