/**
 * The traced client's limits and retry policy, shared by the client and its interceptors: which
 * answers are worth another attempt, how long to wait (capped exponential backoff with full jitter,
 * or the server's Retry-After when that is longer), and when to stop.
 */

export const HTTP_DEFAULTS = {
  timeoutMs: 15 * 1000, // 15 s per attempt without a byte (connect, headers, body gaps)
  deadlineMs: 30 * 1000, // 30 s for a whole call, retries included: headers and the complete body
  maxAttempts: 5,
  backoffBaseMs: 250,
  backoffCapMs: 8 * 1000, // 8 s
  retryAfterCapS: 60, // never sleep longer than 60 s on a server's say-so
  maxBodyLogChars: 20 * 1000, // characters of a body the trace keeps; longer ones are cut after redaction
  maxResponseBytes: 16 * 1024 * 1024, // 16 MB: a larger answer is refused, not buffered
  // The contract's bodies nest a few levels; a deeper one is refused and traced as text, never
  // walked (2,000 levels overflowed the stack, issue 25).
  maxJsonDepth: 100,
  deepBodyKeepChars: 1000, // characters of a too-deep body the trace keeps (redacted, then cut)
};

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** Resolves after `ms`; rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise<void>((r) => setTimeout(r, ms));
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Retry-After as seconds or HTTP date → ms (capped); null when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.max(0, Math.min(ms, HTTP_DEFAULTS.retryAfterCapS * 1000));
}

/** Capped exponential backoff with full jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(HTTP_DEFAULTS.backoffCapMs, HTTP_DEFAULTS.backoffBaseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Whether an answer (of a call that may be retried at all) is worth another attempt: 429 and the
 * gateway 5xx, or a 409 IDEMPOTENCY_IN_PROGRESS to a keyed request (the first request with this key
 * is still running on the server: waiting is safe). `json` is only read for a 409.
 */
export function retryableAnswer(status: number, json: unknown, idempotencyKey: string | undefined): boolean {
  if (RETRYABLE_STATUS.has(status)) return true;
  return (
    status === 409 &&
    Boolean(idempotencyKey) &&
    (json as { code?: string } | undefined)?.code === "IDEMPOTENCY_IN_PROGRESS"
  );
}

/**
 * Node's codes for a certificate the TLS handshake refused. Retrying cannot help (the same
 * certificate comes back), and the fix is the operator's: the right origin, or the CA installed.
 */
const CERT_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The certificate error in `err` or its causes (undici wraps the socket's), or null. */
export function certificateError(err: unknown): (Error & { code: string }) | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CERT_CODES.has(code)) return e as Error & { code: string };
  }
  return null;
}

/** A response body as undici's `body.text()` reads it: UTF-8, a leading BOM skipped. */
export function decodeBody(chunks: Buffer[]): string {
  const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  const start = buf.length > 2 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  return buf.toString("utf8", start);
}

export function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * How deeply a JSON text nests (`[` and `{` outside strings), in one pass without parsing; 0 for a
 * scalar. Example: jsonDepth('{"a":[1,{"b":2}]}') === 3.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** The one-line account of a body nested deeper than HTTP_DEFAULTS.maxJsonDepth, or null. */
export function tooDeep(text: string): string | null {
  const depth = jsonDepth(text);
  const max = HTTP_DEFAULTS.maxJsonDepth;
  return depth > max ? `JSON nested ${depth} levels deep (the limit is ${max})` : null;
}
