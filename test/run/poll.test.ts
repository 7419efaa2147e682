/**
 * The poller's schedule (issue 15): fast right after the change is expected, then backing off with
 * jitter, Retry-After honoured, errors backing off, the last attempt at the deadline, and at most
 * 150 requests in a stuck 5-minute window whatever the jitter draws. The real pollUntil is driven
 * through a simulated clock (its pause advances the clock), so a 5-minute window takes milliseconds;
 * Retry-After comes from a real local server.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { retryAfterMs } from "../../lib/clients/http";
import { Trace } from "../../lib/evidence/trace";
import { NotebookUi } from "../../lib/notebook/ui";
import { pollLine } from "../../lib/report/display";
import { POLL_DEFAULTS, nextDelayMs, plannedPauseMs, pollUntil, type Probe } from "../../lib/run/poll";
import type { Runbook } from "../../lib/run/runbook";
import { STEPS } from "../../lib/run/steps";
import type { PollSample } from "../../lib/types";
import { stepResult } from "./fixtures";

const EPOCH = Date.parse("2026-11-26T14:00:00.000Z");
const noTrace = { append: () => undefined } as unknown as Trace;

/** Draws in [0, 1): fixed, alternating, or a seeded LCG. */
const DRAWS: Record<string, () => () => number> = {
  "always 0 (shortest pauses)": () => () => 0,
  "always ~1 (longest pauses)": () => () => 0.999999,
  alternating: () => {
    let i = 0;
    return () => (i++ % 2 ? 0.999999 : 0);
  },
  ...Object.fromEntries(
    [1, 7, 42, 1234, 99991].map((seed) => [
      `seeded ${seed}`,
      () => {
        let x = seed;
        return () => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          return x / 2 ** 32;
        };
      },
    ]),
  ),
};

/** The real poller in a simulated window: `statusAt(tS)` is the order's status at t seconds. */
async function simulate(o: {
  deadlineS: number;
  random: () => number;
  latencyMs?: number;
  statusAt?: (tS: number) => string | null;
  retryAfterAt?: (tS: number) => number | null;
}) {
  let now = 0;
  const seenAt: number[] = [];
  const probe = async (): Promise<Probe> => {
    now += o.latencyMs ?? 0;
    const tS = now / 1000;
    seenAt.push(tS);
    const status = o.statusAt ? o.statusAt(tS) : "pending";
    const ra = o.retryAfterAt?.(tS) ?? null;
    return status === null
      ? { status, httpStatus: 503, latencyMs: o.latencyMs ?? 0, retryAfterMs: ra, error: "HTTP 503" }
      : { status, httpStatus: 200, latencyMs: o.latencyMs ?? 0 };
  };
  const pauses: number[] = [];
  const out = await pollUntil({
    step: 5,
    what: "order completed",
    deadlineS: o.deadlineS,
    probe,
    done: (s) => s === "completed",
    trace: noTrace,
    clock: { mono: () => now, wall: () => EPOCH + now },
    random: o.random,
    pause: async (ms) => {
      pauses.push(ms);
      now += ms;
    },
  });
  return { out, pauses, seenAt };
}

test("schedule: 250 ms for the first 10 s, ~1 s to 60 s, ~5 s after; jitter only lengthens, by ≤ 20 %", () => {
  for (const [elapsed, base] of [
    [0, 250],
    [9.99, 250],
    [10, 1000],
    [59.9, 1000],
    [60, 5000],
    [299, 5000],
  ] as const) {
    assert.equal(
      nextDelayMs(elapsed, 0, null, () => 0),
      base,
      `at ${elapsed} s`,
    );
    const top = nextDelayMs(elapsed, 0, null, () => 0.999999);
    assert.ok(top > base && top <= base * 1.2, `at ${elapsed} s: ${top} within (${base}, ${base * 1.2}]`);
  }
  // Consecutive errors double the interval, capped (before jitter).
  assert.equal(
    nextDelayMs(0, 2, null, () => 0),
    1000,
  );
  assert.equal(
    nextDelayMs(0, 10, null, () => 0),
    POLL_DEFAULTS.errorBackoffCapMs,
  );
  assert.ok(nextDelayMs(0, 10, null, () => 0.999999) <= POLL_DEFAULTS.errorBackoffCapMs * 1.2);
  // Retry-After is a minimum; the floor holds whatever the server says.
  assert.equal(
    nextDelayMs(0, 0, 3000, () => 0.5),
    3000,
  );
  assert.equal(
    nextDelayMs(0, 0, 0, () => 0),
    POLL_DEFAULTS.floorMs,
  );
  // A draw outside [0, 1) cannot shorten a pause or stretch it past 20 %.
  assert.equal(
    nextDelayMs(0, 0, null, () => -5),
    250,
  );
  assert.equal(
    nextDelayMs(0, 0, null, () => 7),
    300,
  );
  // The deadline cuts a pause so the next attempt lands on it, and ends the poll within the floor of it.
  assert.equal(plannedPauseMs(298, 300, 5000), 2000);
  assert.equal(plannedPauseMs(299.9, 300, 5000), null);
  assert.equal(plannedPauseMs(300, 300, 5000), null);
});

test("a stuck 5-minute window costs ≤ 150 requests with any jitter draw (the old schedule cost ~310)", async () => {
  for (const [name, make] of Object.entries(DRAWS)) {
    const { out, pauses } = await simulate({ deadlineS: 300, random: make() });
    assert.equal(out.reached, false);
    assert.ok(
      out.samples.length <= POLL_DEFAULTS.budgetPer5Min,
      `${name}: ${out.samples.length} requests > ${POLL_DEFAULTS.budgetPer5Min}`,
    );
    assert.ok(out.samples.length >= 100, `${name}: ${out.samples.length} requests: still polling`);
    assert.ok(Math.min(...pauses) >= POLL_DEFAULTS.floorMs, `${name}: no pause under the floor`);
  }
});

test("the last attempt lands at the deadline, none after it; every other attempt records its plan", async () => {
  for (const deadlineS of [300, 61, 7.3, 12]) {
    for (const [name, make] of Object.entries(DRAWS)) {
      const { out } = await simulate({ deadlineS, random: make(), latencyMs: 3 });
      const lastS = out.samples.at(-1)!;
      assert.ok(Math.abs(lastS.t - deadlineS) < 0.26, `${deadlineS} s, ${name}: last attempt at ${lastS.t} s`);
      assert.ok(out.samples.every((s) => s.t <= deadlineS + 0.001));
      assert.match(out.failure!, /order completed.*not reached|deadline|within/i);
      assert.equal(lastS.nextAt, undefined, "the one at the deadline plans nothing");
      for (const [i, s] of out.samples.slice(0, -1).entries()) {
        const next = out.samples[i + 1];
        assert.ok(s.pauseMs! >= POLL_DEFAULTS.floorMs || next.t >= deadlineS - 0.001);
        // The planned next attempt is the one that happened (the plan is written after the answer).
        assert.ok(Math.abs(Date.parse(s.nextAt!) - Date.parse(next.at)) <= 1, `${s.nextAt} vs ${next.at}`);
      }
    }
  }
});

test("a flip is seen within the interval in force: ≤ 300 ms in the first 10 s, ≤ 10 % of the elapsed time after", async () => {
  for (const flipS of [1, 5, 9.9, 10.1, 30, 59.9, 61, 120]) {
    for (const [name, make] of Object.entries(DRAWS)) {
      const { out, seenAt } = await simulate({
        deadlineS: flipS + 30,
        random: make(),
        latencyMs: 2,
        statusAt: (t) => (t >= flipS ? "completed" : "pending"),
      });
      assert.equal(out.reached, true);
      const lagMs = (seenAt.at(-1)! - flipS) * 1000;
      // The pause planned just before the flip (planned at up to one latency before it).
      const inForce = nextDelayMs(flipS - 0.01, 0, null, () => 0.999999);
      assert.ok(lagMs <= inForce + 2, `flip at ${flipS} s, ${name}: lag ${lagMs} ms > ${inForce} ms`);
      if (flipS < 10) assert.ok(lagMs <= 300 + 2, `flip at ${flipS} s: ${lagMs} ms`);
      if (flipS >= 30) assert.ok(lagMs <= flipS * 100, `flip at ${flipS} s: ${lagMs} ms over 10 %`);
    }
  }
});

test("Retry-After from a real server, as seconds and as an HTTP date, is honoured and capped by the deadline", async () => {
  let n = 0;
  const server = http.createServer((_req, res) => {
    n++;
    const retry = n === 1 ? "2" : n === 2 ? new Date(Date.now() + 4000).toUTCString() : n === 3 ? "30" : null;
    if (retry) res.writeHead(503, { "retry-after": retry, "content-type": "application/json" }).end("{}");
    else res.writeHead(200, { "content-type": "application/json" }).end('{"status":"pending"}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/order`;
  let now = 0;
  const parsed: Array<number | null> = [];
  const probe = async (): Promise<Probe> => {
    const res = await fetch(url);
    const body = (await res.json()) as { status?: string };
    if (res.ok) return { status: body.status ?? null, httpStatus: res.status, latencyMs: 1 };
    const ra = retryAfterMs(res.headers.get("retry-after") ?? undefined);
    parsed.push(ra);
    return { status: null, httpStatus: res.status, latencyMs: 1, retryAfterMs: ra, error: `HTTP ${res.status}` };
  };
  try {
    const out = await pollUntil({
      step: 5,
      what: "order completed",
      deadlineS: 20,
      probe,
      done: (s) => s === "completed",
      trace: noTrace,
      clock: { mono: () => now, wall: () => Date.now() + now },
      random: () => 0.999999,
      pause: async (ms) => {
        now += ms;
      },
    });
    const pauses = out.samples.map((s) => s.pauseMs);
    // Seconds form: exactly 2 s (longer than the error backoff of 0.5–0.6 s).
    assert.equal(pauses[0], 2000);
    // HTTP-date form: whole seconds, so 3–4 s from now; honoured as parsed.
    assert.ok(parsed[1]! > 2000 && parsed[1]! <= 4000, `date form parsed as ${parsed[1]} ms`);
    assert.equal(pauses[1], parsed[1]);
    // 30 s asked with ~14 s left: the next attempt lands at the deadline instead.
    assert.ok(Math.abs(out.samples[3].t - 20) < 0.01, `attempt 4 at ${out.samples[3].t} s`);
    assert.equal(out.samples.length, 4);
    assert.equal(out.samples[3].nextAt, undefined);
    assert.equal(out.http5xx, 3);
  } finally {
    server.close();
  }
});

test("each poll_attempt in the trace records the planned pause and the next attempt's time; the progress line shows it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poll-"));
  const file = path.join(dir, "trace.jsonl");
  const trace = Trace.open(file);
  let now = 0;
  let k = 0;
  const lines: string[] = [];
  const out = await pollUntil({
    step: 5,
    what: "order completed",
    deadlineS: 30,
    probe: async () => ({ status: ++k >= 3 ? "completed" : "pending", httpStatus: 200, latencyMs: 4 }),
    done: (s) => s === "completed",
    trace,
    clock: { mono: () => now, wall: () => EPOCH + now },
    random: () => 0.5,
    pause: async (ms) => {
      now += ms;
    },
    onSample: (s, elapsed) => lines.push(pollLine(s, elapsed, 30)),
  });
  trace.close();
  assert.equal(out.reached, true);
  const events = fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; payload: PollSample })
    .filter((e) => e.type === "poll_attempt");
  assert.deepEqual(
    events.map((e) => [e.payload.attempt, e.payload.pauseMs, e.payload.nextAt]),
    [
      [1, 275, "2026-11-26T14:00:00.275Z"],
      [2, 275, "2026-11-26T14:00:00.550Z"],
      [3, undefined, undefined],
    ],
  );
  assert.match(lines[0], /· next check 14:00:00Z \(in 0\.3 s\)$/);
  assert.doesNotMatch(lines[2], /next check/);
  const later = pollLine({ ...events[0].payload, nextAt: "2026-11-26T14:02:07.400Z", pauseMs: 5400 }, 120, 300);
  assert.match(later, /next check 14:02:07Z \(in 5 s\)$/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the notebook's progress line drops a planned check when the step ends without it (a poll stopped early)", () => {
  const displays: string[][] = []; // [0] the outcome banner, [1] the progress line
  const shown: string[] = [];
  const sink = (out: string[]) => ({
    markdown: (s: string) => void out.push(s),
    html: () => undefined,
    svg: () => undefined,
    png: () => undefined,
    text: () => undefined,
  });
  // The UI keeps its copy of the outputs in the session folder (issue 22 §6): a throwaway one here.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poll-line-"));
  const rb = { hooks: {}, table: STEPS, moneyOutstanding: false, dir } as unknown as Runbook;
  const ui = new NotebookUi(rb, {
    display: sink(shown),
    newDisplay: () => sink(displays[displays.push([]) - 1]),
  });
  const s: PollSample = {
    step: 5,
    attempt: 1,
    at: "2026-11-26T14:00:00.000Z",
    t: 0,
    latencyMs: 3,
    httpStatus: 200,
    orderStatus: "processing",
    pauseMs: 250,
    nextAt: "2026-11-26T14:00:00.253Z",
  };
  rb.hooks.onPoll!(s, 0.003, 300);
  const progress = displays[1];
  assert.match(progress.at(-1)!, /next check 14:00:00Z \(in 0\.3 s\)/);
  ui.show(stepResult(5, "FAIL", "the order will not complete: the payment failed"));
  assert.match(progress.at(-1)!, /⏳ step 5 · attempt 1 .*\*\*processing\*\*$/);
  assert.doesNotMatch(progress.at(-1)!, /next check/);
  fs.rmSync(dir, { recursive: true, force: true });
});
