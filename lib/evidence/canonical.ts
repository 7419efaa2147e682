/**
 * Canonical JSON and SHA-256: the bytes the trace chain hashes, and hashes them with. A value
 * written and read back gives the same canonical bytes, so a hash can be checked from the file alone.
 */
import * as crypto from "node:crypto";

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

/** SHA-256 of the UTF-8 bytes of `s`, as lowercase hex. */
export function sha256(s: string): string {
  return crypto.createHash("sha256").update(s, "utf8").digest("hex");
}
