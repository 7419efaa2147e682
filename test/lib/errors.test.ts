import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as errors from "../../lib/errors";
import {
  ArchiveRuleRefused,
  ArchiveSealed,
  BankConfirmError,
  ConfigError,
  DatabaseError,
  DeadlineError,
  InterruptedError,
  StepDeadlineError,
  EvidenceError,
  type ErrorCode,
  GuardError,
  HttpStatusError,
  ManifestError,
  CanonicalJsonError,
  NetworkError,
  ReportError,
  RunbookError,
  ScanPathError,
  SealSignError,
  TimestampError,
  SchemaError,
  SecretLeakError,
  SessionError,
  StateError,
  StepCheckError,
  ToolError,
  TemplateError,
  TraceError,
  oneLine,
} from "../../lib/errors";

// Every error class, as undici tests its errors: class, name, code and message (issue 10).
// Messages are the operators' text: they are matched exactly.
const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
type ErrorClass = abstract new (...args: never[]) => RunbookError;
const rows: Array<[string, () => RunbookError, ErrorClass, string, ErrorCode, string]> = [
  [
    "StateError",
    () => new StateError("no order in this session: step 3 must pass first"),
    StateError,
    "StateError",
    "E2E_STATE",
    "no order in this session: step 3 must pass first",
  ],
  [
    "StepCheckError",
    () => new StepCheckError("E2E_NO_LICENSE", "no licence for order ord_1 in /licenses/mine"),
    StepCheckError,
    "StepCheckError",
    "E2E_NO_LICENSE",
    "no licence for order ord_1 in /licenses/mine",
  ],
  [
    "ToolError",
    () => new ToolError("E2E_PARAMS", "the notebook has no cell tagged `parameters`"),
    ToolError,
    "ToolError",
    "E2E_PARAMS",
    "the notebook has no cell tagged `parameters`",
  ],
  [
    "ConfigError",
    () => new ConfigError("MODE", 'invalid value "prod"; set MODE to "sandbox", "staging" or "live"'),
    ConfigError,
    "ConfigError",
    "E2E_CONFIG",
    'MODE: invalid value "prod"; set MODE to "sandbox", "staging" or "live"',
  ],
  [
    "GuardError",
    () => new GuardError("price", "12.00 EUR is above MAX_PRICE 5.00 EUR"),
    GuardError,
    "GuardError",
    "E2E_GUARD",
    "refused (price): 12.00 EUR is above MAX_PRICE 5.00 EUR",
  ],
  [
    "NetworkError (code of the cause)",
    () => new NetworkError("GET", "http://127.0.0.1:1/health", refused),
    NetworkError,
    "NetworkError",
    "E2E_NETWORK",
    "request failed: GET http://127.0.0.1:1/health (ECONNREFUSED)",
  ],
  [
    "NetworkError (not an Error)",
    () => new NetworkError("POST", "http://x/orders", "socket hang up"),
    NetworkError,
    "NetworkError",
    "E2E_NETWORK",
    "request failed: POST http://x/orders (socket hang up)",
  ],
  [
    "HttpStatusError",
    () => new HttpStatusError("POST", "http://x/orders", 409, "order exists", "CONFLICT"),
    HttpStatusError,
    "HttpStatusError",
    "E2E_HTTP_STATUS",
    "POST http://x/orders answered 409: order exists",
  ],
  [
    "HttpStatusError (no server message)",
    () => new HttpStatusError("GET", "http://x/status", 502, null, null),
    HttpStatusError,
    "HttpStatusError",
    "E2E_HTTP_STATUS",
    "GET http://x/status answered 502",
  ],
  [
    "SchemaError",
    () =>
      new SchemaError("GET /status", [
        { path: "services.hyperswitch.mode", expected: "string", message: "expected string" },
      ]),
    SchemaError,
    "SchemaError",
    "E2E_SCHEMA",
    "response of GET /status does not match the contract: field `services.hyperswitch.mode`: expected string (see docs/api-contract.md)",
  ],
  [
    "DeadlineError",
    () => new DeadlineError("order completed", 300, "pending"),
    DeadlineError,
    "DeadlineError",
    "E2E_DEADLINE",
    "order completed not reached within 300 s (last status: pending)",
  ],
  [
    "StepDeadlineError",
    () => new StepDeadlineError(5, 360),
    StepDeadlineError,
    "StepDeadlineError",
    "E2E_STEP_DEADLINE",
    "step 5 did not finish within its 360 s wall-clock deadline: what it waited on was cancelled; run the cell again to resume",
  ],
  [
    "InterruptedError",
    () => new InterruptedError("interrupted by the operator (Kernel ■)"),
    InterruptedError,
    "InterruptedError",
    "E2E_INTERRUPTED",
    "interrupted by the operator (Kernel ■)",
  ],
  [
    "SessionError",
    () => new SessionError("journal x line 3 is corrupt; do not edit evidence by hand"),
    SessionError,
    "SessionError",
    "E2E_SESSION",
    "journal x line 3 is corrupt; do not edit evidence by hand",
  ],
  [
    "DatabaseError",
    () => new DatabaseError("seller_transfers query failed: timeout", new Error("timeout")),
    DatabaseError,
    "DatabaseError",
    "E2E_DB",
    "seller_transfers query failed: timeout",
  ],
  [
    "EvidenceError",
    () => new EvidenceError("EVIDENCE_TRACE_PARSE", "trace t.jsonl: unreadable"),
    EvidenceError,
    "EvidenceError",
    "EVIDENCE_TRACE_PARSE",
    "trace t.jsonl: unreadable",
  ],
  [
    "TraceError",
    () => new TraceError("EVIDENCE_TRACE_BROKEN", "trace.jsonl", 4, "hash chain broken"),
    TraceError,
    "TraceError",
    "EVIDENCE_TRACE_BROKEN",
    "trace trace.jsonl:4: hash chain broken",
  ],
  [
    "TraceError (whole file)",
    () => new TraceError("EVIDENCE_TRACE_PARSE", "trace.jsonl", 0, "empty"),
    TraceError,
    "TraceError",
    "EVIDENCE_TRACE_PARSE",
    "trace trace.jsonl: empty",
  ],
  [
    "ManifestError",
    () => new ManifestError("EVIDENCE_MANIFEST_MISSING", "s/manifest.json", "no manifest"),
    ManifestError,
    "ManifestError",
    "EVIDENCE_MANIFEST_MISSING",
    "manifest s/manifest.json: no manifest",
  ],
  [
    "CanonicalJsonError",
    () => new CanonicalJsonError("$.a: NaN is not a JSON number (not allowed in evidence)"),
    CanonicalJsonError,
    "CanonicalJsonError",
    "EVIDENCE_CANONICAL",
    "canonical JSON: $.a: NaN is not a JSON number (not allowed in evidence)",
  ],
  [
    "SealSignError",
    () => new SealSignError("signing key k not found: pass --sign-key <private key>"),
    SealSignError,
    "SealSignError",
    "EVIDENCE_SEAL_SIGN",
    "seal signature: signing key k not found: pass --sign-key <private key>",
  ],
  [
    "TimestampError",
    () => new TimestampError("the authority answered HTTP 500: check PAYMENT_E2E_TSA_URL"),
    TimestampError,
    "TimestampError",
    "EVIDENCE_TIMESTAMP",
    "timestamp: the authority answered HTTP 500: check PAYMENT_E2E_TSA_URL",
  ],
  [
    "ScanPathError",
    () => new ScanPathError("nowhere", "no such file or directory"),
    ScanPathError,
    "ScanPathError",
    "EVIDENCE_SCAN_PATH",
    "scan nowhere: no such file or directory",
  ],
  [
    "SecretLeakError",
    () => new SecretLeakError(["a.md:1 card 4242…4242"]),
    SecretLeakError,
    "SecretLeakError",
    "EVIDENCE_SECRET_LEAK",
    "secret scan: 1 hit(s), first: a.md:1 card 4242…4242 — redact the source, then scan again",
  ],
  [
    "ReportError",
    () => new ReportError("E2E_COMPARE", "no staging dry run to compare with"),
    ReportError,
    "ReportError",
    "E2E_COMPARE",
    "no staging dry run to compare with",
  ],
  [
    "TemplateError",
    () => new TemplateError("templates/report.md", 12, "unknown variable {{x}}"),
    TemplateError,
    "TemplateError",
    "E2E_REPORT_TEMPLATE",
    "template templates/report.md:12: unknown variable {{x}}",
  ],
  [
    "BankConfirmError",
    () => new BankConfirmError("E2E_BANK_DATE", "20261126T154400Z-live", "date in the future"),
    BankConfirmError,
    "BankConfirmError",
    "E2E_BANK_DATE",
    "confirm-bank 20261126T154400Z-live: date in the future",
  ],
  [
    "SecretLeakError (archive refused)",
    () => new SecretLeakError(["trace.jsonl:3 token sk_…"], "archive/s"),
    SecretLeakError,
    "SecretLeakError",
    "EVIDENCE_SECRET_LEAK",
    "archive of archive/s refused: 1 secret or card-number hit(s), first trace.jsonl:3 token sk_… — redact the source, re-run, then archive again",
  ],
  [
    "ArchiveRuleRefused",
    () =>
      new ArchiveRuleRefused(
        "E2E_ARCHIVE_UNREFUNDED",
        "archive/s",
        "money moved and no refund succeeded",
        'refund it, or seal it as it is: npm run archive -- archive/s --unrefunded "<reason>"',
      ),
    ArchiveRuleRefused,
    "ArchiveRuleRefused",
    "E2E_ARCHIVE_UNREFUNDED",
    'archive of archive/s refused: money moved and no refund succeeded — refund it, or seal it as it is: npm run archive -- archive/s --unrefunded "<reason>"',
  ],
  [
    "ArchiveSealed",
    () =>
      new ArchiveSealed(
        "archive/s",
        "2026-11-26T16:02:11.000Z",
        "payment-e2e.ipynb: the notebook was saved after sealing",
        "restore it, or re-seal: npm run archive -- archive/s --reseal",
      ),
    ArchiveSealed,
    "ArchiveSealed",
    "E2E_ARCHIVE_SEALED",
    "archive/s was sealed at 2026-11-26T16:02:11.000Z and has changed since: payment-e2e.ipynb: the notebook was saved after sealing — restore it, or re-seal: npm run archive -- archive/s --reseal",
  ],
];

for (const [label, make, cls, name, code, message] of rows) {
  test(`error class: ${label}`, () => {
    const e = make();
    assert.ok(e instanceof cls, `not a ${cls.name}`);
    assert.ok(e instanceof RunbookError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, name);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    assert.equal(oneLine(e), message);
    assert.ok(!oneLine(e).includes("\n"));
  });
}

test("every error class of lib/errors.ts has a row", () => {
  const classes = (Object.values(errors) as unknown[]).filter(
    (v): v is ErrorClass => typeof v === "function" && v.prototype instanceof Error,
  );
  const covered = new Set(rows.map((r) => r[2]));
  assert.deepEqual(
    classes.filter((c) => !covered.has(c) && (c as unknown) !== RunbookError).map((c) => c.name),
    [],
  );
  // The root is found too, and is the one class with no row: it cannot be raised (protected constructor).
  assert.ok((classes as unknown[]).includes(RunbookError));
});

test("the root's constructor is protected: an error is raised as its family's class, with that family's codes", () => {
  // Compile-time guarantees (issue 21 item 8), kept honest by tsc over this file.
  // @ts-expect-error RunbookError's constructor is protected
  assert.ok(new RunbookError("E2E_STATE", "x") instanceof Error);
  // @ts-expect-error a step check takes a step code, not an evidence code
  new StepCheckError("EVIDENCE_CANONICAL", "x");
  // @ts-expect-error a tool error takes a tool code, not a report code
  new ToolError("E2E_COMPARE", "x");
  // @ts-expect-error the evidence family takes only evidence codes
  new EvidenceError("E2E_STATE", "x");
  // @ts-expect-error the report family takes only report codes
  new ReportError("E2E_GUARD", "x");
});

test("a cause is kept, and oneLine keeps only the first line", () => {
  const cause = new Error("boom");
  assert.equal(new DatabaseError("cannot connect", cause).cause, cause);
  assert.equal(new NetworkError("GET", "http://x", refused).cause, refused);
  assert.equal(oneLine(new SessionError("first\nsecond")), "first");
  assert.equal(oneLine("plain"), "plain");
});
