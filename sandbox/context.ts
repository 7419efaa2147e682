import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Pool } from "pg";
import type { Agent } from "undici";
import type { FaultState } from "./faults";

export interface Flip {
  order_id: string;
  from: string;
  to: string;
  at: string;
  mono_ms: number;
}
export interface Stats {
  requests: number;
  serviceMs: number;
  byRoute: Record<string, number>;
}

/** Timers and sleeps that stop() can cancel, so a stopped sandbox leaves nothing behind. */
export class Timers {
  private readonly pending = new Map<NodeJS.Timeout, () => void>();
  stopped = false;
  constructor(private readonly onError: (err: unknown) => void) {}
  after(ms: number, fn: () => unknown): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.pending.delete(t);
      if (this.stopped) return;
      Promise.resolve().then(fn).catch(this.onError);
    }, ms);
    this.pending.set(t, () => {});
  }
  /** Resolves after ms, or at once when the sandbox stops. */
  sleep(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.pending.delete(t);
        resolve();
      }, ms);
      this.pending.set(t, resolve);
    });
  }
  clear(): void {
    this.stopped = true;
    for (const [t, wake] of this.pending) {
      clearTimeout(t);
      wake();
    }
    this.pending.clear();
  }
}

const MAX_FLIPS = 100_000; // a long CLI session must not grow without bound

export interface Ctx {
  pool: Pool;
  faults: FaultState;
  apiKey: string;
  /** The production-shaped key (`prd_…`) a live-mode rehearsal passes: the double accepts it as well as `apiKey`. */
  liveApiKey: string;
  webhookSecret: string;
  marketplaceUrl: string;
  hyperswitchUrl: string;
  agent: Agent;
  timers: Timers;
  flips: Flip[];
  stats: Stats;
  log(msg: string): void;
}

export function recordFlip(ctx: Ctx, order_id: string, from: string, to: string): void {
  if (from === to) return;
  ctx.flips.push({ order_id, from, to, at: new Date().toISOString(), mono_ms: performance.now() });
  if (ctx.flips.length > MAX_FLIPS) ctx.flips.splice(0, ctx.flips.length - MAX_FLIPS);
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(10).toString("hex")}`;
}

export const iso = (d: Date | string | null | undefined): string | null =>
  d == null ? null : new Date(d).toISOString();

/** 127.0.0.0/8 and ::1, also in IPv4-mapped form. */
export const isLoopback = (addr: string | undefined): boolean =>
  !!addr && (addr === "::1" || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(addr));
