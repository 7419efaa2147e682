/**
 * Hash-chained JSON Lines trace (issue 5 §1). Each line is one event whose `hash` is the SHA-256 of
 * the canonical JSON of its other fields, `prev` included, so editing, deleting or reordering any
 * line breaks the chain from that line on. Payloads are redacted before hashing: the chain covers
 * exactly what is on disk.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { TraceError } from "../errors";
import { type SecretRegistry, redact, secrets } from "./redact";

export type TraceEventType =
  | "session"
  | "request"
  | "response"
  | "step_start"
  | "step_end"
  | "operator_ack"
  | "db_query"
  | "poll_attempt"
  | "anomaly"
  | "note"
  | "state";

export interface TraceEvent {
  seq: number;
  time: string;
  mono_ms: number;
  type: TraceEventType;
  payload: unknown;
  prev: string;
  hash: string;
}

export const GENESIS = "0".repeat(64);

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped (in arrays they
 * become null, as in JSON.stringify), non-finite numbers as null. Example: canonicalJson({b:1,a:[2]}) === '{"a":[2],"b":1}'.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number") return Number.isFinite(v) ? JSON.stringify(v) : "null";
  if (typeof v === "bigint") return JSON.stringify(v.toString());
  if (typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
  if (typeof v === "function" || typeof v === "symbol") return "null";
  const withJson = v as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return canonicalJson(withJson.toJSON());
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : canonicalJson(x))).join(",")}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== "function" && typeof obj[k] !== "symbol")
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

function sha256(s: string): string {
  return crypto.createHash("sha256").update(s, "utf8").digest("hex");
}

/** The hash of an event: SHA-256 over the canonical JSON of every field but `hash`. */
export function eventHash(e: Omit<TraceEvent, "hash">): string {
  return sha256(
    canonicalJson({ seq: e.seq, time: e.time, mono_ms: e.mono_ms, type: e.type, payload: e.payload, prev: e.prev }),
  );
}

/** The exact bytes of one line (without newline): fixed field order for readability, canonical payload. */
export function serializeEvent(e: TraceEvent): string {
  return (
    `{"seq":${e.seq},"time":${JSON.stringify(e.time)},"mono_ms":${canonicalJson(e.mono_ms)},` +
    `"type":${JSON.stringify(e.type)},"payload":${canonicalJson(e.payload)},` +
    `"prev":${JSON.stringify(e.prev)},"hash":${JSON.stringify(e.hash)}}`
  );
}

/** Checks one line against its position and predecessor; returns the reason it is broken, or null. */
function checkLine(raw: string, line: number, prev: string): { event?: TraceEvent; reason: string | null } {
  let e: TraceEvent;
  try {
    e = JSON.parse(raw) as TraceEvent;
  } catch {
    return { reason: "not valid JSON (edited or truncated)" };
  }
  if (!e || typeof e !== "object" || typeof e.hash !== "string" || typeof e.prev !== "string") {
    return { reason: "not a trace event" };
  }
  if (serializeEvent(e) !== raw) return { event: e, reason: "bytes differ from the canonical form (edited)" };
  if (e.seq !== line)
    return { event: e, reason: `seq is ${e.seq}, expected ${line} (line deleted, inserted or reordered)` };
  if (e.prev !== prev) return { event: e, reason: "prev does not match the hash of the line before" };
  if (eventHash(e) !== e.hash) return { event: e, reason: "hash does not match the content (edited)" };
  return { event: e, reason: null };
}

/** Splits a trace file into lines; a final fragment without newline is kept as an (incomplete) line. */
function splitLines(text: string): { lines: string[]; torn: boolean } {
  if (text === "") return { lines: [], torn: false };
  const torn = !text.endsWith("\n");
  const lines = text.split("\n");
  if (!torn) lines.pop();
  return { lines, torn };
}

export interface ChainCheck {
  ok: boolean;
  lines: number;
  head: string;
  firstBroken?: { line: number; reason: string };
}

/**
 * Rechecks the whole chain; names the first broken line. With `expected` (from the manifest) it also
 * catches a cut tail, lines added afterwards, and a chain rewritten from scratch.
 * Example: verifyChain("trace.jsonl", { lines: 120, head: "ab12…" }).ok
 */
export function verifyChain(file: string, expected?: { lines?: number; head?: string }): ChainCheck {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    return {
      ok: false,
      lines: 0,
      head: GENESIS,
      firstBroken: { line: 0, reason: `cannot read: ${(err as Error).message}` },
    };
  }
  const { lines, torn } = splitLines(text);
  let head = GENESIS;
  let headAtExpected: string | null = expected?.lines === 0 ? GENESIS : null;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    if (torn && n === lines.length) {
      return {
        ok: false,
        lines: i,
        head,
        firstBroken: { line: n, reason: "incomplete last line (no newline: cut or torn write)" },
      };
    }
    const { event, reason } = checkLine(lines[i], n, head);
    if (reason || !event)
      return { ok: false, lines: i, head, firstBroken: { line: n, reason: reason ?? "unreadable" } };
    head = event.hash;
    if (expected?.lines === n) headAtExpected = head;
  }
  const result: ChainCheck = { ok: true, lines: lines.length, head };
  const want = expected?.lines;
  if (want !== undefined && lines.length < want) {
    result.firstBroken = {
      line: lines.length + 1,
      reason: `missing: trace ends at line ${lines.length}, manifest expects ${want} (tail cut)`,
    };
  } else if (expected?.head !== undefined && (want === undefined ? head : headAtExpected) !== expected.head) {
    const at = want ?? lines.length;
    result.firstBroken = {
      line: at,
      reason: `hash of line ${at} differs from the recorded chain head (chain rewritten)`,
    };
  } else if (want !== undefined && lines.length > want) {
    result.firstBroken = {
      line: want + 1,
      reason: `extra: ${lines.length - want} line(s) after the manifest's last line ${want}`,
    };
  }
  result.ok = !result.firstBroken;
  return result;
}

/** Reads every event; throws TraceError naming the first broken line. */
export function readTrace(file: string): TraceEvent[] {
  const text = fs.readFileSync(file, "utf8");
  const { lines, torn } = splitLines(text);
  const out: TraceEvent[] = [];
  let prev = GENESIS;
  for (let i = 0; i < lines.length; i++) {
    if (torn && i === lines.length - 1)
      throw new TraceError("EVIDENCE_TRACE_PARSE", file, i + 1, "incomplete last line");
    const { event, reason } = checkLine(lines[i], i + 1, prev);
    if (reason || !event) throw new TraceError("EVIDENCE_TRACE_BROKEN", file, i + 1, reason ?? "unreadable");
    out.push(event);
    prev = event.hash;
  }
  return out;
}

/** One writer per file in this process, so two callers never fork the chain. */
const open = new Map<string, Trace>();

/** Event types synced to disk at once; the rest are synced at most SYNC_EVERY_MS later. */
const SYNC_TYPES = new Set<TraceEventType>([
  "session",
  "step_start",
  "step_end",
  "operator_ack",
  "anomaly",
  "state",
  "db_query",
]);
const SYNC_EVERY_MS = 250;

export class Trace {
  private lastSync = -Infinity;
  readonly file: string;
  private readonly registry: SecretRegistry;
  private lastHash: string;
  private lastSeq: number;
  /** File size after our last write: a different size means another writer (or a truncation). */
  private bytes: number;

  private constructor(file: string, registry: SecretRegistry, seq: number, head: string) {
    this.file = file;
    this.registry = registry;
    this.lastSeq = seq;
    this.lastHash = head;
    this.bytes = fs.statSync(file).size;
  }

  /** Catches up with lines another process appended (e.g. the pre-flight CLI), or refuses a broken file. */
  private resync(): void {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch (err) {
      throw new TraceError("EVIDENCE_TRACE_BROKEN", this.file, 0, "trace file vanished while open", { cause: err });
    }
    if (size === this.bytes) return;
    const check = verifyChain(this.file);
    if (!check.ok || check.lines < this.lastSeq) {
      const at = check.firstBroken?.line ?? check.lines + 1;
      throw new TraceError(
        "EVIDENCE_TRACE_BROKEN",
        this.file,
        at,
        `changed by another writer: ${check.firstBroken?.reason ?? "lines removed"}`,
      );
    }
    this.lastSeq = check.lines;
    this.lastHash = check.head;
    this.bytes = size;
  }

  /**
   * Opens (creating dirs) or resumes an existing file: checks the chain and continues seq and prev
   * from the last valid line. A torn final fragment (a crash mid-write) is moved to `<file>.torn-<n>`
   * and an anomaly event records its size and hash; any other break refuses to extend the file.
   * Example: const t = Trace.open("archive/payment-e2e/<id>/trace.jsonl"); t.append("note", { text: "hi" });
   */
  static open(file: string, registry: SecretRegistry = secrets): Trace {
    const key = path.resolve(file);
    const cached = open.get(key);
    if (cached) return cached;
    fs.mkdirSync(path.dirname(key), { recursive: true });
    if (!fs.existsSync(key)) fs.writeFileSync(key, "");
    const text = fs.readFileSync(key, "utf8");
    const { lines, torn } = splitLines(text);
    let tornBytes: string | null = null;
    if (torn) {
      tornBytes = lines.pop() ?? "";
      fs.renameSync(key, `${key}.torn-${Date.now()}`);
      fs.writeFileSync(key, lines.length ? `${lines.join("\n")}\n` : "");
    }
    const check = verifyChain(key);
    if (!check.ok) {
      throw new TraceError(
        "EVIDENCE_TRACE_BROKEN",
        file,
        check.firstBroken?.line ?? 0,
        `cannot resume: ${check.firstBroken?.reason}`,
      );
    }
    const t = new Trace(file, registry, check.lines, check.head);
    open.set(key, t);
    if (tornBytes !== null) {
      t.append("anomaly", {
        kind: "warning",
        message: "torn final line set aside on resume",
        bytes: Buffer.byteLength(tornBytes),
        sha256: sha256(tornBytes),
      });
    }
    return t;
  }

  /** Hash of the last line (GENESIS when empty). */
  get head(): string {
    return this.lastHash;
  }

  /** Number of lines written so far (== last seq). */
  get seq(): number {
    return this.lastSeq;
  }

  /** Redacts the payload, chains and appends one line, fsynced before returning. */
  append(type: TraceEventType, payload: unknown): TraceEvent {
    this.resync();
    const body = {
      seq: this.lastSeq + 1,
      time: new Date().toISOString(),
      // Process-local monotonic clock (performance.now, ms since process start), 3 decimals;
      // it restarts when a session is resumed in another process, `time` does not.
      mono_ms: Math.round(performance.now() * 1000) / 1000,
      type,
      // Round-trip through canonical JSON so the hash covers exactly what is written and read back.
      payload: JSON.parse(canonicalJson(redact(payload, this.registry))) as unknown,
      prev: this.lastHash,
    };
    const event: TraceEvent = { ...body, hash: eventHash(body) };
    const line = `${serializeEvent(event)}\n`;
    const fd = fs.openSync(this.file, "a");
    try {
      // Every line is written synchronously (a killed kernel loses nothing: the bytes are in the
      // page cache). Durability against a machine crash is batched: synced at step boundaries and
      // operator acknowledgements, and at least every 250 ms otherwise (bench P3). The journal,
      // which guards money, still fsyncs every entry.
      fs.writeSync(fd, line);
      const now = performance.now();
      if (SYNC_TYPES.has(type) || now - this.lastSync >= SYNC_EVERY_MS) {
        fs.fdatasyncSync(fd);
        this.lastSync = now;
      }
    } finally {
      fs.closeSync(fd);
    }
    this.lastSeq = event.seq;
    this.lastHash = event.hash;
    this.bytes += Buffer.byteLength(line);
    return event;
  }

  /** Forgets this writer (after a last sync); the next Trace.open re-reads the file. */
  close(): void {
    if (fs.existsSync(this.file)) {
      const fd = fs.openSync(this.file, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    open.delete(path.resolve(this.file));
  }
}
