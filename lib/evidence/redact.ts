/**
 * The one redactor used by the display, the trace and the report (issue 5 §2).
 * Masks by key name, by known secret value, and by pattern (bearer tokens, JWTs,
 * API-key shapes, Luhn-valid card numbers: last 4 kept at most, PCI DSS 3.4); what counts as a
 * leak is decided by lib/evidence/detect.ts, which the scanner shares.
 */
import { REDACTED, detect, isPan, isSensitiveKey, maskPan } from "./detect";
import { type SecretRegistry, secrets } from "./secrets";

/** Masks secrets, tokens and card numbers in a string. Example: redactString(`Bearer ${accessToken}`) === "Bearer [REDACTED]". */
export function redactString(s: string, registry: SecretRegistry = secrets): string {
  const found = detect(s, registry);
  if (found.length === 0) return s;
  let out = "";
  let at = 0;
  for (const f of found) {
    out += s.slice(at, f.start) + f.replacement;
    at = f.end;
  }
  return out + s.slice(at);
}

/**
 * The first `max` characters of `s` as evidence may keep them: redacted first, then cut (never the
 * reverse: a secret straddling the cut would survive in part, issue 14). Only a window a little
 * longer than `max` is redacted, so a 10 MB body costs no more than its kept prefix.
 * @example redactedPrefix(body, 200).text // "[REDACTED] has expired…"
 */
export function redactedPrefix(
  s: string,
  max: number,
  registry: SecretRegistry = secrets,
): { text: string; truncatedFrom: number | null } {
  if (s.length <= max) return { text: redactString(s, registry), truncatedFrom: null };
  const window = redactString(s.slice(0, max * 2 + 4096), registry);
  return { text: `${window.slice(0, max)}…`, truncatedFrom: s.length };
}

/**
 * `value` with every string longer than `max` characters cut to its redacted prefix (redactedPrefix),
 * walking plain objects and arrays; `cut` gets each cut string's path and original length, e.g.
 * `{ "product.title": 5242880 }`. Other values are left as they are. The journal keeps backend text
 * so (issue 25: a 5 MB product title made `state.jsonl` 6.45 MB).
 */
export function capStrings(
  value: unknown,
  max: number,
  cut: Record<string, number>,
  at = "",
  registry: SecretRegistry = secrets,
): unknown {
  if (typeof value === "string") {
    if (value.length <= max) return value;
    cut[at || "(value)"] = value.length;
    return redactedPrefix(value, max, registry).text;
  }
  if (Array.isArray(value)) return value.map((v, i) => capStrings(v, max, cut, `${at}[${i}]`, registry));
  if (value === null || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = capStrings(v, max, cut, at ? `${at}.${k}` : k, registry);
  return out;
}

/** Flattens and masks HTTP headers: sensitive names lose their value, the others are pattern-checked. */
export function redactHeaders(
  h: Record<string, string | string[] | number | undefined>,
  registry: SecretRegistry = secrets,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(h)) {
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(", ") : String(raw);
    out[name] = isSensitiveKey(name) ? REDACTED : redactString(value, registry);
  }
  return out;
}

/**
 * Deep copy with secrets masked; never mutates its input.
 * Example: redact({ password: "hunter22", card: <Luhn-valid 16 digits ending 4242> }) → { password: "[REDACTED]", card: "[PAN ****4242]" }.
 * Dates stay Dates; Maps, Sets, Errors and class instances come back as plain JSON-like values.
 */
export function redact<T>(value: T, registry: SecretRegistry = secrets): T {
  return walk(value, registry, new WeakSet<object>(), 0) as T;
}

/**
 * Levels of objects and arrays redaction keeps (issue 25: 2,000 levels overflowed the stack); a
 * value nested deeper is replaced by a note. Well above any body the client accepts (HTTP_DEFAULTS.maxJsonDepth).
 */
export const REDACT_MAX_DEPTH = 200;
const TOO_DEEP = `[nested deeper than ${REDACT_MAX_DEPTH} levels: not kept]`;

function walk(v: unknown, registry: SecretRegistry, seen: WeakSet<object>, depth: number): unknown {
  if (typeof v === "string") return redactString(v, registry);
  if (typeof v === "number") {
    return Number.isInteger(v) && isPan(String(Math.abs(v))) ? maskPan(String(v)) : v;
  }
  if (typeof v === "bigint") return isPan(String(v)) ? maskPan(String(v)) : v;
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Date) return new Date(v.getTime());
  if (seen.has(v)) return "[Circular]";
  if (depth >= REDACT_MAX_DEPTH) return TOO_DEEP;
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => walk(x, registry, seen, depth + 1));
    if (v instanceof Uint8Array) return redactString(Buffer.from(v).toString("utf8"), registry);
    if (v instanceof Map)
      return walkEntries(
        [...v].map(([k, x]) => [String(k), x]),
        registry,
        seen,
        depth,
      );
    if (v instanceof Set) return [...v].map((x) => walk(x, registry, seen, depth + 1));
    const entries: Array<[string, unknown]> = Object.entries(v);
    if (v instanceof Error) entries.unshift(["name", v.name], ["message", v.message]);
    return walkEntries(entries, registry, seen, depth);
  } finally {
    seen.delete(v);
  }
}

function walkEntries(
  entries: Array<[string, unknown]>,
  registry: SecretRegistry,
  seen: WeakSet<object>,
  depth: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries) {
    // Booleans and nulls under a secret key ("password_set": true) tell nothing; keep them readable.
    out[k] =
      isSensitiveKey(k) && x !== null && x !== undefined && typeof x !== "boolean"
        ? REDACTED
        : walk(x, registry, seen, depth + 1);
  }
  return out;
}
