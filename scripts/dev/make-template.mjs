// Regenerates notebooks/payment-e2e.ipynb (the committed template, without outputs) from this source:
//   node scripts/dev/make-template.mjs notebooks/payment-e2e.ipynb
// Edit cells here rather than by hand, so the template stays clean and reviewable.
import fs from "node:fs";
const md = (s) => ({ cell_type: "markdown", metadata: {}, source: s });
const code = (s, tags) => ({
  cell_type: "code",
  execution_count: null,
  metadata: tags ? { tags } : {},
  outputs: [],
  source: s,
});
const cells = [
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
  md(`## 0. Pre-flight gate
Refuses to go on unless the backend is healthy, \`/status\` matches MODE (live ⇒ production with Hyperswitch live), Hyperswitch is not disabled, there is ≥ 1 product, the operator email is well-formed, and the money guards pass. Same gate as \`npm run preflight\`.`),
  code(`nb.showPreflight(await nb.rb.preflight());`),
  md(`## 1. Log in as the buyer`),
  code(`nb.show(await nb.rb.login());`),
  md(`## 2. List marketplace products and pick the ~5 EUR test product`),
  code(`nb.show(await nb.rb.pickProduct());`),
  md(`## 3. Create the order (POST /orders)
Sent with an Idempotency-Key derived from the session: re-running this cell resumes the same order.`),
  code(`nb.show(await nb.rb.createOrder());`),
  md(`## 4. Pay on the hosted Hyperswitch checkout
Open the link, pay with **your own personal card**, then fill in the **paid** cell below with what you saw (last 4 digits and processor, nothing more) and run it.`),
  code(`await nb.pay();`),
  code(`// Paid cell: fill in after paying (leave empty when the headless payer paid a local double).
await nb.paid({ last4: "", processor: "" });`),
  md(`## 5. Poll the order until \`completed\``),
  code(`nb.show(await nb.rb.pollCompleted());`),
  md(`## 6. Licence attribution (GET /licenses/mine)`),
  code(`nb.show(await nb.rb.checkLicense());`),
  md(`## 7. \`seller_transfers\` row (read-only DB)
With \`DATABASE_URL\` set this reads the row in a READ ONLY transaction. Without it, the cell shows the SQL to run; paste psql's output with \`nb.show(await nb.rb.pasteTransfer(\\\`…\\\`))\`.`),
  code(`nb.show(await nb.rb.checkTransfer());`),
  md(`## 8. Refund (opt-in)
Stays available whenever the payment went through, even if a verification step failed.`),
  code(`nb.show(await nb.rb.refund());`),
  md(`## 9. Poll until refunded and the licence is gone`),
  code(`nb.show(await nb.rb.pollRefunded());`),
  md(`## Poll latency`),
  code(`nb.plot();`),
  md(`## Session report
The filled session block, computed from the evidence (journal and trace). The outcome and the acceptance boxes are derived, never typed.`),
  code(`await nb.report();`),
];
const nb = {
  cells,
  metadata: {
    kernelspec: { display_name: "TypeScript (tslab, runbook)", language: "typescript", name: "tslab" },
    language_info: { name: "typescript" },
  },
  nbformat: 4,
  nbformat_minor: 5,
};
cells.forEach((c, i) => {
  c.id = `cell-${String(i).padStart(2, "0")}`;
  c.source = c.source.split(/(?<=\n)/);
});
fs.writeFileSync(process.argv[2], `${JSON.stringify(nb, null, 1)}\n`);
