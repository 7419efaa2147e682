/**
 * Long poll windows against the sandbox with the runbook's real poller (issue 15), opened together
 * and left running beside the rest of the bench:
 * - P2's timed flips: orders paid with their completion set to 1 s, 5 s, 30 s or 120 s after the
 *   payment; lag = the first response showing `completed` − the flip time the sandbox recorded,
 *   also as a share of the time from the poll's start to the flip.
 * - P5: one order paid whose completion never comes within the window (the sandbox's longest
 *   completion delay, 10 min); the requests the poller sends over a stuck 5-minute window. In
 *   --smoke the window is short, and the 5-minute count is extrapolated by driving the same
 *   poller over 300 s on a simulated clock (labelled so in the results).
 * The completion delay is a sandbox fault read at payment, so every order is paid, one after
 * another, before P2's random flips set other delays; then all the windows poll at once.
 */
import * as path from "node:path";
import { Order, Products, paths } from "../lib/contract";
import { ApiClient, logIn } from "../lib/clients/http";
import { payHeadless } from "../lib/clients/payer";
import { Trace } from "../lib/evidence/trace";
import { pollUntil } from "../lib/run/poll";
import type { Sandbox } from "../sandbox/index";
import { ZERO_DELAYS } from "./p1-overhead";
import { watchRunbook, type WatchOutcome } from "./p2-lag";
import { fmt, median, table } from "./stats";

export const WINDOWS_DEFAULTS = {
  flipsAtS: [1, 5, 30, 120],
  smokeFlipsAtS: [1, 5],
  /** Each timed poll's deadline is its flip time plus this. */
  flipSlackS: 30,
  stuckWindowS: 300,
  smokeWindowS: 20,
  /** The sandbox's longest completion delay: the stuck order cannot complete within the window. */
  stuckDelayMs: 600_000,
};

export interface TimedFlip {
  /** The completion delay set for this order (s after payment). */
  atS: number;
  order: string;
  lagMs: number;
  /** Seconds from the poll's first request to the flip. */
  elapsedS: number;
  requests: number;
}

export interface P5Result {
  /** The window measured against the sandbox, and the requests the poller sent in it. */
  windowS: number;
  requests: number;
  /** Seconds from the first request to the last. */
  spanS: number;
  /** Smoke only: the 5-minute count from the real poller on a simulated clock (no latency). */
  extrapolated: { windowS: number; requests: number; requestsShortestDraws: number } | null;
}

export interface WindowsResult {
  flipsAtS: number[];
  perFlip: number;
  flips: TimedFlip[];
  p5: P5Result | null;
  missing: string[];
}

/** Requests of the real poller over a stuck window on a simulated clock (each pause advances it). */
export async function simulatedWindow(windowS: number, random: () => number): Promise<number> {
  let now = 0;
  const out = await pollUntil({
    step: 5,
    what: "order completed",
    deadlineS: windowS,
    probe: async () => ({ status: "pending", httpStatus: 200, latencyMs: 0 }),
    done: () => false,
    trace: { append: () => undefined } as unknown as Trace,
    clock: { mono: () => now, wall: () => now },
    random,
    pause: async (ms) => {
      now += ms;
    },
  });
  return out.samples.length;
}

/**
 * Pays every order and opens its window; resolves once all windows are polling, with `finish`,
 * which waits for them to end and reads the sandbox's flip times.
 */
export async function openWindows(o: {
  sandbox: Sandbox;
  flips: boolean;
  stuck: boolean;
  smoke: boolean;
  perFlip: number;
  workDir: string;
  log: (l: string) => void;
}): Promise<{ finish: () => Promise<WindowsResult> }> {
  const sb = o.sandbox;
  const d = WINDOWS_DEFAULTS;
  const flipsAtS = o.flips ? (o.smoke ? d.smokeFlipsAtS : d.flipsAtS) : [];
  const windowS = o.smoke ? d.smokeWindowS : d.stuckWindowS;
  const trace = Trace.open(path.join(o.workDir, "p5", `trace-${Date.now()}.jsonl`));
  const api = new ApiClient(sb.marketplaceUrl, { trace, onAnomaly: () => undefined });
  const missing: string[] = [];
  const runTag = Date.now().toString(36);
  await logIn(api, { email: sb.operator.email, password: sb.operator.password });
  const products = (
    await api.call({ method: "GET", path: paths.products(), endpoint: "GET /marketplace/products", schema: Products })
  ).data.products;

  /** Pays a new order whose completion comes `delayMs` after the payment, then polls it. */
  const open = async (key: string, delayMs: number, deadlineS: number) => {
    sb.setFaults({ ...ZERO_DELAYS, completionDelayMs: delayMs, completionJitterMs: 0 });
    const order = (
      await api.call({
        method: "POST",
        path: paths.orders(),
        endpoint: "POST /orders",
        schema: Order,
        auth: true,
        body: { product_id: products[0].id },
        idempotencyKey: `bench-p5-${runTag}-${key}`,
      })
    ).data;
    await payHeadless(order.payment_url, "success", { browser: false });
    // Opened right after the payment, as step 5 is; not awaited: the windows run side by side.
    return { order: order.id, watch: watchRunbook(api, trace, order.id, "completed", 5, deadlineS) };
  };

  const timed: Array<{ atS: number; order: string; watch: Promise<WatchOutcome> }> = [];
  let stuck: { order: string; watch: Promise<WatchOutcome> } | null = null;
  try {
    if (o.stuck) stuck = await open("stuck", d.stuckDelayMs, windowS);
    for (const atS of flipsAtS)
      for (let i = 0; i < o.perFlip; i++)
        timed.push({ atS, ...(await open(`${atS}s-${i}`, atS * 1000, atS + d.flipSlackS)) });
  } finally {
    sb.setFaults(ZERO_DELAYS);
  }
  o.log(
    `windows open: ${timed.length} timed flips (${flipsAtS.join(", ")} s), ${stuck ? `one stuck order (${windowS} s)` : "no stuck order"}`,
  );

  const finish = async (): Promise<WindowsResult> => {
    const flips: TimedFlip[] = [];
    let p5: P5Result | null = null;
    try {
      const settled = await Promise.allSettled(timed.map((t) => t.watch));
      const recorded = sb.flips();
      for (const [i, t] of timed.entries()) {
        const s = settled[i];
        const f = recorded.find((x) => x.order_id === t.order && x.to === "completed");
        if (s.status === "rejected") missing.push(`flip at ${t.atS} s: ${(s.reason as Error).message}`);
        else if (!f) missing.push(`flip at ${t.atS} s (${t.order}): no flip recorded`);
        else if (!s.value.seen) missing.push(`flip at ${t.atS} s (${t.order}): the poller never saw it`);
        else
          flips.push({
            atS: t.atS,
            order: t.order,
            // Same process, same clock: the response's and the flip's performance.now().
            lagMs: s.value.seenAt - f.mono_ms,
            elapsedS: (f.mono_ms - s.value.sendTimes[0]) / 1000,
            requests: s.value.sendTimes.length,
          });
      }
      if (stuck) {
        const w = await stuck.watch.catch((err: Error) => {
          missing.push(`P5: ${err.message}`);
          return null;
        });
        if (w?.seen) missing.push(`P5: the stuck order ${stuck.order} completed within the window`);
        else if (w) {
          const t = w.sendTimes;
          const draws = [0, 1, 2, 3, 4].map(() => Math.random);
          p5 = {
            windowS,
            requests: t.length,
            spanS: (t[t.length - 1] - t[0]) / 1000,
            extrapolated: o.smoke
              ? {
                  windowS: d.stuckWindowS,
                  requests: median(await Promise.all(draws.map((r) => simulatedWindow(d.stuckWindowS, r)))),
                  requestsShortestDraws: await simulatedWindow(d.stuckWindowS, () => 0),
                }
              : null,
          };
        }
      }
    } finally {
      await api.close();
      trace.close();
    }
    o.log(
      `windows closed: ${flips.length} timed flips seen${p5 ? `, P5 ${p5.requests} requests in ${p5.windowS} s` : ""}`,
    );
    return { flipsAtS, perFlip: o.perFlip, flips, p5, missing };
  };
  return { finish };
}

/** Per flip time: median lag, and the median lag as a share of the elapsed time. */
export function flipSummary(r: WindowsResult) {
  return r.flipsAtS.map((atS) => {
    const mine = r.flips.filter((f) => f.atS === atS);
    return {
      atS,
      n: mine.length,
      medianLagMs: median(mine.map((f) => f.lagMs)),
      medianPct: median(mine.map((f) => (100 * f.lagMs) / 1000 / f.elapsedS)),
      maxLagMs: Math.max(...mine.map((f) => f.lagMs)),
      requests: median(mine.map((f) => f.requests)),
    };
  });
}

/** The results section: the timed flips per flip time, and P5's window. */
export function windowsSection(w: WindowsResult): string[] {
  const out = ["## P2 timed flips and P5 — the poller's schedule over long windows", ""];
  out.push(
    `Orders paid one after another, each with the sandbox's completion set to a fixed delay after the payment (${w.perFlip} per delay, no jitter), then all polled at once by the runbook's poller (\`pollUntil\` + traced \`ApiClient\`, as step 5), beside P2's random flips. Lag = the first response showing \`completed\` − the flip time the sandbox recorded; % of elapsed = lag ÷ (flip time − the poll's first request).`,
    "",
  );
  if (w.flips.length)
    out.push(
      table(
        [
          "flip after payment",
          "flips seen",
          "median lag",
          "max lag",
          "median % of elapsed",
          "requests per window (median)",
        ],
        flipSummary(w).map((f) => [
          `${f.atS} s`,
          f.n,
          `${fmt(f.medianLagMs)} ms`,
          `${fmt(f.maxLagMs)} ms`,
          `${fmt(f.medianPct, 1)} %`,
          fmt(f.requests),
        ]),
      ),
      "",
    );
  const p5 = w.p5;
  if (p5) {
    out.push(
      `P5: one order whose completion never comes within the window, polled for ${p5.windowS} s: ${p5.requests} requests, first to last ${fmt(p5.spanS, 1)} s.`,
    );
    if (p5.extrapolated)
      out.push(
        `Extrapolated (smoke): the same poller over ${p5.extrapolated.windowS} s on a simulated clock with no latency sends ${p5.extrapolated.requests} requests (median of 5 random draws), ${p5.extrapolated.requestsShortestDraws} with the shortest draws; a real round trip only lowers it.`,
      );
    out.push("");
  }
  if (w.missing.length) out.push(`Not measured: ${w.missing.join("; ")}.`, "");
  return out;
}
