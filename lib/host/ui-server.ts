/**
 * The Jupyter server behind `npm run session` (lib/host/session-life.ts): which UI (JupyterLab from the
 * project venv, else Debian's classic Notebook), its command line (127.0.0.1, a fixed port, the
 * contents manager that keeps sealed folders unwritten: jupyter/sealed_contents.py), the folder it
 * serves, why it did not start, waiting until it serves the notebook, its log passed on as text
 * (`shownLog`), and stopping it (SIGTERM, then SIGKILL of its group; setpriv gives it a parent-death signal).
 */
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { StringDecoder } from "node:string_decoder";
import { ConfigError } from "../errors";
import { terminalLine } from "../evidence/outcome-stated";
import { classicNotebookCommand, jupyterLabCommand, REPO_ROOT } from "./jupyter";

/** How long Jupyter may take to serve the notebook before the session gives up on it. */
export const START_TIMEOUT_MS = 120_000;
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

/** The Python module of the contents manager that keeps sealed folders unwritten (in jupyter/). */
const SEALED_CONTENTS = "sealed_contents";

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
    // Refuses every write into a sealed session folder (jupyter/sealed_contents.py, on PYTHONPATH).
    `--${app}.contents_manager_class=${SEALED_CONTENTS}.${ui.name === "JupyterLab" ? "SealedFileManager" : "SealedClassicFileManager"}`,
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

/** Waits until the server serves the notebook (200 on its contents API) or the child exits. */
export async function waitServing(
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
export function stopChild(child: ChildProcess): void {
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
 * One output stream of Jupyter passed on line by line through terminalLine: its log quotes paths,
 * notebook and kernel names (an operator's folder, a file's name), which a terminal must show, never
 * obey. A line is written once it is complete (`end` writes an unfinished last one); a character split
 * across two chunks is decoded whole.
 */
export function shownLog(write: (line: string) => void): { push: (b: Buffer) => void; end: () => void } {
  const utf8 = new StringDecoder("utf8");
  let tail = "";
  const flush = (text: string) => {
    const lines = (tail + text).split("\n");
    tail = lines.pop() ?? "";
    for (const l of lines) write(`${terminalLine(l.replace(/\r$/, ""))}\n`);
  };
  return {
    push: (b) => flush(utf8.write(b)),
    end: () => {
      flush(utf8.end());
      if (tail) write(`${terminalLine(tail)}\n`);
      tail = "";
    },
  };
}
