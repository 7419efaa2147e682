/**
 * A session's life on the host, for `npm run session` (lib/cli/session.ts parses its flags and
 * makes this one call): decide what to open (a new session, refused when an earlier one moved money
 * and has no refund unless `newAnyway`; or an unfinished one to resume, a sealed one never), find the
 * Jupyter UI before anything is created, prepare the folder and notebook, then serve it: start
 * Jupyter on 127.0.0.1 with the notebook open in a workspace of the session's own, start the
 * notebook's kernel and import lib in it (./prestart.ts), print the URL once that kernel is ready, and stop it (and with it its kernels) on Ctrl-C, SIGTERM, SIGHUP or the
 * starting command's exit, telling the kernels first that the host stops them. It prints as it goes
 * (a long-lived process has no result to hand back until it ends) and returns the command's exit code.
 * Which Jupyter and how it is started and stopped: ./ui-server.ts; the session-level decisions (what
 * to resume, what holds a new session back, the workspace URL, telling kernels): ./lifecycle.ts.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { terminalLine } from "../evidence/outcome-stated";
import { DEFAULTS } from "../config";
import { SESSION_NOTEBOOK } from "../evidence/files";
import type { Mode } from "../types";
import { ensureBuilt } from "./build";
import { jupyterEnv } from "./jupyter";
import {
  kernelsOf,
  listSessions,
  notebookUrl,
  reapKernels,
  removeIfUnused,
  resumeTarget,
  tellKernelsHostStops,
  unsettledRefusal,
  unsettledSessions,
  watchAncestors,
} from "./lifecycle";
import { prepareSession } from "./prepare";
import { type KernelAhead, kernelAhead } from "./prestart";
import { STEPS, stepNo } from "../run/steps";
import {
  freePort,
  type JupyterUi,
  jupyterUi,
  launcher,
  notebookRel,
  shownLog,
  serverRoot,
  START_TIMEOUT_MS,
  startFailure,
  stopChild,
  uiArgs,
  waitServing,
} from "./ui-server";

/** What `npm run session` asks for, its flags read and checked (lib/cli/session.ts). */
export interface SessionRequest {
  /** Required for a new session; with `resume`, only picks among the sessions to resume. */
  mode?: Mode;
  /** Set: reopen an unfinished session, this id, or the newest unsealed one when "". */
  resume?: string;
  /** `--archive-dir`; unset means the default, and the notebook's parameters then name none. */
  archiveDir?: string;
  baseUrl?: string;
  email?: string;
  /** `--refund`; unset means on for live only. */
  refund?: boolean;
  hyperswitchUrl?: string;
  /** Create a new session although an earlier one moved money and has no refund. */
  newAnyway?: boolean;
  /** `--via-tunnel`: why the backend is this machine's loopback (journaled; lib/evidence/backend-origin.ts). */
  viaTunnel?: string;
  /** False for `--no-jupyter`: prepare (or check) the session only. */
  jupyter: boolean;
  /** Jupyter's port on 127.0.0.1; a free one when unset. */
  port?: number;
  /** False for `--no-browser`; a browser is opened only where there is a display anyway. */
  browser: boolean;
}

/** Each printed line goes through terminalLine: it may carry an operator's, a path's or another program's bytes. */
const say = (s: string) => console.log(terminalLine(s));
const warn = (s: string) => console.error(terminalLine(s));

/** How long the kernels get to record a step stopped by the host before Jupyter is stopped. */
const HOST_STOP_GRACE_MS = 1_500;

/** A desktop to open a browser on: macOS/Windows, or X11/Wayland on Linux. */
function hasDisplay(env: NodeJS.ProcessEnv): boolean {
  return process.platform !== "linux" || Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/**
 * Opens the session `r` asks for and serves it until Jupyter stops: the exit code of
 * `npm run session`. Throws the refusals (an unsettled earlier session, nothing to resume) before
 * anything is created or started.
 */
export async function runSession(r: SessionRequest): Promise<number> {
  const resuming = r.resume !== undefined;
  const archiveDir = r.archiveDir ?? DEFAULTS.archiveDir;

  // Decide what to open before anything is created or started: a refusal leaves no trace.
  let target: { id: string; dir: string; notebook: string } | null = null;
  if (resuming) {
    const s = resumeTarget(archiveDir, r.resume || undefined, r.mode);
    target = { id: s.id, dir: s.dir, notebook: path.join(s.dir, SESSION_NOTEBOOK) };
  } else {
    const unsettled = unsettledSessions(archiveDir, r.mode as Mode);
    if (unsettled.length && !r.newAnyway) throw unsettledRefusal(unsettled);
  }

  // Find the UI before creating anything, so a machine without one is not left a stray session.
  let ui: JupyterUi | null = null;
  if (r.jupyter) {
    ui = jupyterUi();
    if (!ui) {
      warn(
        "session: no Jupyter UI found; run `bash scripts/setup.sh` (JupyterLab into .venv) or `apt-get install jupyter-notebook`, or use --no-jupyter",
      );
      return 3;
    }
  }

  if (target) {
    // The notebook imports build/lib: make sure it is this source tree's before its kernel starts.
    ensureBuilt();
    say(`Session ${target.id} resumed (not sealed; its journal and trace go on where they stopped).`);
    say(`  notebook: ${target.notebook}`);
  } else {
    const params: Record<string, string | boolean> = { REFUND: r.refund ?? r.mode === "live" };
    if (r.baseUrl) params.BASE_URL = r.baseUrl;
    if (r.email) params.OPERATOR_EMAIL = r.email;
    if (r.hyperswitchUrl) params.HYPERSWITCH_URL = r.hyperswitchUrl;
    if (r.archiveDir) params.ARCHIVE_DIR = r.archiveDir;
    const unsettled = unsettledSessions(archiveDir, r.mode as Mode).map((s) => s.id);
    const earlier = listSessions(archiveDir).filter((s) => !s.sealed);
    // The override is evidence: the new session's journal names the sessions it was started beside.
    const prep = prepareSession(r.mode as Mode, params, {
      extra: {
        ...(unsettled.length ? { new_anyway_beside: unsettled } : {}),
        ...(r.viaTunnel ? { via_tunnel: r.viaTunnel } : {}),
      },
    });
    target = { id: prep.sessionId, dir: prep.dir, notebook: prep.notebook };
    say(`Session ${prep.sessionId} prepared.`);
    say(`  notebook: ${prep.notebook}`);
    say(`  SESSION_ID = "${prep.sessionId}" (already injected into the notebook)`);
    if (unsettled.length)
      say(
        `  note: --new-anyway: ${unsettled.join(", ")} still ${unsettled.length === 1 ? "has" : "have"} money moved and no refund (recorded in this session's journal)`,
      );
    else if (earlier.length)
      say(
        `  note: ${earlier.length} unfinished earlier session${earlier.length === 1 ? "" : "s"} (newest ${earlier[earlier.length - 1].id}); npm run session -- --resume <id> reopens one`,
      );
  }
  if (!process.env.OPERATOR_PASSWORD)
    say(
      `  note: OPERATOR_PASSWORD is not exported; ${stepNo(STEPS, "login")} will refuse until it is (read -s OPERATOR_PASSWORD; export OPERATOR_PASSWORD)`,
    );
  if (!ui) return 0;
  return serve(ui, path.resolve(target.notebook), path.resolve(target.dir), {
    port: r.port ?? (await freePort()),
    openBrowser: r.browser && hasDisplay(process.env),
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
  say(`Starting ${ui.name} on ${base} …`);
  const run = launcher(
    ui,
    uiArgs(ui, { root, port: o.port, notebook, openBrowser: o.openBrowser, asRoot: process.getuid?.() === 0 }),
  );
  const child = spawn(run.cmd, run.args, {
    cwd: root,
    env: jupyterEnv({ JUPYTER_TOKEN: token }), // jupyter/ on PYTHONPATH: sealed_contents
    // Its own process group: a terminal's Ctrl-C reaches Jupyter only through onSignal below.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Jupyter's log is held back until the server is up (one line on failure instead), then flows to stderr.
  let startLog = "";
  let started = false;
  // Each stream its own lines, shown as text (its log quotes paths and names).
  for (const stream of [child.stdout, child.stderr]) {
    const shown = shownLog((l) => process.stderr.write(l));
    stream?.on("data", (b: Buffer) => {
      if (started) shown.push(b);
      else startLog = (startLog + b.toString()).slice(-20_000);
    });
    stream?.on("end", () => shown.end());
  }
  let spawnError: Error | null = null;
  const exited = new Promise<number>((resolve) => {
    child.on("error", (err) => {
      spawnError = err;
      resolve(127);
    });
    child.on("close", (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 1)));
  });
  // Kernels seen below Jupyter when it is stopped: whichever it leaves behind when it exits is stopped
  // here, or it would hold Jupyter's output, and with it this command, open forever ("close" never comes).
  const kernelPids = new Set<number>();
  // The kernel started ahead (./prestart.ts): its ids find it even when Jupyter was still starting it.
  let ahead: KernelAhead | null = null;
  child.on("exit", () => {
    const reaped = reapKernels([...kernelPids], ahead?.kernelIds ?? []);
    if (reaped.length) warn(`session: stopped ${reaped.length} kernel(s) ${ui.name} left running`);
  });

  // A lost terminal turns writes into EIO/EPIPE errors: they must not end this process before it
  // has stopped Jupyter (Jupyter's log keeps flowing to stderr until then).
  for (const out of [process.stdout, process.stderr]) out.on("error", () => undefined);
  let stopping = false;
  let grace: NodeJS.Timeout | null = null;
  // `terminalLost` is said by the caller (a hang-up, the starting command gone), not read from `why`.
  const onSignal = (why: string, terminalLost: boolean) => {
    // A second signal stops Jupyter now, unless the kernels' grace is still running (a lost terminal
    // signals the whole process group, and the watcher then sees npm gone: one stop, not two).
    if (stopping) return grace ? undefined : stopChild(child);
    stopping = true;
    warn(`session: ${why}, stopping ${ui.name} …`);
    // A kernel Jupyter is still creating would outlive it: stop once Jupyter has started it.
    if (ahead) void ahead.settle().then(() => stopNow(terminalLost));
    else stopNow(terminalLost);
  };
  const stopNow = (terminalLost: boolean) => {
    if (child.pid !== undefined) for (const pid of kernelsOf(child.pid)) kernelPids.add(pid);
    // The kernels hear it from the host first, so a running step says who stopped it; Jupyter's
    // own shutdown then interrupts them as Kernel ■ would, which changes nothing already recorded.
    const told =
      child.pid === undefined ? 0 : tellKernelsHostStops(child.pid, terminalLost ? "terminal lost" : "stopped");
    if (told === 0) return stopChild(child);
    grace = setTimeout(() => {
      grace = null;
      stopChild(child);
    }, HOST_STOP_GRACE_MS);
    grace.unref();
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  const onProcessSignal = (s: NodeJS.Signals) => onSignal(s, s === "SIGHUP");
  for (const s of signals) process.on(s, onProcessSignal);
  const unwatch = watchAncestors(() => onSignal("the command that started this session exited", true));
  try {
    const state = await Promise.race([
      waitServing(child, `${base}/api/contents/${rel}`, token),
      exited.then(() => "exited" as const),
    ]);
    // The URL is printed once the notebook's kernel is up with lib imported, so the page attaches to it.
    if (state === "ready" && !stopping) ahead = kernelAhead({ origin: base, token, rel, notebook });
    const warmed = ahead ? await Promise.race([ahead.ready, exited.then(() => null)]) : null;
    if (warmed !== null && !stopping) {
      started = true;
      say(`  ${warmed}`);
      say(`${ui.name} is serving the session notebook (Ctrl-C stops it and its kernel):`);
      say(`  ${notebookUrl(base, ui.urlPrefix, rel, token, o.workspace)}`);
      return await exited;
    }
    // Stopped by a signal: its own stop is under way (the kernels' grace included), not cut short here.
    if (!stopping) stopChild(child);
    const code = await exited;
    // Only a folder this run created; a resumed session is never removed.
    const removed = o.fresh && removeIfUnused(dir);
    const folder = removed
      ? `the unused session folder ${shown(dir)} was removed`
      : `the session folder ${shown(dir)} was kept`;
    if (stopping) {
      warn(`session: stopped before ${state === "ready" ? "its URL was printed" : `${ui.name} was up`}; ${folder}`);
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
    warn(`session: ${ui.name} did not start: ${cause} — ${fix}; ${folder}`);
    return code === 0 ? 1 : code;
  } finally {
    for (const s of signals) process.off(s, onProcessSignal);
    unwatch();
  }
}
