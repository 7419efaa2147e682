import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Ctx } from "./context";
import { SandboxError, toSandboxError } from "./errors";
import { parseCardForm, renderCheckoutForm, renderError, renderResult } from "./checkout-page";
import {
  type HsEngine,
  HsError,
  paymentNotFound,
  paymentView,
  refundNotFound,
  refundView,
  type PaymentRow,
} from "./hs-engine";

export const BODY_LIMIT = 16 * 1024;

// Request bodies as Hyperswitch's PaymentsCreateRequest / RefundRequest name them (both refuse unknown
// fields, as the spec's additionalProperties:false does). Fields the double has no use for are accepted
// and ignored; `confirm: true` needs card data the double only takes on its hosted checkout.
const metadata = z
  .record(z.string().max(40), z.union([z.string().max(500), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 50, "at most 50 keys");
const CreatePayment = z.strictObject({
  amount: z.number().int().positive().max(100_000_000),
  currency: z.string().regex(/^[A-Z]{3}$/),
  payment_id: z
    .string()
    .regex(/^pay_[A-Za-z0-9_]{26}$/, "must be pay_ plus 26 letters, digits or _")
    .optional(),
  description: z.string().max(500).optional(),
  metadata: metadata.optional(),
  confirm: z.boolean().optional(),
  capture_method: z.enum(["automatic", "manual", "manual_multiple", "scheduled", "sequential_automatic"]).optional(),
  return_url: z.url().max(2048).optional(),
  customer_id: z.string().min(1).max(64).optional(),
  profile_id: z.string().max(64).optional(),
  authentication_type: z.enum(["three_ds", "no_three_ds"]).optional(),
  amount_to_capture: z.number().int().positive().optional(),
  statement_descriptor_name: z.string().max(255).optional(),
  statement_descriptor_suffix: z.string().max(255).optional(),
  merchant_order_reference_id: z.string().max(255).optional(),
  setup_future_usage: z.enum(["off_session", "on_session"]).optional(),
  payment_method: z.enum(["card"]).optional(),
});
const CreateRefund = z.strictObject({
  payment_id: z.string().min(1).max(64),
  refund_id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1 to 64 letters, digits, _ or -")
    .optional(),
  merchant_id: z.string().max(255).optional(),
  amount: z.number().int().positive().max(100_000_000).optional(),
  reason: z.string().max(255).optional(),
  refund_type: z.enum(["scheduled", "instant"]).optional(),
  metadata: metadata.optional(),
});

const CancelPayment = z.strictObject({
  cancellation_reason: z.string().max(255).optional(),
  merchant_connector_details: z.unknown().optional(),
});

function zodMessage(err: z.ZodError): string {
  const i = err.issues[0];
  return `${i.path.join(".") || "body"}: ${i.message}`;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new HsError(400, "IR_06", `Json deserialize error: ${zodMessage(r.error)}`);
  return r.data;
}

function sameSecret(a: string, b: unknown): boolean {
  if (typeof b !== "string" || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

const isCheckout = (url: string) => url.startsWith("/checkout");

export function buildOrchestrator(ctx: Ctx, engine: HsEngine): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, forceCloseConnections: true, return503OnClosing: true });

  app.removeContentTypeParser("text/plain");
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    const out: Record<string, string> = Object.create(null);
    for (const [k, v] of new URLSearchParams(body as string)) {
      if (k in out) return done(new HsError(400, "IR_06", `field "${k.slice(0, 40)}" given twice`), undefined);
      out[k] = v;
    }
    done(null, out);
  });

  app.setErrorHandler((err, req, reply) => {
    const e = err instanceof SandboxError ? err : toSandboxError(err);
    if (e.status >= 500 && !(err instanceof SandboxError))
      ctx.log(`orchestrator error on ${req.method} ${req.routeOptions.url ?? "?"}: ${(err as Error).message}`);
    if (isCheckout(req.url))
      return reply.code(e.status).type("text/html; charset=utf-8").send(renderError(e.status, e.message));
    // Hyperswitch's codes: IR_xx for a bad request, HE_00 ("Something went wrong", type api) for ours.
    const hs =
      e instanceof HsError
        ? e
        : e.status >= 500
          ? new HsError(e.status, "HE_00", "Something went wrong", "api")
          : new HsError(e.status, "IR_06", e.message);
    return reply
      .code(e.status)
      .headers(e.headers)
      .send({ error: { type: hs.type, code: hs.code, message: hs.message } });
  });
  app.setNotFoundHandler((req, reply) => {
    if (isCheckout(req.url))
      return reply.code(404).type("text/html; charset=utf-8").send(renderError(404, "No such page."));
    return reply.code(404).send({
      error: { type: "invalid_request", code: "IR_02", message: "Unrecognized request URL" },
    });
  });

  const requireKey = async (req: FastifyRequest) => {
    const key = req.headers["api-key"];
    if (!sameSecret(ctx.apiKey, key) && !sameSecret(ctx.liveApiKey, key)) {
      throw new HsError(401, "IR_01", "API key not provided or invalid API key used");
    }
  };

  app.post("/payments", { preHandler: requireKey }, async (req) => {
    const body = parse(CreatePayment, req.body);
    if (body.confirm)
      throw new HsError(
        400,
        "IR_04",
        "Missing required param: payment_method_data (the sandbox takes cards on its hosted checkout only; create with confirm: false)",
      );
    return paymentView(await engine.createPayment(body), true);
  });
  // `force_sync=true` makes the orchestrator ask the processor first (engine.syncPayment);
  // `expand_attempts=true` lists the payment's attempts.
  app.get<{ Params: { id: string }; Querystring: { force_sync?: string; expand_attempts?: string } }>(
    "/payments/:id",
    { preHandler: requireKey },
    async (req) => {
      const id = req.params.id;
      const p = req.query.force_sync === "true" ? await engine.syncPayment(id) : await engine.getPayment(id);
      if (!p) throw paymentNotFound();
      return paymentView(p, true, req.query.expand_attempts === "true");
    },
  );
  // Hyperswitch's void (PaymentsCancelRequest): the body may name a cancellation_reason.
  app.post<{ Params: { id: string } }>("/payments/:id/cancel", { preHandler: requireKey }, async (req) => {
    parse(CancelPayment, req.body ?? {});
    return paymentView(await engine.cancel(req.params.id), true);
  });
  app.post("/refunds", { preHandler: requireKey }, async (req) => {
    const body = parse(CreateRefund, req.body);
    return refundView(await engine.createRefund(body));
  });
  app.get<{ Params: { id: string }; Querystring: { force_sync?: string } }>(
    "/refunds/:id",
    { preHandler: requireKey },
    async (req) => {
      const id = req.params.id;
      const r = req.query.force_sync === "true" ? await engine.syncRefund(id) : await engine.getRefund(id);
      if (!r) throw refundNotFound();
      return refundView(r);
    },
  );

  const loadForCheckout = async (id: string, secret: unknown): Promise<PaymentRow> => {
    const p = await engine.getPayment(id);
    if (!p) throw new HsError(404, "HE_02", "No such payment.");
    if (!sameSecret(p.client_secret, secret))
      throw new HsError(403, "IR_09", "The client secret is missing or does not match this payment.");
    return p;
  };
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type("text/html; charset=utf-8").header("cache-control", "no-store").send(body);

  app.get<{ Params: { payment_id: string }; Querystring: { client_secret?: string } }>(
    "/checkout/:payment_id",
    async (req, reply) => {
      const p = await loadForCheckout(req.params.payment_id, req.query.client_secret);
      if (p.status === "requires_payment_method") return html(reply, 200, renderCheckoutForm(p, p.client_secret));
      return html(reply, 200, renderResult(p, p.client_secret));
    },
  );

  app.post<{ Params: { payment_id: string } }>("/checkout/:payment_id", async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    if (typeof form !== "object" || Array.isArray(form)) throw new HsError(400, "IR_06", "Expected a form post.");
    const p = await loadForCheckout(req.params.payment_id, form.client_secret);
    if (p.status !== "requires_payment_method") {
      return html(reply, 409, renderError(409, `This payment is already ${p.status}; it cannot be paid again.`));
    }
    const card = parseCardForm(form);
    if ("error" in card) return html(reply, 400, renderCheckoutForm(p, p.client_secret, card.error));
    const paid = await engine.confirm(p.payment_id, card);
    if (!paid) return html(reply, 409, renderError(409, "This payment was paid meanwhile; it cannot be paid again."));
    return html(reply, 200, renderResult(paid, paid.client_secret));
  });

  return app;
}
