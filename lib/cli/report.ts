/**
 * `npm run report -- <session-dir-or-id> [--to-docs] [--archive <dir>] [--docs <file>] [--checklist <file>]`
 * Re-renders a session's block from its evidence: report.md in the session folder, the docs report
 * (staging and live always; a sandbox rehearsal only with --to-docs), and the GO/NO-GO row.
 * Exit 0 when written (whatever the outcome), 2 on a usage or evidence error.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { resolveSessionDir } from "../report/evidence";
import { REPORT_DEFAULTS, publishReport, type Published } from "../report/report";
import { PUBLISH_FLAGS, exitOnError, stderr, stdout, terminalLine, wantsHelp } from "./args";

export const USAGE =
  "usage: npm run report -- <session-dir-or-id> [--to-docs] [--archive <dir>] [--docs <file>] [--checklist <file>]";

/** Shared by the report and confirm-bank commands: what was written and what is left to do. */
export function summary(p: Published): string[] {
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  const s = p.session;
  return [
    `${s.evidence.sessionId}: ${s.outcome} — ${s.reason}`,
    s.written
      ? `wrote ${rel(s.path)}`
      : `left the sealed session folder untouched (the tool never writes into a folder with manifest.json); the docs block carries this render`,
    p.docs
      ? `${p.docs.action} block in ${rel(p.docs.path)}`
      : "docs report untouched (sandbox rehearsal; pass --to-docs to add it)",
    ...(s.comparison ? [`comparison with ${s.comparison.stagingId}: ${s.comparison.plot}.{md,svg,png}`] : []),
    ...(p.goNoGo ? [`GO/NO-GO: ${p.goNoGo.status} — ${p.goNoGo.reason}`] : []),
    ...p.housekeeping.map((h) => `reminder: ${h}`),
    // The reasons quote the evidence (backend errors, operator text): shown, never obeyed by the terminal.
  ].map(terminalLine);
}

export function main(argv: string[], log = stdout, err = stderr): number {
  if (wantsHelp(argv)) {
    log(USAGE);
    return 0;
  }
  return exitOnError({ name: "report", usage: USAGE, err }, () => {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: PUBLISH_FLAGS });
    if (positionals.length !== 1) {
      err(USAGE);
      return 2;
    }
    const dir = resolveSessionDir(positionals[0], values.archive ?? REPORT_DEFAULTS.archiveDir);
    const p = publishReport(dir, { toDocs: values["to-docs"], docsReport: values.docs, checklist: values.checklist });
    for (const line of summary(p)) log(line);
    return 0;
  });
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
