/**
 * What the commands share: the flags several of them take, where they print, and the one-line
 * exit of the report commands on a bad flag or a failed step.
 */
import { oneLine } from "../errors";
import { shownControls } from "../evidence/outcome-stated";

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
 * A line printed to the operator's terminal that may carry backend or file text (a product title, an
 * error, a finding): each character a terminal acts on instead of showing (ESC starts the sequences
 * that move the cursor, erase a line or conceal what follows; a carriage return rewrites the line),
 * and each invisible one (lib/evidence/outcome-stated.ts `shownControls`), shown as its `\uXXXX` escape
 * (`\n` and `\r` kept short), so a backend string cannot paint "GO" over a "NO-GO", hide the
 * verdict that follows, forge a line of its own or reverse what is read. A tab stays a tab.
 * @example terminalLine("E2E \u001b[8m") // "E2E \\u001b[8m"
 */
export function terminalLine(s: string): string {
  return shownControls(s.replace(/[\0\n\r]/g, (c) => (c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\u0000")));
}

/** Several lines (a table, a usage block): each line as `terminalLine`, the tool's own line breaks kept. */
export function terminalText(s: string): string {
  return s.split("\n").map(terminalLine).join("\n");
}

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
