/**
 * `npm run session -- --mode sandbox|staging|live [--base-url ORIGIN] [--email ADDR] [--refund]
 *   [--hyperswitch-url URL] [--archive-dir DIR] [--port N] [--no-browser] [--no-jupyter]` (`--help` explains each flag)
 *
 * Prepares a fresh session (explicitly: a new id, folder and journal) from the runbook template,
 * then starts Jupyter on 127.0.0.1 with that notebook open: JupyterLab from the project venv
 * (`scripts/setup.sh`), otherwise Debian's classic Notebook. It prints the URL only once the
 * server serves the notebook, and stops Jupyter (and with it its kernels) on Ctrl-C or SIGTERM.
 * `RUNBOOK_JUPYTER_UI=lab|notebook` picks one of the two UIs instead of trying both in turn.
 *
 * Kept in one file (~450 lines) on purpose: it is one process's lifecycle — prepare, start, wait
 * until served, forward signals, watch the parent, clean up an unused folder — and every part
 * reads the same child and session state; its test (test/cli/session-cli.test.ts) drives it whole.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, oneLine } from "../errors";
import { JOURNAL_FILE, SESSION_NOTEBOOK } from "../evidence/files";
import { Journal } from "../evidence/journal";
import { classicNotebookCommand, jupyterEnv, jupyterLabCommand, REPO_ROOT } from "../notebook/jupyter";
import { prepareSession } from "../notebook/prepare";
import type { Mode } from "../types";
import { SESSION_FLAGS } from "./args";
import { alive, parentOf } from "../procs";

const USAGE =
  "usage: npm run session -- --mode sandbox|staging|live [--base-url ORIGIN] [--email ADDR] [--refund] [--hyperswitch-url URL] [--archive-dir DIR] [--port N] [--no-browser] [--no-jupyter] (--help for details)";

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
  --no-jupyter     prepare the session folder and notebook only

  Jupyter: JupyterLab from .venv (bash scripts/setup.sh), else Debian's classic Notebook;
  RUNBOOK_JUPYTER_UI=lab or =notebook allows only that one.`;

/** How long Jupyter may take to serve the notebook before the session gives up on it. */
const START_TIMEOUT_MS = 120_000;
/** How long Jupyter may take to stop (and shut its kernels down) after the signal is passed on. */
const STOP_GRACE_MS = 15_000;

export interface JupyterUi {
  name: "JupyterLab" | "classic Notebook";
  cmd: string;
  /** The arguments before the options: `notebook` for `/usr/bin/jupyter notebook`. */
  sub: string[];
  /** The URL path a notebook opens under: `/lab/tree/<rel>` or `/notebooks/<rel>`. */
  urlPrefix: "lab/tree" | "notebooks";
}

/**
 * The UI to start: JupyterLab (project venv, else on PATH), else Debian's classic Notebook.
 * `RUNBOOK_JUPYTER_UI=lab` or `=notebook` allows only that one (tests use it for the fallback).
 */
export function jupyterUi(env: NodeJS.ProcessEnv = process.env): JupyterUi | null {
  const want = env.RUNBOOK_JUPYTER_UI || undefined;
  if (want !== undefined && want !== "lab" && want !== "notebook")
    throw new ConfigError("RUNBOOK_JUPYTER_UI", `is "${want}"; use lab, notebook, or leave it unset to try both`);
  if (want !== "notebook") {
    const lab = jupyterLabCommand();
    if (lab) return { name: "JupyterLab", cmd: lab, sub: [], urlPrefix: "lab/tree" };
  }
  if (want !== "lab") {
    const classic = classicNotebookCommand();
    if (classic) return { name: "classic Notebook", cmd: classic, sub: ["notebook"], urlPrefix: "notebooks" };
  }
  return null;
}

/**
 * The folder Jupyter serves: the repository (the layout the kernel sees), unless the notebook lies
 * outside it or under a hidden folder (Jupyter refuses hidden paths): then the session's archive
 * folder. The kernel itself always starts at the repository root (jupyter/kernels/tslab).
 */
export function serverRoot(notebook: string): string {
  const rel = path.relative(REPO_ROOT, notebook);
  const outside = rel.startsWith("..") || path.isAbsolute(rel);
  const hidden = rel.split(path.sep).some((part) => part.startsWith("."));
  return outside || hidden ? path.dirname(path.dirname(notebook)) : REPO_ROOT;
}

/** A port nobody listens on at 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function parsePort(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new ConfigError("--port", `is "${s}"; give a number 1–65535`);
  return n;
}

/** A desktop to open a browser on: macOS/Windows, or X11/Wayland on Linux. */
function hasDisplay(env: NodeJS.ProcessEnv): boolean {
  return process.platform !== "linux" || Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** The command line for the UI. The token travels in JUPYTER_TOKEN, not on the command line (`ps`). */
export function uiArgs(
  ui: JupyterUi,
  o: { root: string; port: number; notebook: string; openBrowser: boolean; asRoot: boolean },
): string[] {
  const app = ui.name === "JupyterLab" ? "ServerApp" : "NotebookApp";
  return [
    ...ui.sub,
    "--ip=127.0.0.1",
    `--port=${o.port}`,
    // A busy port is an error, not a silent move to the next one: the printed URL must be right.
    `--${app}.port_retries=0`,
    ui.name === "JupyterLab" ? `--ServerApp.root_dir=${o.root}` : `--notebook-dir=${o.root}`,
    ...(o.asRoot ? ["--allow-root"] : []),
    // Given a file, Jupyter opens the browser on it (the classic Notebook even with --no-browser).
    ...(o.openBrowser ? [o.notebook] : ["--no-browser"]),
  ];
}

/** The notebook's path under the server root, each segment URL-encoded: `archive/payment-e2e/<id>/payment-e2e.ipynb`. */
export function notebookRel(root: string, notebook: string): string {
  return path.relative(root, notebook).split(path.sep).map(encodeURIComponent).join("/");
}

/** Why a Jupyter server that exited early did, and what to do, read from the end of its log. */
export function startFailure(ui: JupyterUi, log: string, port: number): { cause: string; fix: string } {
  const setup = "run `bash scripts/setup.sh` (it installs jupyter/requirements.txt into .venv)";
  if (/port \d+ is not available|port \d+ is already in use|Address already in use/i.test(log))
    return {
      cause: `port ${port} is already in use`,
      fix: "pick another --port, or leave --port out to get a free one",
    };
  const missing = /No module named '?([\w.]+)'?/.exec(log);
  if (missing) return { cause: `Python module ${missing[1]} is missing`, fix: setup };
  const last = log
    .split("\n")
    .map((l) => l.replace(/^\[[A-Z] [^\]]*\]\s*/, "").trim())
    .filter(Boolean)
    .pop();
  const cause = last ? `it said "${last.slice(0, 200)}"` : "it exited without a word";
  return ui.name === "JupyterLab"
    ? { cause, fix: `${setup}, or use Debian's classic Notebook with RUNBOOK_JUPYTER_UI=notebook` }
    : { cause, fix: `${setup}, or use --no-jupyter and open the notebook in your own Jupyter` };
}

/**
 * Removes a session folder nobody worked in: the journal holds only its header and nothing but
 * the journal and the notebook is there. Returns whether it was removed.
 */
export function removeIfUnused(dir: string): boolean {
  try {
    const entries = Journal.open(dir).all();
    const files = fs.readdirSync(dir).filter((f) => f !== ".ipynb_checkpoints");
    const untouched =
      entries.length === 1 &&
      entries[0].kind === "session_created" &&
      files.every((f) => f === JOURNAL_FILE || f === SESSION_NOTEBOOK);
    if (!untouched) return false;
    fs.rmSync(dir, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

/** Waits until the server serves the notebook (200 on its contents API) or the child exits. */
async function waitServing(
  child: ChildProcess,
  contentsUrl: string,
  token: string,
): Promise<"ready" | "exited" | "timeout"> {
  let exited = child.exitCode !== null || child.signalCode !== null;
  child.once("exit", () => {
    exited = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) return "exited";
    try {
      const r = await fetch(`${contentsUrl}?content=0`, {
        headers: { Authorization: `token ${token}` },
        signal: AbortSignal.timeout(2000),
      });
      await r.body?.cancel();
      if (r.status === 200) return "ready";
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return exited ? "exited" : "timeout";
}

/**
 * Stops the server: SIGTERM, which both Jupyters answer by shutting their kernels down (jupyter_server
 * skips that on SIGINT), then SIGKILL of its process group after a grace period.
 */
function stopChild(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, STOP_GRACE_MS);
  timer.unref();
  child.once("exit", () => clearTimeout(timer));
}

/** Linux's setpriv (util-linux, always on Debian): gives Jupyter a parent-death signal. */
const SETPRIV = "/usr/bin/setpriv";

/**
 * The command that starts the UI. On Linux it goes through `setpriv --pdeathsig SIGTERM`, so that
 * Jupyter stops (and shuts its kernels down) even when this process is killed outright — tsx
 * SIGKILLs its child when a relayed signal is not acknowledged within 30 ms.
 */
export function launcher(ui: JupyterUi, args: string[]): { cmd: string; args: string[] } {
  if (process.platform === "linux" && fs.existsSync(SETPRIV))
    return { cmd: SETPRIV, args: ["--pdeathsig", "SIGTERM", "--", ui.cmd, ...args] };
  return { cmd: ui.cmd, args };
}

/**
 * Calls `onLost` once when one of the processes that launched this one exits: `npm run session`
 * passes a SIGTERM to its shell, which dies without passing it on, leaving tsx and this process
 * behind. Watches up to `depth` ancestors (tsx, sh, npm) for a changed parent, read from /proc;
 * where there is no /proc (macOS), only whether the direct parent is still alive.
 */
export function watchAncestors(onLost: () => void, depth = 4, everyMs = 1000): () => void {
  const chain: Array<[pid: number, ppid: number | null]> = [];
  for (let pid = process.ppid; pid > 1 && chain.length < depth; ) {
    const ppid = parentOf(pid);
    chain.push([pid, ppid]);
    if (ppid === null) break;
    pid = ppid;
  }
  const self = parentOf(process.pid);
  const timer = setInterval(() => {
    const orphaned = self !== null && parentOf(process.pid) !== self;
    const lost = chain.some(([pid, ppid]) => (ppid === null ? !alive(pid) : parentOf(pid) !== ppid));
    if (orphaned || lost) {
      clearInterval(timer);
      onLost();
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      ...SESSION_FLAGS,
      refund: { type: "boolean" },
      "no-jupyter": { type: "boolean" },
      "no-browser": { type: "boolean" },
      "hyperswitch-url": { type: "string" },
      port: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const mode = a.mode as Mode | undefined;
  if (!mode || !["sandbox", "staging", "live"].includes(mode)) {
    console.error(
      "session: --mode is required; use --mode staging for the dry run or --mode live for the real-money run",
    );
    return 2;
  }
  const port = a.port ? parsePort(a.port) : undefined;

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

  const params: Record<string, string | boolean> = { REFUND: a.refund ?? mode === "live" };
  if (a["base-url"]) params.BASE_URL = a["base-url"];
  if (a.email) params.OPERATOR_EMAIL = a.email;
  if (a["hyperswitch-url"]) params.HYPERSWITCH_URL = a["hyperswitch-url"];
  if (a["archive-dir"]) params.ARCHIVE_DIR = a["archive-dir"];
  const prep = prepareSession(mode, params);
  console.log(`Session ${prep.sessionId} prepared.`);
  console.log(`  notebook: ${prep.notebook}`);
  console.log(`  SESSION_ID = "${prep.sessionId}" (already injected into the notebook)`);
  if (!process.env.OPERATOR_PASSWORD)
    console.log(
      "  note: OPERATOR_PASSWORD is not exported; step 1 will refuse until it is (read -s OPERATOR_PASSWORD; export OPERATOR_PASSWORD)",
    );
  if (!ui) return 0;
  return serve(ui, path.resolve(prep.notebook), path.resolve(prep.dir), {
    port: port ?? (await freePort()),
    openBrowser: !a["no-browser"] && hasDisplay(process.env),
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
  o: { port: number; openBrowser: boolean },
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
    env: jupyterEnv({ JUPYTER_TOKEN: token }),
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

  let stopping = false;
  const onSignal = (why: string) => {
    if (!stopping) console.error(`session: ${why}, stopping ${ui.name} …`);
    stopping = true;
    stopChild(child);
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
      console.log(`  ${base}/${ui.urlPrefix}/${rel}?token=${token}`);
      return await exited;
    }
    stopChild(child);
    const code = await exited;
    const removed = removeIfUnused(dir);
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
      process.exit(err instanceof ConfigError || err instanceof TypeError ? 2 : 1);
    },
  );
}
