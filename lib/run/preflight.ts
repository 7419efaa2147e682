/**
 * Pre-flight gate (the seed's checks, then issue 4's guards). Used by the notebook's first cell and
 * by `npm run preflight`. Refuses before any POST; its verdict is a typed result.
 */
import { Health, Products, Status, paths, priceInclVat, type ProductT, type StatusT } from "../contract";
import { formatMoney, hundredthsToMinor, money } from "../money";
import { DatabaseError, GuardError, oneLine } from "../errors";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Config, toMinor } from "../config";
import { probeSellerTransfers } from "../clients/db";
import { ApiClient, type ClientDeps } from "../clients/http";
import { TRACE_FILE } from "../evidence/files";
import { secrets } from "../evidence/secrets";
import { Trace } from "../evidence/trace";
import {
  clockSkew,
  liveConfirmed,
  mergeGuards,
  modeMatchesEnvironment,
  operatorEmailIsWellFormed,
  priceUnderCap,
  transportIsSafe,
  type GuardReport,
  type PreflightWarning,
} from "./guards";
import { keyMatchesMode, orchestratorConfigured } from "./orchestrator-guards";
import { type DryRunRef, type OutcomeJudge, dryRunDone, dryRunRef, dryRunText } from "./dry-run";
import { redactedPrefix } from "../evidence/redact";
import type { Facts, Mode } from "../types";

export interface PreflightInput {
  mode: Mode;
  baseUrl: string;
  operatorEmail: string;
  product: string;
  maxPriceMinor: number;
  archiveDir: string;
  hyperswitchApiKey: string | null;
  liveConfirm: string;
  dryRunOverride: string;
  /** Checked for TLS in live mode (never echoed). */
  hyperswitchUrl?: string | null;
  databaseUrl?: string | null;
  /** The environment pg will read for DATABASE_URL (PGHOST, PGSSLMODE…); the process's by default. */
  env?: Record<string, string | undefined>;
  /** The report layer's judge of a dry run's outcome (lib/report/outcome-check.ts); without it the live gate passes none. */
  judge?: OutcomeJudge;
}

export interface PreflightReport {
  ok: boolean;
  refusals: string[];
  warnings: PreflightWarning[];
  /** The dry-run requirement as data; the journal's `preflight` entry records it as `dry_run`. */
  dryRun: DryRunRef;
  observed: Facts;
  product: ProductT | null;
  totalMinor: number | null;
  status: StatusT | null;
  /** The loud reminder of the real charge. */
  reminder: string;
}

/** Characters of a product title shown as a fact: the backend's text can be any length (issue 25). */
export const TITLE_SHOWN = 200;

/** The title as a fact: whole up to TITLE_SHOWN characters, else its redacted prefix and its length. */
export function shownTitle(title: string): string {
  const t = redactedPrefix(title, TITLE_SHOWN);
  return t.truncatedFrom === null ? title : `${t.text} (cut from ${t.truncatedFrom} characters)`;
}

/** Picks the product a run will buy: by id, or the cheapest whose price incl. VAT fits the cap. */
export function chooseProduct(products: ProductT[], wanted: string, maxMinor: number): ProductT {
  if (wanted !== "cheapest") {
    const p = products.find((x) => x.id === wanted);
    if (!p)
      throw new GuardError(
        "product",
        `no product ${wanted} in the marketplace — set PRODUCT to one of: ${products.map((x) => x.id).join(", ") || "(none)"}`,
      );
    return p;
  }
  // MAX_PRICE in major units of each product's currency (`maxMinor` holds its hundredths, as typed).
  const fitting = products
    .filter((p) => priceInclVat(p) <= hundredthsToMinor(maxMinor, p.currency))
    .sort((a, b) => priceInclVat(a) - priceInclVat(b));
  if (!fitting.length) {
    const cur = products[0]?.currency ?? "EUR";
    throw new GuardError(
      "price",
      `no product costs ≤ ${formatMoney(hundredthsToMinor(maxMinor, cur), cur)} incl. VAT — create the ~5 EUR test product first`,
    );
  }
  // The seed wants the ~5 EUR product: the one closest to the cap, not a 0.01 EUR oddity.
  return fitting[fitting.length - 1];
}

export async function runPreflight(input: PreflightInput, api: ApiClient): Promise<PreflightReport> {
  const observed: PreflightReport["observed"] = {};
  const guards: GuardReport[] = [
    transportIsSafe(input.mode, input.baseUrl, input),
    keyMatchesMode(input.mode, input.hyperswitchApiKey),
    orchestratorConfigured(input.mode, input.hyperswitchUrl, input.hyperswitchApiKey),
  ];
  const dry = dryRunDone(input.mode, input.archiveDir, input.dryRunOverride, { judge: input.judge });
  guards.push(dry);
  const dryRun = dryRunRef(input.mode, dry.dryRun, input.dryRunOverride);
  observed.dry_run = dryRunText(dryRun);
  // Refuse an unsafe URL before talking to it at all.
  if (guards[0].refusals.length) return finish(input, dryRun, observed, mergeGuards(...guards), null, null, null);

  const health = await api.call({ method: "GET", path: paths.health(), endpoint: "GET /health", schema: Health });
  observed.health = `${health.status} ${health.data.status}`;
  const status = (await api.call({ method: "GET", path: paths.status(), endpoint: "GET /status", schema: Status }))
    .data;
  observed.environment = status.environment;
  observed.hyperswitch = `${status.services.hyperswitch.status} (${status.services.hyperswitch.mode})`;
  if (status.version) observed.version = status.version;
  guards.push(modeMatchesEnvironment(input.mode, status));
  const products = (
    await api.call({ method: "GET", path: paths.products(), endpoint: "GET /marketplace/products", schema: Products })
  ).data.products;
  observed.products = products.length;
  let product: ProductT | null = null;
  let total: number | null = null;
  if (!products.length)
    guards.push({
      refusals: [new GuardError("products", "the marketplace lists no product — seed the ~5 EUR test product first")],
      warnings: [],
    });
  else {
    try {
      product = chooseProduct(products, input.product, input.maxPriceMinor);
      total = priceInclVat(product);
      observed.product = `${product.id} (${shownTitle(product.title)})`;
      observed.amount = money(total, product.currency);
      observed.vat = Math.round(product.vat_rate * 100);
      guards.push(
        priceUnderCap(total, product.currency, input.maxPriceMinor),
        liveConfirmed(input.mode, input.liveConfirm, total, product.currency),
      );
    } catch (err) {
      if (!(err instanceof GuardError)) throw err;
      guards.push({ refusals: [err], warnings: [] });
    }
  }
  guards.push(operatorEmailIsWellFormed(input.operatorEmail));
  observed.operator = input.operatorEmail;
  guards.push(clockSkew(api.counters.maxClockSkewMs));
  if (input.databaseUrl) guards.push(await databaseAnswers(input.databaseUrl, observed));
  return finish(input, dryRun, observed, mergeGuards(...guards), status, product, total);
}

/**
 * Steps 7 and 9 read seller_transfers after the money has moved. Their query runs here first, for an
 * order that does not exist, through the same DSN, role and READ ONLY transaction: a DSN that cannot
 * connect, a role without SELECT, or a missing table or column refuses the run before any order or
 * charge. A table without amount_reversed is a warning: the reversal's amount cannot be checked, so a
 * refunded run reads PARTIAL at best (docs/api-contract.md).
 */
async function databaseAnswers(dsn: string, observed: Facts): Promise<GuardReport> {
  try {
    const probe = await probeSellerTransfers(dsn);
    observed.database = `seller_transfers readable (READ ONLY), ${probe.amountReversed ? "with" : "without"} amount_reversed`;
    if (probe.amountReversed) return { refusals: [], warnings: [] };
    return {
      refusals: [],
      warnings: [
        {
          kind: "warning",
          message:
            "seller_transfers has no amount_reversed column: step 9 cannot check how much of the seller transfer was reversed, so a refunded run reads PARTIAL at best — add the column (docs/api-contract.md) before the live run",
        },
      ],
    };
  } catch (err) {
    if (!(err instanceof DatabaseError)) throw err;
    observed.database = "not readable";
    return {
      refusals: [
        new GuardError(
          "database",
          `steps 7 and 9 could not read seller_transfers (${oneLine(err.cause ?? err)}) — fix DATABASE_URL (a read-only DSN whose role can SELECT seller_transfers), or unset it to paste psql's output by hand`,
        ),
      ],
      warnings: [],
    };
  }
}

function finish(
  input: PreflightInput,
  dryRun: DryRunRef,
  observed: PreflightReport["observed"],
  g: GuardReport,
  status: StatusT | null,
  product: ProductT | null,
  total: number | null,
): PreflightReport {
  const amount = product && total !== null ? formatMoney(total, product.currency) : "~5 EUR";
  // What /status said counts, not only MODE: a production backend or live processors charge a real card.
  const real =
    input.mode === "live" || status?.environment === "production" || status?.services.hyperswitch.mode === "live";
  // A NO-GO charges nothing: its reminder says so instead of "continuing will charge" (issue 22).
  const reminder = !real
    ? `ℹ️ ${input.mode} run: the processors are in sandbox mode, no real card is charged (amount ${amount}). The live run will charge a real card.`
    : g.refusals.length
      ? `⚠️ REAL MONEY: a real card will be charged (${amount}) once pre-flight passes — this NO-GO created no order and charged nothing.`
      : `⚠️ REAL MONEY: a real card will be charged — continuing will charge ${amount} to YOUR OWN CARD on production. Use a personal card you can check on a bank statement; the refund takes 5–7 business days to show.`;
  return {
    ok: g.refusals.length === 0,
    refusals: g.refusals.map((e) => e.message),
    warnings: g.warnings,
    dryRun,
    observed,
    product,
    totalMinor: total,
    status,
    reminder,
  };
}

/** What the gate run on its own found: its report, or the backend error that stopped it; and where its trace is. */
export type GateResult = { traceFile: string } & ({ report: PreflightReport } | { error: unknown });

/**
 * The gate outside a session, as `npm run preflight` runs it: the API key registered as a secret, a
 * trace of its own in a fresh temporary folder (no session folder is made), and a client that is
 * closed afterwards. A backend that cannot be reached or answers off-contract comes back as `error`.
 * `judge`: the report layer's judge of a dry run's outcome, as the notebook's pre-flight has it.
 */
export async function preflightGate(
  cfg: Config,
  env: NodeJS.ProcessEnv,
  onAnomaly: ClientDeps["onAnomaly"],
  judge?: OutcomeJudge,
): Promise<GateResult> {
  secrets.add(cfg.hyperswitchApiKey, "HYPERSWITCH_API_KEY");
  const traceFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "e2e-preflight-")), TRACE_FILE);
  const api = new ApiClient(cfg.baseUrl, { trace: Trace.open(traceFile), onAnomaly });
  try {
    return {
      traceFile,
      report: await runPreflight({ ...cfg, maxPriceMinor: cfg.maxPriceMinor ?? toMinor(5), env, judge }, api),
    };
  } catch (error) {
    return { traceFile, error };
  } finally {
    await api.close();
  }
}
