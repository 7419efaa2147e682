/**
 * What a leak looks like (issue 5 §2): known secret values in their written forms, bearer tokens,
 * JWTs, API-key shapes, credentials in URLs and key=value pairs, sensitive key names, and
 * Luhn-valid card numbers (last 4 kept at most, PCI DSS 3.4). Shared by the redactor
 * (lib/evidence/redact.ts) and the scanner (lib/evidence/scan.ts) so both agree on what a leak is.
 */
import { MIN_SECRET_LENGTH, type SecretRegistry, secrets } from "./secrets";

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
// A run of digit groups: the separators a card number is written or pasted with (any whitespace
// including NBSP and line breaks, a JSON-escaped line break, `.`, `/`, `_`, `-`), up to 4 between
// two groups; not the fractional part of a decimal number (SVG and JSON floats). Letters may touch
// it (a PAN glued to a word); a run inside a hexadecimal token (a hash, a UUID) is not a card.
const SEP = String.raw`(?:[\s._/-]|\\[nrt]){1,4}`;
const DIGIT_RUN = new RegExp(String.raw`(?<![0-9]|\d\.)\d+(?:${SEP}\d+)*(?![0-9]|\.\d)`, "g");
/** Full-width digits (U+FF10–U+FF19) read as ASCII; one code unit each, so offsets are kept. */
const FULL_WIDTH = /[\uFF10-\uFF19]/g;

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

export function isPan(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && !/^(\d)\1*$/.test(digits) && luhnValid(digits);
}

/**
 * Whether the maximal letter-and-digit token around [start, end) is hexadecimal (a hash, an id),
 * not prose. One scanner per string: a token is measured once, however many digit runs it holds
 * (measuring it per run was quadratic on a long alphanumeric string).
 */
function hexTokenCheck(s: string): (start: number, end: number) => boolean {
  const word = /[A-Za-z0-9]/;
  let from = -1;
  let to = -1;
  let hex = false;
  return (start, end) => {
    if (!word.test(s[start - 1] ?? "") && !word.test(s[end] ?? "")) return false;
    if (start < from || start >= to) {
      from = start;
      to = end;
      while (from > 0 && word.test(s[from - 1])) from--;
      while (to < s.length && word.test(s[to])) to++;
      hex = /^[0-9a-fA-F]+$/.test(s.slice(from, to));
    }
    return hex;
  };
}

/** The kind of a separator: any mix of whitespace and escaped line breaks is one kind; `.`, `/`, `_`, `-` each another. */
function sepKind(sep: string): string {
  return /^(?:\s|\\[nrt])+$/.test(sep) ? "space" : sep.length === 1 ? sep : "mixed";
}

/**
 * Whether a window of groups is written like a card: one plain space or dash between groups (as
 * before), or else one kind of separator throughout with groups of 4 or 8 digits (a card split in
 * halves across lines) but the last, or 4-6-5. A lone group right after a `.` is a decimal's
 * fractional part, never a card.
 */
function cardShaped(run: string, groups: Array<{ start: number; end: number }>, i: number, j: number): boolean {
  const sepBefore = (k: number) => run.slice(groups[k - 1].end, groups[k].start);
  if (i === j) return i === 0 || sepBefore(i) !== ".";
  const seps = Array.from({ length: j - i }, (_, k) => sepBefore(i + k + 1));
  if (seps.every((x) => x === " " || x === "-")) return true;
  const kinds = new Set(seps.map(sepKind));
  if (kinds.size !== 1 || kinds.has("mixed")) return false;
  const lens = groups.slice(i, j + 1).map((g) => g.end - g.start);
  if (lens.join("-") === "4-6-5") return true;
  const last = lens[lens.length - 1];
  // Line breaks may split a card in halves (8 + 8); `.`, `/`, `_` only ever separate groups of 4,
  // so a decimal number (4 digits, a dot, 13 decimals) is never read as a card.
  const inner = kinds.has("space") ? [4, 8] : [4];
  return lens.slice(0, -1).every((n) => inner.includes(n)) && last <= (kinds.has("space") ? 8 : 4);
}

/**
 * Card numbers inside one digit run: the run itself, a window of its groups (a 4-4-4-4 card
 * followed by an expiry), or a card glued to its expiry (MMYY) in one run of digits.
 */
function panFindings(text: string, out: Finding[]): void {
  const s = text.replace(FULL_WIDTH, (c) => String.fromCharCode(c.charCodeAt(0) - 0xff10 + 48));
  const insideHexToken = hexTokenCheck(s);
  for (const m of s.matchAll(DIGIT_RUN)) {
    const run = m[0];
    const base = m.index ?? 0;
    if (insideHexToken(base, base + run.length)) continue;
    const groups: Array<{ start: number; end: number }> = [];
    const re = /\d+/g;
    for (let g = re.exec(run); g; g = re.exec(run)) groups.push({ start: g.index, end: g.index + g[0].length });
    if (groups.length === 1 && run.length >= 17 && run.length <= 23) {
      // A PAN and its expiry typed without a space: the last four digits a month (01–12) and a year.
      const pan = run.slice(0, -4);
      if (/^(0[1-9]|1[0-2])\d\d$/.test(run.slice(-4)) && isPan(pan)) {
        out.push({ kind: "pan", start: base, end: base + run.length, replacement: maskPan(pan) });
        continue;
      }
    }
    for (let i = 0; i < groups.length; i++) {
      let best = -1;
      let digits = "";
      for (let j = i; j < groups.length; j++) {
        const len = groups[j].end - groups[j].start;
        // Card groups are 3+ digits (4-4-4-4, 4-6-5); shorter groups (dates, versions) end a window.
        if (groups.length > 1 && len < 3) break;
        digits += run.slice(groups[j].start, groups[j].end);
        if (digits.length > 19) break;
        if (isPan(digits) && cardShaped(run, groups, i, j)) best = j;
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
  panFindings(s, out);
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
