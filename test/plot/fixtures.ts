/** Deterministic poll samples and comparison rows for the plot tests (no Math.random). */
import type { PollSample } from "../../lib/types";
import type { ComparisonRow } from "../../lib/plot";

const T0 = Date.UTC(2026, 10, 26, 15, 44, 0);

/** A small linear congruential generator: the same seed gives the same samples. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

export interface PollScenario {
  perStep: number;
  seed?: number;
  /** Every n-th attempt answers 503 (0 = never). */
  every5xx?: number;
  /** Every n-th attempt is a network error that took timeoutMs (0 = never). */
  everyNetworkError?: number;
  timeoutMs?: number;
  intervalS?: number;
}

const STATUSES: Record<5 | 9, Array<[number, string]>> = {
  // [fraction of the window after which the status holds, status]
  5: [
    [0, "pending"],
    [0.25, "processing"],
    [0.6, "completed"],
  ],
  9: [
    [0, "completed"],
    [0.1, "refund_pending"],
    [0.7, "refunded"],
  ],
};

export function pollSamples(s: PollScenario): PollSample[] {
  const rnd = lcg(s.seed ?? 7);
  const interval = s.intervalS ?? 0.5;
  const out: PollSample[] = [];
  for (const step of [5, 9] as const) {
    for (let i = 0; i < s.perStep; i++) {
      const attempt = i + 1;
      const t = +(i * interval + rnd() * 0.05).toFixed(3);
      const net = s.everyNetworkError ? attempt % s.everyNetworkError === 0 : false;
      const http5xx = !net && s.every5xx ? attempt % s.every5xx === 0 : false;
      const status = STATUSES[step].filter(([f]) => i >= f * s.perStep).pop()![1];
      out.push({
        step,
        attempt,
        at: new Date(T0 + t * 1000).toISOString(),
        t,
        latencyMs: net ? (s.timeoutMs ?? 5000) : Math.round(40 + rnd() * 90),
        httpStatus: net ? null : http5xx ? 503 : 200,
        orderStatus: net || http5xx ? null : status,
        ...(net ? { error: "UND_ERR_CONNECT_TIMEOUT" } : {}),
      });
    }
  }
  return out;
}

export const COMPARISON: ComparisonRow[] = [
  { metric: "seconds-to-completed", session: "staging dry run", value: 12.4 },
  { metric: "seconds-to-completed", session: "live run", value: 18.93 },
  { metric: "seconds-to-refunded", session: "staging dry run", value: 30.2 },
  { metric: "seconds-to-refunded", session: "live run", value: null },
  { metric: "5xx count", session: "staging dry run", value: 3 },
  { metric: "5xx count", session: "live run", value: 0 },
  { metric: "anomalies", session: "staging dry run", value: 4 },
  { metric: "anomalies", session: "live run", value: 1 },
];

/** One sample of the given shape, for table-driven tests. */
export function sample(p: Partial<PollSample> & Pick<PollSample, "t">): PollSample {
  return {
    step: 5,
    attempt: 1,
    at: new Date(T0 + p.t * 1000).toISOString(),
    latencyMs: 50,
    httpStatus: 200,
    orderStatus: "pending",
    ...p,
  };
}
