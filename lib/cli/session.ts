/**
 * `npm run session -- --mode sandbox|staging|live [--base-url ORIGIN] [--email ADDR] [--refund]
 *   [--hyperswitch-url URL] [--archive-dir DIR] [--port N] [--no-browser] [--no-jupyter] [--new-anyway]
 *   [--via-tunnel "<why>"]`, or
 * `npm run session -- --resume [<id>]` (`--help` explains each flag)
 *
 * Prepares a fresh session (explicitly: a new id, folder and journal) from the runbook template,
 * or reopens an unfinished one (`--resume`; a sealed one never), then starts Jupyter on 127.0.0.1
 * with that notebook open: JupyterLab from the project venv (`scripts/setup.sh`), in a workspace
 * of the session's own, otherwise Debian's classic Notebook. It prints the URL only once the
 * server serves the notebook, and stops Jupyter (and with it its kernels) on Ctrl-C, SIGTERM or
 * SIGHUP, telling the kernels first that the host stops them. The server's contents manager
 * (jupyter/sealed_contents.py) refuses to write into a sealed folder.
 * `RUNBOOK_JUPYTER_UI=lab|notebook` picks one of the two UIs instead of trying both in turn.
 *
 * This file is the command: it reads and checks the flags, makes one call
 * (lib/host/session-life.ts `runSession`, the session's life on the host: what to open, serving it,
 * passing signals on) and prints its refusals. Which Jupyter and how it is started and stopped:
 * lib/host/ui-server.ts; the session-level decisions (what to resume, what holds a new session back,
 * the workspace URL, telling kernels the host stops them): lib/host/lifecycle.ts. Its tests
 * (test/cli/session-cli.test.ts, session-resume.test.ts, test/ui/session-life.test.ts) drive it whole.
 */
import { parseArgs } from "node:util";
import { ConfigError, SessionError, oneLine } from "../errors";
import { runSession } from "../host/session-life";
import type { Mode } from "../types";
import { SESSION_FLAGS, terminalLine } from "./args";
import { TUNNEL_MIN_CHARS } from "../evidence/backend-origin";

const USAGE =
  "usage: npm run session -- --mode sandbox|staging|live [--base-url ORIGIN] [--email ADDR] [--refund] [--hyperswitch-url URL] [--archive-dir DIR] [--port N] [--no-browser] [--no-jupyter] [--new-anyway] [--via-tunnel WHY] | --resume [<id>] (--help for details)";

const HELP = `${USAGE.replace(" (--help for details)", "")}

  --mode           sandbox (local double), staging (the dry run) or live (real money)
  --base-url       the marketplace's origin, e.g. https://staging.example.com (scheme, host and
                   port if any); the runbook calls <origin>/api/v1/… itself
  --email          the buyer account's email (OPERATOR_EMAIL); its password comes from the
                   exported OPERATOR_PASSWORD, never from a flag
  --refund         refund at step 8 (always on for --mode live)
  --hyperswitch-url  the orchestrator's API origin (HYPERSWITCH_URL), with HYPERSWITCH_API_KEY
                   exported: step 4 then takes the payment's time and card from the orchestrator
                   and steps 5 and 8-9 cross-check it; use it whenever you have a key. Without it
                   the clocks come from the order's own times (paid_at, completed_at), and a box
                   stays unticked when the backend gives none
  --archive-dir    where session folders go (default archive/payment-e2e)
  --port           Jupyter's port on 127.0.0.1 (default: a free one)
  --no-browser     do not open a browser (none is opened anyway without a display)
  --no-jupyter     prepare the session folder and notebook only (with --resume: check it only)
  --resume [<id>]  reopen an unfinished session instead of creating one: <id>, or the newest
                   unsealed one in --archive-dir (of --mode when given); its notebook keeps its
                   parameters. A sealed session is refused (it is never run again)
  --new-anyway     create a new session although an earlier one moved money and has no refund
                   (without it that is refused, naming the session to resume)
  --via-tunnel "<why>"  staging or live through this machine's loopback (e.g. an SSH tunnel to the
                   real origin): one line, at least 10 characters, journaled with the session and
                   shown verbatim in its report and the GO/NO-GO row. Without it, a staging dry run
                   on loopback does not satisfy the live gate and a live run on loopback is not GO
                   (a local backend can claim production); it cannot be added after creation

  Each session opens in a JupyterLab workspace of its own (/lab/workspaces/<id>/…?reset), so no
  earlier session's notebook reopens beside it. Jupyter cannot save into a sealed session folder.
  Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stop Jupyter and its kernel; a running step is
  recorded INTERRUPTED, stopped by the host.
  Jupyter: JupyterLab from .venv (bash scripts/setup.sh), else Debian's classic Notebook;
  RUNBOOK_JUPYTER_UI=lab or =notebook allows only that one.`;

function parsePort(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new ConfigError("--port", `is "${s}"; give a number 1–65535`);
  return n;
}

/** `--resume` with no id (last, or before another flag) reads as `--resume=` for parseArgs. */
function resumeArg(argv: string[]): string[] {
  return argv.map((arg, i) =>
    arg === "--resume" && (i === argv.length - 1 || argv[i + 1].startsWith("-")) ? "--resume=" : arg,
  );
}

async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args: resumeArg(argv),
    options: {
      ...SESSION_FLAGS,
      refund: { type: "boolean" },
      "no-jupyter": { type: "boolean" },
      "no-browser": { type: "boolean" },
      "hyperswitch-url": { type: "string" },
      port: { type: "string" },
      resume: { type: "string" },
      "new-anyway": { type: "boolean" },
      "via-tunnel": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const mode = a.mode as Mode | undefined;
  const resuming = a.resume !== undefined;
  if (mode !== undefined && !["sandbox", "staging", "live"].includes(mode)) {
    console.error(
      terminalLine(
        `session: --mode is "${mode}"; use --mode staging for the dry run or --mode live for the real-money run`,
      ),
    );
    return 2;
  }
  if (!mode && !resuming) {
    console.error(
      "session: --mode is required; use --mode staging for the dry run or --mode live for the real-money run (or --resume to reopen an unfinished session)",
    );
    return 2;
  }
  if (resuming) {
    const fixed = (["base-url", "email", "refund", "hyperswitch-url", "new-anyway", "via-tunnel"] as const).filter(
      (k) => a[k] !== undefined,
    );
    if (fixed.length) {
      console.error(
        `session: --resume reopens a session with the parameters it was created with; leave out --${fixed.join(", --")} (edit its parameters cell instead)`,
      );
      return 2;
    }
  }
  const viaTunnel = a["via-tunnel"]?.trim();
  if (viaTunnel !== undefined) {
    if (mode === "sandbox")
      throw new ConfigError(
        "--via-tunnel",
        "is for staging and live; the sandbox is this machine's by design, leave it out",
      );
    if (viaTunnel.length < TUNNEL_MIN_CHARS || /[\u0000-\u001f\u007f]/.test(viaTunnel))
      throw new ConfigError(
        "--via-tunnel",
        `needs one line of at least ${TUNNEL_MIN_CHARS} characters saying why the backend is this machine's loopback, e.g. --via-tunnel "ssh -L tunnel to production, host checked by ops"`,
      );
  }
  return runSession({
    mode,
    resume: a.resume,
    archiveDir: a["archive-dir"],
    baseUrl: a["base-url"],
    email: a.email,
    refund: a.refund,
    hyperswitchUrl: a["hyperswitch-url"],
    newAnyway: a["new-anyway"],
    viaTunnel,
    jupyter: !a["no-jupyter"],
    port: a.port ? parsePort(a.port) : undefined,
    browser: !a["no-browser"],
  });
}

/**
 * The command as its process runs it: main's exit code, or a refusal thrown on the way as its one
 * line (and the usage after a bad flag) with exit 2 (1 for anything else). The tests of refusals and
 * of --no-jupyter call it in their own process (test/cli/in-process.ts).
 */
export async function command(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    // A refusal may quote a folder's name or a backend's words: shown, never obeyed by the terminal.
    console.error(`session: ${terminalLine(oneLine(err))}`);
    if (err instanceof TypeError) console.error(USAGE);
    return err instanceof ConfigError || err instanceof TypeError || err instanceof SessionError ? 2 : 1;
  }
}

if (require.main === module) command(process.argv.slice(2)).then((code) => process.exit(code));
