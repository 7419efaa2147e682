// The fault suite's world: one sandbox per database backend (PGlite always, real PostgreSQL when
// TEST_PG_URL is set), sessions in a throwaway archive, and what each scenario asserts on: the
// database rows and the per-route requests the sandbox counted while the scenario ran.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { Client as PgClient } from "pg";
import { request } from "undici";
import type { Params } from "../../lib/config";
import { Session } from "../../lib/run/session";
import type { Mode } from "../../lib/types";
import { DEFAULT_FAULTS, startSandbox, type Faults, type Sandbox } from "../../sandbox/index";
import { open, type OpenSpec, type Secrets } from "./drive";
import type { Runbook } from "../../lib/run/runbook";

/** Fixed, so a fault run draws the same sequence of 503s, resets and spikes every time. */
export const SEED = 4242;

/** Every scenario starts from these: no fault, small delays (the suite must stay under ~5 min). */
export const BASE_FAULTS: Faults = { ...DEFAULT_FAULTS, completionDelayMs: 200, refundDelayMs: 200 };

export interface Backend {
  name: "pglite" | "postgres";
  databaseUrl?: string;
}

export function backends(): Backend[] {
  const list: Backend[] = [{ name: "pglite" }];
  if (process.env.TEST_PG_URL) list.push({ name: "postgres", databaseUrl: process.env.TEST_PG_URL });
  return list;
}

export type Counts = Awaited<ReturnType<Sandbox["counts"]>>;

export interface Mark {
  counts: Counts;
  routes: Record<string, number>;
}

export interface Delta extends Counts {
  /** Requests the sandbox counted per route (`POST /api/v1/orders`) since the mark. */
  routes: Record<string, number>;
}

export const ROUTE = {
  orders: "POST /api/v1/orders",
  refund: "POST /api/v1/orders/:id/refund",
  login: "POST /api/v1/auth/login",
} as const;

export class World {
  readonly sb: Sandbox;
  readonly backend: Backend;
  readonly archive: string;
  private lastSessionAt = 0;

  private constructor(sb: Sandbox, backend: Backend, archive: string) {
    this.sb = sb;
    this.backend = backend;
    this.archive = archive;
  }

  static async start(backend: Backend): Promise<World> {
    const sb = await startSandbox({ quiet: true, seed: SEED, databaseUrl: backend.databaseUrl, faults: BASE_FAULTS });
    return new World(sb, backend, fs.mkdtempSync(path.join(os.tmpdir(), `faults-${backend.name}-`)));
  }

  async stop(): Promise<void> {
    await this.sb.stop();
    if (!process.env.FAULTS_KEEP_ARCHIVE) fs.rmSync(this.archive, { recursive: true, force: true });
    else console.log(`fault suite: evidence kept in ${this.archive}`);
  }

  /** A fresh, explicit session. Ids have 1 s resolution, so each gets its own second. */
  newSession(mode: Mode = "sandbox"): string {
    const at = Math.max(Date.now(), this.lastSessionAt + 1000);
    this.lastSessionAt = at;
    return Session.create(mode, this.archive, { base_url: this.sb.marketplaceUrl }, new Date(at));
  }

  /** Waits until a session made from the clock (scripts/rehearse.ts) cannot collide with ours. */
  async freeSecond(): Promise<void> {
    const wait = this.lastSessionAt + 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.lastSessionAt = Date.now();
  }

  /** The notebook's parameters cell for a local rehearsal, plus overrides. */
  params(sessionId: string, extra: Params = {}): Params {
    const mode = sessionId.replace(/^.*-/, "");
    return {
      SESSION_ID: sessionId,
      MODE: mode,
      BASE_URL: this.sb.marketplaceUrl,
      HYPERSWITCH_URL: this.sb.hyperswitchUrl,
      OPERATOR_EMAIL: this.sb.operator.email,
      REFUND: true,
      AUTO_PAY: "success",
      ARCHIVE_DIR: this.archive,
      POLL_DEADLINE_S: 30,
      ...extra,
    };
  }

  secrets(extra: Secrets = {}): Secrets {
    return {
      OPERATOR_PASSWORD: this.sb.operator.password,
      DATABASE_URL: this.sb.readonlyDsn,
      HYPERSWITCH_API_KEY: this.sb.apiKey,
      ...extra,
    };
  }

  spec(sessionId: string, extra: Params = {}, secrets: Secrets = {}): OpenSpec {
    return { params: this.params(sessionId, extra), env: this.secrets(secrets) };
  }

  open(sessionId: string, extra: Params = {}, secrets: Secrets = {}): Runbook {
    return open(this.spec(sessionId, extra, secrets));
  }

  async mark(): Promise<Mark> {
    await this.sb.drainWebhooks();
    return { counts: await this.sb.counts(), routes: this.sb.stats().byRoute };
  }

  /** Rows and requests added since `m`, after every queued webhook has landed. */
  async since(m: Mark): Promise<Delta> {
    await this.sb.drainWebhooks();
    const now = await this.sb.counts();
    const routes: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.sb.stats().byRoute))
      if (v - (m.routes[k] ?? 0) > 0) routes[k] = v - (m.routes[k] ?? 0);
    const d = { routes } as Delta;
    for (const k of Object.keys(now) as Array<keyof Counts>) d[k] = now[k] - m.counts[k];
    return d;
  }

  /** One query as the sandbox's admin (tests only: the runbook itself only ever reads, read-only). */
  async sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    const c = new PgClient({ connectionString: this.sb.adminDsn });
    c.on("error", () => undefined);
    await c.connect();
    try {
      return (await c.query(text, params)).rows as T[];
    } finally {
      await c.end();
    }
  }
}

/** What the proxy does with the backend's answer to one request. */
export type ProxyAction =
  | "pass"
  | "drop"
  | "hold"
  | "gate"
  | "drip"
  | { answer: number; json: unknown }
  | { rewrite: (json: Record<string, unknown>) => unknown };

/**
 * A loopback HTTP proxy in front of the marketplace. Every request reaches the backend and is
 * acted on; then `decide` says what the client gets: the answer (`pass`), a cut connection
 * (`drop`: the response is lost after the server acted) or nothing until the proxy closes
 * (`hold`: the kernel can be killed while its POST is in flight), or the answer once `release()` is
 * called (`gate`: a fault strikes while the cell waits), or its headers then a body that drips one
 * byte a second and never ends (`drip`), or an answer of the test's own (`{answer, json}`: a
 * hostile backend's status and body), or the backend's own JSON answer with fields rewritten
 * (`{rewrite}`: a backend answering about something else; only a 2xx answer is rewritten). Only an
 * Idempotency-Key makes the next attempt safe after a
 * drop or a hold.
 */
export async function faultyProxy(target: string, decide: (method: string, url: string) => ProxyAction) {
  const acted: ProxyAction[] = [];
  let heldOne: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (heldOne = resolve));
  let releaseAll: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (releaseAll = resolve));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      request(target + req.url, {
        method: req.method as "GET",
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      })
        .then(async (up) => {
          const body = Buffer.from(await up.body.arrayBuffer());
          const action = decide(req.method ?? "", req.url ?? "");
          acted.push(action);
          if (typeof action === "object" && "answer" in action) {
            res.writeHead(action.answer, { "content-type": "application/json" }).end(JSON.stringify(action.json));
            return;
          }
          if (typeof action === "object" && up.statusCode < 300) {
            const json = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
            // The backend's own Date header stays: a rewritten answer is still that backend's answer.
            const date = [up.headers.date].flat()[0];
            res
              .writeHead(up.statusCode, { "content-type": "application/json", ...(date ? { date } : {}) })
              .end(JSON.stringify(action.rewrite(json)));
            return;
          }
          if (action === "drop") return void req.socket.destroy();
          if (action === "hold") return heldOne();
          if (action === "gate") {
            heldOne();
            await released;
          }
          if (action === "drip") {
            // Headers and the start of the body at once, then one byte a second, never the end.
            res.writeHead(up.statusCode, { "content-type": "application/json" });
            res.write(body.subarray(0, Math.min(16, body.length)));
            const drip = setInterval(() => res.write(" "), 1000);
            res.on("close", () => clearInterval(drip));
            return;
          }
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(up.headers))
            if (v !== undefined && !["connection", "keep-alive", "transfer-encoding"].includes(k)) out[k] = v;
          res.writeHead(up.statusCode, out).end(body);
        })
        .catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    /** What happened to each request, in order. */
    acted,
    /** Resolves once a response has been held back. */
    held,
    /** Lets gated answers through. */
    release: () => releaseAll(),
    close: () =>
      new Promise<void>((resolve) => {
        releaseAll();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const KERNEL = path.join(__dirname, "kernel.ts");
const REPO = path.join(__dirname, "..", "..");

export interface Killed {
  /** What the kernel printed (`step 3 PASS`, `poll 2 processing`, `order ord_…`). */
  lines: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

/**
 * Runs test/faults/kernel.ts (a stand-in Jupyter kernel: its own process) on a session and
 * SIGKILLs it when it prints `when.line` or when `when.promise` settles; bounded by `timeoutMs`.
 */
export function runKernelAndKill(
  spec: OpenSpec,
  when: { line?: string; promise?: Promise<unknown> },
  timeoutMs = 45_000,
): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", KERNEL], {
      cwd: REPO,
      env: { ...process.env, FAULTS_KERNEL: JSON.stringify(spec) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const kill = () => child.kill("SIGKILL");
    const lines: string[] = [];
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const timer = setTimeout(kill, timeoutMs);
    void when.promise?.then(kill, kill);
    readline.createInterface({ input: child.stdout }).on("line", (l) => {
      lines.push(l);
      if (l === when.line) kill();
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ lines, signal, code, stderr });
    });
  });
}

export interface ScenarioCtx {
  w: World;
  /** Rows and requests since this scenario started (webhooks drained first). */
  delta(): Promise<Delta>;
  /** Starts counting again (a scenario that has to retry an attempt for a reason not its own). */
  restart(): Promise<void>;
}

export interface Scenario {
  /** Its number in issue 4 §7 (with a letter for variants). */
  n: string;
  title: string;
  timeoutMs?: number;
  run(ctx: ScenarioCtx): Promise<{ outcome: string; notes?: string }>;
}
