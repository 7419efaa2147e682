/**
 * The runbook template (notebooks/payment-e2e.ipynb) generated from the step table, so the
 * notebook's step cells can never drift from the steps the lib declares. Regenerate with
 * `npm run template`; a test checks that the committed notebook is exactly this output.
 */
import { STEPS } from "../run/steps";
import type { StepTable } from "../run/step-model";
import type { Notebook } from "./nbfile";

type Cell = Notebook["cells"][number];
const md = (s: string): Cell => ({ cell_type: "markdown", metadata: {}, source: s }) as Cell;
const code = (s: string, tags?: string[]): Cell =>
  ({ cell_type: "code", execution_count: null, metadata: tags ? { tags } : {}, outputs: [], source: s }) as Cell;

/** The cells before the steps: the title and how to run it, the parameters, the session. */
const head = (): Cell[] => [
  md(`# Payment E2E — real-money runbook

Proves, with real money, that the marketplace's payment path works end to end: log in, buy the ~5 EUR test product, pay on the hosted Hyperswitch checkout, watch the order complete, see the licence and the seller transfer, refund, and watch the order refunded with the licence revoked.

**How to run it.** Run the cells one by one, top to bottom. Each step cell calls one function of \`lib/\` and shows a result row (PASS / FAIL / SKIPPED). A step whose prerequisite did not pass is SKIPPED with the reason; it never acts on stale state. Re-running a cell, or the whole notebook after a kernel restart, **resumes** the session: the order and the refund are never created twice.

**Secrets** (\`OPERATOR_PASSWORD\`, \`DATABASE_URL\`, \`HYPERSWITCH_API_KEY\`) come from the environment only and are redacted everywhere. Never paste a card number here: the paid cell takes the last 4 digits only.

See \`docs/operator-guide.md\`.`),
  code(
    `// Parameters (papermill convention: this cell is tagged "parameters").
// Secrets come from the environment: OPERATOR_PASSWORD, DATABASE_URL (read-only DSN), HYPERSWITCH_API_KEY.
let SESSION_ID = "";            // from \`npm run session -- --mode <mode>\`; a fresh session is always explicit
let MODE = "sandbox";           // "sandbox" | "staging" | "live"
let BASE_URL = "http://127.0.0.1:8080";
let HYPERSWITCH_URL = "";       // optional: cross-check payment and refund at the orchestrator
let OPERATOR_EMAIL = "operator@sandbox.test";
let PRODUCT = "cheapest";       // a product id, or "cheapest" under MAX_PRICE
let MAX_PRICE = "5.00";         // ceiling in EUR incl. VAT
let REFUND = false;             // opt-in, as in the seed; live runs set true to validate the full cycle
let POLL_DEADLINE_S = 300;      // step 5: completed within 5 min (acceptance gate)
let REFUND_DEADLINE_S = 300;    // step 9: refunded within 5 min
let LIVE_CONFIRM = "";          // live only: "charge 5.00 EUR" (the amount pre-flight prints)
let DRY_RUN_OVERRIDE = "";      // live only: written reason to run without a passed staging dry run
let AUTO_PAY = "";              // local doubles only: "success" | "declined" | "insufficient_funds"
let ARCHIVE_DIR = "archive/payment-e2e";
let OPERATOR_NOTES = "";        // free text for the report's anomalies section
let DOCS_DIR = "docs";          // the living report and the GO/NO-GO checklist`,
    ["parameters"],
  ),
  code(`import * as tslab from "tslab";
import { openNotebook } from "./build/lib/notebook"; // lib/ precompiled by npm run build (kept fresh automatically)
// Explicit keys: tslab mis-compiles shorthand properties that refer to an earlier cell's variables.
const nb = openNotebook({
  SESSION_ID: SESSION_ID,
  MODE: MODE,
  BASE_URL: BASE_URL,
  HYPERSWITCH_URL: HYPERSWITCH_URL,
  OPERATOR_EMAIL: OPERATOR_EMAIL,
  PRODUCT: PRODUCT,
  MAX_PRICE: MAX_PRICE,
  REFUND: REFUND,
  POLL_DEADLINE_S: POLL_DEADLINE_S,
  REFUND_DEADLINE_S: REFUND_DEADLINE_S,
  LIVE_CONFIRM: LIVE_CONFIRM,
  DRY_RUN_OVERRIDE: DRY_RUN_OVERRIDE,
  AUTO_PAY: AUTO_PAY,
  ARCHIVE_DIR: ARCHIVE_DIR,
  OPERATOR_NOTES: OPERATOR_NOTES,
  DOCS_DIR: DOCS_DIR,
}, tslab);`),
];

/** The cells after the steps: the latency plot and the report. */
const tail = (): Cell[] => [
  md(`## Poll latency`),
  code(`await nb.plot();`),
  md(`## Session report
The filled session block, computed from the evidence (journal and trace). The outcome and the acceptance boxes are derived, never typed.`),
  code(`await nb.report();`),
];

/**
 * The template notebook for a step table: head, one heading and the declared cells per step, tail.
 * @example fs.writeFileSync(TEMPLATE, serializeNotebook(templateNotebook()))
 */
export function templateNotebook(table: StepTable = STEPS): Notebook {
  const steps = table.flatMap((d) => [
    md(`## ${d.n}. ${d.title}${d.intro ? `\n${d.intro}` : ""}`),
    ...d.cells.map((c) => code(c)),
  ]);
  const cells = [...head(), ...steps, ...tail()].map((c, i) => ({
    ...c,
    id: `cell-${String(i).padStart(2, "0")}`,
    source: (c.source as string).split(/(?<=\n)/),
  }));
  return {
    cells,
    metadata: {
      kernelspec: { display_name: "TypeScript (tslab, runbook)", language: "typescript", name: "tslab" },
      language_info: { name: "typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  } as Notebook;
}

/** The file's bytes, as committed (one-space JSON and a final newline). */
export const serializeNotebook = (nb: Notebook): string => `${JSON.stringify(nb, null, 1)}\n`;
