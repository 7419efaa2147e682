/**
 * Redaction cost on large bodies (issue 14 §3: "a benchmark row shows the redaction time for 10 KB,
 * 1 MB and 10 MB bodies"). Each body is realistic JSON made here from a seeded PRNG: orders with
 * ids, mixed letters and digits, long unbroken tokens (hex digests, base64 blobs, JWT-shaped and
 * bearer strings), a session secret the registry knows, and a Luhn-valid card-like number built at
 * run time (no card number is written in this file or in the results).
 *
 * Two timings per size, median of `runs` each:
 * - full text: `redactString` over the whole body, the linear-time claim (nothing is cut first);
 * - as traced: what the trace does with a response body (lib/clients/tracing.ts evidenceBody): a
 *   body up to HTTP_DEFAULTS.maxBodyLogChars is parsed and `redact`ed whole, a longer one keeps
 *   only its redacted prefix (`redactedPrefix`).
 * A body whose card-like number or secret survives redaction is a problem, not a timing.
 *
 * One more row (issue 25 item 4): a body nested DEEP_LEVELS levels (arrays, the card-like number
 * innermost). Whole text as above; as traced is what the tracer does with it: JSON.parse, then its
 * own evidenceBody (refused unwalked: the redacted first characters and a note); and `walkMs`,
 * `redact` of the parsed value, which
 * stops at REDACT_MAX_DEPTH levels with a note instead of overflowing the stack.
 */
import { HTTP_DEFAULTS } from "../lib/clients/policy";
import { evidenceBody } from "../lib/clients/tracing";
import { detect, luhnValid } from "../lib/evidence/detect";
import { REDACT_MAX_DEPTH, redact, redactString, redactedPrefix } from "../lib/evidence/redact";
import { SecretRegistry } from "../lib/evidence/secrets";
import { median } from "./stats";

export const REDACTION_SIZES = [
  { label: "10 KB", bytes: 10 * 1000 },
  { label: "1 MB", bytes: 1000 * 1000 },
  { label: "10 MB", bytes: 10 * 1000 * 1000 },
] as const;

export interface RedactionRow {
  label: string;
  bytes: number;
  runs: number;
  /** redactString over the whole body, median ms. */
  fullMs: number;
  /** What the trace does with the body (whole JSON redact, or the redacted prefix), median ms. */
  tracedMs: number;
  /** How the trace treats a body of this size (or this depth). */
  tracedAs: "whole JSON" | "redacted prefix" | "text with a note, too deep";
  /** The deep body only: `redact` of the parsed value (cut at REDACT_MAX_DEPTH levels), median ms. */
  walkMs?: number;
  /** Spans the redactor masks in the whole body (detect's findings). */
  masked: number;
}

export interface RedactionResult {
  rows: RedactionRow[];
  problems: string[];
}

/** mulberry32: small, seeded, good enough to vary the text. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64 = `${ALNUM}+/`;

/** A Luhn-valid 16-digit number made at run time (a test-range prefix), so none is written down. */
export function cardLike(rand: () => number): string {
  const body = `4${Array.from({ length: 14 }, () => Math.floor(rand() * 10)).join("")}`;
  for (let d = 0; d <= 9; d++) if (luhnValid(body + d)) return body + d;
  throw new Error("unreachable: one check digit always fits");
}

/** Realistic JSON of about `target` bytes, plus the values that must not survive redaction. */
export function makeBody(target: number, seed = 14): { text: string; card: string; secret: string } {
  const rand = prng(seed);
  const pick = (alphabet: string, n: number) =>
    Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join("");
  const card = cardLike(rand);
  const secret = `sess_${pick(ALNUM, 40)}`;
  const items: unknown[] = [];
  let size = 2;
  for (let i = 0; size < target; i++) {
    const item: Record<string, unknown> = {
      id: `ord_${pick(ALNUM, 24)}`,
      product: `Licence ${pick(ALNUM, 6)} v${i % 10}.${i % 7}`,
      amount: { minor: Math.floor(rand() * 100000), currency: "EUR" },
      note: `customer ref ${pick(ALNUM, 12)} line ${i} shipped to ${pick("abcdefghijklmnopqrstuvwxyz", 8)} street ${i % 200}`,
      sha256: pick("0123456789abcdef", 64),
      created_at: new Date(Date.UTC(2026, 10, 1) + i * 61_000).toISOString(),
    };
    if (i % 5 === 0) item.blob = pick(B64, 2000); // a long unbroken token (an attachment, a signature)
    if (i % 7 === 3) item.auth = `Bearer ${pick(ALNUM, 48)}`;
    if (i % 11 === 5) item.jwt = `eyJ${pick(ALNUM, 30)}.eyJ${pick(ALNUM, 80)}.${pick(ALNUM, 43)}`;
    if (i % 13 === 7) item.payment = { method: "card", number: card, holder: "Test Holder" };
    if (i % 17 === 9) item.session = secret;
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  // At least one of each, even in the smallest body.
  items.unshift({ payment: { number: card }, session: secret });
  return { text: JSON.stringify({ data: items, next: null }), card, secret };
}

function time<T>(f: () => T): { ms: number; out: T } {
  const t0 = performance.now();
  const out = f();
  return { ms: performance.now() - t0, out };
}

export function runRedaction(o: {
  runs: number;
  sizes?: readonly { label: string; bytes: number }[];
}): RedactionResult {
  const rows: RedactionRow[] = [];
  const problems: string[] = [];
  const max = HTTP_DEFAULTS.maxBodyLogChars;
  for (const size of o.sizes ?? REDACTION_SIZES) {
    const body = makeBody(size.bytes);
    const registry = new SecretRegistry();
    registry.add(body.secret, "bench session secret");
    const full: number[] = [];
    const traced: number[] = [];
    let last = "";
    for (let i = 0; i < o.runs; i++) {
      const f = time(() => redactString(body.text, registry));
      full.push(f.ms);
      last = f.out;
      const t = time(() =>
        body.text.length <= max
          ? JSON.stringify(redact(JSON.parse(body.text), registry))
          : redactedPrefix(body.text, max, registry).text,
      );
      traced.push(t.ms);
      if (t.out.includes(body.card) || t.out.includes(body.secret))
        problems.push(`redaction ${size.label}: the traced body still holds the card-like number or the secret`);
    }
    if (last.includes(body.card) || last.includes(body.secret))
      problems.push(`redaction ${size.label}: redactString left the card-like number or the secret`);
    rows.push({
      label: size.label,
      bytes: body.text.length,
      runs: o.runs,
      fullMs: median(full),
      tracedMs: median(traced),
      tracedAs: body.text.length <= max ? "whole JSON" : "redacted prefix",
      masked: detect(body.text, registry).length,
    });
  }
  rows.push(deepRow(o.runs, problems));
  return { rows, problems: [...new Set(problems)] };
}

/** Levels of the deeply nested body. */
export const DEEP_LEVELS = 100_000;

function deepRow(runs: number, problems: string[]): RedactionRow {
  const card = cardLike(prng(25));
  const text = `{"success":true,"data":{"x":${"[".repeat(DEEP_LEVELS)}"card ${card}"${"]".repeat(DEEP_LEVELS)}}}`;
  const label = `nested ${DEEP_LEVELS.toLocaleString("en").replace(/,/g, " ")} levels`;
  const registry = new SecretRegistry();
  const full: number[] = [];
  const traced: number[] = [];
  const walked: number[] = [];
  for (let i = 0; i < runs; i++) {
    const f = time(() => redactString(text, registry));
    full.push(f.ms);
    if (f.out.includes(card)) problems.push(`redaction ${label}: redactString left the card-like number`);
    const t = time(() => evidenceBody(text, JSON.parse(text), registry));
    traced.push(t.ms);
    if (typeof t.out.body !== "string" || !t.out.note)
      problems.push(`redaction ${label}: the tracer did not keep it as text with a note`);
    try {
      const w = time(() => JSON.stringify(redact(JSON.parse(text), registry)));
      walked.push(w.ms);
      if (w.out.includes(card) || !w.out.includes(`nested deeper than ${REDACT_MAX_DEPTH} levels`))
        problems.push(`redaction ${label}: redact() did not cut it at ${REDACT_MAX_DEPTH} levels`);
    } catch (err) {
      problems.push(`redaction ${label}: redact() threw ${(err as Error).message}`);
    }
  }
  return {
    label,
    bytes: text.length,
    runs,
    fullMs: median(full),
    tracedMs: median(traced),
    tracedAs: "text with a note, too deep",
    walkMs: walked.length ? median(walked) : undefined,
    masked: detect(text, registry).length,
  };
}
