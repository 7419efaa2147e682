/**
 * Steps 7 and 9 read seller_transfers after the money has moved: the pre-flight runs their query first,
 * for no order, through the same DSN and role, so that a database the run cannot read refuses the run
 * before any order or charge, and a table without amount_reversed is said before the run, not found at
 * step 9. Against the sandbox's database (PGlite, or PostgreSQL with TEST_PG_URL) and its read-only role.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { Client } from "pg";
import { startSandbox, type Sandbox } from "../../sandbox";
import { uniqueReadonlyRole } from "../../sandbox/db";
import { ApiClient } from "../../lib/clients/http";
import { Trace } from "../../lib/evidence/trace";
import { runPreflight } from "../../lib/run/preflight";
import { stagingPreflightInput } from "./fixtures";

let sb: Sandbox;
let dir: string;
before(async () => {
  sb = await startSandbox({ quiet: true, databaseUrl: process.env.TEST_PG_URL, readonlyRole: uniqueReadonlyRole() });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "preflight-db-"));
});
after(async () => {
  await sb?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The pre-flight as the notebook's first cell runs it, and the calls it made (from its trace). */
async function preflight(databaseUrl: string | null) {
  const traceFile = path.join(dir, `t-${process.hrtime.bigint()}.jsonl`);
  const api = new ApiClient(sb.marketplaceUrl, { trace: Trace.open(traceFile), onAnomaly: () => undefined });
  const input = stagingPreflightInput(sb, dir, { databaseUrl });
  try {
    const report = await runPreflight(input, api);
    const calls = fs
      .readFileSync(traceFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { data?: { method?: string; url?: string } })
      .filter((e) => e.data?.method)
      .map((e) => `${e.data?.method} ${new URL(String(e.data?.url)).pathname}`);
    return { report, calls };
  } finally {
    await api.close();
  }
}

async function admin(sql: string): Promise<void> {
  const c = new Client({ connectionString: sb.adminDsn });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const readonlyRole = () => decodeURIComponent(new URL(sb.readonlyDsn).username);
const AMOUNT_REVERSED_WARNING =
  /^seller_transfers has no amount_reversed column: step 9 cannot check .* PARTIAL at best/;

test("a database the run can read: pre-flight passes and says so, with no warning", async () => {
  const { report } = await preflight(sb.readonlyDsn);
  assert.equal(report.ok, true, report.refusals.join("; "));
  assert.equal(report.observed.database, "seller_transfers readable (READ ONLY), with amount_reversed");
  assert.ok(!report.warnings.some((w) => AMOUNT_REVERSED_WARNING.test(w.message)));
});

test("no DATABASE_URL: the database is not probed (steps 7 and 9 show the SQL to paste)", async () => {
  const { report } = await preflight(null);
  assert.equal(report.ok, true, report.refusals.join("; "));
  assert.equal(report.observed.database, undefined);
});

test("a table without amount_reversed: a warning before the run that it can be PARTIAL at best; not refused", async () => {
  await admin("ALTER TABLE seller_transfers DROP COLUMN amount_reversed");
  try {
    const { report } = await preflight(sb.readonlyDsn);
    assert.equal(report.ok, true, report.refusals.join("; "));
    assert.equal(report.observed.database, "seller_transfers readable (READ ONLY), without amount_reversed");
    assert.ok(
      report.warnings.some((w) => AMOUNT_REVERSED_WARNING.test(w.message)),
      report.warnings.map((w) => w.message).join("\n"),
    );
  } finally {
    await admin("ALTER TABLE seller_transfers ADD COLUMN amount_reversed integer NOT NULL DEFAULT 0");
  }
});

/** The refusal a pre-flight gave for the database, after checking it made no order. */
function databaseRefusal(r: Awaited<ReturnType<typeof preflight>>): string {
  assert.equal(r.report.ok, false);
  const refusal = r.report.refusals.find((x) => x.startsWith("refused (database)"));
  assert.ok(refusal, r.report.refusals.join("; "));
  assert.doesNotMatch(refusal, /\n/);
  assert.equal(r.report.observed.database, "not readable");
  assert.deepEqual(
    r.calls.filter((c) => !c.startsWith("GET ")),
    [],
    "nothing but GETs: no order",
  );
  return refusal;
}

test("a database without seller_transfers (another database): refused before any order, in one line naming the fix", async () => {
  await admin("ALTER TABLE seller_transfers RENAME TO seller_transfers_elsewhere");
  try {
    assert.match(
      databaseRefusal(await preflight(sb.readonlyDsn)),
      /could not read seller_transfers \(.*seller_transfers.* does not exist\) — fix DATABASE_URL/,
    );
  } finally {
    await admin("ALTER TABLE seller_transfers_elsewhere RENAME TO seller_transfers");
  }
});

test("a role that cannot SELECT seller_transfers: refused before any order", {
  skip: process.env.TEST_PG_URL ? false : "PGlite has one user: roles' grants need PostgreSQL (TEST_PG_URL)",
}, async () => {
  const role = readonlyRole();
  await admin(`REVOKE SELECT ON seller_transfers FROM "${role}"`);
  try {
    assert.match(
      databaseRefusal(await preflight(sb.readonlyDsn)),
      /could not read seller_transfers \(.*permission denied.*\) — fix DATABASE_URL/,
    );
  } finally {
    await admin(`GRANT SELECT ON seller_transfers TO "${role}"`);
  }
});

test("a DATABASE_URL nothing answers: refused before any order, and the password is never in the refusal", async () => {
  const closed = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const dsn = new URL(sb.readonlyDsn);
  dsn.port = String(closed);
  const refusal = databaseRefusal(await preflight(dsn.toString()));
  assert.match(refusal, /ECONNREFUSED.* — fix DATABASE_URL .* or unset it to paste psql's output by hand$/);
  assert.ok(!refusal.includes(decodeURIComponent(dsn.password)), "no password in the refusal");
});
