/**
 * A command run in the test's own process: the function its process runs (lib/cli/session.ts
 * `command`, lib/cli/archive.ts `command`), with what it prints through console captured as the
 * process's stdout and stderr, and its exit code returned. For refusals, usage errors and the runs
 * where the process boundary is not what is tested: no Node and tsx compile per call. Each command
 * keeps tests of its real process (exit code, lines; for session, Jupyter and signals):
 * test/cli/session-cli.test.ts, test/cli/sealed-readonly.test.ts, test/cli/npm-scripts.test.ts.
 */
import { format } from "node:util";
import { command as archive } from "../../lib/cli/archive";
import { command as session } from "../../lib/cli/session";

export interface CommandRun {
  code: number;
  out: string;
  err: string;
}

/** One call at a time (it swaps console and the environment): node:test runs a file's tests in turn. */
async function inProcess(
  run: (argv: string[]) => Promise<number>,
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CommandRun> {
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
    const code = await run(args);
    return { code, out: out.join(""), err: err.join("") };
  } finally {
    console.log = log;
    console.error = error;
    setEnv(saved);
  }
}

/** `npm run session -- <args>`. */
export const sessionCommand = (args: string[], env: Record<string, string | undefined> = {}) =>
  inProcess(session, args, env);

/** `npm run archive -- <args>`. */
export const archiveCommand = (args: string[], env: Record<string, string | undefined> = {}) =>
  inProcess(archive, args, env);
