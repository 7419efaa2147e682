/**
 * The one redactor used by the display, the trace and the report (issue 5 §2).
 * Masks by key name, by known secret value, and by pattern (bearer tokens, JWTs,
 * API-key shapes, Luhn-valid card numbers: last 4 kept at most, PCI DSS 3.4).
 * The detectors are shared with the scanner (lib/evidence/scan.ts) so both agree on what a leak is.
 */

export const REDACTED = "[REDACTED]";

/** Values shorter than this are not registered: masking "abc" everywhere would garble output. */
const MIN_SECRET_LENGTH = 6;

/** Process-wide registry of secret values to mask wherever they appear (env secrets, tokens obtained during a run). */
export class SecretRegistry {
  private readonly byValue = new Map<string, string>();

  /** Registers a secret; empty or short values are ignored. Example: `secrets.add(login.access_token, "access_token")`. */
  add(value: string | undefined | null, label = "secret"): void {
    if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
    if (!this.byValue.has(value)) this.byValue.set(value, label);
  }

  has(value: string): boolean {
    return this.byValue.has(value);
  }

  entries(): ReadonlyArray<{ value: string; label: string }> {
    return [...this.byValue].map(([value, label]) => ({ value, label }));
  }

  /** Registers the secrets of an environment (see `envSecrets`). */
  addFromEnv(env: Record<string, string | undefined>): void {
    for (const e of envSecrets(env)) this.add(e.value, e.label);
  }
}

const SECRET_ENV_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY/i;
/** Names that hold locations, not secrets: only a URL's password part is taken from them. */
const LOCATION_ENV_NAME = /(_FILE|_PATH|_DIR|_HOST|_PORT|_USER|_NAME)$/i;
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:([^\s@/]+)@/i;

/**
 * Secrets of an environment: OPERATOR_PASSWORD, HYPERSWITCH_API_KEY, the password part of
 * any URL-with-credentials (DATABASE_URL), and any variable named like PASSWORD/SECRET/TOKEN/API_KEY.
 */
export function envSecrets(env: Record<string, string | undefined>): Array<{ value: string; label: string }> {
  const out: Array<{ value: string; label: string }> = [];
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) continue;
    const pw = URL_PASSWORD.exec(value);
    if (pw) {
      out.push({ value: safeDecode(pw[1]), label: `${name} password` });
      if (safeDecode(pw[1]) !== pw[1]) out.push({ value: pw[1], label: `${name} password` });
      continue;
    }
    if (/_URL$/i.test(name) || LOCATION_ENV_NAME.test(name)) continue;
    if (SECRET_ENV_NAME.test(name)) out.push({ value, label: name });
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The default shared registry, seeded from process.env; code that obtains tokens adds them here. */
export const secrets = new SecretRegistry();
secrets.addFromEnv(process.env);

// ---------------------------------------------------------------- detectors

export type FindingKind = "secret" | "pan" | "jwt" | "api_key" | "bearer" | "basic" | "url_password" | "key_value";

/** A span of `s` that must be masked, and what to put instead. */
export interface Finding {
  kind: FindingKind;
  /** For `secret`: the registry label (e.g. "OPERATOR_PASSWORD"), never the value. */
  label?: string;
  start: number;
  end: number;
  replacement: string;
}

/** Scanner profile: only value-shaped findings (no `password=` in code, no example DSNs in docs). */
export interface DetectOptions {
  valueShapesOnly?: boolean;
}

const SENSITIVE_KEY =
  /authorization|api[-_]?key|cookie|passw(?:or)?d|secret|token|credential|private[-_]?key|cvc|cvv|card[-_]?number/i;
/** Keys that match the pattern above but hold no secret. */
const HARMLESS_KEYS = new Set(["token_type", "tokentype"]);

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key) && !HARMLESS_KEYS.has(key.toLowerCase());
}

const JWT = /\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
// Key shapes of the payment orchestrator and common vendors. No bare `prd_`: that prefixes product ids.
// The body must hold a digit, so words like "dev_dependencies_list" pass; random keys practically always do.
const API_KEY =
  /\b(?:(?:sk|pk|rk)_(?:live|test|snd|dev|prd)_|snd_|dev_|sk_|pk_|whsec_|ghp_|github_pat_|xox[abp]-)(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b/g;
const BEARER = /\bBearer\s+((?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{12,}=*)/gi;
const BASIC = /\bBasic\s+((?=[A-Za-z0-9+/]*\d)[A-Za-z0-9+/]{8,}={0,2})/g;
const URL_CREDENTIALS = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:([^\s@/'"]+)@/gi;
const KEY_VALUE =
  /(["']?)([A-Za-z0-9_.-]*(?:authorization|api[-_]?key|cookie|passw(?:or)?d|secret|token|credential|cvc|cvv)[A-Za-z0-9_.-]*)\1(\s*[:=]\s*)(["']?)([^"'&\s,;}[<][^"'&\s,;}<]*)/gi;
// A run of digits with single spaces or dashes between groups; not glued to letters, and not the
// fractional part of a decimal number (floats in SVG and JSON must not read as card numbers).
const DIGIT_RUN = /(?<![A-Za-z0-9]|\d\.)\d+(?:[ -]\d+)*(?![A-Za-z0-9]|\.\d)/g;

/** Luhn checksum; spaces and dashes are ignored. Example: luhnValid("79927398713") === true. */
export function luhnValid(digits: string): boolean {
  const d = digits.replace(/[ -]/g, "");
  if (!/^\d{2,}$/.test(d)) return false;
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    let n = d.charCodeAt(d.length - 1 - i) - 48;
    if (i % 2 === 1) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
  }
  return sum % 10 === 0;
}

/** Masks a card number to its last 4 digits. Example: maskPan(<16 digits ending 4242>) === "[PAN ****4242]". */
export function maskPan(digits: string): string {
  const d = digits.replace(/\D/g, "");
  return `[PAN ****${d.slice(-4)}]`;
}

function isPan(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && !/^(\d)\1*$/.test(digits) && luhnValid(digits);
}

/** Card numbers inside one digit run: the run itself, or a window of its groups (a 4-4-4-4 card followed by an expiry month). */
function panFindings(s: string, out: Finding[]): void {
  for (const m of s.matchAll(DIGIT_RUN)) {
    const run = m[0];
    const base = m.index ?? 0;
    const groups: Array<{ start: number; end: number }> = [];
    const re = /\d+/g;
    for (let g = re.exec(run); g; g = re.exec(run)) groups.push({ start: g.index, end: g.index + g[0].length });
    for (let i = 0; i < groups.length; i++) {
      let best = -1;
      let digits = "";
      for (let j = i; j < groups.length; j++) {
        const len = groups[j].end - groups[j].start;
        // Card groups are 3+ digits (4-4-4-4, 4-6-5); shorter groups (dates, versions) end a window.
        if (groups.length > 1 && len < 3) break;
        digits += run.slice(groups[j].start, groups[j].end);
        if (digits.length > 19) break;
        if (isPan(digits)) best = j;
      }
      if (best >= 0) {
        const text = run.slice(groups[i].start, groups[best].end);
        out.push({
          kind: "pan",
          start: base + groups[i].start,
          end: base + groups[best].end,
          replacement: maskPan(text),
        });
        i = best;
      }
    }
  }
}

function regexFindings(s: string, re: RegExp, kind: FindingKind, group: number, out: Finding[]): void {
  for (const m of s.matchAll(re)) {
    const whole = m.index ?? 0;
    const start = group === 0 ? whole : whole + m[0].lastIndexOf(m[group]);
    out.push({ kind, start, end: start + m[group].length, replacement: REDACTED });
  }
}

/** The forms a secret takes once written: raw, URL-encoded, JSON-escaped, HTML-escaped. */
/** Random-looking token: 20+ chars mixing upper, lower and digits, or 32+ hex digits. */
function looksRandom(t: string): boolean {
  if (/^(?:[0-9a-f]{32,}|[0-9A-F]{32,})$/.test(t)) return true;
  return t.length >= 20 && /[a-z]/.test(t) && /[A-Z]/.test(t) && /\d/.test(t);
}

function secretVariants(value: string): string[] {
  const html = value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const v = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), html]);
  return [...v].filter((x) => x.length >= MIN_SECRET_LENGTH);
}

/** Every span of `s` that must be masked, sorted by start, overlaps merged. */
export function detect(s: string, registry: SecretRegistry = secrets, opts: DetectOptions = {}): Finding[] {
  const out: Finding[] = [];
  for (const { value, label } of registry.entries()) {
    for (const v of secretVariants(value)) {
      for (let i = s.indexOf(v); i >= 0; i = s.indexOf(v, i + v.length)) {
        out.push({ kind: "secret", label, start: i, end: i + v.length, replacement: REDACTED });
      }
    }
  }
  regexFindings(s, JWT, "jwt", 0, out);
  regexFindings(s, API_KEY, "api_key", 0, out);
  const bearers: Finding[] = [];
  regexFindings(s, BEARER, "bearer", 1, bearers);
  // The scanner only reports bearer tokens with real token material, so a test's "Bearer wrong-token-1" passes.
  out.push(...(opts.valueShapesOnly ? bearers.filter((f) => looksRandom(s.slice(f.start, f.end))) : bearers));
  panFindings(s, out);
  if (!opts.valueShapesOnly) {
    regexFindings(s, BASIC, "basic", 1, out);
    regexFindings(s, URL_CREDENTIALS, "url_password", 1, out);
    for (const m of s.matchAll(KEY_VALUE)) {
      const value = m[5];
      if (/^(Bearer|Basic)$/i.test(value) || HARMLESS_KEYS.has(m[2].toLowerCase())) continue;
      const start = (m.index ?? 0) + m[0].length - value.length;
      out.push({ kind: "key_value", start, end: start + value.length, replacement: REDACTED });
    }
  }
  return mergeFindings(out);
}

/** Overlapping spans become one; a partial overlap is masked whole so no fragment survives. */
function mergeFindings(found: Finding[]): Finding[] {
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Finding[] = [];
  for (const f of found) {
    const last = merged[merged.length - 1];
    if (last && f.start < last.end) {
      if (f.end > last.end) {
        last.end = f.end;
        last.replacement = REDACTED;
      }
      continue;
    }
    merged.push({ ...f });
  }
  return merged;
}

// ---------------------------------------------------------------- redaction

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
  return walk(value, registry, new WeakSet<object>()) as T;
}

function walk(v: unknown, registry: SecretRegistry, seen: WeakSet<object>): unknown {
  if (typeof v === "string") return redactString(v, registry);
  if (typeof v === "number") {
    return Number.isInteger(v) && isPan(String(Math.abs(v))) ? maskPan(String(v)) : v;
  }
  if (typeof v === "bigint") return isPan(String(v)) ? maskPan(String(v)) : v;
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Date) return new Date(v.getTime());
  if (seen.has(v)) return "[Circular]";
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => walk(x, registry, seen));
    if (v instanceof Uint8Array) return redactString(Buffer.from(v).toString("utf8"), registry);
    if (v instanceof Map)
      return walkEntries(
        [...v].map(([k, x]) => [String(k), x]),
        registry,
        seen,
      );
    if (v instanceof Set) return [...v].map((x) => walk(x, registry, seen));
    const entries: Array<[string, unknown]> = Object.entries(v);
    if (v instanceof Error) entries.unshift(["name", v.name], ["message", v.message]);
    return walkEntries(entries, registry, seen);
  } finally {
    seen.delete(v);
  }
}

function walkEntries(
  entries: Array<[string, unknown]>,
  registry: SecretRegistry,
  seen: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries) {
    // Booleans and nulls under a secret key ("password_set": true) tell nothing; keep them readable.
    out[k] =
      isSensitiveKey(k) && x !== null && x !== undefined && typeof x !== "boolean" ? REDACTED : walk(x, registry, seen);
  }
  return out;
}
