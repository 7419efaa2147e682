import { randomBytes } from "node:crypto";
import { Agent } from "undici";
import { counts, type Counts } from "./admin";
import { Timers, type Ctx, type Flip, type Stats } from "./context";
import { startDatabase } from "./db";
import { FaultState, type Faults } from "./faults";
import { HsEngine } from "./hs-engine";
import { buildMarketplace } from "./marketplace";
import { buildOrchestrator } from "./orchestrator";
import { OPERATOR_EMAIL, seed } from "./seed";
import type { SentWebhook } from "./webhooks";

export type { Faults } from "./faults";
export { DEFAULT_FAULTS, PAYMENT_OUTCOMES, REFUND_OUTCOMES } from "./faults";
export type { SentWebhook } from "./webhooks";
export { TEST_CARDS, CARD_SUCCESS, CARD_DECLINED, CARD_INSUFFICIENT_FUNDS } from "./test-cards";

export interface SandboxOptions {
  host?: string;
  marketplacePort?: number;
  hyperswitchPort?: number;
  pgPort?: number;
  databaseUrl?: string;
  /** Real PostgreSQL: the read-only role's name (default e2e_readonly; see uniqueReadonlyRole in ./db). */
  readonlyRole?: string;
  seed?: number;
  faults?: Partial<Faults>;
  quiet?: boolean;
}

export interface Sandbox {
  marketplaceUrl: string;
  hyperswitchUrl: string;
  readonlyDsn: string;
  adminDsn: string;
  operator: { email: string; password: string };
  apiKey: string;
  /** A production-shaped key (`prd_…`) the double accepts too: live-mode rehearsals pass it (pre-flight wants `prd_` live). */
  liveApiKey: string;
  webhookSecret: string;
  backend: "pglite" | "postgres";
  setFaults(f: Partial<Faults>): void;
  faults(): Faults;
  counts(): Promise<Counts>;
  flips(): Flip[];
  stats(): Stats;
  /** Wait until every queued webhook delivery and scheduled retry has finished (tests use it to settle). */
  drainWebhooks(): Promise<void>;
  /** Every webhook delivery attempt (exact body, receiver's status and answer, retry number, time sent), oldest first. */
  sentWebhooks(): SentWebhook[];
  stop(): Promise<void>;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const host = "127.0.0.1"; // loopback only, whatever is passed
  const faults = new FaultState(opts.seed ?? 42, opts.faults ?? {});
  const log = opts.quiet ? () => {} : (msg: string) => console.error(`[sandbox] ${msg}`);
  const db = await startDatabase({
    host,
    pgPort: opts.pgPort ?? 0,
    databaseUrl: opts.databaseUrl,
    readonlyRole: opts.readonlyRole,
  });
  const agent = new Agent({ keepAliveTimeout: 4_000, connections: 32 });
  const timers = new Timers((err) => log(`background task failed: ${(err as Error).message}`));
  const keyHex = randomBytes(24).toString("hex");
  const ctx: Ctx = {
    pool: db.pool,
    faults,
    agent,
    timers,
    log,
    apiKey: `snd_${keyHex}`,
    liveApiKey: `prd_${keyHex}`,
    webhookSecret: `whsec_${randomBytes(24).toString("hex")}`,
    marketplaceUrl: "",
    hyperswitchUrl: "",
    flips: [],
    stats: { requests: 0, serviceMs: 0, byRoute: {} },
  };
  const engine = new HsEngine(ctx);
  const orchestrator = buildOrchestrator(ctx, engine);
  const marketplace = buildMarketplace(ctx, { setFaults: (f) => faults.set(f) });

  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      timers.clear();
      await Promise.allSettled([marketplace.close(), orchestrator.close()]);
      await engine.webhooks.drain().catch(() => {});
      await agent.close().catch(() => {});
      await db.stop().catch((err) => log(`database stop failed: ${(err as Error).message}`));
    })());

  let password: string;
  try {
    password = await seed(db.pool);
    const hsPort = await listen(orchestrator, host, opts.hyperswitchPort ?? 0);
    ctx.hyperswitchUrl = `http://${host}:${hsPort}`;
    const mpPort = await listen(marketplace, host, opts.marketplacePort ?? 0);
    ctx.marketplaceUrl = `http://${host}:${mpPort}`;
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    marketplaceUrl: ctx.marketplaceUrl,
    hyperswitchUrl: ctx.hyperswitchUrl,
    readonlyDsn: db.readonlyDsn,
    adminDsn: db.adminDsn,
    operator: { email: OPERATOR_EMAIL, password },
    apiKey: ctx.apiKey,
    liveApiKey: ctx.liveApiKey,
    webhookSecret: ctx.webhookSecret,
    backend: db.backend,
    setFaults: (f) => {
      faults.set(f);
    },
    faults: () => faults.get(),
    counts: () => counts(db.pool),
    flips: () => ctx.flips.map((f) => ({ ...f })),
    stats: () => ({ ...ctx.stats, byRoute: { ...ctx.stats.byRoute } }),
    drainWebhooks: () => engine.webhooks.drain(),
    sentWebhooks: () => engine.webhooks.sent(),
    stop,
  };
}

async function listen(
  app: { listen(o: { host: string; port: number }): Promise<string>; server: { address(): unknown } },
  host: string,
  port: number,
): Promise<number> {
  await app.listen({ host, port });
  const addr = app.server.address() as { port: number };
  return addr.port;
}
