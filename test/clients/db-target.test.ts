/**
 * lib/dsn.ts says where pg connects; here the real pg client (the one step 7 uses) connects and
 * listeners on two loopback addresses see where it went, and whether it asked for TLS first.
 * Every address is loopback, so nothing leaves the machine.
 */
import { strict as assert } from "node:assert";
import * as net from "node:net";
import { after, before, test } from "node:test";
import { Client } from "pg";
import { readSellerTransfers } from "../../lib/clients/db";
import { dsnTarget } from "../../lib/dsn";
import { DatabaseError } from "../../lib/errors";

interface Seen {
  address: string;
  port: number;
  tls: boolean;
}

const servers: net.Server[] = [];
let seen: Seen[] = [];
const ports: Record<string, number> = {};

/** A listener that notes each connection (address, port, SSLRequest or not) and hangs up. */
async function listen(address: string): Promise<number> {
  const s = net.createServer((sock) => {
    sock.once("data", (b) => {
      // An SSLRequest is 8 bytes: length 8, then the code 80877103.
      const tls = b.length >= 8 && b.readInt32BE(0) === 8 && b.readInt32BE(4) === 80877103;
      seen.push({ address: sock.localAddress ?? "", port: sock.localPort ?? 0, tls });
      sock.destroy();
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, address, r));
  return (s.address() as net.AddressInfo).port;
}

before(async () => {
  ports.a = await listen("127.0.0.2");
  ports.b = await listen("127.0.0.3");
});
after(() => {
  for (const s of servers) s.close();
});

/** Connects with pg as step 7 does, with `env` put in process.env for the call (pg reads it there). */
async function pgGoesTo(dsn: string, env: Record<string, string> = {}): Promise<Seen> {
  seen = [];
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const c = new Client({ connectionString: dsn, connectionTimeoutMillis: 3000 });
    c.on("error", () => undefined);
    await c.connect().catch(() => undefined);
    await c.end().catch(() => undefined);
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
  assert.equal(seen.length, 1, `pg reached none of the listeners for ${dsn}`);
  return seen[0];
}

const cases = (): Array<[string, string, Record<string, string>]> => [
  ["host and port after @", `postgres://ro:PASSWORD@127.0.0.2:${ports.a}/db?sslmode=disable`, {}],
  ["no host after @, host= and port=", `postgres://ro:PASSWORD@/db?host=127.0.0.3&port=${ports.b}&sslmode=disable`, {}],
  ["a percent-encoded host", `postgres://ro:PASSWORD@%31%32%37.0.0.2:${ports.a}/db?sslmode=disable`, {}],
  ["port= alone", `postgres://ro:PASSWORD@127.0.0.3/db?port=${ports.b}&sslmode=disable`, {}],
  ["PGHOST and PGPORT", "postgres://ro:PASSWORD@/db?sslmode=disable", { PGHOST: "127.0.0.3", PGPORT: String(ports.b) }],
  ["PGSSLMODE=require asks for TLS", `postgres://ro:PASSWORD@127.0.0.2:${ports.a}/db`, { PGSSLMODE: "require" }],
  ["sslmode=verify-full asks for TLS", `postgres://ro:PASSWORD@127.0.0.3:${ports.b}/db?sslmode=verify-full`, {}],
];

test("pg connects to the host, port and TLS that dsnTarget names", async () => {
  for (const [name, dsn, env] of cases()) {
    const t = dsnTarget(dsn, env);
    const got = await pgGoesTo(dsn, env);
    assert.deepEqual(
      { address: got.address, port: got.port, tls: got.tls },
      { address: t.host, port: t.port, tls: t.tls !== "off" },
      name,
    );
  }
});

test("the issue's DSN: pg goes to host=, not to the host after @ — and dsnTarget refuses it", async () => {
  const dsn = `postgres://ro:PASSWORD@127.0.0.2:${ports.a}/db?host=127.0.0.3&port=${ports.b}&sslmode=disable`;
  const got = await pgGoesTo(dsn);
  assert.deepEqual(got, { address: "127.0.0.3", port: ports.b, tls: false });
  assert.throws(() => dsnTarget(dsn, {}), /DATABASE_URL: its host= parameter names "127\.0\.0\.3", not "127\.0\.0\.2"/);
});

test("step 7's read connects where dsnTarget says, and refuses an ambiguous DSN before any connection", async () => {
  for (const [name, dsn, env] of cases()) {
    seen = [];
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      await assert.rejects(readSellerTransfers(dsn, "ord_1"), DatabaseError, name);
      const t = dsnTarget(dsn, env);
      assert.deepEqual(seen, [{ address: t.host, port: t.port, tls: t.tls !== "off" }], name);
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  }
  seen = [];
  const issue = `postgres://ro:PASSWORD@127.0.0.2:${ports.a}/db?host=127.0.0.3&port=${ports.b}&sslmode=disable`;
  await assert.rejects(readSellerTransfers(issue, "ord_1"), (e: Error) => {
    assert.ok(e instanceof DatabaseError);
    assert.match(e.message, /its host= parameter .* nothing was sent to the database$/);
    assert.doesNotMatch(e.message, /PASSWORD|\n/);
    return true;
  });
  assert.deepEqual(seen, [], "no connection was made");
});
