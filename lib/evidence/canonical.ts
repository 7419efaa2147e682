/**
 * Canonical JSON and SHA-256: the bytes every hashed record (trace event, journal entry) is hashed
 * over. The canonical form is RFC 8785, the JSON Canonicalization Scheme (JCS), so an auditor can
 * recompute a hash in any language from the file alone.
 */
import * as crypto from "node:crypto";
import { CanonicalJsonError } from "../errors";

/** A lone UTF-16 surrogate: not a Unicode scalar value, so not I-JSON (RFC 7493), which JCS requires. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const LONE_SURROGATE_G = new RegExp(LONE_SURROGATE.source, "g");

/** A string as JCS writes it (ECMAScript JSON.stringify's escaping: `"`, `\\`, U+0000–U+001F only). */
function jcsString(s: string, where: string): string {
  if (LONE_SURROGATE.test(s)) throw new CanonicalJsonError(`${where}: a lone UTF-16 surrogate is not valid in JCS`);
  return JSON.stringify(s);
}

/**
 * RFC 8785 (JCS) canonical JSON: object members sorted by their keys' UTF-16 code units, no
 * whitespace, strings escaped as ECMAScript JSON.stringify does (everything above U+001F literal),
 * numbers in ECMAScript Number::toString form (shortest round trip: `1e-7`, `0.000001`, `1e+21`;
 * `-0` is `0`; integers without `.0`). Beyond JCS, for JavaScript values: `undefined` members (and
 * function or symbol members) are dropped and become null in arrays, as in JSON.stringify; a value
 * with `toJSON` (a Date) is written as what it returns; a bigint is written as its decimal string.
 * Non-finite numbers (NaN, ±Infinity) and lone surrogates have no JCS form: they throw
 * CanonicalJsonError (code EVIDENCE_CANONICAL) rather than being written as null. Writers that
 * take arbitrary values pass them through `toJsonValue` first.
 * Example: canonicalJson({b:1,a:[2,1e21]}) === '{"a":[2,1e+21],"b":1}'.
 */
export function canonicalJson(v: unknown, where = "$"): string {
  return jcs(v, where, 0);
}

/**
 * Levels of objects and arrays canonical JSON and toJsonValue walk (issue 25: 2,000 levels
 * overflowed the stack); deeper throws CanonicalJsonError. Writers redact first, which keeps
 * REDACT_MAX_DEPTH (200) levels, so only a hand-made or tampered value gets here.
 */
export const CANONICAL_MAX_DEPTH = 1000;

function tooDeep(where: string): CanonicalJsonError {
  const at = where.length > 60 ? `${where.slice(0, 60)}…` : where;
  return new CanonicalJsonError(`${at}: nested deeper than ${CANONICAL_MAX_DEPTH} levels (not allowed in evidence)`);
}

function jcs(v: unknown, where: string, depth: number): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number") {
    if (!Number.isFinite(v))
      throw new CanonicalJsonError(`${where}: ${v} is not a JSON number (not allowed in evidence)`);
    return JSON.stringify(v);
  }
  if (typeof v === "bigint") return JSON.stringify(v.toString());
  if (typeof v === "string") return jcsString(v, where);
  if (typeof v === "boolean") return JSON.stringify(v);
  if (typeof v === "function" || typeof v === "symbol") return "null";
  const withJson = v as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return jcs(withJson.toJSON(), where, depth);
  if (depth >= CANONICAL_MAX_DEPTH) throw tooDeep(where);
  if (Array.isArray(v))
    return `[${v.map((x, i) => (x === undefined ? "null" : jcs(x, `${where}[${i}]`, depth + 1))).join(",")}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== "function" && typeof obj[k] !== "symbol")
    // Default sort compares UTF-16 code units: exactly JCS's order (RFC 8785 §3.2.3).
    .sort();
  return `{${keys.map((k) => `${jcsString(k, where)}:${jcs(obj[k], `${where}.${k}`, depth + 1)}`).join(",")}}`;
}

/**
 * A value as JSON.stringify would see it, for writers that take arbitrary values (trace payloads,
 * journal data): non-finite numbers become null (what a JavaScript writer always wrote), so one odd
 * measurement cannot stop the evidence being written, and a lone surrogate (a body cut inside a
 * surrogate pair) becomes U+FFFD; everything else is kept as is for canonicalJson. Deeper than
 * CANONICAL_MAX_DEPTH it throws CanonicalJsonError, as canonicalJson does.
 */
export function toJsonValue(v: unknown, depth = 0): unknown {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string") return LONE_SURROGATE.test(v) ? v.replace(LONE_SURROGATE_G, "\ufffd") : v;
  if (v === null || typeof v !== "object") return v;
  const withJson = v as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return toJsonValue(withJson.toJSON(), depth);
  if (depth >= CANONICAL_MAX_DEPTH) throw tooDeep("$");
  if (Array.isArray(v)) return v.map((x) => toJsonValue(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[toJsonValue(k) as string] = toJsonValue(x, depth + 1);
  return out;
}

/** SHA-256 of the UTF-8 bytes of `s`, as lowercase hex. */
export function sha256(s: string): string {
  return crypto.createHash("sha256").update(s, "utf8").digest("hex");
}
