/**
 * Parameters of a run: the notebook's `parameters` cell (papermill convention) plus secrets from
 * the environment. Everything is validated here, before any HTTP call; a bad value gets a one-line
 * ConfigError naming the variable and the fix.
 */
import { z } from "zod";
import { dsnTarget, isLoopbackHost } from "./dsn";
import { ConfigError } from "./errors";
import type { Params } from "./params";
import type { Mode } from "./types";

/** Declared in ./params.ts, dependency-free for the notebook's entry point; validated here. */
export type { Params };

export const DEFAULTS = {
  maxPrice: "5.00", // major units of the product's currency incl. VAT: 5 EUR, as in the seed ("use a 5 EUR product")
  pollDeadlineS: 5 * 60, // 5 min, the seed's acceptance gate for completed and refunded
  archiveDir: "archive/payment-e2e",
  card: "success" as const, // sandbox headless payer's test card
  clockSkewWarnS: 5, // 5 s between us and the server's Date header
};

/**
 * The one rule for OPERATOR_EMAIL (issue 10): trimmed, then zod's `z.email()`. The parameters
 * cell and pre-flight both use it, so an address the session accepts is never refused later.
 * @example isOperatorEmail("ops-test@example.com") // true; "ops..test@example.com" → false
 */
const operatorEmail = z.string().trim().pipe(z.email());

export function isOperatorEmail(value: unknown): boolean {
  return operatorEmail.safeParse(value).success;
}

/** The URL's host is loopback (127.0.0.0/8, ::1, localhost): the same rule as DATABASE_URL's (lib/dsn.ts). */
export function isLoopback(url: string): boolean {
  try {
    return isLoopbackHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

const FIELDS = {
  MODE: [z.enum(["sandbox", "staging", "live"]), 'set MODE to "sandbox", "staging" or "live"'],
  BASE_URL: [z.url({ protocol: /^https?$/ }), "set BASE_URL to the backend origin, e.g. https://staging.example.com"],
  HYPERSWITCH_URL: [
    z.union([z.literal(""), z.url({ protocol: /^https?$/ })]),
    "set HYPERSWITCH_URL to the orchestrator origin, or leave it empty",
  ],
  OPERATOR_EMAIL: [operatorEmail, "set OPERATOR_EMAIL to the buyer account's address, e.g. ops-test@example.com"],
  OPERATOR_PASSWORD: [
    z.string().min(1),
    "export OPERATOR_PASSWORD in the environment before starting Jupyter (never in the notebook)",
  ],
  PRODUCT: [
    z
      .string()
      .trim()
      .regex(/^(cheapest|[A-Za-z0-9_-]{1,64})$/),
    'set PRODUCT to a product id or "cheapest"',
  ],
  MAX_PRICE: [
    z.coerce.number().positive().max(1000),
    "set MAX_PRICE to the ceiling in major units of the product's currency incl. VAT, e.g. 5.00",
  ],
  POLL_DEADLINE_S: [
    z.coerce.number().int().min(5).max(3600),
    "set POLL_DEADLINE_S to seconds between 5 and 3600 (default 300)",
  ],
  REFUND_DEADLINE_S: [
    z.coerce.number().int().min(5).max(3600),
    "set REFUND_DEADLINE_S to seconds between 5 and 3600 (default 300)",
  ],
  SESSION_ID: [
    // The UTC second, a 4-hex suffix when two sessions were created in the same second, the mode.
    z.string().regex(/^\d{8}T\d{6}Z(?:-[0-9a-f]{4})?-(sandbox|staging|live)$/),
    "create a session with `npm run session -- --mode <mode>` and use the SESSION_ID it prints",
  ],
  DATABASE_URL: [
    z.union([z.literal(""), z.string().regex(/^postgres(ql)?:\/\/.+/)]),
    "export DATABASE_URL as a read-only postgres:// DSN, or leave it unset to paste psql output by hand",
  ],
  HYPERSWITCH_API_KEY: [
    z.union([z.literal(""), z.string().min(8)]),
    "export HYPERSWITCH_API_KEY (prd_… on production, snd_…/dev_…/integ_… elsewhere), or leave it unset",
  ],
  AUTO_PAY: [
    z.enum(["", "success", "declined", "insufficient_funds"]),
    'set AUTO_PAY to "success", "declined", "insufficient_funds" or ""',
  ],
} as const;

export interface Config {
  mode: Mode;
  baseUrl: string; // origin, no trailing slash
  hyperswitchUrl: string | null;
  operatorEmail: string;
  operatorPassword: string;
  product: string;
  maxPriceMinor: number;
  refund: boolean;
  sessionId: string;
  archiveDir: string;
  pollDeadlineS: number;
  refundDeadlineS: number;
  databaseUrl: string | null;
  hyperswitchApiKey: string | null;
  liveConfirm: string;
  dryRunOverride: string;
  autoPay: "" | "success" | "declined" | "insufficient_funds";
  operatorNotes: string;
  docsDir: string;
}

function field<K extends keyof typeof FIELDS>(name: K, value: unknown): z.infer<(typeof FIELDS)[K][0]> {
  const [schema, fix] = FIELDS[name];
  const r = (schema as z.ZodType).safeParse(value);
  if (!r.success) {
    const shown =
      value === undefined || value === ""
        ? "missing"
        : name.endsWith("PASSWORD") || name.endsWith("KEY") || name === "DATABASE_URL"
          ? "invalid"
          : `invalid value ${JSON.stringify(value)}`;
    throw new ConfigError(name, `${shown}; ${fix}`);
  }
  return r.data as z.infer<(typeof FIELDS)[K][0]>;
}

/**
 * A URL the runbook talks to is an origin: no user name or password (undici drops them silently,
 * and the banner would print them), no query, no fragment, and a path only where `path` allows it
 * (BASE_URL may end in the API prefix `/api/v1`). The value is never echoed: it may hold a password.
 * @example originOnly("BASE_URL", "https://ops:PASSWORD@shop.example.com", /^\/?$/) // throws ConfigError
 */
function originOnly(name: "BASE_URL" | "HYPERSWITCH_URL", value: string, path: RegExp): string {
  const u = new URL(value);
  const origin = `${u.protocol}//${u.host}`;
  const fix = `set ${name} to the origin alone, e.g. ${origin}`;
  if (u.username || u.password)
    throw new ConfigError(
      name,
      `carries a user name or password before the host (never sent, and it would be printed); remove it and ${fix}`,
    );
  if (u.search) throw new ConfigError(name, `has a query string (${u.search.length} characters); ${fix}`);
  if (u.hash) throw new ConfigError(name, `has a fragment (#…); ${fix}`);
  if (!path.test(u.pathname))
    throw new ConfigError(name, `has a path ${JSON.stringify(u.pathname)}, which the runbook would not use; ${fix}`);
  return value;
}

function bool(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === "") return dflt;
  if (typeof v === "boolean") return v;
  const s = String(v).toLowerCase();
  if (["y", "yes", "true", "1"].includes(s)) return true;
  if (["n", "no", "false", "0"].includes(s)) return false;
  throw new ConfigError(name, `invalid value ${JSON.stringify(v)}; set ${name} to true or false`);
}

/**
 * DATABASE_URL, checked the way pg will read it (lib/dsn.ts): a host= or port= other than the one
 * after `@`, hostaddr=, several hosts or a host that is not plain are refused in every mode.
 */
function databaseUrl(env: Record<string, string | undefined>): string | null {
  const dsn = field("DATABASE_URL", env.DATABASE_URL ?? "");
  if (!dsn) return null;
  dsnTarget(dsn, env);
  return dsn;
}

/** Major-unit price string → minor units, without float drift ("5.00" → 500). */
export function toMinor(major: number): number {
  return Math.round(major * 100);
}

/**
 * Validates parameters and environment. Throws ConfigError on the first bad value.
 * @example parseConfig({ MODE: "sandbox", BASE_URL: "http://127.0.0.1:8080", … }, process.env)
 */
export function parseConfig(params: Params, env: Record<string, string | undefined> = process.env): Config {
  const mode = field("MODE", params.MODE);
  // The origin, with or without the API prefix the sandbox and the docs print (`…/api/v1`).
  const baseUrl = originOnly("BASE_URL", field("BASE_URL", params.BASE_URL), /^\/(api\/v1\/?)?$/)
    .replace(/\/+$/, "")
    .replace(/\/api\/v1$/, "");
  const hsRaw = field("HYPERSWITCH_URL", params.HYPERSWITCH_URL ?? "");
  const hs = hsRaw ? originOnly("HYPERSWITCH_URL", hsRaw, /^\/?$/) : "";
  const cfg: Config = {
    mode,
    baseUrl,
    hyperswitchUrl: hs ? hs.replace(/\/+$/, "") : null,
    operatorEmail: field("OPERATOR_EMAIL", params.OPERATOR_EMAIL),
    operatorPassword: field("OPERATOR_PASSWORD", env.OPERATOR_PASSWORD),
    product: field("PRODUCT", params.PRODUCT ?? "cheapest"),
    maxPriceMinor: toMinor(field("MAX_PRICE", params.MAX_PRICE ?? DEFAULTS.maxPrice)),
    refund: bool("REFUND", params.REFUND, false),
    sessionId: field("SESSION_ID", params.SESSION_ID),
    archiveDir: params.ARCHIVE_DIR || DEFAULTS.archiveDir,
    pollDeadlineS: field("POLL_DEADLINE_S", params.POLL_DEADLINE_S ?? DEFAULTS.pollDeadlineS),
    refundDeadlineS: field(
      "REFUND_DEADLINE_S",
      params.REFUND_DEADLINE_S ?? params.POLL_DEADLINE_S ?? DEFAULTS.pollDeadlineS,
    ),
    databaseUrl: databaseUrl(env),
    hyperswitchApiKey: field("HYPERSWITCH_API_KEY", env.HYPERSWITCH_API_KEY ?? "") || null,
    liveConfirm: (params.LIVE_CONFIRM ?? "").trim(),
    dryRunOverride: (params.DRY_RUN_OVERRIDE ?? "").trim(),
    autoPay: field("AUTO_PAY", params.AUTO_PAY ?? ""),
    operatorNotes: (params.OPERATOR_NOTES ?? "").trim(),
    docsDir: params.DOCS_DIR || "docs",
  };
  if (!cfg.sessionId.endsWith(`-${cfg.mode}`)) {
    throw new ConfigError(
      "SESSION_ID",
      `session ${cfg.sessionId} was created for another mode than ${cfg.mode}; set MODE back to "${cfg.sessionId.split("-").pop()}" to resume it, or, for a new run, start a fresh session with \`npm run session -- --mode ${cfg.mode}\``,
    );
  }
  return cfg;
}

/**
 * The parameters pre-flight pins (issue 22 §4), as text: a later cell run with any of them changed is
 * refused until pre-flight runs again, which records the change as an anomaly.
 */
export const PINNED_PARAMS = [
  "MODE",
  "BASE_URL",
  "PRODUCT",
  "MAX_PRICE",
  "REFUND",
  // Where steps 4, 5, 8 and 9 send the API key, and which kind of key (its prefix only, never the key):
  // the transport and key-mode guards ran on these at pre-flight and step 3 (review 9).
  "HYPERSWITCH_URL",
  "HYPERSWITCH_KEY_PREFIX",
] as const;
export type PinnedParams = Record<(typeof PINNED_PARAMS)[number], string>;

export function pinnedParams(cfg: Config): PinnedParams {
  return {
    MODE: cfg.mode,
    BASE_URL: cfg.baseUrl,
    PRODUCT: cfg.product,
    MAX_PRICE: (cfg.maxPriceMinor / 100).toFixed(2),
    REFUND: String(cfg.refund),
    HYPERSWITCH_URL: cfg.hyperswitchUrl ?? "(none)",
    HYPERSWITCH_KEY_PREFIX: keyPrefix(cfg.hyperswitchApiKey),
  };
}

/** The API key's Hyperswitch prefix (`snd_`), "(other)" without one, "(none)" unset: never the key. */
function keyPrefix(key: string | null): string {
  if (!key) return "(none)";
  return /^(prd|snd|dev|integ)_/.exec(key)?.[0] ?? "(other)";
}

/**
 * What changed between pinned parameters and these, one "NAME old → new" per change.
 * @example paramChanges({ MAX_PRICE: "5.00" }, { …, MAX_PRICE: "30.00" }) // ["MAX_PRICE 5.00 → 30.00"]
 */
export function paramChanges(pinned: Readonly<Record<string, string>>, now: PinnedParams): string[] {
  return PINNED_PARAMS.filter((k) => pinned[k] !== undefined && pinned[k] !== now[k]).map(
    (k) => `${k} ${pinned[k]} → ${now[k]}`,
  );
}
