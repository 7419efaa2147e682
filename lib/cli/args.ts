/**
 * What the commands share: the flags several of them take, where they print, and the one-line
 * exit of the report commands on a bad flag or a failed step.
 */
import { oneLine } from "../errors";
import { terminalLine, terminalText } from "../evidence/outcome-stated";

/** Which session and backend: `npm run preflight` and `npm run session`. */
export const SESSION_FLAGS = {
  mode: { type: "string" },
  "base-url": { type: "string" },
  email: { type: "string" },
  "archive-dir": { type: "string" },
} as const;

/** Where a session's report is published: `npm run report` and `npm run confirm-bank`. */
export const PUBLISH_FLAGS = {
  "to-docs": { type: "boolean" },
  archive: { type: "string" },
  docs: { type: "string" },
  checklist: { type: "string" },
} as const;

/**
 * A line printed to the operator's terminal, shown and never obeyed (`terminalLine`), and several
 * lines so (`terminalText`): lib/evidence/outcome-stated.ts, where the host's long-lived commands
 * (lib/host/session-life.ts) reach them too.
 */
export { terminalLine, terminalText };

export type Print = (s: string) => void;
/** Default outputs of a command's `main`; tests pass their own to collect the lines. */
export const stdout: Print = (s) => console.log(s);
export const stderr: Print = (s) => console.error(s);

export interface Command {
  /** Prefixes every failure line, e.g. "report". */
  name: string;
  usage: string;
  err: Print;
  /** Errors whose message already names the command (confirm-bank's BankConfirmError): printed as they are. */
  namesItself?: (e: unknown) => boolean;
}

/**
 * Runs a command body; any failure becomes exit code 2 and one line `<name>: <message>`, followed
 * by the usage when a flag was malformed (parseArgs throws a TypeError).
 * @example
 * return exitOnError({ name: "report", usage: USAGE, err }, () => { …; return 0; });
 */
export function exitOnError(cmd: Command, body: () => number): number {
  try {
    return body();
  } catch (e) {
    // An error may quote a file's or a backend's text: shown, never obeyed by the terminal.
    const message = terminalLine(oneLine(e));
    cmd.err(cmd.namesItself?.(e) ? message : `${cmd.name}: ${message}`);
    if (e instanceof TypeError) cmd.err(cmd.usage);
    return 2;
  }
}

/**
 * Whether the command was asked for its usage (`--help` or `-h` before any `--`). Every command
 * answers it with one usage block on stdout and exit 0, before it reads anything or opens a socket
 * (test/cli/npm-scripts.test.ts runs each npm script so).
 */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}
