/**
 * P2, detection lag (issue 7). The sandbox flips each order to `completed` (after payment) and
 * later to `refunded` (after the refund request) at a random instant; two watchers poll the same
 * order at the same time: the runbook's poller (lib/run/poll.ts pollUntil through the traced
 * ApiClient, as steps 5 and 9 do) and the fixed-interval baseline (bench/curl-loop.sh, a curl
 * every 5 s). Lag = first response that shows the new state − the sandbox's recorded flip time.
 * The lib is driven directly, not through the notebook, to get many flips in bounded time.
 * P2's flips at set times after payment (1 s … 120 s) run beside these, in bench/p5-windows.ts.
 */
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { Order, Products, Refund, paths } from "../lib/contract";
import { ApiClient, logIn, sleep } from "../lib/clients/http";
import { payHeadless } from "../lib/clients/payer";
import { pollUntil, type Probe } from "../lib/run/poll";
import { Trace } from "../lib/evidence/trace";
import type { Sandbox } from "../sandbox/index";
import type { Flip } from "../sandbox/context";
import { ZERO_DELAYS } from "./p1-overhead";
import { median, pct } from "./stats";

export const P2_DEFAULTS = {
  flipDelayMs: 500, // the flip comes at least 0.5 s after payment / refund request…
  // …plus a seeded random 0–5 s: as wide as the baseline's period, so each flip falls at a
  // uniformly random phase of both loops.
  flipJitterMs: 5 * 1000,
  baselineIntervalS: 5, // the original walkthrough's `sleep 5`
  baselineMaxRequests: 12, // 12 × 5 s bounds a baseline loop that never sees its flip
  pollDeadlineS: 30, // bounds the runbook poller the same way
  orderRoute: "GET /api/v1/orders/:id",
};

export type Watcher = "runbook" | "baseline";

export interface LagSample {
  order: string;
  flip: "completed" | "refunded";
  watcher: Watcher;
  lagMs: number;
  requests: number;
  /** Request send times (ms, watcher's own clock) — for the rate figures. */
  sendTimes: number[];
}

export interface P2Result {
  samples: LagSample[];
  orders: number;
  flips: number;
  baseline: "curl" | "node-fetch";
  /** Sandbox-side count of GET /orders/:id during P2 (both watchers together). */
  serverOrderGets: number;
  seed: number | null;
  missing: string[];
}

export interface WatchOutcome {
  seen: boolean;
  /** Runbook: performance.now() of the detecting response; baseline: epoch ms. */
  seenAt: number;
  sendTimes: number[];
}

const hasCurl = () => spawnSync("sh", ["-c", "command -v curl"], { stdio: "ignore" }).status === 0;

/** The runbook's side: pollUntil with the same probe shape as Runbook.probeOrder (no retries, the poller paces). */
export async function watchRunbook(
  api: ApiClient,
  trace: Trace,
  orderId: string,
  target: string,
  step: 5 | 9,
  deadlineS: number = P2_DEFAULTS.pollDeadlineS,
): Promise<WatchOutcome> {
  let seenAt = NaN;
  const sendTimes: number[] = [];
  const probe = async (): Promise<Probe> => {
    const m0 = performance.now();
    sendTimes.push(m0);
    try {
      const r = await api.call({
        method: "GET",
        path: paths.order(orderId),
        endpoint: "GET /orders/:id",
        schema: Order,
        auth: true,
        retry: false,
      });
      const at = performance.now();
      if (Number.isNaN(seenAt) && r.data.status === target) seenAt = at;
      return { status: r.data.status, httpStatus: r.status, latencyMs: at - m0 };
    } catch (err) {
      return { status: null, httpStatus: null, latencyMs: performance.now() - m0, error: (err as Error).message };
    }
  };
  const out = await pollUntil({
    step,
    what: `order ${target}`,
    deadlineS,
    probe,
    done: (s) => s === target,
    trace,
  });
  return { seen: out.reached, seenAt, sendTimes };
}

/** The baseline: bench/curl-loop.sh (or, without curl on the machine, the same loop with fetch). */
async function watchBaseline(url: string, token: string, target: string, useCurl: boolean): Promise<WatchOutcome> {
  const { baselineIntervalS: every, baselineMaxRequests: max } = P2_DEFAULTS;
  const lines: Array<{ at: number; status: string }> = [];
  if (useCurl) {
    const script = path.join(__dirname, "curl-loop.sh");
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn("bash", [script, url, target, String(every), String(max)], {
        env: { ...process.env, BENCH_TOKEN: token },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let text = "";
      child.stdout.on("data", (b: Buffer) => (text += b.toString()));
      child.on("error", reject);
      child.on("close", () => resolve(text));
    });
    for (const l of out.split("\n").filter(Boolean)) {
      const [at, status] = l.split(" ");
      lines.push({ at: Number(at), status });
    }
  } else {
    for (let i = 1; i <= max; i++) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: "application/json" } }).catch(
        () => null,
      );
      const body = res ? ((await res.json().catch(() => null)) as { data?: { status?: string } } | null) : null;
      const status = body?.data?.status ?? "?";
      lines.push({ at: Date.now(), status });
      if (status === target) break;
      if (i < max) await sleep(every * 1000);
    }
  }
  const hit = lines.find((l) => l.status === target);
  // The baseline only logs response times; a request goes out one curl round trip earlier,
  // which is well below the 5 s period the rate is about.
  return { seen: !!hit, seenAt: hit ? hit.at : NaN, sendTimes: lines.map((l) => l.at) };
}

export async function runP2(o: {
  sandbox: Sandbox;
  orders: number;
  concurrency: number;
  workDir: string;
  seed: number | null;
  log: (l: string) => void;
}): Promise<P2Result> {
  const sb = o.sandbox;
  sb.setFaults({
    ...ZERO_DELAYS,
    completionDelayMs: P2_DEFAULTS.flipDelayMs,
    completionJitterMs: P2_DEFAULTS.flipJitterMs,
    refundDelayMs: P2_DEFAULTS.flipDelayMs,
    refundJitterMs: P2_DEFAULTS.flipJitterMs,
  });
  const useCurl = hasCurl();
  const trace = Trace.open(path.join(o.workDir, "p2", `trace-${Date.now()}.jsonl`));
  const api = new ApiClient(sb.marketplaceUrl, { trace, onAnomaly: () => undefined });
  const before = sb.stats().byRoute[P2_DEFAULTS.orderRoute] ?? 0;
  const samples: LagSample[] = [];
  const missing: string[] = [];
  try {
    const token = (await logIn(api, { email: sb.operator.email, password: sb.operator.password })).access_token;
    const products = (
      await api.call({ method: "GET", path: paths.products(), endpoint: "GET /marketplace/products", schema: Products })
    ).data.products;
    const productId = products[0].id;
    const runTag = Date.now().toString(36);
    const seenBy = new Map<string, { runbook: WatchOutcome; baseline: WatchOutcome }>();

    const one = async (i: number) => {
      const order = (
        await api.call({
          method: "POST",
          path: paths.orders(),
          endpoint: "POST /orders",
          schema: Order,
          auth: true,
          body: { product_id: productId },
          idempotencyKey: `bench-p2-${runTag}-${i}`,
        })
      ).data;
      const url = sb.marketplaceUrl + paths.order(order.id);
      await payHeadless(order.payment_url, "success", { browser: false });
      const [rc, bc] = await Promise.all([
        watchRunbook(api, trace, order.id, "completed", 5),
        watchBaseline(url, token, "completed", useCurl),
      ]);
      seenBy.set(`${order.id}:completed`, { runbook: rc, baseline: bc });
      if (!rc.seen) return; // no refund of an order that never completed
      await api.call({
        method: "POST",
        path: paths.refund(order.id),
        endpoint: "POST /orders/:id/refund",
        schema: Refund,
        auth: true,
        body: { reason: "bench P2" },
        idempotencyKey: `bench-p2-${runTag}-${i}-refund`,
      });
      const [rr, br] = await Promise.all([
        watchRunbook(api, trace, order.id, "refunded", 9),
        watchBaseline(url, token, "refunded", useCurl),
      ]);
      seenBy.set(`${order.id}:refunded`, { runbook: rr, baseline: br });
      o.log(`P2 order ${i + 1}/${o.orders} done`);
    };
    // A bounded pool: `concurrency` orders in flight, each polled by both watchers.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency, o.orders) }, async () => {
        while (next < o.orders) {
          const i = next++;
          await one(i).catch((err: Error) => missing.push(`order ${i + 1}: ${err.message}`));
        }
      }),
    );
    await sb.drainWebhooks();

    const flips = sb.flips();
    const flipOf = (order: string, to: string): Flip | undefined =>
      flips.find((f) => f.order_id === order && f.to === to);
    for (const [key, w] of seenBy) {
      const [order, to] = key.split(":") as [string, "completed" | "refunded"];
      const f = flipOf(order, to);
      if (!f) {
        missing.push(`${key}: no flip recorded`);
        continue;
      }
      // Same process, same clock: the runbook's response time and the flip's mono_ms are both
      // performance.now(); the baseline is a child process, so wall clock (epoch ms) for it.
      for (const watcher of ["runbook", "baseline"] as const) {
        const s = w[watcher];
        if (!s.seen) {
          missing.push(`${key}: ${watcher} never saw it`);
          continue;
        }
        const lagMs = watcher === "runbook" ? s.seenAt - f.mono_ms : s.seenAt - Date.parse(f.at);
        samples.push({ order, flip: to, watcher, lagMs, requests: s.sendTimes.length, sendTimes: s.sendTimes });
      }
    }
  } finally {
    await api.close();
    trace.close();
    sb.setFaults(ZERO_DELAYS);
  }
  const after = sb.stats().byRoute[P2_DEFAULTS.orderRoute] ?? 0;
  return {
    samples,
    orders: o.orders,
    flips: samples.filter((s) => s.watcher === "runbook").length,
    baseline: useCurl ? "curl" : "node-fetch",
    serverOrderGets: after - before,
    seed: o.seed,
    missing,
  };
}

/** Steady request rate of one watcher: (requests − 1) / (last send − first send), over all its windows. */
export function steadyRate(samples: readonly LagSample[]): number {
  let gaps = 0;
  let span = 0;
  for (const s of samples) {
    if (s.sendTimes.length < 2) continue;
    gaps += s.sendTimes.length - 1;
    span += s.sendTimes[s.sendTimes.length - 1] - s.sendTimes[0];
  }
  return span > 0 ? gaps / (span / 1000) : NaN;
}

/** Most requests one watcher sent to one order within any 1-second window. */
export function peakPerSecond(samples: readonly LagSample[]): number {
  let peak = 0;
  for (const s of samples) {
    const t = s.sendTimes;
    for (let i = 0, j = 0; i < t.length; i++) {
      while (t[i] - t[j] >= 1000) j++;
      peak = Math.max(peak, i - j + 1);
    }
  }
  return peak;
}

export function lagSummary(samples: readonly LagSample[], watcher: Watcher) {
  const lags = samples.filter((s) => s.watcher === watcher).map((s) => s.lagMs);
  const mine = samples.filter((s) => s.watcher === watcher);
  return {
    n: lags.length,
    median: median(lags),
    p95: pct(lags, 95),
    min: Math.min(...lags),
    max: Math.max(...lags),
    requests: mine.reduce((a, s) => a + s.requests, 0),
    steadyRate: steadyRate(mine),
    peak: peakPerSecond(mine),
  };
}
