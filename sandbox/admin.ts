import type { FastifyInstance } from "fastify";
import type { Pool } from "pg";
import { ZodError } from "zod";
import type { Ctx } from "./context";
import { BadRequestError } from "./errors";
import type { Faults } from "./faults";
import { ok } from "./marketplace";

export interface Counts {
  orders: number;
  payments: number;
  refunds: number;
  licenses_active: number;
  seller_transfers: number;
  webhook_events: number;
}

export async function counts(pool: Pool): Promise<Counts> {
  const r = await pool.query(`SELECT
    (SELECT count(*) FROM orders)::int AS orders,
    (SELECT count(*) FROM hs_payments)::int AS payments,
    (SELECT count(*) FROM hs_refunds)::int AS refunds,
    (SELECT count(*) FROM licenses WHERE revoked_at IS NULL)::int AS licenses_active,
    (SELECT count(*) FROM seller_transfers)::int AS seller_transfers,
    (SELECT count(*) FROM webhook_events)::int AS webhook_events`);
  return r.rows[0];
}

export interface AdminHooks {
  setFaults(f: Partial<Faults>): Faults;
}

/** Loopback-only run-time knobs (the loopback check is in the marketplace's onRequest hook). */
export function registerAdmin(app: FastifyInstance, ctx: Ctx, hooks: AdminHooks): void {
  app.get("/__admin/faults", async (_req, reply) => ok(reply, ctx.faults.get()));
  app.put("/__admin/faults", async (req, reply) => {
    try {
      if (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)) {
        throw new BadRequestError("body must be a JSON object of fault knobs", "INVALID_FAULTS");
      }
      return ok(reply, hooks.setFaults(req.body as Partial<Faults>));
    } catch (err) {
      if (err instanceof ZodError) {
        const i = err.issues[0];
        throw new BadRequestError(`invalid fault: ${i.path.join(".") || "body"}: ${i.message}`, "INVALID_FAULTS");
      }
      throw err;
    }
  });
  app.get("/__admin/counts", async (_req, reply) => ok(reply, await counts(ctx.pool)));
  app.get("/__admin/flips", async (_req, reply) => ok(reply, { flips: ctx.flips }));
  app.get("/__admin/stats", async (_req, reply) => ok(reply, ctx.stats));
}
