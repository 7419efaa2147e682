/**
 * A real JupyterLab server for the UI test: the project venv's `jupyter lab`, on 127.0.0.1, a free
 * port, a random token, the project-local kernelspec (JUPYTER_PATH=<repo>/jupyter) and its own
 * config, data, runtime, settings and workspace folders, so nothing of the machine's Jupyter set-up
 * leaks in and nothing of the test's leaks out. Secrets reach the kernel through the server's env.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { REPO_ROOT, venvBin } from "../../lib/host/jupyter";

export const REPO = REPO_ROOT;
/** The project venv's Jupyter (scripts/setup.sh); the test runs JupyterLab from it and nothing else. */
export const JUPYTER_BIN = venvBin("jupyter");

export interface Lab {
  /** http://127.0.0.1:<port> */
  origin: string;
  token: string;
  /** A browser URL for a file under the server root, with the token. */
  urlFor(relPath: string): string;
  /** GET/POST/DELETE on the server's REST API (token in the header). */
  api(method: string, p: string): Promise<{ status: number; body: any }>;
  /** Last lines the server wrote (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * User settings for the test's JupyterLab: every cell stays in the DOM (no windowing), no news or
 * update pop-ups, no auto-closed brackets while typing into a cell.
 */
const SETTINGS: Record<string, unknown> = {
  "@jupyterlab/notebook-extension/tracker": {
    windowingMode: "none",
    codeCellConfig: { autoClosingBrackets: false, lineNumbers: false },
  },
  "@jupyterlab/apputils-extension/notification": { fetchNews: "false", checkForUpdates: false },
};

export interface LabOptions {
  /** Server root (the notebook must be under it). */
  root: string;
  /** Folder for the server's own config/data/runtime/settings/workspaces. */
  home: string;
  /** Extra env for the server and its kernels (the run's secrets). */
  env: Record<string, string>;
  startTimeoutMs?: number;
}

/**
 * The environment that gives a JupyterLab its own config, data, runtime, settings and workspace
 * folders under `home` (with the test's user settings written there), so nothing of the machine's
 * Jupyter set-up leaks in. Also used for the JupyterLab that `npm run session` starts (test/ui/session-life.test.ts).
 */
export function isolatedLabEnv(home: string): Record<string, string> {
  for (const [plugin, value] of Object.entries(SETTINGS)) {
    const f = path.join(home, "settings", `${plugin}.jupyterlab-settings`);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, JSON.stringify(value, null, 2));
  }
  const dir = (name: string) => {
    const d = path.join(home, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  return {
    JUPYTER_CONFIG_DIR: dir("config"),
    JUPYTER_DATA_DIR: dir("data"),
    JUPYTER_RUNTIME_DIR: dir("runtime"),
    JUPYTERLAB_SETTINGS_DIR: dir("settings"),
    JUPYTERLAB_WORKSPACES_DIR: dir("workspaces"),
    JUPYTER_PLATFORM_DIRS: "1",
    // The server and the kernel stay on loopback: no proxy in between.
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
  };
}

export async function startJupyterLab(o: LabOptions): Promise<Lab> {
  const token = randomBytes(24).toString("hex");
  let lastErr: Error | null = null;
  // A free port can be taken between the probe and the bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(o, port, token);
    } catch (err) {
      lastErr = err as Error;
    }
  }
  throw lastErr!;
}

async function launch(o: LabOptions, port: number, token: string): Promise<Lab> {
  const args = [
    "lab",
    "--no-browser",
    "--ip=127.0.0.1",
    `--port=${port}`,
    "--ServerApp.port_retries=0",
    `--ServerApp.root_dir=${o.root}`,
    // The test's session folders live under the git-ignored test/.artifacts/.
    "--ContentsManager.allow_hidden=True",
    `--IdentityProvider.token=${token}`,
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...o.env,
    JUPYTER_PATH: path.join(REPO, "jupyter"),
    ...isolatedLabEnv(o.home),
  };
  // Its own process group, so stop() can reach anything it started.
  const child = spawn(JUPYTER_BIN, args, { cwd: o.root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  const keep = (b: Buffer) => {
    log = (log + b.toString()).slice(-20000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const origin = `http://127.0.0.1:${port}`;
  const api = async (method: string, p: string) => {
    const r = await fetch(`${origin}${p}`, { method, headers: { authorization: `token ${token}` } });
    const text = await r.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: r.status, body };
  };
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const lab: Lab = {
    origin,
    token,
    urlFor: (rel) =>
      `${origin}/lab/tree/${rel.split(path.sep).map(encodeURIComponent).join("/")}?token=${encodeURIComponent(token)}`,
    api,
    log: () => log,
    stop: () => stopLab(child, exited, api),
  };
  const deadline = Date.now() + (o.startTimeoutMs ?? 90_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `jupyter lab exited (${child.exitCode ?? child.signalCode}) before serving:\n${log.slice(-3000)}`,
      );
    try {
      if ((await api("GET", "/api/status")).status === 200) return lab;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await lab.stop();
      throw new Error(
        `jupyter lab did not answer on ${origin} within ${o.startTimeoutMs ?? 90_000} ms:\n${log.slice(-3000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Shut the kernels down through the API, then the server; SIGTERM and finally SIGKILL its group. */
async function stopLab(child: ChildProcess, exited: Promise<number | null>, api: Lab["api"]): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const within = (ms: number) =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  try {
    const kernels = await api("GET", "/api/kernels");
    if (Array.isArray(kernels.body))
      await Promise.all(kernels.body.map((k: { id: string }) => api("DELETE", `/api/kernels/${k.id}`)));
    await api("POST", "/api/shutdown");
  } catch {
    // the server is already going
  }
  if (await within(10_000)) return;
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // gone
    }
  };
  group("SIGTERM");
  if (await within(5_000)) return;
  group("SIGKILL");
  await within(5_000);
}
