import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from "node:crypto";
import type { Pool } from "pg";
import { UnauthorizedError } from "./errors";

export const ACCESS_TTL_S = 900;
const REFRESH_TTL_S = 7 * 24 * 3600;

function scrypt(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, 32, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt);
  return `scrypt$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = (stored ?? "").split("$");
  const salt = parts.length === 3 ? Buffer.from(parts[1], "base64url") : randomBytes(16);
  // Hash even for unknown users so response time does not reveal which emails exist.
  const key = await scrypt(password, salt);
  if (parts.length !== 3) return false;
  const expected = Buffer.from(parts[2], "base64url");
  return expected.length === key.length && timingSafeEqual(expected, key);
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** Opaque random tokens; only their sha256 is stored, with an expiry. */
export async function issueTokens(pool: Pool, userId: string) {
  const access = `sat_${randomBytes(32).toString("base64url")}`;
  const refresh = `srt_${randomBytes(32).toString("base64url")}`;
  await pool.query(
    `INSERT INTO access_tokens (token_hash, user_id, kind, expires_at) VALUES
     ($1, $3, 'access', now() + make_interval(secs => $4)), ($2, $3, 'refresh', now() + make_interval(secs => $5))`,
    [sha256(access), sha256(refresh), userId, ACCESS_TTL_S, REFRESH_TTL_S],
  );
  return { access_token: access, refresh_token: refresh, token_type: "Bearer" as const, expires_in: ACCESS_TTL_S };
}

export interface AuthUser {
  id: string;
  email: string;
  role: string;
}

export async function authenticate(pool: Pool, header: string | undefined): Promise<AuthUser> {
  const m = /^Bearer ([A-Za-z0-9_-]{8,200})$/.exec(header ?? "");
  if (!m) throw new UnauthorizedError("missing or malformed Authorization: Bearer token");
  const r = await pool.query(
    `SELECT u.id, u.email, u.role FROM access_tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > now()`,
    [sha256(m[1])],
  );
  if (!r.rowCount) throw new UnauthorizedError("access token is invalid or expired", "INVALID_TOKEN");
  return r.rows[0] as AuthUser;
}
