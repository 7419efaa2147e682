import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Pool, type PoolClient } from "pg";
import { pgliteTemplateFile, startPglite } from "./pglite-server";

export const READONLY_ROLE = "e2e_readonly";

/**
 * A read-only role name of its own for one sandbox on a shared real PostgreSQL. Roles are cluster-wide,
 * so sandboxes started at the same time (test files run concurrently) would otherwise reset each
 * other's password on the one role; a sandbox started with its own role drops it on stop.
 */
export function uniqueReadonlyRole(): string {
  return `${READONLY_ROLE}_${randomBytes(5).toString("hex")}`;
}

export interface Database {
  pool: Pool;
  adminDsn: string;
  readonlyDsn: string;
  readonlyPassword: string;
  backend: "pglite" | "postgres";
  stop(): Promise<void>;
}

export interface DatabaseOptions {
  host: string;
  pgPort: number;
  databaseUrl?: string;
  /** Real PostgreSQL only (PGlite does not enforce roles): the read-only role's name; default READONLY_ROLE. */
  readonlyRole?: string;
}

function makePool(connectionString: string, max: number): Pool {
  const pool = new Pool({ connectionString, max, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 10_000 });
  // An unhandled 'error' on a pg client kills the process; a dead connection is just
  // reported through the failing query instead.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

function dsn(base: URL, user: string, password: string | undefined, database: string): string {
  const u = new URL(base.toString());
  u.username = encodeURIComponent(user);
  u.password = password ? encodeURIComponent(password) : "";
  u.pathname = `/${database}`;
  return u.toString();
}

/** Start (PGlite) or create (real PostgreSQL) a fresh database, migrate it and set up the read-only role. */
export async function startDatabase(opts: DatabaseOptions): Promise<Database> {
  const readonlyPassword = randomBytes(18).toString("hex");
  if (!opts.databaseUrl) {
    const prepared = migratedTemplateFile();
    const pg = await startPglite(opts.host, opts.pgPort, prepared);
    // sslmode=disable: PGlite's socket server never answers an SSL probe, and psql (sslmode=prefer) would hang on it.
    const base = new URL(`postgres://${opts.host}:${pg.port}/postgres?sslmode=disable`);
    const adminDsn = dsn(base, "postgres", undefined, "postgres");
    const pool = makePool(adminDsn, 8);
    try {
      await migrate(pool); // nothing left to apply on a prepared cluster
      // Kept before the role and the seed, which hold this start's own passwords.
      if (prepared && !pg.prepared) await pg.keep(prepared);
      await setupReadonlyRole(pool, readonlyPassword, "postgres", READONLY_ROLE);
    } catch (err) {
      await pool.end().catch(() => {});
      await pg.stop().catch(() => {});
      throw err;
    }
    return {
      pool,
      adminDsn,
      readonlyPassword,
      backend: "pglite",
      readonlyDsn: dsn(base, READONLY_ROLE, readonlyPassword, "postgres"),
      async stop() {
        await pool.end().catch(() => {});
        await pg.stop();
      },
    };
  }

  const server = new URL(opts.databaseUrl);
  const role = opts.readonlyRole ?? READONLY_ROLE;
  // The name goes into DDL unquoted (no bind parameters there), so only a plain identifier is taken.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`read-only role name not a plain identifier: ${role}`);
  const dbName = `sandbox_${randomBytes(6).toString("hex")}`;
  const admin = makePool(opts.databaseUrl, 1);
  await admin.query(`CREATE DATABASE ${dbName}`);
  const adminDsn = dsn(
    server,
    decodeURIComponent(server.username),
    server.password ? decodeURIComponent(server.password) : undefined,
    dbName,
  );
  const pool = makePool(adminDsn, 8);
  const drop = async () => {
    await pool.end().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    // A role of this sandbox's own goes with its database (its grants were all inside it);
    // the shared default role stays for the next start.
    if (role !== READONLY_ROLE) await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.end().catch(() => {});
  };
  try {
    await migrate(pool);
    await setupReadonlyRole(pool, readonlyPassword, dbName, role);
  } catch (err) {
    await drop();
    throw err;
  }
  return {
    pool,
    adminDsn,
    readonlyPassword,
    backend: "postgres",
    readonlyDsn: dsn(server, role, readonlyPassword, dbName),
    stop: drop,
  };
}

const MIGRATIONS = join(__dirname, "migrations");

const migrationFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort();

/**
 * Where PGlite's cluster is kept after every migration of `dir` ran (no role, no seed): a start loads it
 * and has nothing to migrate (npm test starts some 35 sandboxes; migrating is about 0.4 s of CPU each).
 * Named by a hash of the migrations' names and texts, so a changed or added migration is a new file.
 */
export function migratedTemplateFile(dir = MIGRATIONS): string | null {
  const h = createHash("sha256");
  for (const f of migrationFiles(dir))
    h.update(f)
      .update("\0")
      .update(readFileSync(join(dir, f)))
      .update("\0");
  return pgliteTemplateFile(`migrated-${h.digest("hex").slice(0, 16)}`);
}

/** Apply sandbox/migrations/*.sql in name order, each once, recorded in schema_migrations. */
export async function migrate(pool: Pool): Promise<string[]> {
  await pool.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  const dir = MIGRATIONS;
  const files = migrationFiles(dir);
  const applied: string[] = [];
  for (const file of files) {
    const version = file.replace(/\.sql$/, "");
    await withTx(pool, async (c) => {
      const done = await c.query("SELECT 1 FROM schema_migrations WHERE version = $1", [version]);
      if (done.rowCount) return;
      await c.query(readFileSync(join(dir, file), "utf8"));
      await c.query("INSERT INTO schema_migrations (version) VALUES ($1)", [version]);
      applied.push(version);
    });
  }
  return applied;
}

/**
 * Roles are cluster-wide on a real server, so the role is created once and its password
 * reset on every start (a role of a sandbox's own, see uniqueReadonlyRole, is created by that start). It may read seller_transfers and nothing else.
 */
async function setupReadonlyRole(pool: Pool, password: string, dbName: string, role: string): Promise<void> {
  // password is hex, so it is safe inside a literal (DDL takes no bind parameters).
  try {
    await pool.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
        CREATE ROLE ${role} LOGIN;
      END IF; END $$`);
  } catch (err) {
    // Two sandboxes starting at once on one server may race on CREATE ROLE.
    if (!/already exists|duplicate key/.test((err as Error).message)) throw err;
  }
  await pool.query(
    `ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD '${password}'`,
  );
  await pool.query(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
  await pool.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
  await pool.query(`REVOKE TEMPORARY ON DATABASE ${dbName} FROM PUBLIC`);
  await pool.query(`GRANT CONNECT ON DATABASE ${dbName} TO ${role}`);
  await pool.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
  await pool.query(`GRANT SELECT ON seller_transfers TO ${role}`);
}

/** Run fn in one transaction. Never await HTTP inside: on PGlite an open transaction holds the whole database. */
export async function withTx<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
