import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { authenticate, issueTokens, verifyPassword } from "./auth";
import type { Ctx } from "./context";
import { isLoopback } from "./context";
import {
  BadRequestError,
  ForbiddenError,
  SandboxError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
  toSandboxError,
} from "./errors";
import { registerOrders } from "./orders";
import { registerWebhook } from "./webhook-apply";
import { registerAdmin, type AdminHooks } from "./admin";

export const BODY_LIMIT = 16 * 1024;
export const SANDBOX_VERSION = "sandbox-0.1.0";
const LOGIN_WINDOW_S = 15 * 60;
const LOGIN_MAX_FAILURES = 5;

declare module "fastify" {
  interface FastifyRequest {
    rawBody?: Buffer;
    startedAt?: number;
  }
}

export const ok = (reply: FastifyReply, data: unknown, status = 200) =>
  reply.code(status).send({ success: true, data });

/** Parse with zod; any mismatch (missing, extra, wrong type) is a 400 with the first issue. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new BadRequestError(`invalid body: ${i.path.join(".") || "body"}: ${i.message}`, "VALIDATION_ERROR");
  }
  return r.data;
}

const Login = z.strictObject({ email: z.string().min(3).max(254), password: z.string().min(1).max(256) });

export function buildMarketplace(ctx: Ctx, admin: AdminHooks): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, forceCloseConnections: true, return503OnClosing: true });

  app.removeContentTypeParser("text/plain"); // the API speaks JSON only: anything else is a 415
  // Keep the raw bytes: the webhook signature is over the body exactly as sent.
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, done) => {
    const raw = body as Buffer;
    req.rawBody = raw;
    if (raw.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(raw.toString("utf8")));
    } catch {
      done(new BadRequestError("malformed JSON body", "INVALID_JSON"), undefined);
    }
  });

  app.addHook("onRequest", async (req, reply) => {
    req.startedAt = performance.now();
    const url = req.url;
    if (url.startsWith("/__admin")) {
      if (!isLoopback(req.socket.remoteAddress))
        throw new ForbiddenError("admin endpoint is loopback-only", "ADMIN_LOOPBACK_ONLY");
      return;
    }
    if (!url.startsWith("/api/v1/") || url.startsWith("/api/v1/webhooks/")) return;
    const f = ctx.faults.get();
    const delay = f.latencyMs + (ctx.faults.chance(f.latencySpikeRate) ? f.latencySpikeMs : 0);
    if (delay > 0) await ctx.timers.sleep(delay);
    if (url.startsWith("/api/v1/health")) return;
    if (ctx.faults.chance(f.resetRate)) {
      countRequest(ctx, `${req.method} ${req.routeOptions.url ?? "unmatched"}`, req.startedAt);
      reply.hijack();
      req.raw.socket.destroy(); // connection reset, nothing handled, nothing changed
      return;
    }
    if (ctx.faults.chance(f.errorRate)) {
      throw new ServiceUnavailableError("service temporarily overloaded, retry later", f.retryAfterS, "OVERLOADED");
    }
  });

  app.addHook("onResponse", async (req) => {
    if (req.url.startsWith("/__admin")) return;
    countRequest(ctx, `${req.method} ${req.routeOptions.url ?? "unmatched"}`, req.startedAt);
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toSandboxError(err);
    if (e.status >= 500 && !(err instanceof SandboxError)) {
      ctx.log(`marketplace error on ${req.method} ${req.routeOptions.url ?? "?"}: ${(err as Error).message}`);
    }
    return reply.code(e.status).headers(e.headers).send({ success: false, error: e.message, code: e.code });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ success: false, error: `no route ${req.method} ${req.url.split("?")[0]}`, code: "ROUTE_NOT_FOUND" }),
  );

  app.get("/api/v1/health", async (_req, reply) => {
    if (ctx.faults.get().dbDown)
      throw new ServiceUnavailableError("database unreachable", ctx.faults.get().retryAfterS, "DB_UNAVAILABLE");
    try {
      await ctx.pool.query("SELECT 1");
    } catch {
      throw new ServiceUnavailableError("database unreachable", ctx.faults.get().retryAfterS, "DB_UNAVAILABLE");
    }
    return ok(reply, { status: "ok" });
  });

  app.get("/api/v1/status", async (_req, reply) => {
    const f = ctx.faults.get();
    return ok(reply, {
      environment: f.statusEnvironment,
      version: SANDBOX_VERSION,
      services: { hyperswitch: { status: f.hyperswitchStatus, mode: f.hyperswitchMode } },
    });
  });

  app.post("/api/v1/auth/login", async (req, reply) => {
    const body = parseBody(Login, req.body);
    const email = body.email.trim().toLowerCase();
    const recent = await ctx.pool.query(
      `SELECT count(*)::int AS n, extract(epoch FROM (min(at) + make_interval(secs => $2) - now()))::float AS wait
       FROM login_attempts WHERE email = $1 AND at > now() - make_interval(secs => $2)`,
      [email, LOGIN_WINDOW_S],
    );
    if (recent.rows[0].n >= LOGIN_MAX_FAILURES) {
      throw new TooManyRequestsError(
        "too many failed logins for this account, retry later",
        recent.rows[0].wait,
        "TOO_MANY_LOGIN_ATTEMPTS",
      );
    }
    const u = await ctx.pool.query(
      "SELECT id, email, role, password_hash FROM users WHERE email = $1 AND role <> 'seller'",
      [email],
    );
    const user = u.rows[0];
    if (!(await verifyPassword(body.password, user?.password_hash ?? null))) {
      await ctx.pool.query("INSERT INTO login_attempts (email) VALUES ($1)", [email]);
      throw new UnauthorizedError("invalid email or password", "INVALID_CREDENTIALS");
    }
    await ctx.pool.query("DELETE FROM login_attempts WHERE email = $1", [email]);
    const tokens = await issueTokens(ctx.pool, user.id);
    return ok(reply, { ...tokens, user: { id: user.id, email: user.email, role: user.role } });
  });

  app.get("/api/v1/marketplace/products", async (_req, reply) => {
    const r = await ctx.pool.query(
      "SELECT id, title, description, price_cents, currency, vat_rate, seller_id, license_type FROM products ORDER BY price_cents, id",
    );
    return ok(reply, { products: r.rows.map((p) => ({ ...p, vat_rate: Number(p.vat_rate) })) });
  });

  registerOrders(app, ctx, (h) => authenticate(ctx.pool, h));
  registerWebhook(app, ctx);
  registerAdmin(app, ctx, admin);
  return app;
}

function countRequest(ctx: Ctx, key: string, startedAt: number | undefined): void {
  ctx.stats.requests++;
  ctx.stats.serviceMs += startedAt === undefined ? 0 : performance.now() - startedAt;
  ctx.stats.byRoute[key] = (ctx.stats.byRoute[key] ?? 0) + 1;
}
