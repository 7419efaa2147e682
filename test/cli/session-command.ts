/**
 * `npm run session` run in the test's own process: lib/cli/session.ts `command`, the function its
 * process runs, with what it prints to stdout and stderr captured and its exit code returned. For
 * refusals and `--no-jupyter`, where the process boundary is not what is tested: no Node and tsx
 * compile per call. The real process (exit code, lines, Jupyter, signals) is run by
 * test/cli/session-cli.test.ts, test/docs/commands.test.ts and test/cli/sealed-readonly.test.ts.
 */
import { format } from "node:util";
import { command } from "../../lib/cli/session";

export interface SessionRun {
  code: number;
  out: string;
  err: string;
}

/** One call at a time (it swaps console and the environment): node:test runs a file's tests in turn. */
export async function sessionCommand(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<SessionRun> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const setEnv = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  console.log = (...a: unknown[]) => out.push(`${format(...a)}\n`);
  console.error = (...a: unknown[]) => err.push(`${format(...a)}\n`);
  setEnv(env);
  try {
    const code = await command(args);
    return { code, out: out.join(""), err: err.join("") };
  } finally {
    console.log = log;
    console.error = error;
    setEnv(saved);
  }
}
