/**
 * Hash chains (issue 5 §1, issue 13): the one implementation of the mechanics the trace and the
 * journal share (line splitting, the first broken line, the expected line count and head from the
 * manifest), and the trace's own line format. A chained file is JSON Lines; each line's `hash` is
 * the SHA-256 of the RFC 8785 canonical JSON of its other fields, `prev` included, `prev` is the
 * line before's hash (64 zeros on line 1) and `seq` is the 1-based line number.
 * Over 300 lines: the mechanics both chained files share, and the typed breaks they report, in one place.
 */
import * as fs from "node:fs";
import { TraceError } from "../errors";
import { canonicalJson, sha256 } from "./canonical";
import { chainBreakText } from "./finding-text";

export const GENESIS = "0".repeat(64);

/** What every chained record carries. */
export interface ChainedRecord {
  seq: number;
  prev: string;
  hash: string;
}

/** One chained file format: how a parsed line is validated, written and hashed. */
export interface ChainFormat<E extends ChainedRecord> {
  /** "trace" or "journal": said in reasons ("trace ends at line 3"). */
  noun: string;
  /** The record, or why the parsed JSON is not one (schema; said as the break's detail). */
  parse(json: unknown): { record: E } | { error: string };
  /** The exact bytes of one line, without newline. */
  serialize(e: E): string;
  /** SHA-256 over the canonical JSON of every field but `hash`. */
  hash(e: Omit<E, "hash">): string;
  /**
   * The record of a line whose exact bytes this format already accepted in this process (see
   * `checkLine`), without validating again; absent: `parse` builds it.
   */
  accepted?(json: unknown): E;
}

// ------------------------------------------------------------------------------ the trace's format

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

export interface TraceEvent extends ChainedRecord {
  time: string;
  mono_ms: number;
  type: TraceEventType;
  payload: unknown;
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

/**
 * The hash and the line of an event whose payload is already canonical JSON (`payloadJson`), for
 * the writer's per-call path (issue 26): the payload is serialised once, not three times. Same
 * bytes as eventHash and serializeEvent (the JCS member order is mono_ms, payload, prev, seq, time,
 * type); the trace tests check each written line with them.
 */
export function eventLine(
  e: Omit<TraceEvent, "hash" | "payload">,
  payloadJson: string,
): { hash: string; line: string } {
  const mono = canonicalJson(e.mono_ms);
  const time = JSON.stringify(e.time);
  const type = JSON.stringify(e.type);
  const prev = JSON.stringify(e.prev);
  const hash = sha256(
    `{"mono_ms":${mono},"payload":${payloadJson},"prev":${prev},"seq":${e.seq},"time":${time},"type":${type}}`,
  );
  const line = `{"seq":${e.seq},"time":${time},"mono_ms":${mono},"type":${type},"payload":${payloadJson},"prev":${prev},"hash":"${hash}"}`;
  return { hash, line };
}

export const TRACE_FORMAT: ChainFormat<TraceEvent> = {
  noun: "trace",
  parse(json) {
    const e = json as TraceEvent;
    if (!e || typeof e !== "object" || typeof e.hash !== "string" || typeof e.prev !== "string")
      return { error: "not a trace event" };
    return { record: e };
  },
  serialize: serializeEvent,
  hash: eventHash,
};

// ------------------------------------------------------------------------------ shared mechanics

/** Splits a chained file into lines; a final fragment without newline is kept as an (incomplete) line. */
export function splitLines(text: string): { lines: string[]; torn: boolean } {
  if (text === "") return { lines: [], torn: false };
  const torn = !text.endsWith("\n");
  const lines = text.split("\n");
  if (!torn) lines.pop();
  return { lines, torn };
}

/**
 * How a chained file is broken at its first bad line (issue 21 item 4): data, so callers branch
 * on `kind`, never on wording. ./finding-text.ts says it in words (the same words
 * verifier/verify_session.py prints).
 */
export type ChainBreak = ChainBreakWhy & { line: number };

/** A break before its line is known. */
export type ChainBreakWhy =
  | { kind: "unreadable"; detail: string }
  | { kind: "not_json" }
  /** The parsed JSON is not a record of the format; `detail` is the format's complaint. */
  | { kind: "not_record"; detail: string }
  | { kind: "not_canonical" }
  /** The line's own seq, which is not its line number. */
  | { kind: "seq"; seq: number }
  | { kind: "prev" }
  | { kind: "hash" }
  /** A final fragment without newline (a cut or torn write). */
  | { kind: "torn" }
  | { kind: "not_utf8" }
  /** The file ends at line `ends`, the manifest expects `expected` lines. */
  | { kind: "missing"; noun: string; ends: number; expected: number }
  /** The line the manifest recorded as the head hashes differently. */
  | { kind: "rewritten" }
  /** `count` lines after the manifest's last line `expected`: the sealed lines themselves still hold. */
  | { kind: "extra"; count: number; expected: number };

/**
 * Lines each format accepted in this process (schema, canonical bytes and own hash): what a line
 * says depends on its bytes alone, and a session reads its journal and trace again at every cell
 * and every check, so those three checks run once per distinct line. Only the position (seq, prev)
 * is checked at each read. Bounded: emptied once the lines it holds pass MEMO_CHARS characters.
 */
const accepted = new Map<ChainFormat<ChainedRecord>, Set<string>>();
let acceptedChars = 0;
const MEMO_CHARS = 32 * 1024 * 1024;

function remember(format: ChainFormat<ChainedRecord>, raw: string): void {
  if (acceptedChars + raw.length > MEMO_CHARS) {
    accepted.clear();
    acceptedChars = 0;
  }
  const lines = accepted.get(format) ?? new Set<string>();
  accepted.set(format, lines);
  lines.add(raw);
  acceptedChars += raw.length;
}

/** Checks one line against its position and predecessor; returns why it is broken, or null. */
export function checkLine<E extends ChainedRecord>(
  format: ChainFormat<E>,
  raw: string,
  line: number,
  prev: string,
): { record?: E; why: ChainBreakWhy | null } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { why: { kind: "not_json" } };
  }
  if (accepted.get(format as ChainFormat<ChainedRecord>)?.has(raw)) {
    const e = format.accepted ? format.accepted(json) : (format.parse(json) as { record: E }).record;
    if (e.seq !== line) return { record: e, why: { kind: "seq", seq: e.seq } };
    if (e.prev !== prev) return { record: e, why: { kind: "prev" } };
    return { record: e, why: null };
  }
  const parsed = format.parse(json);
  if ("error" in parsed) return { why: { kind: "not_record", detail: parsed.error } };
  const e = parsed.record;
  let bytes: string;
  try {
    bytes = format.serialize(e);
  } catch {
    return { record: e, why: { kind: "not_canonical" } };
  }
  if (bytes !== raw) return { record: e, why: { kind: "not_canonical" } };
  if (e.seq !== line) return { record: e, why: { kind: "seq", seq: e.seq } };
  if (e.prev !== prev) return { record: e, why: { kind: "prev" } };
  if (format.hash(e) !== e.hash) return { record: e, why: { kind: "hash" } };
  remember(format as ChainFormat<ChainedRecord>, raw);
  return { record: e, why: null };
}

export interface ChainCheck {
  ok: boolean;
  /** Lines that verify, from the first (the records returned by checkChainText). */
  lines: number;
  head: string;
  firstBroken?: ChainBreak;
}

/** What the manifest recorded: the line count and the hash of the last sealed line. */
export interface ChainExpectation {
  lines?: number;
  head?: string;
}

/**
 * Rechecks a whole chained text; names the first broken line and returns the records before it.
 * With `expected` (from the manifest) it also catches a cut tail, lines added afterwards, and a
 * chain rewritten from scratch. `torn` in the result: the text ends in a fragment without newline.
 */
export function checkChainText<E extends ChainedRecord>(
  format: ChainFormat<E>,
  text: string,
  expected?: ChainExpectation,
): ChainCheck & { records: E[]; torn: boolean } {
  const { lines, torn } = splitLines(text);
  const records: E[] = [];
  const fail = (line: number, why: ChainBreakWhy) => ({
    ok: false,
    lines: records.length,
    head,
    firstBroken: { line, ...why },
    records,
    torn,
  });
  let head = GENESIS;
  let headAtExpected: string | null = expected?.lines === 0 ? GENESIS : null;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    if (torn && n === lines.length) return fail(n, { kind: "torn" });
    const { record, why } = checkLine(format, lines[i], n, head);
    if (why || !record) return fail(n, why ?? { kind: "not_json" });
    records.push(record);
    head = record.hash;
    if (expected?.lines === n) headAtExpected = head;
  }
  const result: ChainCheck & { records: E[]; torn: boolean } = { ok: true, lines: lines.length, head, records, torn };
  const want = expected?.lines;
  if (want !== undefined && lines.length < want) {
    result.firstBroken = {
      line: lines.length + 1,
      kind: "missing",
      noun: format.noun,
      ends: lines.length,
      expected: want,
    };
  } else if (expected?.head !== undefined && (want === undefined ? head : headAtExpected) !== expected.head) {
    const at = want ?? lines.length;
    result.firstBroken = { line: at, kind: "rewritten" };
  } else if (want !== undefined && lines.length > want) {
    result.firstBroken = { line: want + 1, kind: "extra", count: lines.length - want, expected: want };
  }
  result.ok = !result.firstBroken;
  return result;
}

/** checkChainText over a file; an unreadable file is broken at line 0. */
export function checkChainFile<E extends ChainedRecord>(
  format: ChainFormat<E>,
  file: string,
  expected?: ChainExpectation,
): ChainCheck & { records: E[]; torn: boolean } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    const firstBroken: ChainBreak = { line: 0, kind: "unreadable", detail: (err as Error).message };
    return { ok: false, lines: 0, head: GENESIS, firstBroken, records: [], torn: false };
  }
  return cutAtNonUtf8(checkChainText(format, buf.toString("utf8"), expected), firstNonUtf8Line(buf));
}

/**
 * The first line (1-based) holding bytes that are not UTF-8, or null (issue 24 §6). Decoding
 * replaces them with U+FFFD, which a rewritten chain could hash over: the bytes are checked first.
 */
export function firstNonUtf8Line(buf: Buffer): number | null {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  try {
    fatal.decode(buf);
    return null;
  } catch {
    // find the line below
  }
  let line = 1;
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    if (i < buf.length && buf[i] !== 0x0a) continue;
    try {
      fatal.decode(buf.subarray(start, i));
    } catch {
      return line;
    }
    line++;
    start = i + 1;
  }
  return null;
}

/** A chain check cut before the first line that is not UTF-8, unless it already broke before it. */
export function cutAtNonUtf8<E extends ChainedRecord, C extends ChainCheck & { records: E[] }>(
  check: C,
  badLine: number | null,
): C {
  if (badLine === null) return check;
  if (check.firstBroken && check.firstBroken.line > 0 && check.firstBroken.line <= badLine) return check;
  const records = check.records.slice(0, badLine - 1);
  return {
    ...check,
    ok: false,
    records,
    lines: records.length,
    head: records.at(-1)?.hash ?? GENESIS,
    firstBroken: { line: badLine, kind: "not_utf8" },
  };
}

/**
 * Rechecks a trace's whole chain; names the first broken line. With `expected` (from the manifest)
 * it also catches a cut tail, lines added afterwards, and a chain rewritten from scratch.
 * Example: verifyChain("trace.jsonl", { lines: 120, head: "ab12…" }).ok
 */
export function verifyChain(file: string, expected?: ChainExpectation): ChainCheck {
  const { records: _records, torn: _torn, ...check } = checkChainFile(TRACE_FORMAT, file, expected);
  return check;
}

/** Reads every event; throws TraceError naming the first broken line. */
export function readTrace(file: string): TraceEvent[] {
  const buf = fs.readFileSync(file);
  const check = cutAtNonUtf8(checkChainText(TRACE_FORMAT, buf.toString("utf8")), firstNonUtf8Line(buf));
  if (check.firstBroken) {
    const b = check.firstBroken;
    if (isTornTail(check, b)) throw new TraceError("EVIDENCE_TRACE_PARSE", file, b.line, "incomplete last line");
    throw new TraceError("EVIDENCE_TRACE_BROKEN", file, b.line, chainBreakText(b));
  }
  return check.records;
}

/** The break is only a torn final fragment (a kernel killed mid-write): repairable, not tampering. */
export function isTornTail(check: { torn: unknown; lines: number }, b: ChainBreak | undefined): boolean {
  return Boolean(b && check.torn && b.kind === "torn" && b.line === check.lines + 1);
}

/** Whether a break leaves the sealed lines intact: only lines added after them. */
export function sealedLinesHold(b: ChainBreak): boolean {
  return b.kind === "extra";
}
