/**
 * Where a DATABASE_URL really connects (issue 25). The DSN is read with pg's own parser
 * (`pg-connection-string`, which `pg` uses), then with the libpq environment pg falls back on
 * (PGHOST, PGPORT, PGSSLMODE), so the host, port and TLS that are checked are the ones step 7's
 * client will use: a `host=` parameter wins over the host after `@` in pg, so
 * `postgres://ro:PASSWORD@127.0.0.1/db?host=192.0.2.2&sslmode=disable` goes to 192.0.2.2 in clear.
 * Ambiguous forms are refused in every mode (a `host=` or `port=` other than the one after `@`,
 * `hostaddr=`, several hosts, a host that is not a plain name); the live TLS rule is in
 * run/guards.ts. Nothing here echoes the DSN: it holds the read-only password.
 */
import * as net from "node:net";
import type { ClientConfig } from "pg";
import { parse, toClientConfig } from "pg-connection-string";
import { ConfigError } from "./errors";

export interface DsnTarget {
  /** What pg connects to: a host name, an IP address, or a unix socket directory. */
  host: string;
  /** Where the host came from: the DSN, pg's PGHOST fallback, or pg's default (localhost). */
  hostFrom: "DATABASE_URL" | "PGHOST" | "default";
  port: number;
  /** A unix socket directory: the connection never leaves the machine. */
  socket: boolean;
  /** 127.0.0.0/8, ::1, localhost, or a socket. */
  local: boolean;
  /** TLS as pg will set it up: off, on with the certificate and name checked, on without, or unclear. */
  tls: "off" | "verified" | "chain-only" | "unverified" | "unclear";
  /** `sslmode=` as written in the DSN (lower case), or null. */
  sslmode: string | null;
  /** `uselibpqcompat=true`: pg reads sslmode as libpq does (require does not check the certificate). */
  libpqCompat: boolean;
  /** pg's `ssl` setting as it will use it (from the DSN, else from PGSSLMODE). */
  pgSsl: unknown;
}

const fix = "write postgres://user:password@host:port/database?sslmode=verify-full";

function refuse(message: string): never {
  throw new ConfigError("DATABASE_URL", message);
}

/** A value shown in a message: quoted, cut to 80 characters (a host or port, never the DSN). */
const shown = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** pg's parse, with its error turned into one line that names neither the DSN nor its password. */
function pgParse(dsn: string): Record<string, unknown> {
  try {
    return parse(dsn) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code?.startsWith("E") && e.syscall ? `a file it names cannot be read: ${e.code}` : (e.code ?? e.name);
    refuse(`is not a connection string pg can read (${why}); ${fix}`);
  }
}

const str = (v: unknown): string => (v === undefined || v === null ? "" : String(v));

/** True for loopback addresses and names: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  return net.isIPv4(h) && h.startsWith("127.");
}

const DNS_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * Refuses a host pg would connect to that is not one plain host: several, or not a name at all.
 * `whose`: "its host" (the DSN's) or "PGHOST (…)".
 */
function checkHost(host: string, whose: string): void {
  if (host.startsWith("/")) {
    if (/[\s\0]/.test(host)) refuse(`${whose} is a socket directory with spaces or control characters; ${fix}`);
    return;
  }
  if (host.includes(","))
    refuse(`${whose} ${shown(host)} names several hosts; pg connects to one only — write one host`);
  if (!net.isIP(host) && !DNS_NAME.test(host))
    refuse(
      `${whose} is ${shown(host)} once decoded, which is not a plain host name, IP address or socket directory; write the host plainly (${fix})`,
    );
}

function checkPort(port: string, whose: string): number {
  const n = Number(port);
  if (!/^\d{1,5}$/.test(port) || n < 1 || n > 65535)
    refuse(`${whose} is ${shown(port)}; write a port number from 1 to 65535`);
  return n;
}

/** TLS as pg's ConnectionParameters sets it up from the parsed `ssl` (or from PGSSLMODE when absent). */
function tlsOf(ssl: unknown): DsnTarget["tls"] {
  if (ssl === "true") return "verified";
  if (ssl === "no-verify") return "unverified";
  if (ssl === false || ssl === undefined || ssl === null) return "off";
  if (ssl === true) return "verified";
  if (typeof ssl === "object") {
    const o = ssl as { rejectUnauthorized?: boolean; checkServerIdentity?: unknown };
    if (o.rejectUnauthorized === false) return "unverified";
    return typeof o.checkServerIdentity === "function" ? "chain-only" : "verified";
  }
  return "unclear"; // e.g. ssl=false: a non-empty string, which pg treats as "on" in its own way
}

/** pg's readSSLConfigFromEnvironment. */
function sslFromEnv(mode: string | undefined): unknown {
  if (mode === "prefer" || mode === "require" || mode === "verify-ca" || mode === "verify-full") return true;
  if (mode === "no-verify") return { rejectUnauthorized: false };
  return false;
}

/**
 * Where pg will connect with `dsn` in an environment `env` (the kernel's), or a ConfigError naming
 * the ambiguity and the fix in one line.
 * @example dsnTarget("postgres://ro:PASSWORD@db.example.com/app?sslmode=verify-full").host // "db.example.com"
 */
export function dsnTarget(dsn: string, env: Record<string, string | undefined> = process.env): DsnTarget {
  if (dsn.startsWith("/") || !/^postgres(ql)?:\/\//i.test(dsn)) refuse(`is not a postgres:// URL; ${fix}`);
  const full = pgParse(dsn);
  // The same DSN without its query: what the host and port after `@` say on their own.
  const own = pgParse(dsn.replace(/[?#].*$/s, ""));
  const ownHost = str(own.host);
  const ownPort = str(own.port);
  if (ownHost && str(full.host) !== ownHost)
    refuse(
      `its host= parameter names ${shown(str(full.host))}, not ${shown(ownHost)} after @, and pg connects to host=; remove host= and write the one host after @`,
    );
  if (ownPort && str(full.port) !== ownPort)
    refuse(
      `its port= parameter says ${shown(str(full.port))}, not ${shown(ownPort)} after the host, and pg connects to port=; remove port= and write the one port after the host`,
    );
  let host = str(full.host);
  let hostFrom: DsnTarget["hostFrom"] = "DATABASE_URL";
  if (!host) [host, hostFrom] = env.PGHOST ? [env.PGHOST, "PGHOST"] : ["localhost", "default"];
  checkHost(host, hostFrom === "PGHOST" ? "PGHOST (which pg reads because DATABASE_URL has no host)" : "its host");
  const hostaddr = str(full.hostaddr);
  if (hostaddr && hostaddr !== host)
    refuse(
      `its hostaddr= ${shown(hostaddr)} differs from the host ${shown(host)}: pg ignores hostaddr= but libpq tools connect to it; remove hostaddr=`,
    );
  const rawPort = str(full.port) || env.PGPORT || "5432";
  const port = checkPort(
    rawPort,
    str(full.port) ? "its port" : "PGPORT (which pg reads because DATABASE_URL has no port)",
  );
  const socket = host.startsWith("/");
  const ssl = full.ssl === undefined ? sslFromEnv(env.PGSSLMODE) : full.ssl;
  return {
    host,
    hostFrom,
    port,
    socket,
    local: socket || isLoopbackHost(host),
    tls: tlsOf(ssl),
    sslmode: full.sslmode === undefined ? null : str(full.sslmode).toLowerCase(),
    libpqCompat: str(full.uselibpqcompat) === "true",
    pgSsl: ssl === "true" ? true : ssl === "no-verify" ? { rejectUnauthorized: false } : ssl,
  };
}

/**
 * The pg client configuration of `dsn` with the host, port and TLS dsnTarget checked written in,
 * and no connection string left for pg to read again: step 7 connects where the check looked.
 */
export function pinnedClientConfig(
  dsn: string,
  env: Record<string, string | undefined> = process.env,
): { target: DsnTarget; config: ClientConfig } {
  const target = dsnTarget(dsn, env);
  const config = toClientConfig(parse(dsn) as Parameters<typeof toClientConfig>[0]);
  return {
    target,
    config: { ...config, host: target.host, port: target.port, ssl: target.pgSsl as ClientConfig["ssl"] },
  };
}

/** The password pg will send: after `:` in the URL, or a `password=` parameter (which pg prefers). */
export function dsnPasswords(dsn: string): string[] {
  try {
    const c = parse(dsn);
    const inUrl = (() => {
      try {
        return decodeURIComponent(new URL(dsn).password);
      } catch {
        return "";
      }
    })();
    return [...new Set([str(c.password), inUrl].filter(Boolean))];
  } catch {
    return [];
  }
}

/** How a target is named in a message: `host:port` (and where the host came from when not the DSN). */
export function describeTarget(t: DsnTarget): string {
  const h = t.host.includes(":") ? `[${t.host}]` : t.host;
  return `${h}${t.socket ? "" : `:${t.port}`}${t.hostFrom === "DATABASE_URL" ? "" : ` (from ${t.hostFrom})`}`;
}
