/**
 * What a leak looks like (issue 5 §2): known secret values in their written forms, bearer tokens,
 * JWTs, API-key shapes, credentials in URLs and key=value pairs, sensitive key names, and
 * Luhn-valid card numbers in any written form (lib/evidence/pan.ts; last 4 kept at most, PCI DSS
 * 3.4). Shared by the redactor (lib/evidence/redact.ts) and the scanner (lib/evidence/scan.ts, and
 * through it the pre-commit hook) so all agree on what a leak is.
 */
import { panSpans } from "./pan";
import { MIN_SECRET_LENGTH, type SecretRegistry, secrets } from "./secrets";

export { isPan, luhnValid, maskPan } from "./pan";

export const REDACTED = "[REDACTED]";

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
// Key/value pairs and URL credentials are found by a linear scan (keyValueFindings,
// urlCredentialFindings), not by one regular expression: `[A-Za-z0-9_.-]*keyword` backtracks
// quadratically over a long run of letters (80 KB took 40 s to redact, issue 14).
const KEY_WORD = /authorization|api[-_]?key|cookie|passw(?:or)?d|secret|token|credential|cvc|cvv/i;
/** A maximal run of key characters; each character is consumed once. */
const KEY_RUN = /[A-Za-z0-9_.-]+/g;
/** After a key: `:` or `=`, an optional quote, then the value (sticky, at the key's end). */
const AFTER_KEY = /\s*[:=]\s*(["']?)([^"'&\s,;}[<][^"'&\s,;}<]*)/y;
/** A URL's userinfo after `://`: user, `:`, password, `@` (sticky, bounded by the classes). */
const USERINFO = /[^\s:/@'"]*:([^\s@/'"]+)@/y;
/** `key: value`, `"key": "value"`, `key=value` where the key names a secret. Linear in `s`. */
function keyValueFindings(s: string, out: Finding[]): void {
  for (const m of s.matchAll(KEY_RUN)) {
    const key = m[0];
    if (!KEY_WORD.test(key) || HARMLESS_KEYS.has(key.toLowerCase())) continue;
    let at = (m.index ?? 0) + key.length;
    // A quoted key ends with the quote it opened with.
    const open = s[(m.index ?? 0) - 1];
    if ((open === '"' || open === "'") && s[at] === open) at++;
    AFTER_KEY.lastIndex = at;
    const v = AFTER_KEY.exec(s);
    if (!v || /^(Bearer|Basic)$/i.test(v[2])) continue;
    const start = AFTER_KEY.lastIndex - v[2].length;
    out.push({ kind: "key_value", start, end: AFTER_KEY.lastIndex, replacement: REDACTED });
  }
}

/** `scheme://user:password@`: from each `://`, a scheme before it and userinfo after. Linear in `s`. */
function urlCredentialFindings(s: string, out: Finding[]): void {
  for (let i = s.indexOf("://"); i >= 0; i = s.indexOf("://", i + 3)) {
    let b = i;
    while (b > 0 && i - b < 40 && /[a-z0-9+.-]/i.test(s[b - 1])) b--;
    if (b === i || !/[a-z]/i.test(s[b])) continue;
    USERINFO.lastIndex = i + 3;
    const m = USERINFO.exec(s);
    if (!m) continue;
    const end = USERINFO.lastIndex - 1; // before the "@"
    out.push({ kind: "url_password", start: end - m[1].length, end, replacement: REDACTED });
  }
}

function regexFindings(s: string, re: RegExp, kind: FindingKind, group: number, out: Finding[]): void {
  for (const m of s.matchAll(re)) {
    const whole = m.index ?? 0;
    const start = group === 0 ? whole : whole + m[0].lastIndexOf(m[group]);
    out.push({ kind, start, end: start + m[group].length, replacement: REDACTED });
  }
}

/** A password written as a placeholder in docs: all capitals, `password`, or starting with `<`, `[`, `{`, `$`, `*`, `.`, `…`. */
function placeholder(pw: string): boolean {
  return /^[A-Z][A-Z_]*$/.test(pw) || /^password$/i.test(pw) || /^[<[{$*.…]/.test(pw);
}

/** Random-looking token: 20+ chars mixing upper, lower and digits, or 32+ hex digits. */
function looksRandom(t: string): boolean {
  if (/^(?:[0-9a-f]{32,}|[0-9A-F]{32,})$/.test(t)) return true;
  return t.length >= 20 && /[a-z]/.test(t) && /[A-Z]/.test(t) && /\d/.test(t);
}

/** The forms a secret takes once written: raw, URL-encoded, JSON-escaped, HTML-escaped. */
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
  for (const p of panSpans(s)) out.push({ kind: "pan", ...p });
  const urls: Finding[] = [];
  urlCredentialFindings(s, urls);
  // The scanner reports a URL's password unless it is a documentation placeholder (PASSWORD, <pw>, …).
  out.push(...(opts.valueShapesOnly ? urls.filter((f) => !placeholder(s.slice(f.start, f.end))) : urls));
  if (!opts.valueShapesOnly) {
    regexFindings(s, BASIC, "basic", 1, out);
    keyValueFindings(s, out);
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
