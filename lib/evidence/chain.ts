/**
 * The trace's line format and its hash chain (issue 5 §1): how an event is hashed and written, and
 * the checks that name the first line that was edited, deleted, reordered, cut or rewritten.
 */
import * as fs from "node:fs";
import { TraceError } from "../errors";
import { canonicalJson, sha256 } from "./canonical";

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
export function splitLines(text: string): { lines: string[]; torn: boolean } {
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
