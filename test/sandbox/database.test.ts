// Database: migrations, the read-only role, isolation per start, PGlite's shared session under concurrency,
// and the clusters PGlite starts from (initdb's, and the migrated one).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { Pool } from "pg";
import { migratedTemplateFile, READONLY_ROLE } from "../../sandbox/db";
import { startSandbox } from "../../sandbox/index";
import { freshPglite } from "../../sandbox/pglite-server";
import { Api, backends, completedOrder, sql, useSandbox } from "./helpers";

const RUNBOOK_READ = `SELECT id, order_id, seller_id, amount, currency, stripe_transfer_id, status, created_at, reversed_at
  FROM seller_transfers WHERE order_id = $1`;

for (const backend of backends()) {
  describe(`database [${backend.name}]`, () => {
    // The default, documented role: the only file that starts sandboxes with it on a shared server.
    const sandbox = useSandbox(backend, {}, READONLY_ROLE);

    test("migrations are recorded in schema_migrations; all tables exist", async () => {
      const sb = sandbox();
      const versions = (await sql(sb.adminDsn, "SELECT version FROM schema_migrations ORDER BY version")).map(
        (r) => r.version,
      );
      assert.deepEqual(versions, [
        "001_marketplace",
        "002_orchestrator",
        "003_hyperswitch_wire",
        "004_order_paid_at",
        "005_amounts_and_void",
        "006_ledger",
        "007_reversed_amount",
      ]);
      const tables = (
        await sql(sb.adminDsn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
      ).map((r) => r.table_name);
      for (const t of [
        "users",
        "products",
        "orders",
        "licenses",
        "seller_transfers",
        "refunds",
        "idempotency_keys",
        "login_attempts",
        "webhook_events",
        "hs_payments",
        "hs_refunds",
      ]) {
        assert.ok(tables.includes(t), t);
      }
      const roles = await sql(sb.adminDsn, "SELECT rolname FROM pg_roles WHERE rolname = 'e2e_readonly'");
      assert.equal(roles.length, 1);
      assert.match(sb.readonlyDsn, /^postgres:\/\/e2e_readonly:[0-9a-f]+@127\.0\.0\.1:\d+\/\w+(\?sslmode=disable)?$/);
    });

    test("the runbook's read-only query works through readonlyDsn", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await completedOrder(api);
      const pool = new Pool({ connectionString: sb.readonlyDsn, max: 1 });
      pool.on("error", () => {});
      const c = await pool.connect();
      try {
        await c.query("BEGIN READ ONLY");
        await c.query("SET LOCAL statement_timeout = '5s'");
        const r = await c.query(RUNBOOK_READ, [order.id]);
        await c.query("COMMIT");
        assert.equal(r.rows.length, 1);
        assert.equal(r.rows[0].status, "paid");
      } finally {
        c.release();
        await pool.end();
      }
    });

    test("the read-only role cannot write or read other tables", {
      skip:
        backend.name === "pglite"
          ? "PGlite is one superuser session underneath: roles are not enforced there (checked on real PostgreSQL)"
          : false,
    }, async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await completedOrder(api);
      const who = await sql(sb.readonlyDsn, "SELECT current_user AS u");
      assert.equal(who[0].u, "e2e_readonly");
      const denied = async (q: string, params: unknown[] = []) => {
        await assert.rejects(sql(sb.readonlyDsn, q, params), (err: any) => {
          assert.ok(["42501", "25006"].includes(err.code), `${q}: ${err.code} ${err.message}`);
          return true;
        });
      };
      await denied("UPDATE seller_transfers SET status = 'reversed' WHERE order_id = $1", [order.id]);
      await denied("DELETE FROM seller_transfers");
      await denied(
        "INSERT INTO seller_transfers (id, order_id, seller_id, amount, currency, status, created_at) VALUES ('x','y','z',1,'EUR','paid',now())",
      );
      await denied("SELECT * FROM orders");
      await denied("SELECT * FROM users");
      await denied("CREATE TABLE evil (id int)");
      // Even with read-only switched off for the session, privileges still refuse the write.
      await denied("SET default_transaction_read_only = off; UPDATE seller_transfers SET amount = 0");
      const [tr] = await sql(sb.adminDsn, "SELECT status, amount FROM seller_transfers WHERE order_id = $1", [
        order.id,
      ]);
      assert.deepEqual(tr, { status: "paid", amount: 375 });
      await assert.rejects(sql(sb.readonlyDsn.replace(/:[0-9a-f]+@/, ":wrongpassword@"), "SELECT 1"));
    });

    test("concurrent clients get their own results (PGlite queue fix) while the sandbox writes", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const admin = new Pool({ connectionString: sb.adminDsn, max: 4 });
      const ro = new Pool({ connectionString: sb.readonlyDsn, max: 2 });
      admin.on("error", () => {});
      ro.on("error", () => {});
      try {
        const jobs: Promise<unknown>[] = [];
        for (let i = 0; i < 60; i++) {
          jobs.push(
            admin
              .query("SELECT $1::int AS v, $2::text AS s", [i, `a${i}`])
              .then((r) => assert.deepEqual(r.rows[0], { v: i, s: `a${i}` })),
          );
          jobs.push(
            ro
              .query("SELECT $1::int AS v FROM seller_transfers RIGHT JOIN (SELECT 1) x ON false", [i])
              .then((r) => assert.equal(r.rows[0].v, i)),
          );
          if (i % 15 === 0) jobs.push(api.order());
        }
        await Promise.all(jobs);
      } finally {
        await admin.end();
        await ro.end();
      }
    });
  });
}

if (process.env.TEST_PG_URL) {
  describe("real PostgreSQL isolation", () => {
    test("each start gets a fresh database, dropped on stop", async () => {
      const url = process.env.TEST_PG_URL!;
      const a = await startSandbox({ databaseUrl: url, quiet: true });
      const b = await startSandbox({ databaseUrl: url, quiet: true });
      const nameA = new URL(a.adminDsn).pathname.slice(1);
      const nameB = new URL(b.adminDsn).pathname.slice(1);
      try {
        assert.match(nameA, /^sandbox_[0-9a-f]+$/);
        assert.notEqual(nameA, nameB);
      } finally {
        await a.stop();
        await b.stop();
      }
      const left = await sql(url, "SELECT datname FROM pg_database WHERE datname = ANY($1)", [[nameA, nameB]]);
      assert.deepEqual(left, []);
    });
  });
}

describe("PGlite's initdb template", () => {
  test("one that cannot be loaded is replaced by a fresh initdb's dump; a loadable one is what the next start gets", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pglite-template-"));
    const template = path.join(dir, "initdb.tar");
    try {
      fs.writeFileSync(template, "not a tar of a data directory\n");
      const a = await freshPglite(template);
      try {
        const tables = await a.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
        assert.deepEqual(tables.rows, [{ n: 0 }], "an empty cluster");
        assert.ok(fs.statSync(template).size > 1_000_000, "the unloadable template was replaced by a dump");
        // A template holding a marker: the next start must come up with it, so it was loaded, not initdb'd.
        await a.exec("CREATE TABLE template_marker (x int); INSERT INTO template_marker VALUES (7)");
        fs.writeFileSync(template, Buffer.from(await (await a.dumpDataDir("none")).arrayBuffer()));
      } finally {
        await a.close();
      }
      const b = await freshPglite(template);
      try {
        assert.deepEqual((await b.query("SELECT x FROM template_marker")).rows, [{ x: 7 }]);
      } finally {
        await b.close();
      }
      assert.deepEqual(fs.readdirSync(dir), ["initdb.tar"], "no dump left aside");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("PGlite's migrated cluster", () => {
  test("kept by a start, named by the migrations; it holds their schema and none of a start's role, users or passwords", async () => {
    const kept = migratedTemplateFile();
    assert.ok(kept, "no node_modules beside the sandbox");
    const sb = await startSandbox({ quiet: true });
    await sb.stop();
    assert.ok(fs.statSync(kept).size > 1_000_000, `${kept} was not written by the start`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pglite-migrated-"));
    try {
      // A copy: a dump that did not load would be overwritten by freshPglite with an empty cluster.
      const copy = path.join(dir, "migrated.tar");
      fs.copyFileSync(kept, copy);
      const db = await freshPglite(copy);
      try {
        const versions = await db.query<{ version: string }>("SELECT version FROM schema_migrations ORDER BY version");
        const migrations = fs
          .readdirSync(path.join(__dirname, "../../sandbox/migrations"))
          .filter((f) => f.endsWith(".sql"));
        assert.deepEqual(
          versions.rows.map((r) => `${r.version}.sql`),
          migrations.sort(),
        );
        assert.deepEqual((await db.query("SELECT count(*)::int AS n FROM users")).rows, [{ n: 0 }], "no seed");
        assert.deepEqual((await db.query(`SELECT rolname FROM pg_roles WHERE rolname = '${READONLY_ROLE}'`)).rows, []);
      } finally {
        await db.close();
      }
      // Another migration text, or one more migration, is another cluster.
      const migrations = path.join(dir, "migrations");
      fs.cpSync(path.join(__dirname, "../../sandbox/migrations"), migrations, { recursive: true });
      assert.equal(migratedTemplateFile(migrations), kept);
      fs.appendFileSync(path.join(migrations, "001_marketplace.sql"), "\n");
      const edited = migratedTemplateFile(migrations);
      assert.notEqual(edited, kept);
      fs.writeFileSync(path.join(migrations, "999_more.sql"), "SELECT 1;\n");
      assert.notEqual(migratedTemplateFile(migrations), edited);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
