/**
 * A kernel ready before the operator (issue 26 item 1): as soon as the session's Jupyter answers,
 * `npm run session` (./session-life.ts) creates the notebook's Jupyter session through the REST API
 * (`POST /api/sessions` with the notebook's path), so that opening the URL attaches to a kernel that
 * is already running (JupyterLab and the classic Notebook reuse the session of a path,
 * docs/platform.md), and warms it: one execute request over the kernel's websocket that imports
 * the built lib as the notebook's session cell does.
 *
 * What it must not do: write to the notebook (the contents API is never called) or to the session's
 * evidence (the import opens no session: `openNotebook` is not called, so no journal, lock, trace or
 * outputs.jsonl is touched); run a step. Its failure is never the session's: the operator's browser
 * then starts or attaches to a kernel as before, so every error is caught and told as a note.
 *
 * `npm run session` prints the notebook's URL only once the kernel is warm (`kernelAhead`), so the
 * operator who opens it finds the kernel idle and lib loaded. A stop that comes while the kernel is
 * still being created waits for Jupyter to have started it (bounded), so that Jupyter's own shutdown
 * stops it; the ids Jupyter named are kept for the kernels it leaves behind anyway (reapKernels).
 */
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { oneLine } from "../errors";
import { readNotebook } from "./nbfile";

/**
 * The warm-up cell: the session cell's own imports, so tslab has type-checked `build/lib`'s
 * declarations and Node has loaded its modules before the operator's session cell asks for them.
 * The same names: re-running an import of the same module is what a re-run session cell does.
 */
export const WARM_CODE = 'import * as tslab from "tslab";\nimport { openNotebook } from "./build/lib/notebook";';

/** The kernel a notebook asks for (its kernelspec's name), "tslab" when it names none. */
export function kernelNameOf(notebook: string): string {
  try {
    const name = (readNotebook(notebook).metadata as { kernelspec?: { name?: unknown } })?.kernelspec?.name;
    return typeof name === "string" && name ? name : "tslab";
  } catch {
    return "tslab";
  }
}

export interface Prestarted {
  kernelId: string;
  /** POST /api/sessions sent → answered (the kernel process started and answered kernel_info). */
  startMs: number;
  /** The warm-up execute request sent → its reply (lib imported in the kernel). */
  warmMs: number;
  /** The warm-up's reply status: "ok", or why it did not run. */
  warm: string;
}

/** One Jupyter message on the default websocket protocol (JSON with its channel). */
function message(session: string, msgType: string, content: Record<string, unknown>) {
  return {
    header: {
      msg_id: randomUUID(),
      username: "runbook",
      session,
      msg_type: msgType,
      version: "5.3",
      date: new Date().toISOString(),
    },
    parent_header: {},
    metadata: {},
    content,
    channel: "shell",
    buffers: [],
  };
}

/**
 * Sends `code` to kernel `kernelId` of the server at `origin` and resolves with the reply's status
 * ("ok", "error", or why none came within `timeoutMs`). Nothing it prints is kept: `silent` asks the
 * kernel not to broadcast, and this socket reads only the reply.
 */
export function executeOnKernel(
  origin: string,
  token: string,
  kernelId: string,
  code: string,
  timeoutMs = 120_000,
  signal?: AbortSignal,
): Promise<string> {
  const session = randomUUID();
  const url = `${origin.replace(/^http/, "ws")}/api/kernels/${encodeURIComponent(kernelId)}/channels?session_id=${session}&token=${encodeURIComponent(token)}`;
  return new Promise((resolve) => {
    let done = false;
    const ws = new WebSocket(url);
    const finish = (status: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // already closed
      }
      resolve(status);
    };
    const timer = setTimeout(() => finish(`no reply within ${timeoutMs / 1000} s`), timeoutMs);
    const req = message(session, "execute_request", {
      code,
      silent: true,
      store_history: false,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: false,
    });
    // The server accepts the socket once the kernel has started: stopped before then, it waits for
    // that moment and sends nothing, so Jupyter shuts down a started kernel, not one half-launched.
    ws.addEventListener("open", () => (signal?.aborted ? finish("stopped") : ws.send(JSON.stringify(req))));
    signal?.addEventListener("abort", () => {
      if (ws.readyState === WebSocket.OPEN) finish("stopped");
    });
    ws.addEventListener("message", (ev) => {
      if (typeof ev.data !== "string") return;
      try {
        const m = JSON.parse(ev.data);
        if (m.channel === "shell" && m.parent_header?.msg_id === req.header.msg_id)
          finish(String(m.content?.status ?? "unknown"));
      } catch {
        // not a JSON message: not ours
      }
    });
    ws.addEventListener("error", () => finish("the kernel's websocket failed"));
    ws.addEventListener("close", () => finish("the kernel's websocket closed"));
  });
}

/**
 * Creates the Jupyter session of `rel` (the notebook's path under the server root, as the server's
 * URLs spell it: each segment URL-encoded) on the server at `origin`, then warms its kernel. Throws
 * when the session cannot be created; a failed warm-up is reported in `warm`.
 */
export async function prestartKernel(o: {
  origin: string;
  token: string;
  rel: string;
  kernelName: string;
  timeoutMs?: number;
  /** Aborted when the session stops: the warm-up is not sent, or no longer waited for. */
  signal?: AbortSignal;
  /** Told the kernel's id as soon as Jupyter has started it, before the warm-up. */
  onKernel?: (kernelId: string) => void;
}): Promise<Prestarted> {
  const nbPath = o.rel.split("/").map(decodeURIComponent).join("/");
  const t0 = performance.now();
  const r = await fetch(`${o.origin}/api/sessions`, {
    method: "POST",
    headers: { Authorization: `token ${o.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      path: nbPath,
      name: path.posix.basename(nbPath),
      type: "notebook",
      kernel: { name: o.kernelName },
    }),
    signal: AbortSignal.timeout(o.timeoutMs ?? 120_000),
  });
  const body = (await r.json().catch(() => ({}))) as { kernel?: { id?: string }; message?: string };
  const kernelId = body.kernel?.id;
  if (r.status >= 300 || !kernelId)
    throw new Error(`POST /api/sessions answered ${r.status}${body.message ? ` (${body.message})` : ""}`);
  o.onKernel?.(kernelId);
  const startMs = performance.now() - t0;
  const t1 = performance.now();
  const warm = await executeOnKernel(o.origin, o.token, kernelId, WARM_CODE, o.timeoutMs, o.signal);
  return { kernelId, startMs, warmMs: performance.now() - t1, warm };
}

/** How long `npm run session` waits for the kernel to be warm before it prints the URL anyway. */
export const AHEAD_WAIT_MS = 60_000;
/** How long a stop waits for a kernel Jupyter is still creating, so that Jupyter shuts it down. */
const AHEAD_STOP_WAIT_MS = 30_000;

/** The kernel `npm run session` starts ahead, and what stopping the session needs of it. */
export interface KernelAhead {
  /** Settles with the line to print when the kernel is warm, failed, or still starting after `waitMs`. */
  ready: Promise<string>;
  /** The kernel ids Jupyter named (for the kernels it leaves behind, ./lifecycle.ts reapKernels). */
  kernelIds: string[];
  /**
   * Stops the warm-up and resolves once Jupyter has answered the session's creation (the kernel
   * process exists, so Jupyter's shutdown stops it) or after a bound; at once when nothing is pending.
   */
  settle(): Promise<void>;
}

/** Starts the notebook's kernel ahead for `npm run session` (see the module's header). */
export function kernelAhead(o: {
  origin: string;
  token: string;
  rel: string;
  notebook: string;
  waitMs?: number;
}): KernelAhead {
  const abort = new AbortController();
  const kernelIds: string[] = [];
  let created: () => void = () => undefined;
  const creation = new Promise<void>((r) => (created = r));
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
  const run = prestartKernel({
    origin: o.origin,
    token: o.token,
    rel: o.rel,
    kernelName: kernelNameOf(o.notebook),
    signal: abort.signal,
    onKernel: (id) => {
      kernelIds.push(id);
      created();
    },
  }).then(
    (k) =>
      k.warm === "ok"
        ? `kernel started and lib imported in ${secs()} s: opening the notebook attaches to it`
        : `kernel started in ${secs()} s; warming it did not finish (${k.warm}): the session cell imports lib itself`,
    (err) => `the kernel was not started ahead (${oneLine(err)}): opening the notebook starts it`,
  );
  void run.finally(created);
  const waitMs = o.waitMs ?? AHEAD_WAIT_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => {
    timer = setTimeout(
      () => r(`the kernel is still starting after ${waitMs / 1000} s: the page attaches to it once it is up`),
      waitMs,
    );
    timer.unref();
  });
  return {
    ready: Promise.race([run, late]).finally(() => clearTimeout(timer)),
    kernelIds,
    settle: () => {
      abort.abort();
      let bound: NodeJS.Timeout | undefined;
      const wait = new Promise<void>((r) => {
        bound = setTimeout(r, AHEAD_STOP_WAIT_MS);
        bound.unref();
      });
      return Promise.race([creation, wait]).finally(() => clearTimeout(bound));
    },
  };
}
