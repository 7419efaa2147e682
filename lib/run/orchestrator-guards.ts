/**
 * Guards on the orchestrator's configuration before money moves: that staging and live have the
 * orchestrator's view at all (every amount is compared there, never assumed), and that the API key
 * is of the mode's environment. Pure functions, as in ./guards.ts; pre-flight and step 3 run them.
 */
import { GuardError } from "../errors";
import type { Mode } from "../types";
import type { GuardReport } from "./guards";

const empty = (): GuardReport => ({ refusals: [], warnings: [] });

/** Hyperswitch's API key prefixes: `prd_` is a production (live) key; the others are not. */
export const LIVE_KEY_PREFIXES = ["prd_"] as const;
export const TEST_KEY_PREFIXES = ["snd_", "dev_", "integ_"] as const;

/** The key's environment from its prefix: live, test (sandbox/dev/integ), or unknown. */
export function keyKind(apiKey: string): "live" | "test" | "unknown" {
  if (LIVE_KEY_PREFIXES.some((p) => apiKey.startsWith(p))) return "live";
  if (TEST_KEY_PREFIXES.some((p) => apiKey.startsWith(p))) return "test";
  return "unknown";
}

/**
 * Staging and live compare every amount at the orchestrator (the payment's `amount_received`, the
 * refunds' amounts): without HYPERSWITCH_URL and HYPERSWITCH_API_KEY they would be assumed from the
 * marketplace's own word. Sandbox keeps them optional (the rehearsal gives the double's).
 */
export function orchestratorConfigured(
  mode: Mode,
  hyperswitchUrl: string | null | undefined,
  apiKey: string | null,
): GuardReport {
  const r = empty();
  if (mode === "sandbox") return r;
  const missing = [hyperswitchUrl ? null : "HYPERSWITCH_URL", apiKey ? null : "HYPERSWITCH_API_KEY"].filter(
    (x): x is string => x !== null,
  );
  if (missing.length)
    r.refusals.push(
      new GuardError(
        "orchestrator",
        `MODE=${mode} needs ${missing.join(" and ")}: without the orchestrator's view the amount charged, captured and refunded would be assumed from the marketplace, never checked — set HYPERSWITCH_URL to the orchestrator's origin (npm run session: --hyperswitch-url) and export HYPERSWITCH_API_KEY (${mode === "live" ? "prd_…" : "snd_…"})`,
      ),
    );
  return r;
}

/** MODE=live needs a `prd_` key; sandbox and staging need `snd_`, `dev_` or `integ_`; anything else is refused. */
export function keyMatchesMode(mode: Mode, apiKey: string | null): GuardReport {
  const r = empty();
  if (!apiKey) return r;
  const kind = keyKind(apiKey);
  if (kind === "unknown")
    r.refusals.push(
      new GuardError(
        "key-mode",
        "HYPERSWITCH_API_KEY has no Hyperswitch prefix (prd_, snd_, dev_, integ_) — export the API key from the Hyperswitch dashboard of the environment you run against",
      ),
    );
  else if (mode === "live" && kind !== "live")
    r.refusals.push(
      new GuardError(
        "key-mode",
        `MODE=live but HYPERSWITCH_API_KEY is not a production key (${apiKey.slice(0, apiKey.indexOf("_") + 1)}…) — export the production key (prd_…)`,
      ),
    );
  else if (mode !== "live" && kind === "live")
    r.refusals.push(
      new GuardError(
        "key-mode",
        `MODE=${mode} but HYPERSWITCH_API_KEY is a production key (prd_…) — export the sandbox key (snd_…)`,
      ),
    );
  return r;
}
