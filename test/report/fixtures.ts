/**
 * Session folders built programmatically with the runbook's own writers (Journal, Trace), shaped
 * like what lib/run/runbook.ts records: step_start/step_end brackets, request/response pairs, poll
 * attempts, anomalies, and the journal's state entries before each state change.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type DataIn, Journal, newSessionId } from "../../lib/evidence/journal";
import { JOURNAL_FILE, TRACE_FILE } from "../../lib/evidence/files";
import { canonicalJson, sha256 } from "../../lib/evidence/canonical";
import { STEPS } from "../../lib/run/steps";
import { type TransferRowRead, reversalSource, reversalWords } from "../../lib/run/ledger-checks";
import { dryRunRef, dryRunText } from "../../lib/run/dry-run";
import { writeManifest } from "../../lib/evidence/manifest";
import { verifyChain } from "../../lib/evidence/chain";
import { Trace } from "../../lib/evidence/trace";
import type { Mode, StepResult, StepStatus } from "../../lib/types";

export type Scenario =
  | "pass" // pre-flight and 9 steps PASS
  | "declined" // step 4 FAIL: the card was declined, no money moved
  | "preflight-refused" // step 0 FAIL, nothing else
  | "stuck" // step 5 FAIL at the deadline, 6–7 SKIPPED, refund 409, 9 SKIPPED
  | "no-refund" // 1–7 PASS, REFUND off: 8 and 9 SKIPPED
  | "transfer-null" // 7 FAIL (NULL stripe_transfer_id), rest PASS
  | "slow" // everything PASS but completed after 412 s (deadline raised)
  | "refund-stuck"; // 8 PASS, 9 FAIL at its deadline

export interface FixtureOptions {
  mode: Mode;
  scenario?: Scenario;
  /** Session start (the id and the block heading). */
  at?: Date;
  operatorNotes?: string;
  dryRunOverride?: string;
  /** Extra hook to write more trace events during step 5 (e.g. a 5xx attempt). */
  poll5xx?: boolean;
  /** The processor mode pre-flight journals (`hyperswitch_mode`); default the mode's own ("live" or "sandbox"). */
  hsMode?: string;
  /** A pre-flight journaled before `hyperswitch_mode` was: no such field, and this `hyperswitch` fact (null: none). */
  legacyPreflight?: { fact: string | null };
}

export function tmpArchive(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "report-"));
  const dir = path.join(root, "archive", "payment-e2e");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export const IDS = {
  order: "ord_9Qx7Lm2Kp4",
  payment: "pay_3Hs8Vd1Zc6",
  refund: "ref_5Tb2Nw8Ya1",
  licence: "lic_7Rk4Pj9Ue3",
  transfer: "tr_1Fg6Mc3Xs8",
};

/** The seller transfer as step 9 reads it after a full refund: wholly reversed (seller_transfers.amount_reversed). */
export const REVERSED_ROW: TransferRowRead = { amount: 375, currency: "EUR", status: "reversed", amount_reversed: 375 };

/** Writes a whole session folder; returns its path. The trace writer is closed, as after a kernel exit. */
export function makeSession(archiveDir: string, o: FixtureOptions): string {
  const dir = build(archiveDir, o);
  Trace.open(path.join(dir, TRACE_FILE)).close();
  return dir;
}

function build(archiveDir: string, o: FixtureOptions): string {
  const scenario = o.scenario ?? "pass";
  const at = o.at ?? new Date(Date.UTC(2026, 10, 20, 14, 2, 11));
  const sessionId = newSessionId(o.mode, at);
  const dir = path.join(archiveDir, sessionId);
  const j = Journal.create(dir, {
    sessionId,
    mode: o.mode,
    created_at: at.toISOString(),
    ...(o.operatorNotes ? { operator_notes: o.operatorNotes } : {}),
  });
  const t = Trace.open(path.join(dir, TRACE_FILE));
  t.append("session", { event: "opened", session_id: sessionId, mode: o.mode, base_url: "http://127.0.0.1:8080" });
  let order = "pending";
  /** What a source said about an amount, journaled as the runbook's steps 7–9 do (lib/run/ledger.ts). */
  const seen = (
    what: DataIn<"money_seen">["what"],
    source: DataIn<"money_seen">["source"],
    amount: number,
    ref: string,
  ) => j.append("money_seen", { what, source, amount, currency: "EUR", ref });
  const call = (endpoint: string, status: number, body: unknown, attempt = 1) => {
    t.append("request", {
      endpoint,
      method: endpoint.split(" ")[0],
      url: `http://127.0.0.1:8080/api/v1${endpoint.split(" ")[1]}`,
      attempt,
      headers: { accept: "application/json" },
      body: null,
    });
    t.append("response", {
      endpoint,
      attempt,
      status,
      latency_ms: 12.5,
      headers: { "content-type": "application/json" },
      body,
    });
  };
  const step = (
    n: number,
    status: StepStatus,
    observed: StepResult["observed"],
    reason: string | undefined,
    body: () => void = () => undefined,
    durationMs = 250,
  ) => {
    const from = t.seq + 1;
    t.append("step_start", { step: n, name: STEPS[n].name });
    if (status !== "SKIPPED") body();
    t.append("step_end", { step: n, status, reason: reason ?? null, observed });
    const now = new Date().toISOString();
    const r: StepResult = {
      step: n,
      id: STEPS[n].id,
      name: STEPS[n].name,
      status,
      observed,
      reason,
      trace: { from, to: t.seq },
      startedAt: now,
      endedAt: now,
      durationMs,
    };
    j.append("step_result", r);
  };
  const skip = (n: number, why: string) => step(n, "SKIPPED", {}, why);
  const poll = (stepN: 5 | 9, statuses: string[]) =>
    statuses.forEach((s, i) => {
      const http = s === "503" ? 503 : 200;
      call(
        "GET /orders/:id",
        http,
        http === 200 ? { success: true, data: { id: IDS.order, status: s } } : { success: false, error: "overloaded" },
      );
      t.append("poll_attempt", {
        step: stepN,
        attempt: i + 1,
        at: new Date().toISOString(),
        t: i * 0.5,
        latencyMs: 12.5,
        httpStatus: http,
        orderStatus: http === 200 ? s : null,
      });
      if (http === 503)
        t.append("anomaly", {
          at: new Date().toISOString(),
          step: stepN,
          kind: "http_5xx",
          message: `poll attempt ${i + 1}: HTTP 503`,
        });
    });

  // Step 0 — pre-flight
  const refused = scenario === "preflight-refused";
  // What pre-flight records: the reference as data, and the fact made from it (lib/run/dry-run.ts).
  const dryRun = dryRunRef(
    o.mode,
    o.dryRunOverride ? null : { sessionId: "20261119T100000Z-staging", dir: "" },
    o.dryRunOverride ?? "",
  );
  const hsMode = o.hsMode ?? (o.mode === "live" ? "live" : "sandbox");
  const hsFact = o.legacyPreflight ? o.legacyPreflight.fact : `enabled (${hsMode})`;
  const pfObserved: StepResult["observed"] = {
    dry_run: dryRunText(dryRun),
    health: "200 ok",
    environment: o.mode === "live" ? "production" : "staging",
    ...(hsFact === null ? {} : { hyperswitch: hsFact }),
    products: 3,
    product: "prd_e2e_test_licence (E2E test licence)",
    amount: { minor: 500, currency: "EUR" },
    vat: 20,
    operator: "operator@sandbox.test",
  };
  step(
    0,
    refused ? "FAIL" : "PASS",
    pfObserved,
    refused ? "refused (environment): MODE=live but the backend says environment=staging" : undefined,
    () => {
      call("GET /health", 200, { success: true, data: { status: "ok" } });
      call("GET /status", 200, { success: true, data: { environment: pfObserved.environment } });
      call("GET /marketplace/products", 200, { success: true, data: { products: [] } });
      j.append("preflight", {
        ok: !refused,
        refusals: refused ? ["refused (environment): MODE=live but the backend says environment=staging"] : [],
        warnings: [],
        dry_run: dryRun,
        observed: pfObserved,
        ...(o.legacyPreflight ? {} : { hyperswitch_mode: hsMode }),
      });
    },
  );
  if (refused) return dir;

  step(1, "PASS", { token_captured: true, expires_in_s: 900, user: "usr_operator" }, undefined, () =>
    call("POST /auth/login", 200, { success: true, data: { token_type: "Bearer" } }),
  );
  step(
    2,
    "PASS",
    {
      product_id: "prd_e2e_test_licence",
      title: "E2E test licence",
      price: { minor: 500, currency: "EUR" },
      net_price: { minor: 417, currency: "EUR" },
      vat: 20,
    },
    undefined,
    () => {
      call("GET /marketplace/products", 200, { success: true, data: { products: [] } });
      j.append("product_selected", {
        product: {
          id: "prd_e2e_test_licence",
          title: "E2E test licence",
          price_cents: 417,
          currency: "EUR",
          vat_rate: 0.2,
          seller_id: "sel_1",
          license_type: "personal",
        },
        total_minor: 500,
      });
    },
  );
  step(
    3,
    "PASS",
    {
      order_id: IDS.order,
      hyperswitch_payment_id: IDS.payment,
      payment_url_received: true,
      total: { minor: 500, currency: "EUR" },
      status: "pending",
    },
    undefined,
    () => {
      j.append("order_intent", {
        idempotency_key: `${sessionId}:order`,
        product_id: "prd_e2e_test_licence",
        total_minor: 500,
      });
      call("POST /orders", 201, {
        success: true,
        data: { id: IDS.order, hyperswitch_payment_id: IDS.payment, status: order },
      });
      j.append("order_created", {
        order_id: IDS.order,
        payment_id: IDS.payment,
        payment_url: "http://127.0.0.1:8081/checkout/x",
        total_cents: 500,
        currency: "EUR",
        created_at: at.toISOString(),
        http_status: 201,
      });
    },
  );

  if (scenario === "declined") {
    step(4, "FAIL", { card_last4: "0002", processor: "stripe" }, "the checkout refused the payment (card_declined)");
    for (const n of [5, 6, 7]) skip(n, "step 4 failed at 14:03:00Z (this machine's clock)");
    skip(8, "step 4 failed at 14:03:00Z (this machine's clock)");
    skip(9, "step 8 was skipped (step 4 failed at 14:03:00Z (this machine's clock))");
    // The report cell's last look at the order (lib/run/runbook.ts lastLook) before the verdict.
    j.append("payment_checked", {
      at: "2026-11-20T14:03:30.000Z",
      order_id: IDS.order,
      seen: "order failed",
      paid: false,
      by: "the report's last look",
    });
    return dir;
  }
  step(
    4,
    "PASS",
    { card_last4: "4242", transaction_time: "2026-11-20T14:03:00.000Z", processor: "stripe" },
    undefined,
    () => {
      j.append("payment_confirmed", {
        at: new Date().toISOString(),
        last4: "4242",
        processor: "stripe",
        via: "operator",
      });
      t.append("operator_ack", { event: "payment confirmed", last4: "4242", processor: "stripe" });
    },
  );

  if (scenario === "stuck") {
    step(
      5,
      "FAIL",
      { seconds_to_completed: null, max_5xx: 0, attempts: 3, last_status: "processing" },
      "order completed not reached within 300 s (last status: processing)",
      () => poll(5, ["processing", "processing", "processing"]),
      300_000,
    );
    skip(6, "step 5 failed at 14:08:00Z (this machine's clock)");
    skip(7, "step 5 failed at 14:08:00Z (this machine's clock)");
    step(
      8,
      "FAIL",
      {},
      "POST http://127.0.0.1:8080/api/v1/orders/x/refund answered 409: order is not completed",
      () => {
        j.append("refund_intent", { idempotency_key: `${sessionId}:refund`, order_id: IDS.order });
        call("POST /orders/:id/refund", 409, {
          success: false,
          error: "order is not completed",
          code: "ORDER_NOT_REFUNDABLE",
        });
      },
    );
    skip(9, "step 8 failed at 14:08:30Z (this machine's clock)");
    return dir;
  }
  const completedS = scenario === "slow" ? 412 : 3.2;
  step(
    5,
    "PASS",
    {
      seconds_to_completed: completedS,
      max_5xx: o.poll5xx ? 1 : 0,
      attempts: o.poll5xx ? 3 : 2,
      last_status: "completed",
    },
    undefined,
    () => poll(5, o.poll5xx ? ["processing", "503", "completed"] : ["processing", "completed"]),
    completedS * 1000,
  );
  order = "completed";
  step(6, "PASS", { license_id: IDS.licence, type: "personal", rights: '{"commercial_use":false}' }, undefined, () =>
    call("GET /licenses/mine", 200, { success: true, data: { licenses: [{ id: IDS.licence, order_id: IDS.order }] } }),
  );
  if (scenario === "transfer-null") {
    step(
      7,
      "FAIL",
      { amount: { minor: 375, currency: "EUR" }, stripe_transfer_id: null, status: "pending" },
      "seller_transfers row has a NULL stripe_transfer_id",
      () =>
        t.append("db_query", {
          sql: "SELECT …",
          params: [IDS.order],
          read_only: true,
          rows: [{ stripe_transfer_id: null }],
        }),
    );
  } else {
    step(
      7,
      "PASS",
      {
        amount: { minor: 375, currency: "EUR" },
        stripe_transfer_id: IDS.transfer,
        status: "paid",
        expected_amount: { minor: 375, currency: "EUR" },
        split: `total 5.00 EUR − VAT 0.83 EUR − platform fee 0.42 EUR (marketplace API order ${IDS.order})`,
      },
      undefined,
      () => {
        t.append("db_query", {
          sql: "SELECT …",
          params: [IDS.order],
          read_only: true,
          rows: [{ stripe_transfer_id: IDS.transfer }],
        });
        seen("transfer", "marketplace API", 375, "order total_cents − vat_cents − platform_fee_cents");
        seen("transfer", "database", 375, "seller_transfers.amount");
      },
    );
  }
  if (scenario === "no-refund") {
    skip(8, "REFUND is off (opt-in): set REFUND = true in the parameters cell to validate the full cycle");
    skip(9, "step 8 was skipped (REFUND is off (opt-in))");
    return dir;
  }
  step(8, "PASS", { refund_id: IDS.refund, status: "pending", http: 202 }, undefined, () => {
    j.append("refund_intent", { idempotency_key: `${sessionId}:refund`, order_id: IDS.order });
    call("POST /orders/:id/refund", 202, { success: true, data: { refund_id: IDS.refund, status: "pending" } });
    // The refund's own time, as the orchestrator answers it (the bank statement's due date counts from it).
    j.append("refund_created", {
      refund_id: IDS.refund,
      status: "pending",
      http_status: 202,
      amount_cents: 500,
      created_at: new Date().toISOString(),
    });
  });
  if (scenario === "refund-stuck") {
    step(
      9,
      "FAIL",
      {
        seconds_to_refunded: null,
        licence_gone: false,
        max_5xx: 0,
        funds_returned: "pending bank statement (5–7 business days): `npm run confirm-bank`",
      },
      "order refunded and licence revoked not reached within 300 s (last status: refund_pending)",
      () => poll(9, ["refund_pending", "refund_pending"]),
      300_000,
    );
    return dir;
  }
  step(
    9,
    "PASS",
    {
      seconds_to_refunded: 4.1,
      licence_gone: true,
      max_5xx: 0,
      funds_returned: "pending bank statement (5–7 business days): `npm run confirm-bank`",
      refunded: "5.00 EUR of 5.00 EUR refunded",
      // Step 9's own words and label for the whole transfer reversed (lib/run/ledger-checks.ts).
      transfer_reversal: reversalWords(REVERSED_ROW).text,
    },
    undefined,
    () => {
      poll(9, ["refund_pending", "refunded + licence gone"]);
      j.append("refund_status", {
        refund_id: IDS.refund,
        attempt: 1,
        status: "succeeded",
        source: "orchestrator",
        amount: 500,
      });
      seen("refunded", "marketplace API", 500, "order refunded_cents");
      seen("charged", "orchestrator", 500, "payment amount");
      seen("captured", "orchestrator", 500, "payment amount_received");
      seen("refunded", "orchestrator", 500, "succeeded refunds");
      seen("reversal", "marketplace API", 375, "the whole transfer, on a full refund");
      seen("reversal", "database", 375, reversalSource([REVERSED_ROW]));
    },
    4100,
  );
  return dir;
}

/** Seals the folder as the archive step does (lib/manifest.ts), over the current chain. */
export function seal(dir: string): void {
  const c = verifyChain(path.join(dir, TRACE_FILE));
  writeManifest(dir, {
    sessionId: path.basename(dir),
    mode: path.basename(dir).split("-").pop()!,
    chainHead: c.head,
    traceLines: c.lines,
    toolVersion: "test",
    gitCommit: null,
  });
}

/** Today as YYYY-MM-DD (UTC), and n days from it. */
export function day(offset = 0): string {
  return new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
}

/**
 * Chains a session's journal in place as the evidence format says (`prev`, `hash` =
 * sha256(JCS({seq, at, kind, data, prev}))), for journals written before the writer chained them;
 * a journal whose lines already carry a hash is left as it is. The live gate trusts chained
 * journals only.
 */
export function chainJournal(dir: string): void {
  const file = path.join(dir, JOURNAL_FILE);
  const entries = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (entries.every((e) => typeof e.hash === "string")) return;
  let prev = "0".repeat(64);
  const lines = entries.map((e) => {
    const body = { seq: e.seq, at: e.at, kind: e.kind, data: e.data, prev };
    const hash = sha256(canonicalJson(body));
    prev = hash;
    // Field order as the format fixes it: seq, at, kind, data (canonical), prev, hash.
    return `{"seq":${e.seq},"at":${JSON.stringify(e.at)},"kind":${JSON.stringify(e.kind)},"data":${canonicalJson(e.data)},"prev":"${body.prev}","hash":"${hash}"}\n`;
  });
  fs.writeFileSync(file, lines.join(""));
}
