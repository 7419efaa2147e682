import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as errors from "../../lib/errors";
import {
  ArchiveRefused,
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
    "RunbookError (state)",
    () => new RunbookError("E2E_STATE", "no order in this session: step 3 must pass first"),
    RunbookError,
    "RunbookError",
    "E2E_STATE",
    "no order in this session: step 3 must pass first",
  ],
  [
    "RunbookError (step check)",
    () => new RunbookError("E2E_NO_LICENSE", "no licence for order ord_1 in /licenses/mine"),
    RunbookError,
    "RunbookError",
    "E2E_NO_LICENSE",
    "no licence for order ord_1 in /licenses/mine",
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
    "Request failed: GET http://127.0.0.1:1/health (ECONNREFUSED)",
  ],
  [
    "NetworkError (not an Error)",
    () => new NetworkError("POST", "http://x/orders", "socket hang up"),
    NetworkError,
    "NetworkError",
    "E2E_NETWORK",
    "Request failed: POST http://x/orders (socket hang up)",
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
    "Response of GET /status does not match the contract: field `services.hyperswitch.mode`: expected string (see docs/api-contract.md)",
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
    () => new EvidenceError("EVIDENCE_TRACE_PARSE", "Trace t.jsonl: unreadable"),
    EvidenceError,
    "EvidenceError",
    "EVIDENCE_TRACE_PARSE",
    "Trace t.jsonl: unreadable",
  ],
  [
    "TraceError",
    () => new TraceError("EVIDENCE_TRACE_BROKEN", "trace.jsonl", 4, "hash chain broken"),
    TraceError,
    "TraceError",
    "EVIDENCE_TRACE_BROKEN",
    "Trace trace.jsonl:4: hash chain broken",
  ],
  [
    "TraceError (whole file)",
    () => new TraceError("EVIDENCE_TRACE_PARSE", "trace.jsonl", 0, "empty"),
    TraceError,
    "TraceError",
    "EVIDENCE_TRACE_PARSE",
    "Trace trace.jsonl: empty",
  ],
  [
    "ManifestError",
    () => new ManifestError("EVIDENCE_MANIFEST_MISSING", "s/manifest.json", "no manifest"),
    ManifestError,
    "ManifestError",
    "EVIDENCE_MANIFEST_MISSING",
    "Manifest s/manifest.json: no manifest",
  ],
  [
    "CanonicalJsonError",
    () => new CanonicalJsonError("$.a: NaN is not a JSON number (not allowed in evidence)"),
    CanonicalJsonError,
    "CanonicalJsonError",
    "EVIDENCE_CANONICAL",
    "Canonical JSON: $.a: NaN is not a JSON number (not allowed in evidence)",
  ],
  [
    "SealSignError",
    () => new SealSignError("signing key k not found: pass --sign-key <private key>"),
    SealSignError,
    "SealSignError",
    "EVIDENCE_SEAL_SIGN",
    "Seal signature: signing key k not found: pass --sign-key <private key>",
  ],
  [
    "TimestampError",
    () => new TimestampError("the authority answered HTTP 500: check PAYMENT_E2E_TSA_URL"),
    TimestampError,
    "TimestampError",
    "EVIDENCE_TIMESTAMP",
    "Timestamp: the authority answered HTTP 500: check PAYMENT_E2E_TSA_URL",
  ],
  [
    "ScanPathError",
    () => new ScanPathError("nowhere", "no such file or directory"),
    ScanPathError,
    "ScanPathError",
    "EVIDENCE_SCAN_PATH",
    "Scan nowhere: no such file or directory",
  ],
  [
    "SecretLeakError",
    () => new SecretLeakError(["a.md:1 card 4242…4242"]),
    SecretLeakError,
    "SecretLeakError",
    "EVIDENCE_SECRET_LEAK",
    "Secret scan: 1 hit(s), first: a.md:1 card 4242…4242",
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
    "Template templates/report.md:12: unknown variable {{x}}",
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
    "ArchiveRefused",
    () => new ArchiveRefused("archive/s", ["trace.jsonl:3 token sk_…"]),
    ArchiveRefused,
    "ArchiveRefused",
    "E2E_ARCHIVE_LEAK",
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
    classes.filter((c) => !covered.has(c)).map((c) => c.name),
    [],
  );
  assert.ok(classes.includes(RunbookError));
});

test("a cause is kept, and oneLine keeps only the first line", () => {
  const cause = new Error("boom");
  assert.equal(new DatabaseError("cannot connect", cause).cause, cause);
  assert.equal(new NetworkError("GET", "http://x", refused).cause, refused);
  assert.equal(oneLine(new SessionError("first\nsecond")), "first");
  assert.equal(oneLine("plain"), "plain");
});
