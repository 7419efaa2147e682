/**
 * `npm run session -- --mode sandbox|staging|live [--base-url ORIGIN] [--email ADDR] [--refund]
 *   [--hyperswitch-url URL] [--archive-dir DIR] [--port N] [--no-browser] [--no-jupyter] [--new-anyway]`, or
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
 * The command itself: its flags, what to open (a new or a resumed session), serving it and passing
 * signals on. Which Jupyter and how it is started and stopped: lib/notebook/ui-server.ts; the
 * session-level decisions (what to resume, what holds a new session back, the workspace URL,
 * telling kernels the host stops them): lib/notebook/lifecycle.ts. Its tests
 * (test/cli/session-cli.test.ts, session-resume.test.ts, test/ui/session-life.test.ts) drive it whole.
 * A little over 300 lines: the help text and main()'s reading of every flag stay in one place.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULTS } from "../config";
import { ConfigError, SessionError, oneLine } from "../errors";
import { SESSION_NOTEBOOK } from "../evidence/files";
import { ensureBuilt } from "../notebook/build";
import { jupyterEnv, REPO_ROOT } from "../notebook/jupyter";
import {
  listSessions,
  notebookUrl,
  removeIfUnused,
  resumeTarget,
  tellKernelsHostStops,
  unsettledRefusal,
  unsettledSessions,
  watchAncestors,
} from "../notebook/lifecycle";
import { prepareSession } from "../notebook/prepare";
import {
  freePort,
  type JupyterUi,
  jupyterUi,
  launcher,
  notebookRel,
  serverRoot,
  START_TIMEOUT_MS,
  startFailure,
  stopChild,
  uiArgs,
  waitServing,
} from "../notebook/ui-server";
import type { Mode } from "../types";
import { SESSION_FLAGS } from "./args";
import { STEPS, stepNo } from "../run/steps";

// Named here too for the callers that have imported them from the session command all along.
export { freePort, jupyterUi, launcher, removeIfUnused, serverRoot, startFailure, uiArgs, watchAncestors };
export type { JupyterUi };

const USAGE =
  "usage: npm run session -- --mode sandbox|staging|live [--base-url ORIGIN] [--email ADDR] [--refund] [--hyperswitch-url URL] [--archive-dir DIR] [--port N] [--no-browser] [--no-jupyter] [--new-anyway] | --resume [<id>] (--help for details)";

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

  Each session opens in a JupyterLab workspace of its own (/lab/workspaces/<id>/…?reset), so no
  earlier session's notebook reopens beside it. Jupyter cannot save into a sealed session folder.
  Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stop Jupyter and its kernel; a running step is
  recorded INTERRUPTED, stopped by the host.
  Jupyter: JupyterLab from .venv (bash scripts/setup.sh), else Debian's classic Notebook;
  RUNBOOK_JUPYTER_UI=lab or =notebook allows only that one.`;

/** How long the kernels get to record a step stopped by the host before Jupyter is stopped. */
const HOST_STOP_GRACE_MS = 1_500;

function parsePort(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new ConfigError("--port", `is "${s}"; give a number 1–65535`);
  return n;
}

/** A desktop to open a browser on: macOS/Windows, or X11/Wayland on Linux. */
function hasDisplay(env: NodeJS.ProcessEnv): boolean {
  return process.platform !== "linux" || Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
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
      `session: --mode is "${mode}"; use --mode staging for the dry run or --mode live for the real-money run`,
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
    const fixed = (["base-url", "email", "refund", "hyperswitch-url", "new-anyway"] as const).filter(
      (k) => a[k] !== undefined,
    );
    if (fixed.length) {
      console.error(
        `session: --resume reopens a session with the parameters it was created with; leave out --${fixed.join(", --")} (edit its parameters cell instead)`,
      );
      return 2;
    }
  }
  const port = a.port ? parsePort(a.port) : undefined;
  const archiveDir = a["archive-dir"] ?? DEFAULTS.archiveDir;

  // Decide what to open before anything is created or started: a refusal leaves no trace.
  let target: { id: string; dir: string; notebook: string } | null = null;
  if (resuming) {
    const s = resumeTarget(archiveDir, a.resume || undefined, mode);
    target = { id: s.id, dir: s.dir, notebook: path.join(s.dir, SESSION_NOTEBOOK) };
  } else {
    const unsettled = unsettledSessions(archiveDir, mode as Mode);
    if (unsettled.length && !a["new-anyway"]) throw unsettledRefusal(unsettled);
  }

  // Find the UI before creating anything, so a machine without one is not left a stray session.
  let ui: JupyterUi | null = null;
  if (!a["no-jupyter"]) {
    ui = jupyterUi();
    if (!ui) {
      console.error(
        "session: no Jupyter UI found; run `bash scripts/setup.sh` (JupyterLab into .venv) or `apt-get install jupyter-notebook`, or use --no-jupyter",
      );
      return 3;
    }
  }

  if (target) {
    // The notebook imports build/lib: make sure it is this source tree's before its kernel starts.
    ensureBuilt();
    console.log(`Session ${target.id} resumed (not sealed; its journal and trace go on where they stopped).`);
    console.log(`  notebook: ${target.notebook}`);
  } else {
    const params: Record<string, string | boolean> = { REFUND: a.refund ?? mode === "live" };
    if (a["base-url"]) params.BASE_URL = a["base-url"];
    if (a.email) params.OPERATOR_EMAIL = a.email;
    if (a["hyperswitch-url"]) params.HYPERSWITCH_URL = a["hyperswitch-url"];
    if (a["archive-dir"]) params.ARCHIVE_DIR = a["archive-dir"];
    const unsettled = unsettledSessions(archiveDir, mode as Mode).map((s) => s.id);
    const earlier = listSessions(archiveDir).filter((s) => !s.sealed);
    // The override is evidence: the new session's journal names the sessions it was started beside.
    const prep = prepareSession(mode as Mode, params, {
      extra: unsettled.length ? { new_anyway_beside: unsettled } : {},
    });
    target = { id: prep.sessionId, dir: prep.dir, notebook: prep.notebook };
    console.log(`Session ${prep.sessionId} prepared.`);
    console.log(`  notebook: ${prep.notebook}`);
    console.log(`  SESSION_ID = "${prep.sessionId}" (already injected into the notebook)`);
    if (unsettled.length)
      console.log(
        `  note: --new-anyway: ${unsettled.join(", ")} still ${unsettled.length === 1 ? "has" : "have"} money moved and no refund (recorded in this session's journal)`,
      );
    else if (earlier.length)
      console.log(
        `  note: ${earlier.length} unfinished earlier session${earlier.length === 1 ? "" : "s"} (newest ${earlier[earlier.length - 1].id}); npm run session -- --resume <id> reopens one`,
      );
  }
  if (!process.env.OPERATOR_PASSWORD)
    console.log(
      `  note: OPERATOR_PASSWORD is not exported; ${stepNo(STEPS, "login")} will refuse until it is (read -s OPERATOR_PASSWORD; export OPERATOR_PASSWORD)`,
    );
  if (!ui) return 0;
  return serve(ui, path.resolve(target.notebook), path.resolve(target.dir), {
    port: port ?? (await freePort()),
    openBrowser: !a["no-browser"] && hasDisplay(process.env),
    workspace: target.id,
    fresh: !resuming,
  });
}

/** A path as the user gave it: relative to the current folder when inside it. */
function shown(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}

async function serve(
  ui: JupyterUi,
  notebook: string,
  dir: string,
  o: { port: number; openBrowser: boolean; workspace: string; fresh: boolean },
): Promise<number> {
  const root = serverRoot(notebook);
  const rel = notebookRel(root, notebook);
  const token = randomBytes(24).toString("hex");
  const base = `http://127.0.0.1:${o.port}`;
  console.log(`Starting ${ui.name} on ${base} …`);
  const run = launcher(
    ui,
    uiArgs(ui, { root, port: o.port, notebook, openBrowser: o.openBrowser, asRoot: process.getuid?.() === 0 }),
  );
  const child = spawn(run.cmd, run.args, {
    cwd: root,
    env: jupyterEnv({
      JUPYTER_TOKEN: token,
      PYTHONPATH: [path.join(REPO_ROOT, "jupyter"), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    }),
    // Its own process group: a terminal's Ctrl-C reaches Jupyter only through onSignal below.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Jupyter's log is held back until the server is up (one line on failure instead), then flows to stderr.
  let startLog = "";
  let started = false;
  const onLog = (b: Buffer) => {
    if (started) process.stderr.write(b);
    else startLog = (startLog + b.toString()).slice(-20_000);
  };
  child.stdout?.on("data", onLog);
  child.stderr?.on("data", onLog);
  let spawnError: Error | null = null;
  const exited = new Promise<number>((resolve) => {
    child.on("error", (err) => {
      spawnError = err;
      resolve(127);
    });
    child.on("close", (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 1)));
  });

  // A lost terminal turns writes into EIO/EPIPE errors: they must not end this process before it
  // has stopped Jupyter (Jupyter's log keeps flowing to stderr until then).
  for (const out of [process.stdout, process.stderr]) out.on("error", () => undefined);
  let stopping = false;
  let grace: NodeJS.Timeout | null = null;
  const onSignal = (why: string) => {
    // A second signal stops Jupyter now, unless the kernels' grace is still running (a lost terminal
    // signals the whole process group, and the watcher then sees npm gone: one stop, not two).
    if (stopping) return grace ? undefined : stopChild(child);
    stopping = true;
    // The kernels hear it from the host first, so a running step says who stopped it; Jupyter's
    // own shutdown then interrupts them as Kernel ■ would, which changes nothing already recorded.
    const lost = why === "SIGHUP" || why.startsWith("the command");
    const told = child.pid === undefined ? 0 : tellKernelsHostStops(child.pid, lost ? "terminal lost" : "stopped");
    console.error(`session: ${why}, stopping ${ui.name} …`);
    if (told === 0) return stopChild(child);
    grace = setTimeout(() => {
      grace = null;
      stopChild(child);
    }, HOST_STOP_GRACE_MS);
    grace.unref();
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, onSignal);
  const unwatch = watchAncestors(() => onSignal("the command that started this session exited"));
  try {
    const state = await Promise.race([
      waitServing(child, `${base}/api/contents/${rel}`, token),
      exited.then(() => "exited" as const),
    ]);
    if (state === "ready" && !stopping) {
      started = true;
      console.log(`${ui.name} is serving the session notebook (Ctrl-C stops it and its kernel):`);
      console.log(`  ${notebookUrl(base, ui.urlPrefix, rel, token, o.workspace)}`);
      return await exited;
    }
    stopChild(child);
    const code = await exited;
    // Only a folder this run created; a resumed session is never removed.
    const removed = o.fresh && removeIfUnused(dir);
    const folder = removed
      ? `the unused session folder ${shown(dir)} was removed`
      : `the session folder ${shown(dir)} was kept`;
    if (stopping) {
      console.error(`session: stopped before ${ui.name} was up; ${folder}`);
      return code;
    }
    const { cause, fix } =
      spawnError !== null
        ? { cause: `cannot run ${ui.cmd} (${(spawnError as Error).message})`, fix: "run `bash scripts/setup.sh`" }
        : state === "timeout"
          ? {
              cause: `it did not serve the notebook within ${START_TIMEOUT_MS / 1000} s`,
              fix: "retry, or use --no-jupyter and open the notebook in your own Jupyter",
            }
          : startFailure(ui, startLog, o.port);
    console.error(`session: ${ui.name} did not start: ${cause} — ${fix}; ${folder}`);
    return code === 0 ? 1 : code;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    unwatch();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`session: ${oneLine(err)}`);
      if (err instanceof TypeError) console.error(USAGE);
      process.exit(err instanceof ConfigError || err instanceof TypeError || err instanceof SessionError ? 2 : 1);
    },
  );
}
