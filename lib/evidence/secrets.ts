/**
 * The secret values to mask wherever they appear (issue 5 §2): those of the environment, and the
 * tokens a run obtains. The redactor and the scanner both look them up here.
 *
 * Secrets the kernel learns (login tokens, the checkout's client secret, the orchestrator's API key)
 * are also recorded in the session folder as salted hashes (`SECRET_HASHES_FILE`, issue 13 §7), so
 * that a scan in another process (the archive, `npm run scan`, the pre-commit hook) finds them in any
 * artefact without the value ever being stored (lib/evidence/secret-hashes.ts says what is hashed).
 */
import { recordSecretHash } from "./secret-hashes";

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
/** A DSN's `password=` parameter, which pg sends in place of the one before `@` (issue 25). */
const QUERY_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^?#\s]*\?(?:[^#\s]*&)?password=([^&#\s]+)/i;

/**
 * Secrets of an environment: OPERATOR_PASSWORD, HYPERSWITCH_API_KEY, the password part of
 * any URL-with-credentials (DATABASE_URL), and any variable named like PASSWORD/SECRET/TOKEN/API_KEY.
 */
export function envSecrets(env: Record<string, string | undefined>): Array<{ value: string; label: string }> {
  const out: Array<{ value: string; label: string }> = [];
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) continue;
    const qpw = QUERY_PASSWORD.exec(value);
    if (qpw) out.push({ value: safeDecode(qpw[1].replace(/\+/g, " ")), label: `${name} password` });
    const pw = URL_PASSWORD.exec(value);
    if (pw) {
      out.push({ value: safeDecode(pw[1]), label: `${name} password` });
      if (safeDecode(pw[1]) !== pw[1]) out.push({ value: pw[1], label: `${name} password` });
      continue;
    }
    if (qpw || /_URL$/i.test(name) || LOCATION_ENV_NAME.test(name)) continue;
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
