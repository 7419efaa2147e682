/**
 * P3, evidence cost (issue 7): the traced client (lib/clients/http.ts ApiClient: redact + hash-chain +
 * append of the request and the response, plus the zod envelope check; request and response lines
 * are written at once and synced within 250 ms off the call path, issue 26) against a raw
 * undici request (plus JSON.parse) to the same sandbox endpoint, interleaved call by call so
 * that machine noise hits both alike. Then the traced call's parts, timed alone, to show where
 * the difference goes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Agent, request } from "undici";
import { Status, envelope, paths } from "../lib/contract";
import { ApiClient } from "../lib/clients/http";
import { redact } from "../lib/evidence/redact";
import { canonicalJson } from "../lib/evidence/canonical";
import { type TraceEvent, eventHash } from "../lib/evidence/chain";
import { Trace } from "../lib/evidence/trace";
import type { Sandbox } from "../sandbox/index";
import { median, pct } from "./stats";

export const P3_DEFAULTS = {
  warmup: 50, // calls per client before timing: sockets open, JIT warm
  // GET /status does no database work in the sandbox, so the server's share is small and steady.
  endpoint: "GET /status",
};

export interface Dist {
  n: number;
  p50: number;
  p95: number;
}

export interface P3Result {
  calls: number;
  raw: Dist;
  traced: Dist;
  /** Median of the per-pair differences (traced − raw of the same iteration). */
  pairedDiffP50: number;
  /** Time spent inside Trace.append during each traced call (both events), and the rest of the call. */
  appendInCall: Dist;
  tracedWithoutAppend: Dist;
  /** The traced call's parts, each timed alone once per pair of calls (per call = 2 trace events). */
  parts: Array<{ part: string; p50: number; p95: number }>;
  traceBytesPerCall: number;
}

const dist = (xs: number[]): Dist => ({ n: xs.length, p50: median(xs), p95: pct(xs, 95) });

export async function runP3(o: {
  sandbox: Sandbox;
  calls: number;
  workDir: string;
  log: (l: string) => void;
}): Promise<P3Result> {
  const dir = path.join(o.workDir, "p3");
  const traceFile = path.join(dir, `trace-${Date.now()}.jsonl`);
  const trace = Trace.open(traceFile);
  const api = new ApiClient(o.sandbox.marketplaceUrl, { trace, onAnomaly: () => undefined });
  // Same pooling as the traced client's own agent, so sockets are not the difference.
  const agent = new Agent({ keepAliveTimeout: 4 * 1000 });
  const url = o.sandbox.marketplaceUrl + paths.status();
  const raw = async () => {
    const t = performance.now();
    const res = await request(url, { method: "GET", headers: { accept: "application/json" }, dispatcher: agent });
    await res.body.json();
    return performance.now() - t;
  };
  // Times Trace.append inside real calls by wrapping this instance's method (lib is untouched).
  let inAppend = 0;
  const append = trace.append.bind(trace);
  trace.append = (type, payload) => {
    const t = performance.now();
    try {
      return append(type, payload);
    } finally {
      inAppend += performance.now() - t;
    }
  };
  const appendMs: number[] = [];
  const traced = async () => {
    inAppend = 0;
    const t = performance.now();
    await api.call({ method: "GET", path: paths.status(), endpoint: P3_DEFAULTS.endpoint, schema: Status });
    const ms = performance.now() - t;
    appendMs.push(inAppend);
    return ms;
  };
  let parts: Parts | null = null;
  try {
    for (let i = 0; i < P3_DEFAULTS.warmup; i++) {
      await raw();
      await traced();
    }
    appendMs.length = 0;
    parts = makeParts(
      fs
        .readFileSync(traceFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .slice(-2)
        .map((l) => JSON.parse(l) as TraceEvent),
      dir,
    );
    const rawMs: number[] = [];
    const tracedMs: number[] = [];
    const diffs: number[] = [];
    const partMs = parts.rows.map(() => [] as number[]);
    for (let i = 0; i < o.calls; i++) {
      // Alternate the order inside each pair: neither client always goes first.
      let a: number;
      let b: number;
      if (i % 2 === 0) {
        a = await raw();
        b = await traced();
      } else {
        b = await traced();
        a = await raw();
      }
      rawMs.push(a);
      tracedMs.push(b);
      diffs.push(b - a);
      // Each part once per pair, so the disk's mood of the moment hits the parts and the calls alike.
      parts.rows.forEach(([, f], k) => {
        const t = performance.now();
        f();
        partMs[k].push(performance.now() - t);
      });
    }
    const lines = fs.readFileSync(traceFile, "utf8").split("\n").filter(Boolean);
    const traceBytesPerCall = (fs.statSync(traceFile).size / lines.length) * 2;
    o.log(
      `P3 ${o.calls} interleaved calls: raw p50 ${median(rawMs).toFixed(2)} ms, traced p50 ${median(tracedMs).toFixed(2)} ms`,
    );
    return {
      calls: o.calls,
      raw: dist(rawMs),
      traced: dist(tracedMs),
      pairedDiffP50: median(diffs),
      appendInCall: dist(appendMs),
      tracedWithoutAppend: dist(tracedMs.map((x, i) => x - appendMs[i])),
      parts: parts.rows.map(([part], k) => ({ part, p50: median(partMs[k]), p95: pct(partMs[k], 95) })),
      traceBytesPerCall,
    };
  } finally {
    parts?.close();
    await api.close();
    await agent.close();
    trace.close();
  }
}

interface Parts {
  rows: Array<[string, () => void]>;
  close(): void;
}

/** The parts of a traced call, per call (one request and one response event), each runnable alone. */
function makeParts(events: TraceEvent[], dir: string): Parts {
  const payloads = events.map((e) => e.payload);
  const body = (events.find((e) => e.type === "response")?.payload as { body?: unknown } | undefined)?.body;
  const schema = envelope(Status);
  const scratch = path.join(dir, `append-${Date.now()}.jsonl`);
  const scratchTrace = Trace.open(path.join(dir, `scratch-${Date.now()}.jsonl`));
  const line = `${JSON.stringify(events[0])}\n`;
  // What Trace.append itself does on disk per line since issue 26: one stat of the path (another
  // writer, a replaced file) and one write on the descriptor it keeps open.
  const keptFd = fs.openSync(path.join(dir, `kept-${Date.now()}.jsonl`), "a");
  const keptPair = () => {
    for (let i = 0; i < 2; i++) {
      fs.statSync(scratch, { throwIfNoEntry: false });
      fs.writeSync(keptFd, line);
    }
  };
  const appendPair = (sync: boolean) => {
    for (let i = 0; i < 2; i++) {
      const fd = fs.openSync(scratch, "a");
      fs.writeSync(fd, line);
      if (sync) fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
  };
  return {
    rows: [
      [
        "redact (2 payloads)",
        () => {
          for (const p of payloads) redact(p);
        },
      ],
      [
        "canonical JSON + SHA-256 (2 events)",
        () => {
          for (const e of events) eventHash({ ...e, payload: JSON.parse(canonicalJson(e.payload)) });
        },
      ],
      ["open + write + fsync + close (2 lines)", () => appendPair(true)],
      ["open + write + close, no fsync (2 lines)", () => appendPair(false)],
      ["stat + write, descriptor kept open (2 lines)", keptPair],
      [
        "Trace.append, all of it (2 events, own file)",
        () => {
          for (const e of events) scratchTrace.append(e.type, e.payload);
        },
      ],
      ["zod envelope(Status).safeParse", () => void schema.safeParse(body)],
    ],
    close: () => {
      scratchTrace.close();
      fs.closeSync(keptFd);
    },
  };
}
