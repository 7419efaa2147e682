/**
 * Guards before money moves (issue 4). Pure functions: each returns the refusals and warnings it
 * finds; pre-flight and step 3 both run them, and nothing is sent when one refuses.
 * The live gate's dry-run check reads the archive, so it lives beside them in ./dry-run.ts.
 */
import { isLoopback, isOperatorEmail } from "../config";
import type { StatusT } from "../contract";
import { formatMoney, hundredthsToMinor } from "../money";
import { GuardError, oneLine } from "../errors";
import { type DsnTarget, describeTarget, dsnTarget } from "../dsn";
import type { Mode } from "../types";

/**
 * A guard's warning as data (issue 21 item 4): `kind` is what code decides on (the session records
 * a clock skew as a `clock_skew` anomaly), `message` is only said.
 */
export interface PreflightWarning {
  kind: "clock_skew" | "warning";
  message: string;
}

export interface GuardReport {
  refusals: GuardError[];
  warnings: PreflightWarning[];
}

const warning = (message: string): PreflightWarning => ({ kind: "warning", message });

const empty = (): GuardReport => ({ refusals: [], warnings: [] });

function merge(...reports: GuardReport[]): GuardReport {
  return { refusals: reports.flatMap((r) => r.refusals), warnings: reports.flatMap((r) => r.warnings) };
}

/** The buyer account's address, by the same rule as the parameters cell (lib/config.ts). */
export function operatorEmailIsWellFormed(email: string): GuardReport {
  const r = empty();
  if (!isOperatorEmail(email))
    r.refusals.push(
      new GuardError(
        "email",
        `OPERATOR_EMAIL ${JSON.stringify(email)} is not a well-formed address — set OPERATOR_EMAIL to the buyer account's address, e.g. ops-test@example.com`,
      ),
    );
  return r;
}

/** live ⇒ production with Hyperswitch live; staging/sandbox ⇒ never production. */
export function modeMatchesEnvironment(mode: Mode, status: StatusT): GuardReport {
  const r = empty();
  const env = status.environment;
  const hs = status.services.hyperswitch;
  if (hs.status === "disabled")
    r.refusals.push(
      new GuardError(
        "hyperswitch",
        "the backend reports Hyperswitch disabled; no payment can be taken — fix the backend first",
      ),
    );
  if (hs.status === "degraded")
    r.warnings.push(warning("Hyperswitch reports `degraded`: expect slow or failed payments"));
  if (mode === "live") {
    if (env !== "production") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=live but the backend says environment=${env}: a live run against staging charges nothing real and the report would claim it did — point BASE_URL at production or use MODE=staging`,
        ),
      );
    } else if (hs.mode !== "live") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=live but Hyperswitch is in ${hs.mode} mode: no real charge would happen — switch the backend to live processors or use MODE=staging`,
        ),
      );
    }
  } else {
    if (env === "production") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=${mode} but the backend says environment=production: real money would move — use MODE=live with its confirmations, or point BASE_URL at staging`,
        ),
      );
    }
    if (hs.mode === "live") {
      r.refusals.push(
        new GuardError(
          "environment",
          `MODE=${mode} but Hyperswitch is in live mode: a real card would be charged — use MODE=live or a sandbox backend`,
        ),
      );
    }
  }
  return r;
}

/**
 * Live runs send a real password, an api-key and a database password: every connection encrypted
 * and verified, except on loopback. BASE_URL and HYPERSWITCH_URL must be https; DATABASE_URL is read
 * the way pg reads it (lib/dsn.ts: its host= and port= parameters, PGHOST, PGSSLMODE…), and the host
 * pg will reach, unless loopback or a socket, needs `sslmode=verify-full` (or `verify-ca`; `require`
 * passes with a warning) and TLS that pg will really verify. The DSN is never echoed.
 */
export function transportIsSafe(
  mode: Mode,
  baseUrl: string,
  more: {
    hyperswitchUrl?: string | null;
    databaseUrl?: string | null;
    /** The environment pg will read (PGHOST, PGPORT, PGSSLMODE); the kernel's by default. */
    env?: Record<string, string | undefined>;
  } = {},
): GuardReport {
  const r = empty();
  if (mode !== "live") return r;
  if (new URL(baseUrl).protocol !== "https:" && !isLoopback(baseUrl))
    r.refusals.push(
      new GuardError(
        "https",
        `MODE=live requires an https BASE_URL (got ${new URL(baseUrl).origin}) — use the https origin of production`,
      ),
    );
  const hs = more.hyperswitchUrl;
  if (hs && new URL(hs).protocol !== "https:" && !isLoopback(hs))
    r.refusals.push(
      new GuardError(
        "https",
        `MODE=live requires an https HYPERSWITCH_URL (got ${new URL(hs).origin}): the api-key would travel in clear — use the orchestrator's https origin`,
      ),
    );
  if (!more.databaseUrl) return r;
  return merge(r, databaseTransport(more.databaseUrl, more.env ?? process.env));
}

/** The live rule for DATABASE_URL, on the host, port and TLS pg will use (lib/dsn.ts). */
function databaseTransport(dsn: string, env: Record<string, string | undefined>): GuardReport {
  const r = empty();
  let t: DsnTarget;
  try {
    t = dsnTarget(dsn, env);
  } catch (err) {
    r.refusals.push(new GuardError("https", oneLine(err)));
    return r;
  }
  if (t.local) return r;
  const where = `pg connects to ${describeTarget(t)}`;
  const asked = t.sslmode === "verify-full" || t.sslmode === "verify-ca" || t.sslmode === "require";
  if (!asked)
    r.refusals.push(
      new GuardError(
        "https",
        `MODE=live requires DATABASE_URL with sslmode=verify-full (got ${t.sslmode ? `sslmode=${t.sslmode}` : "no sslmode"}; ${where}): the read-only password and the query would travel unverified — add ?sslmode=verify-full`,
      ),
    );
  else if (t.tls !== "verified")
    r.refusals.push(
      new GuardError(
        "https",
        `MODE=live requires DATABASE_URL's certificate to be checked, but with sslmode=${t.sslmode}${t.libpqCompat ? " and uselibpqcompat=true" : ""} pg would connect with the certificate ${t.tls === "chain-only" ? "name" : "itself"} not checked (${where}) — write sslmode=verify-full${t.libpqCompat ? " and remove uselibpqcompat" : ""}`,
      ),
    );
  else if (t.sslmode === "require")
    r.warnings.push(
      warning(
        "DATABASE_URL has sslmode=require: write sslmode=verify-full so the database's certificate is checked whatever the client library's default",
      ),
    );
  return r;
}

/** The confirmation phrase a live run must carry, naming the amount. */
export function liveConfirmPhrase(totalMinor: number, currency: string): string {
  return `charge ${formatMoney(totalMinor, currency)}`;
}

export function liveConfirmed(mode: Mode, confirm: string, totalMinor: number, currency: string): GuardReport {
  const r = empty();
  if (mode !== "live") return r;
  const want = liveConfirmPhrase(totalMinor, currency);
  if (confirm.trim().toLowerCase() !== want.toLowerCase()) {
    r.refusals.push(
      new GuardError(
        "live-confirm",
        `MODE=live needs LIVE_CONFIRM = "${want}" in the parameters cell, naming the amount your card will be charged`,
      ),
    );
  }
  return r;
}

/**
 * The price against MAX_PRICE, which the operator types in major units of the product's currency
 * (`maxHundredths`: "5.00" is 500): 5.00 caps a yen price at 5 JPY, never at 500 JPY.
 */
export function priceUnderCap(totalMinor: number, currency: string, maxHundredths: number): GuardReport {
  const r = empty();
  const maxMinor = hundredthsToMinor(maxHundredths, currency);
  if (totalMinor > maxMinor) {
    r.refusals.push(
      new GuardError(
        "price",
        `product costs ${formatMoney(totalMinor, currency)} incl. VAT, above MAX_PRICE ${formatMoney(maxMinor, currency)} — pick a cheaper product (the seed's ~5 EUR test product), or raise MAX_PRICE only if you mean to pay more`,
      ),
    );
  }
  return r;
}

/**
 * The order the backend created is what the operator agreed to pay (issue 12 §4): its total under
 * MAX_PRICE, in the product's currency, and, live, the amount LIVE_CONFIRM names.
 */
export function orderMatchesCharge(
  mode: Mode,
  order: { totalMinor: number; currency: string },
  expected: { currency: string | null; maxMinor: number; liveConfirm: string },
): GuardReport {
  const r = empty();
  if (expected.currency && order.currency !== expected.currency)
    r.refusals.push(
      new GuardError(
        "order-amount",
        `the order was created in ${order.currency}, not the product's ${expected.currency} — do not pay; escalate to the marketplace squad`,
      ),
    );
  // MAX_PRICE in major units of the order's currency (`maxMinor` holds its hundredths, as typed).
  const cap = hundredthsToMinor(expected.maxMinor, order.currency);
  if (order.totalMinor > cap)
    r.refusals.push(
      new GuardError(
        "order-amount",
        `the order's total ${formatMoney(order.totalMinor, order.currency)} is above MAX_PRICE ${formatMoney(cap, order.currency)} — do not pay; escalate to the marketplace squad`,
      ),
    );
  if (mode === "live") {
    const want = liveConfirmPhrase(order.totalMinor, order.currency);
    if (expected.liveConfirm.trim().toLowerCase() !== want.toLowerCase())
      r.refusals.push(
        new GuardError(
          "order-amount",
          `the order's total is ${formatMoney(order.totalMinor, order.currency)}, not what LIVE_CONFIRM "${expected.liveConfirm}" names — do not pay; check the order and start a fresh session`,
        ),
      );
  }
  return r;
}

export const CLOCK_SKEW_WARN_MS = 5 * 1000; // 5 s

export function clockSkew(skewMs: number): GuardReport {
  const r = empty();
  if (Math.abs(skewMs) > CLOCK_SKEW_WARN_MS)
    r.warnings.push({
      kind: "clock_skew",
      message: `clock skew ${(skewMs / 1000).toFixed(1)} s against the server's Date header: trace times and server times disagree`,
    });
  return r;
}

export { merge as mergeGuards, warning as guardWarning };
