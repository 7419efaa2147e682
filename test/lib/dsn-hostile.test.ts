/**
 * Issue 25 item 1: every host a client will reach is the host that is checked. Each DATABASE_URL
 * form below goes through the notebook's own path (parseConfig, then the live transport guard), with
 * the environment pg would read; the verdict must match where pg really connects. Refusals are one
 * line, name the fix and never echo the password. Rows marked † passed (or were refused) wrongly
 * before this test: the DSN sent the read-only password in clear text to its host= parameter.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { parseConfig } from "../../lib/config";
import { envSecrets } from "../../lib/evidence/secrets";
import { oneLine } from "../../lib/errors";
import { transportIsSafe } from "../../lib/run/guards";

const PW = "Ro-pw-91x7q"; // the read-only password: never in a message
const BASE = "https://shop.example.com";
const dsn = (authority: string, rest = "") => `postgres://ro:${PW}@${authority}${rest}`;

type Want = "ok" | "warn" | RegExp;
/** [name, DSN, extra environment, verdict in live mode]. */
const TABLE: Array<[string, string, Record<string, string>, Want]> = [
  // host= (pg connects to the parameter, not to the host after @)
  [
    "† the issue's DSN: host= another host, port=, sslmode=disable",
    dsn("127.0.0.1", "/postgres?host=192.0.2.2&port=5439&sslmode=disable"),
    {},
    /host= .*"192\.0\.2\.2".*"127\.0\.0\.1".*remove host=/,
  ],
  [
    "† host= another host, even with sslmode=verify-full",
    dsn("db.example.com", "/app?host=192.0.2.2&sslmode=verify-full"),
    {},
    /host= .*remove host=/,
  ],
  ["† host= spelled %68ost=", dsn("127.0.0.1", "/app?%68ost=192.0.2.2&sslmode=disable"), {}, /host= .*remove host=/],
  ["host= the same host as after @", dsn("db.example.com", "/app?host=db.example.com&sslmode=verify-full"), {}, "ok"],
  ["no host after @, host= a socket directory", dsn("", "/app?host=/var/run/postgresql"), {}, "ok"],
  [
    "† no host after @, host= a remote host in clear",
    dsn("", "/app?host=192.0.2.2&sslmode=disable"),
    {},
    /sslmode=verify-full .*192\.0\.2\.2.*add \?sslmode=verify-full/,
  ],
  // hostaddr=
  ["† hostaddr= another address", dsn("127.0.0.1", "/app?hostaddr=192.0.2.2"), {}, /hostaddr=.*remove hostaddr=/],
  // several hosts
  [
    "† two hosts h1,h2",
    dsn("db1.example.com,db2.example.com", "/app?sslmode=verify-full"),
    {},
    /several hosts.*write one host/,
  ],
  ["† two hosts with ports h1:p1,h2:p2", dsn("db1.example.com:5432,db2.example.com:5433", "/app"), {}, /DATABASE_URL/],
  // port=
  [
    "† port= another port than after the host",
    dsn("db.example.com:5432", "/app?port=5439&sslmode=verify-full"),
    {},
    /port= .*5439.*5432.*remove port=/,
  ],
  ["† port= not a number", dsn("db.example.com", "/app?port=5439abc&sslmode=verify-full"), {}, /port.*1 to 65535/],
  ["port= alone (no port after the host)", dsn("db.example.com", "/app?port=5439&sslmode=verify-full"), {}, "ok"],
  // a unix socket
  ["† a socket directory after @, percent-encoded", dsn("%2Fvar%2Frun%2Fpostgresql", "/app"), {}, "ok"],
  // sslmode and ssl variants on a remote host
  [
    "sslmode=disable",
    dsn("db.example.com", "/app?sslmode=disable"),
    {},
    /got sslmode=disable.*add \?sslmode=verify-full/,
  ],
  ["no sslmode", dsn("db.example.com", "/app"), {}, /got no sslmode.*add \?sslmode=verify-full/],
  ["sslmode=prefer", dsn("db.example.com", "/app?sslmode=prefer"), {}, /add \?sslmode=verify-full/],
  ["sslmode=no-verify", dsn("db.example.com", "/app?sslmode=no-verify"), {}, /add \?sslmode=verify-full/],
  ["ssl=true without sslmode", dsn("db.example.com", "/app?ssl=true"), {}, /add \?sslmode=verify-full/],
  ["sslmode=require (pg verifies; libpq would not)", dsn("db.example.com", "/app?sslmode=require"), {}, "warn"],
  [
    "† sslmode=require with uselibpqcompat=true (certificate not checked)",
    dsn("db.example.com", "/app?sslmode=require&uselibpqcompat=true"),
    {},
    /certificate .*not checked.*sslmode=verify-full/,
  ],
  ["sslmode=verify-full", dsn("db.example.com", "/app?sslmode=verify-full"), {}, "ok"],
  ["sslmode=verify-ca", dsn("db.example.com", "/app?sslmode=verify-ca"), {}, "ok"],
  // percent-encoded and malformed hosts
  ["† a percent-encoded loopback host (pg decodes it)", dsn("%31%32%37.0.0.1", "/app?sslmode=disable"), {}, "ok"],
  [
    "† a space after the host (pg encodes it and connects)",
    dsn("192.0.2.2 ", "/app?sslmode=disable"),
    {},
    /not a plain host name/,
  ],
  ["† an encoded comma: two hosts", dsn("127.0.0.1%2C192.0.2.2", "/app?sslmode=verify-full"), {}, /several hosts/],
  // IPv6 literals
  ["† IPv6 loopback [::1] without TLS", dsn("[::1]:5432", "/app?sslmode=disable"), {}, "ok"],
  ["IPv6 remote without TLS", dsn("[2001:db8::1]:5432", "/app?sslmode=disable"), {}, /2001:db8::1.*add \?sslmode/],
  ["IPv6 remote with verify-full", dsn("[2001:db8::1]", "/app?sslmode=verify-full"), {}, "ok"],
  // what pg reads from the environment when the DSN leaves it out
  [
    "† no host after @ and PGHOST a remote host",
    dsn("", "/app"),
    { PGHOST: "192.0.2.2" },
    /192\.0\.2\.2:5432 \(from PGHOST\).*add \?sslmode=verify-full/,
  ],
  ["no host after @ and PGHOST a socket directory", dsn("", "/app"), { PGHOST: "/var/run/postgresql" }, "ok"],
  ["† no host after @, PGHOST two hosts", dsn("", "/app"), { PGHOST: "h1,h2" }, /PGHOST.*several hosts/],
  [
    "PGSSLMODE=verify-full does not stand in for the DSN's own sslmode",
    dsn("db.example.com", "/app"),
    { PGSSLMODE: "verify-full" },
    /add \?sslmode=verify-full/,
  ],
  ["a loopback host without TLS", dsn("127.0.0.1:5432", "/app"), { PGSSLMODE: "disable" }, "ok"],
  // unreadable
  ["† an unparseable DSN", dsn("[::1", "/app"), {}, /not a connection string pg can read/],
  [
    "a password in password= (never echoed)",
    `postgres://ro@db.example.com/app?password=${PW}&sslmode=disable`,
    {},
    /add \?sslmode=verify-full/,
  ],
];

/** The verdict of the notebook's path: parameters cell, then the live guard, with `env` as the kernel's. */
function liveVerdict(url: string, extra: Record<string, string>): { refusal: string | null; warnings: string[] } {
  const env = { OPERATOR_PASSWORD: "op-pw-123456", DATABASE_URL: url, ...extra };
  try {
    const cfg = parseConfig(
      {
        MODE: "live",
        BASE_URL: BASE,
        OPERATOR_EMAIL: "ops@example.com",
        SESSION_ID: "20261126T154400Z-live",
      },
      env,
    );
    const r = transportIsSafe("live", cfg.baseUrl, { databaseUrl: cfg.databaseUrl, env } as Parameters<
      typeof transportIsSafe
    >[2]);
    return {
      refusal: r.refusals.length ? r.refusals.map((e) => e.message).join(" | ") : null,
      warnings: r.warnings.map((w) => w.message),
    };
  } catch (err) {
    return { refusal: oneLine(err), warnings: [] };
  }
}

describe("DATABASE_URL forms in live mode", () => {
  for (const [name, url, extra, want] of TABLE)
    test(name, () => {
      const v = liveVerdict(url, extra);
      if (want === "ok") assert.deepEqual(v, { refusal: null, warnings: [] });
      else if (want === "warn") {
        assert.equal(v.refusal, null);
        assert.equal(v.warnings.length, 1, v.warnings.join(" | "));
      } else {
        assert.ok(v.refusal, `accepted: ${JSON.stringify(v)}`);
        assert.match(v.refusal, want);
        assert.doesNotMatch(v.refusal, /\n/);
        assert.ok(!v.refusal.includes(PW), "the password is never echoed");
        assert.ok(v.refusal.length < 400, `one readable line (${v.refusal.length} characters)`);
      }
      for (const w of v.warnings) assert.ok(!w.includes(PW) && !w.includes("\n"));
    });
});

test("a host= that differs from the host after @ is refused in every mode, before any connection", () => {
  for (const mode of ["sandbox", "staging"])
    assert.throws(
      () =>
        parseConfig(
          {
            MODE: mode,
            BASE_URL: "http://127.0.0.1:8080",
            OPERATOR_EMAIL: "ops@example.com",
            SESSION_ID: `20261126T154400Z-${mode}`,
          },
          { OPERATOR_PASSWORD: "op-pw-123456", DATABASE_URL: dsn("127.0.0.1", "/app?host=192.0.2.2") },
        ),
      (e: Error) => /^DATABASE_URL: .*host=/.test(e.message) && !e.message.includes(PW),
    );
});

test("a password in password= is a secret like the one before @: registered, and masked in evidence", async () => {
  // Imported here, so that on a tree without lib/dsn.ts the table above still runs row by row.
  const { dsnPasswords } = await import("../../lib/dsn");
  const url = `postgres://ro@db.example.com/app?sslmode=verify-full&password=${PW}`;
  assert.deepEqual(dsnPasswords(url), [PW]);
  assert.deepEqual(dsnPasswords(dsn("db.example.com", "/app")), [PW]);
  assert.ok(envSecrets({ DATABASE_URL: url }).some((e) => e.value === PW && e.label === "DATABASE_URL password"));
});
