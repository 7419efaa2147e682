/** `npm run bench`'s usage, shared by its entry (bench/cli.ts, which answers --help without loading the benchmarks) and bench/run.ts. */
export const USAGE =
  "usage: npm run bench -- [--smoke] [--only p1,p2,p3,p4] [--out FILE]   (full run: bench/RESULTS.md; --smoke: bench/.work/)";

export const wantsHelp = (argv: string[]) => argv.some((a) => a === "--help" || a === "-h");
