/**
 * Salted hashes of the secrets a kernel learned (issue 13 §7): the session file that records them
 * (SECRET_HASHES_FILE) and the matcher the scanner (lib/evidence/scan.ts) finds them with, so a
 * token, a client secret or a key learned in one process is found in any artefact by another,
 * without the value ever being stored.
 *
 * The file: line 1 `{"alg":"HMAC-SHA256","salt":"<64 hex>","schema":"payment-e2e/secret-hashes@1"}`
 * (32 random bytes, one salt per session folder), then one line per findable written form of each
 * secret, `{"at":ISO,"form":"raw|url|url2|json|json_slash","hmac":"<64 hex>","label":…,"length":n}`
 * with hmac = HMAC-SHA256(key = the salt's 32 bytes, message = the form's UTF-8 bytes) and length its
 * characters (all ASCII). Canonical JSON (keys sorted), one line each, appended and fsynced as soon
 * as the secret is learned, before the response that carried it is traced.
 *
 * The matcher cuts a line into candidates: a window of token characters (`isTokenChar`: no
 * whitespace, quotes, brackets or `,;&|?#`) that starts at a run's start, after a non-alphanumeric
 * character, or right after an escape (`\n`, `\u003d`, `%3D`: a token inside a JSON string or a
 * URL-encoded query), and ends at the run's end or next to a non-alphanumeric character, whose length
 * is a registered one. Only such windows are hashed, so the work is linear in the line's length times
 * the distinct lengths, and HMACs are computed only where both ends are boundaries. A secret glued to
 * letters or digits on either side is not found (nor is it a token there).
 * Over 300 lines: the file format and its matcher belong together (the forms written are the forms found).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ScanPathError } from "../errors";
import { canonicalJson } from "./canonical";
import { SECRET_HASHES_FILE } from "./files";

/** First line of SECRET_HASHES_FILE. */
export const SECRET_HASHES_SCHEMA = "payment-e2e/secret-hashes@1";
/** Shorter values are never hashed: with the salt beside it, a short hash is a brute-force away. */
export const MIN_HASHED_LENGTH = 16;
/** Nor values whose characters carry less than this many bits (Shannon estimate over the value). */
export const MIN_HASHED_BITS = 64;

/**
 * Characters that end a candidate in the scanner (and may not appear in a hashed form): whitespace,
 * quotes, brackets, `,;&|?#` and anything outside printable ASCII. A token, a key or a client secret
 * is made of the others (letters, digits, `-_.~+/=%:@!*$\`), raw or URL-encoded.
 */
const SEPARATORS = "\"'`<>()[]{},;&|?#";

/** Character classes of ASCII, for the scanner's hot loop: TOKEN_CHAR, ALNUM, HEX bits. */
export const TOKEN_CHAR = 1;
export const ALNUM = 2;
export const HEX = 4;
export const CHAR_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0x21; c < 0x7f; c++) if (!SEPARATORS.includes(String.fromCharCode(c))) t[c] |= TOKEN_CHAR;
  for (const c of "0123456789abcdefABCDEF") t[c.charCodeAt(0)] |= HEX;
  for (let c = 0; c < 128; c++) if (/[A-Za-z0-9]/.test(String.fromCharCode(c))) t[c] |= ALNUM;
  return t;
})();

/** True for a character a secret's written form may contain (see SEPARATORS). */
export function isTokenChar(code: number): boolean {
  return code < 128 && (CHAR_CLASS[code] & TOKEN_CHAR) !== 0;
}

/** Estimated bits of a value: its length times the Shannon entropy of its own characters. */
export function entropyBits(value: string): number {
  const counts = new Map<string, number>();
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / value.length) * Math.log2(n / value.length);
  return h * value.length;
}

/**
 * The written forms of a secret the scanner can find: raw, URL-encoded (a query parameter), URL-encoded
 * twice (a URL inside a URL), JSON-escaped (`\\`, and `\/` as some writers emit). Forms holding a
 * separator are dropped: the scanner never looks across one. Empty when the value is not hashable.
 */
export function hashedForms(value: string): Array<{ form: string; text: string }> {
  if (value.length < MIN_HASHED_LENGTH || entropyBits(value) < MIN_HASHED_BITS) return [];
  const json = JSON.stringify(value).slice(1, -1);
  const candidates = [
    { form: "raw", text: value },
    { form: "url", text: encodeURIComponent(value) },
    { form: "url2", text: encodeURIComponent(encodeURIComponent(value)) },
    { form: "json", text: json },
    { form: "json_slash", text: json.replace(/\//g, "\\/") },
  ];
  const seen = new Set<string>();
  return candidates.filter((c) => {
    if (seen.has(c.text) || ![...c.text].every((ch) => isTokenChar(ch.charCodeAt(0)))) return false;
    seen.add(c.text);
    return true;
  });
}

/** HMAC-SHA256 of the UTF-8 bytes of `text` keyed with the session's salt, lowercase hex. */
export function secretHmac(salt: Buffer, text: string): string {
  return crypto.createHmac("sha256", salt).update(text, "utf8").digest("hex");
}

/** One line of SECRET_HASHES_FILE after the header: what the scanner needs, never the value. */
export interface SecretHashEntry {
  at: string;
  label: string;
  form: string;
  length: number;
  hmac: string;
}

/** A session's salted hashes as read back. */
export interface SecretHashes {
  file: string;
  salt: Buffer;
  entries: SecretHashEntry[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads a SECRET_HASHES_FILE. A malformed header throws (a scan must not silently look for nothing);
 * a malformed later line (a torn append by a killed kernel) is skipped: the secret it was for was
 * not used before its line was fsynced, and is recorded again the next time it is learned.
 */
export function readSecretHashes(file: string): SecretHashes {
  const lines = fs.readFileSync(file, "utf8").split("\n");
  let header: { schema?: unknown; alg?: unknown; salt?: unknown };
  try {
    header = JSON.parse(lines[0]);
  } catch {
    header = {};
  }
  if (header.schema !== SECRET_HASHES_SCHEMA || header.alg !== "HMAC-SHA256" || !HEX64.test(String(header.salt)))
    throw new ScanPathError(file, `line 1 is not a ${SECRET_HASHES_SCHEMA} header`);
  const entries: SecretHashEntry[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as SecretHashEntry;
      if (HEX64.test(e.hmac) && Number.isInteger(e.length) && e.length > 0 && typeof e.label === "string")
        entries.push(e);
    } catch {
      // torn append: see above
    }
  }
  return { file, salt: Buffer.from(String(header.salt), "hex"), entries };
}

/** Creates the file with a fresh random salt, atomically (a second process keeps the first salt). */
function createHashFile(file: string): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  const header = canonicalJson({
    schema: SECRET_HASHES_SCHEMA,
    alg: "HMAC-SHA256",
    salt: crypto.randomBytes(32).toString("hex"),
  });
  const fd = fs.openSync(tmp, "wx");
  try {
    fs.writeSync(fd, `${header}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Records a learned secret in `sessionDir`/SECRET_HASHES_FILE as salted hashes, one line per
 * findable written form (`hashedForms`): `{at, label, form, length, hmac}` with
 * hmac = HMAC-SHA256(session salt, form), appended and fsynced before this returns. Idempotent.
 * Returns false when the value is not hashed.
 *
 * What is not hashed, on purpose: values shorter than MIN_HASHED_LENGTH or under MIN_HASHED_BITS,
 * and passwords (OPERATOR_PASSWORD, the database password), which callers never pass here. The
 * salt sits beside the hashes, so a low-entropy or human-chosen value could be recovered by trying
 * candidates; the archive and the hook have those values from the environment anyway, and mask
 * them by value. Tokens, client secrets and API keys are random: their hashes reveal nothing.
 */
export function recordSecretHash(sessionDir: string, value: string, label: string): boolean {
  const forms = hashedForms(value);
  if (forms.length === 0) return false;
  const file = path.join(sessionDir, SECRET_HASHES_FILE);
  if (!fs.existsSync(file)) createHashFile(file);
  const stored = readSecretHashes(file);
  const known = new Set(stored.entries.map((e) => e.hmac));
  const at = new Date().toISOString();
  const fresh = forms
    .map((f) => ({ at, label, form: f.form, length: f.text.length, hmac: secretHmac(stored.salt, f.text) }))
    .filter((e) => !known.has(e.hmac));
  if (fresh.length === 0) return true;
  const fd = fs.openSync(file, "a+");
  try {
    // A torn last line (a kernel killed mid-append) stays a line of its own.
    const size = fs.fstatSync(fd).size;
    const last = Buffer.alloc(1);
    const torn = size > 0 && fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    fs.writeSync(fd, `${torn ? "\n" : ""}${fresh.map((e) => canonicalJson(e)).join("\n")}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

// ------------------------------------------------------------------ matching

/** The registered hashes, by length, ready for the scanner. */
export interface HashIndex {
  sets: Array<{ salt: Buffer; byLength: Map<number, Map<string, string>> }>;
  /** Distinct registered lengths, ascending. */
  lengths: number[];
  /** candidate → label or "" (no match), per set; bounded, cleared when full. */
  cache: Map<string, string>;
}

const CACHE_MAX = 200_000;

export function hashIndex(all: SecretHashes[]): HashIndex {
  const lengths = new Set<number>();
  const sets = all.map((h) => {
    const byLength = new Map<number, Map<string, string>>();
    for (const e of h.entries) {
      if (!byLength.has(e.length)) byLength.set(e.length, new Map());
      byLength.get(e.length)?.set(e.hmac, e.label);
      lengths.add(e.length);
    }
    return { salt: h.salt, byLength };
  });
  return { sets, lengths: [...lengths].sort((a, b) => a - b), cache: new Map() };
}

const BACKSLASH = 92;
const PERCENT = 37;
const LETTER_U = 117;
// Local copies: an imported binding read in the hot loop costs a getter call once compiled to CommonJS.
const CLASS = CHAR_CLASS;
const T_TOKEN = TOKEN_CHAR;
const T_ALNUM = ALNUM;
const T_HEX = HEX;
const hmacOf = secretHmac;

/** A span of a line whose salted hash is a registered one. */
export interface HashMatch {
  label: string;
  start: number;
  end: number;
}

/** Occurrences of registered secrets in one line, found by their salted hashes (see the module comment). */
export function hashMatches(s: string, index: HashIndex): HashMatch[] {
  const out: HashMatch[] = [];
  const { lengths, sets, cache } = index;
  if (lengths.length === 0 || s.length < lengths[0]) return out;
  const min = lengths[0];
  const n = s.length;
  // One pass of character classes: the hot loop then reads bytes only.
  const cls = new Uint8Array(n + 1);
  for (let p = 0; p < n; p++) {
    const c = s.charCodeAt(p);
    cls[p] = c < 128 ? CLASS[c] : 0;
  }
  let i = 0;
  while (i < n) {
    while (i < n && !(cls[i] & T_TOKEN)) i++;
    const from = i;
    while (i < n && cls[i] & T_TOKEN) i++;
    const to = i;
    if (to - from < min) continue;
    for (let p = from; p + min <= to; p++) {
      // A start: the run's start, after a non-alphanumeric, or after an escape (\n, %3D, \u003d).
      const starts =
        p === from ||
        !(cls[p - 1] & T_ALNUM) ||
        (p - 2 >= from && s.charCodeAt(p - 2) === BACKSLASH) ||
        (p - 3 >= from && s.charCodeAt(p - 3) === PERCENT && cls[p - 2] & T_HEX) ||
        (p - 6 >= from && s.charCodeAt(p - 6) === BACKSLASH && s.charCodeAt(p - 5) === LETTER_U);
      if (!starts) continue;
      for (const len of lengths) {
        const e = p + len;
        if (e > to) break;
        // An end: the run's end, or next to a non-alphanumeric character.
        if (e !== to && cls[e] & T_ALNUM && cls[e - 1] & T_ALNUM) continue;
        const candidate = s.slice(p, e);
        for (let k = 0; k < sets.length; k++) {
          const want = sets[k].byLength.get(len);
          if (!want) continue;
          const key = `${k}\u0000${candidate}`;
          let label = cache.get(key);
          if (label === undefined) {
            label = want.get(hmacOf(sets[k].salt, candidate)) ?? "";
            if (cache.size >= CACHE_MAX) cache.clear();
            cache.set(key, label);
          }
          if (label) out.push({ label, start: p, end: e });
        }
      }
    }
  }
  return out;
}
