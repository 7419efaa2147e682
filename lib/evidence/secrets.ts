/**
 * The secret values to mask wherever they appear (issue 5 §2): those of the environment, and the
 * tokens a run obtains. The redactor and the scanner both look them up here.
 *
 * Secrets the kernel learns (login tokens, the checkout's client secret, the orchestrator's API key)
 * are also recorded in the session folder as salted hashes (`SECRET_HASHES_FILE`, issue 13 §7), so
 * that a scan in another process (the archive, `npm run scan`, the pre-commit hook) finds them in any
 * artefact without the value ever being stored. See `recordSecretHash` for what is and is not hashed.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ScanPathError } from "../errors";
import { canonicalJson } from "./canonical";
import { SECRET_HASHES_FILE } from "./files";

/** Values shorter than this are not registered: masking "abc" everywhere would garble output. */
export const MIN_SECRET_LENGTH = 6;

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

  /**
   * A secret this process learned during a session (a token in a response, the checkout's client
   * secret, the orchestrator's key): masked here like `add`, and recorded as a salted hash in the
   * session folder `sessionDir` before anything else can write it (`recordSecretHash`), so a scan in
   * another process finds it too. Throws when the hash cannot be recorded durably (fail closed).
   */
  learn(value: string | undefined | null, label: string, sessionDir: string): void {
    this.add(value, label);
    if (typeof value === "string") recordSecretHash(sessionDir, value, label);
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

// ------------------------------------------------------------------ salted hashes (issue 13 §7)

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
