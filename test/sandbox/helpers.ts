// Shared test helpers: the backends to run on, a started sandbox per suite, and a tiny HTTP client.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Client as PgClient } from "pg";
import { uniqueReadonlyRole } from "../../sandbox/db";
import { startSandbox, type Faults, type Sandbox } from "../../sandbox/index";
import { CARD_DECLINED as DECLINED, CARD_INSUFFICIENT_FUNDS, CARD_SUCCESS, TEST_CARDS } from "../../sandbox/test-cards";

export interface Backend {
  name: "pglite" | "postgres";
  databaseUrl?: string;
}

/** PGlite always; real PostgreSQL too when TEST_PG_URL (an admin DSN) is set. */
export function backends(): Backend[] {
  const list: Backend[] = [{ name: "pglite" }];
  if (process.env.TEST_PG_URL) list.push({ name: "postgres", databaseUrl: process.env.TEST_PG_URL });
  return list;
}

export const FAST: Partial<Faults> = { completionDelayMs: 30, refundDelayMs: 30 };

/**
 * Start one sandbox for the enclosing describe(); returns a getter. Faults reset before each use via reset().
 * On real PostgreSQL the sandbox gets a read-only role of its own (test files run concurrently against one
 * server, and a shared role's password is reset by every start); pass readonlyRole to use a given one.
 */
export function useSandbox(
  backend: Backend,
  faults: Partial<Faults> = {},
  readonlyRole: string = uniqueReadonlyRole(),
): () => Sandbox {
  let sb: Sandbox | undefined;
  before(async () => {
    sb = await startSandbox({
      databaseUrl: backend.databaseUrl,
      readonlyRole,
      quiet: true,
      seed: 42,
      faults: { ...FAST, ...faults },
    });
  });
  after(async () => {
    await sb?.stop();
  });
  return () => {
    assert.ok(sb, "sandbox not started");
    return sb;
  };
}

export interface Res {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export class Api {
  token = "";
  constructor(readonly sb: Sandbox) {}

  async req(
    method: string,
    path: string,
    opts: { body?: unknown; raw?: string; headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<Res> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.auth !== false && this.token && !headers.authorization) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    if (opts.raw !== undefined) headers["content-type"] ??= "application/json";
    const r = await fetch(`${this.sb.marketplaceUrl}${path.startsWith("/__") ? "" : "/api/v1"}${path}`, {
      method,
      headers,
      body,
    });
    const text = await r.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, body: json, text };
  }

  async login(email = this.sb.operator.email, password = this.sb.operator.password): Promise<this> {
    const r = await this.req("POST", "/auth/login", { body: { email, password }, auth: false });
    assert.equal(r.status, 200, r.text);
    this.token = r.body.data.access_token;
    return this;
  }

  async order(productId = "prd_e2e_test_licence", key?: string): Promise<any> {
    const r = await this.req("POST", "/orders", {
      body: { product_id: productId },
      headers: key ? { "idempotency-key": key } : {},
    });
    assert.equal(r.status, 201, r.text);
    return r.body.data;
  }

  async getOrder(id: string): Promise<any> {
    const r = await this.req("GET", `/orders/${id}`);
    assert.equal(r.status, 200, r.text);
    return r.body.data;
  }

  async waitFor(id: string, status: string, timeoutMs = 5000): Promise<any> {
    const end = Date.now() + timeoutMs;
    let last: any;
    while (Date.now() < end) {
      last = await this.getOrder(id);
      if (last.status === status) return last;
      await sleep(20);
    }
    assert.fail(`order ${id} did not reach ${status} within ${timeoutMs} ms (last: ${last?.status})`);
  }
}

export const CARD_OK = TEST_CARDS[0].number; // spaced, as a person types it
export const CARD_DECLINED = DECLINED;
export const CARD_NO_FUNDS = CARD_INSUFFICIENT_FUNDS;
export { CARD_SUCCESS };

export interface PayResult {
  status: number;
  html: string;
  dataStatus?: string;
}

/** Pay on the hosted checkout by posting its form over plain HTTP. */
export async function pay(paymentUrl: string, card = CARD_OK, extra: Record<string, string> = {}): Promise<PayResult> {
  const u = new URL(paymentUrl);
  const form = {
    card_number: card,
    expiry: "12/39",
    cvc: "123",
    holder: "Test Operator",
    client_secret: u.searchParams.get("client_secret") ?? "",
    ...extra,
  };
  const r = await fetch(`${u.origin}${u.pathname}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  const html = await r.text();
  return { status: r.status, html, dataStatus: /id="result" data-status="([a-z_]+)"/.exec(html)?.[1] };
}

export async function hs(
  sb: Sandbox,
  method: string,
  path: string,
  body?: unknown,
  key: string | null = sb.apiKey,
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (key !== null) headers["api-key"] = key;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(`${sb.hyperswitchUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, body: json, text };
}

export async function sql<T = any>(dsn: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new PgClient({ connectionString: dsn });
  c.on("error", () => {});
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Order paid with the success card and completed. */
export async function completedOrder(api: Api, productId?: string): Promise<any> {
  const o = await api.order(productId);
  const p = await pay(o.payment_url);
  assert.equal(p.status, 200, p.html);
  return api.waitFor(o.id, "completed");
}
