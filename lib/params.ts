/**
 * What the operator sets in the notebook's parameters cell, on its own with no imports: the
 * notebook's entry point (lib/notebook/index.ts) declares its API with it, and tslab type-checks
 * every cell against the declarations that import reaches (bench P1). Validated in ./config.ts.
 */

/** All strings/numbers/booleans, papermill-friendly. */
export interface Params {
  MODE?: string;
  BASE_URL?: string;
  OPERATOR_EMAIL?: string;
  PRODUCT?: string; // a product id, or "cheapest" (cheapest under MAX_PRICE)
  MAX_PRICE?: string | number; // major units incl. VAT
  REFUND?: boolean | string;
  SESSION_ID?: string;
  ARCHIVE_DIR?: string;
  HYPERSWITCH_URL?: string;
  POLL_DEADLINE_S?: number | string;
  REFUND_DEADLINE_S?: number | string;
  LIVE_CONFIRM?: string; // live only: "charge <amount> <CUR>"
  DRY_RUN_OVERRIDE?: string; // live only: reason to skip the staging dry-run requirement
  AUTO_PAY?: string; // headless payer card for local doubles: "success" | "declined" | "insufficient_funds" | "" (off)
  OPERATOR_NOTES?: string;
  DOCS_DIR?: string; // where the living report and the GO/NO-GO checklist live (tests use a temp dir)
}
