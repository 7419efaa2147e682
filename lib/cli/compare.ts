/**
 * `npm run compare -- [--staging <id>] [--live <id>] [--archive <dir>]`
 * The latest staging dry run against the live run, step by step; writes comparison.{md,svg,png}
 * into the live session folder, beside its report and poll latency plot.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runCompare } from "../report/compare";
import { REPORT_DEFAULTS } from "../report/report";
import { exitOnError, stderr, stdout } from "./args";

export const USAGE = "usage: npm run compare -- [--staging <session-id>] [--live <session-id>] [--archive <dir>]";

export function main(argv: string[], log = stdout, err = stderr): number {
  return exitOnError({ name: "compare", usage: USAGE, err }, () => {
    const { values } = parseArgs({
      args: argv,
      options: { staging: { type: "string" }, live: { type: "string" }, archive: { type: "string" } },
    });
    const { comparison, files } = runCompare({
      archiveDir: values.archive ?? REPORT_DEFAULTS.archiveDir,
      staging: values.staging,
      live: values.live,
    });
    const rel = (f: string) => path.relative(process.cwd(), f) || f;
    log(`staging ${comparison.stagingId} → live ${comparison.liveId}\n\n${comparison.table}\n`);
    log(`wrote ${rel(files.md)}, ${rel(files.svg)}, ${rel(files.png)}`);
    return 0;
  });
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
