/**
 * Over 300 lines, not split: a catalogue of error classes, one place to look every code up (issue 10).
 *
 * Every error the runbook raises, in one place (papermill's `exceptions`, undici's `errors`).
 * Each has a stable `code`, structured fields and a one-line message that names the fix.
 */

// ------------------------------------------------------------------------------ codes
// Every code is a literal of one family, so a typo in a code is a compile error (issue 10).
// The strings are stable: operators, tests and the fault tables match on them.

/** Raised before or around a run: bad parameters, a refusing guard, an unusable session. */
export type RunErrorCode = "E2E_CONFIG" | "E2E_GUARD" | "E2E_SESSION";

/** Talking to the backend, the orchestrator or the database failed. */
export type TransportErrorCode = "E2E_NETWORK" | "E2E_HTTP_STATUS" | "E2E_SCHEMA" | "E2E_DEADLINE" | "E2E_DB";

/** A step's check failed: the backend answered, but not what the step needs. */
export type StepErrorCode =
  | "E2E_PAYER"
  | "E2E_PAYMENT_FAILED"
  | "E2E_AMOUNT_MISMATCH"
  | "E2E_NO_LICENSE"
  | "E2E_NO_TRANSFER"
  | "E2E_TRANSFER_NULL"
  | "E2E_TRANSFER_AMOUNT"
  | "E2E_REFUND_AMOUNT"
  | "E2E_REFUND_FOREIGN";

/** A step ran before the step it depends on left its result in the session, or it was stopped. */
export type StateErrorCode = "E2E_STATE" | "E2E_INTERRUPTED" | "E2E_STEP_DEADLINE";

/** The notebook tooling: parameters, nbconvert, the lib build, the archive seal. */
export type ToolErrorCode = ProcessErrorCode | "E2E_ARCHIVE_SEALED" | SealRuleCode;

/** The host's tools themselves failed: a notebook's parameters, Jupyter (nbconvert, the server), the lib build. */
export type ProcessErrorCode = "E2E_PARAMS" | "E2E_JUPYTER" | "E2E_BUILD";

/** The seal rules (issue 22 items 6–7): what the archive refuses to seal without a written reason or a restore. */
export type SealRuleCode = "E2E_ARCHIVE_OUTPUTS" | "E2E_ARCHIVE_UNREFUNDED" | "E2E_ARCHIVE_INCOMPLETE";

export type EvidenceErrorCode =
  | "EVIDENCE_TRACE_PARSE"
  | "EVIDENCE_TRACE_BROKEN"
  | "EVIDENCE_MANIFEST_MISSING"
  | "EVIDENCE_MANIFEST_INVALID"
  | "EVIDENCE_SCAN_PATH"
  | "EVIDENCE_SECRET_LEAK"
  | "EVIDENCE_CANONICAL"
  | "EVIDENCE_SEAL_SIGN"
  | "EVIDENCE_TIMESTAMP";

export type ReportErrorCode =
  | "E2E_REPORT_SESSION"
  | "E2E_REPORT_TEMPLATE"
  | "E2E_REPORT_MARKERS"
  | "E2E_BANK_DATE"
  | "E2E_BANK_NO_REFUND"
  | "E2E_BANK_NOT_LIVE"
  | "E2E_BANK_PARTIAL"
  | "E2E_BANK_NOT_SETTLED"
  | "E2E_COMPARE"
  | "E2E_CHECKLIST";

export type ErrorCode =
  | RunErrorCode
  | TransportErrorCode
  | StepErrorCode
  | StateErrorCode
  | ToolErrorCode
  | EvidenceErrorCode
  | ReportErrorCode;

// ------------------------------------------------------------------------------ run layer

/**
 * The root of every error the runbook raises. Its constructor is protected: an error is raised as its
 * family's class, and each family's constructor accepts only that family's codes (a step check cannot be
 * raised with an evidence code), so `code` always agrees with the class a caller catches.
 */
export class RunbookError extends Error {
  readonly code: ErrorCode;
  protected constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options as ErrorOptions);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A step's check failed: the backend answered, but not what the step needs (no licence, no transfer row,
 * amounts that disagree, a failed payment, the headless payer). The step records FAIL with this message.
 */
export class StepCheckError extends RunbookError {
  declare readonly code: StepErrorCode;
  constructor(code: StepErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A step needs what an earlier step leaves in the session (the product, the order) and it is not there. */
export class StateError extends RunbookError {
  declare readonly code: "E2E_STATE";
  constructor(message: string) {
    super("E2E_STATE", message);
  }
}

/**
 * The running step was stopped: the operator pressed Kernel ■ (SIGINT), the host stopped Jupyter
 * (`npm run session` on Ctrl-C, SIGTERM or a lost terminal: lib/notebook/kernel.ts), or another step
 * started in the same session (one active step per session). The step records INTERRUPTED, never PASS or FAIL.
 */
export class InterruptedError extends RunbookError {
  declare readonly code: "E2E_INTERRUPTED";
  constructor(reason: string) {
    super("E2E_INTERRUPTED", reason);
  }
}

/**
 * A step ran past its wall-clock deadline (issue 14): whatever it waited on (a body that never
 * finished, a database that never answered) is cancelled, and the step records FAIL, never PASS.
 */
export class StepDeadlineError extends RunbookError {
  declare readonly code: "E2E_STEP_DEADLINE";
  readonly step: number;
  readonly limitS: number;
  constructor(step: number, limitS: number) {
    super(
      "E2E_STEP_DEADLINE",
      `step ${step} did not finish within its ${limitS} s wall-clock deadline: what it waited on was cancelled; run the cell again to resume`,
    );
    this.step = step;
    this.limitS = limitS;
  }
}

/** A parameter or environment variable is missing or invalid. Raised before any HTTP call. */
export class ConfigError extends RunbookError {
  declare readonly code: "E2E_CONFIG";
  readonly variable: string;
  constructor(variable: string, message: string) {
    super("E2E_CONFIG", `${variable}: ${message}`);
    this.variable = variable;
  }
}

/** A safety guard refused to let money move. Nothing was sent. */
export class GuardError extends RunbookError {
  declare readonly code: "E2E_GUARD";
  readonly guard: string;
  constructor(guard: string, message: string) {
    super("E2E_GUARD", `refused (${guard}): ${message}`);
    this.guard = guard;
  }
}

/** Transport failure: connection refused/reset, timeout. */
export class NetworkError extends RunbookError {
  declare readonly code: "E2E_NETWORK";
  readonly method: string;
  readonly url: string;
  constructor(method: string, url: string, cause: unknown) {
    const detail =
      cause instanceof Error ? ((cause as Error & { code?: string }).code ?? cause.message) : String(cause);
    super("E2E_NETWORK", `request failed: ${method} ${url} (${detail})`, { cause });
    this.method = method;
    this.url = url;
  }
}

/** The server answered with a non-2xx status. */
export class HttpStatusError extends RunbookError {
  declare readonly code: "E2E_HTTP_STATUS";
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly serverMessage: string | null;
  readonly serverCode: string | null;
  /** The orchestrator's error `type` (Hyperswitch: invalid_request, api, connector, blocked), when it sent one. */
  readonly serverType: string | null;
  constructor(
    method: string,
    url: string,
    status: number,
    serverMessage: string | null,
    serverCode: string | null,
    serverType: string | null = null,
  ) {
    super("E2E_HTTP_STATUS", `${method} ${url} answered ${status}${serverMessage ? `: ${serverMessage}` : ""}`);
    this.method = method;
    this.url = url;
    this.status = status;
    this.serverMessage = serverMessage;
    this.serverCode = serverCode;
    this.serverType = serverType;
  }
}

export interface SchemaIssue {
  path: string;
  expected: string;
  message: string;
  /** What the response held there, in a few redacted words ("\"authorized\"", "an object with keys a, b"). */
  received?: string;
}

/** A response did not match the contract (lib/contract.ts). Kept apart from HTTP errors, as ky does. */
export class SchemaError extends RunbookError {
  declare readonly code: "E2E_SCHEMA";
  readonly endpoint: string;
  readonly issues: SchemaIssue[];
  constructor(endpoint: string, issues: SchemaIssue[]) {
    const first = issues[0];
    const where = first
      ? `field \`${first.path || "(root)"}\`: ${first.received ? `got ${first.received}, ` : ""}${first.message}`
      : "unknown mismatch";
    super("E2E_SCHEMA", `response of ${endpoint} does not match the contract: ${where} (see docs/api-contract.md)`);
    this.endpoint = endpoint;
    this.issues = issues;
  }
}

/** A poll did not reach its target before the deadline. */
export class DeadlineError extends RunbookError {
  declare readonly code: "E2E_DEADLINE";
  readonly lastStatus: string | null;
  readonly waitedS: number;
  constructor(what: string, waitedS: number, lastStatus: string | null) {
    super("E2E_DEADLINE", `${what} not reached within ${waitedS.toFixed(0)} s (last status: ${lastStatus ?? "none"})`);
    this.lastStatus = lastStatus;
    this.waitedS = waitedS;
  }
}

/** The session journal or folder is in a state the runbook cannot continue from. */
export class SessionError extends RunbookError {
  declare readonly code: "E2E_SESSION";
  constructor(message: string) {
    super("E2E_SESSION", message);
  }
}

/** Step 7's read-only database read failed (connect or query). */
export class DatabaseError extends RunbookError {
  declare readonly code: "E2E_DB";
  constructor(message: string, cause?: unknown) {
    super("E2E_DB", message, { cause });
  }
}

// ------------------------------------------------------------------------------ evidence layer
// Redaction, trace, scan, manifest, verify.

export class EvidenceError extends RunbookError {
  declare readonly code: EvidenceErrorCode;
  constructor(code: EvidenceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "EvidenceError";
  }
}

/** A trace file cannot be read or extended: `line` is 1-based, 0 when it is about the whole file. */
export class TraceError extends EvidenceError {
  readonly file: string;
  readonly line: number;
  constructor(
    code: "EVIDENCE_TRACE_PARSE" | "EVIDENCE_TRACE_BROKEN",
    file: string,
    line: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(code, `trace ${file}${line > 0 ? `:${line}` : ""}: ${reason}`, options);
    this.name = "TraceError";
    this.file = file;
    this.line = line;
  }
}

/** A value has no RFC 8785 (JCS) form: a non-finite number or a lone surrogate; `where` is its JSON path. */
export class CanonicalJsonError extends EvidenceError {
  constructor(reason: string) {
    super("EVIDENCE_CANONICAL", `canonical JSON: ${reason}`);
    this.name = "CanonicalJsonError";
  }
}

/** The time-stamping authority (RFC 3161) could not be reached or gave no usable token; the message names the fix. */
export class TimestampError extends EvidenceError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super("EVIDENCE_TIMESTAMP", `timestamp: ${reason}`, options);
    this.name = "TimestampError";
  }
}

export class ManifestError extends EvidenceError {
  readonly file: string;
  constructor(
    code: "EVIDENCE_MANIFEST_MISSING" | "EVIDENCE_MANIFEST_INVALID",
    file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(code, `manifest ${file}: ${reason}`, options);
    this.name = "ManifestError";
    this.file = file;
  }
}

/** A seal could not be signed with the operator's SSH key (issue 24): no key file, or ssh-keygen refused. */
export class SealSignError extends EvidenceError {
  constructor(reason: string) {
    super("EVIDENCE_SEAL_SIGN", `seal signature: ${reason}`);
    this.name = "SealSignError";
  }
}

/** A path given to the scanner does not exist or cannot be read. */
export class ScanPathError extends EvidenceError {
  readonly path: string;
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super("EVIDENCE_SCAN_PATH", `scan ${path}: ${reason}`, options);
    this.name = "ScanPathError";
    this.path = path;
  }
}

/**
 * The scanner found secret- or card-shaped material; `hits` are already masked. `archived`: the folder
 * the archive refused to seal for it (the one case where this is raised besides the scanner's own check).
 */
export class SecretLeakError extends EvidenceError {
  readonly hits: ReadonlyArray<string>;
  constructor(hits: ReadonlyArray<string>, archived?: string) {
    super(
      "EVIDENCE_SECRET_LEAK",
      archived
        ? `archive of ${archived} refused: ${hits.length} secret or card-number hit(s), first ${hits[0]} — redact the source, re-run, then archive again`
        : `secret scan: ${hits.length} hit(s), first: ${hits[0] ?? "none"} — redact the source, then scan again`,
    );
    this.name = "SecretLeakError";
    this.hits = hits;
  }
}

// ------------------------------------------------------------------------------ report layer

export class ReportError extends RunbookError {
  declare readonly code: ReportErrorCode;
  constructor(code: ReportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A template is malformed or names a value the view lacks; `line` is 1-based (0 = whole file). */
export class TemplateError extends ReportError {
  readonly template: string;
  readonly line: number;
  constructor(template: string, line: number, reason: string, options?: { cause?: unknown }) {
    super("E2E_REPORT_TEMPLATE", `template ${template}${line > 0 ? `:${line}` : ""}: ${reason}`, options);
    this.template = template;
    this.line = line;
  }
}

/** `npm run confirm-bank` refused a date or a session. */
export class BankConfirmError extends ReportError {
  readonly session: string;
  constructor(
    code: "E2E_BANK_DATE" | "E2E_BANK_NO_REFUND" | "E2E_BANK_NOT_LIVE" | "E2E_BANK_PARTIAL" | "E2E_BANK_NOT_SETTLED",
    session: string,
    message: string,
  ) {
    super(code, `confirm-bank ${session}: ${message}`);
    this.session = session;
  }
}

// ------------------------------------------------------------------------------ notebook and host layers

/** The host's tools failed: a notebook's parameters cell, Jupyter (nbconvert, the server), the lib build. */
export class ToolError extends RunbookError {
  declare readonly code: ProcessErrorCode;
  constructor(code: ProcessErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * The folder is already sealed and changed since: archiving again would silently re-seal it.
 * `what` says what changed ("payment-e2e.ipynb: the notebook was saved after sealing: …"), `fix` what to do.
 */
export class ArchiveSealed extends RunbookError {
  declare readonly code: "E2E_ARCHIVE_SEALED";
  readonly sealedAt: string | null;
  readonly what: string;
  readonly fix: string;
  constructor(dir: string, sealedAt: string | null, what: string, fix: string) {
    super(
      "E2E_ARCHIVE_SEALED",
      `${dir} was sealed${sealedAt ? ` at ${sealedAt}` : ""} and has changed since: ${what} — ${fix}`,
    );
    this.sealedAt = sealedAt;
    this.what = what;
    this.fix = fix;
  }
}

/**
 * A seal rule refused the archive (issue 22 items 6–7): the notebook disagrees with the kernel's copy
 * of its outputs or with the journal (E2E_ARCHIVE_OUTPUTS), money moved and no refund succeeded
 * (E2E_ARCHIVE_UNREFUNDED), or the run is incomplete (E2E_ARCHIVE_INCOMPLETE). Nothing was sealed.
 */
export class ArchiveRuleRefused extends RunbookError {
  declare readonly code: SealRuleCode;
  readonly what: string;
  readonly fix: string;
  constructor(code: SealRuleCode, dir: string, what: string, fix: string) {
    super(code, `archive of ${dir} refused: ${what} — ${fix}`);
    this.what = what;
    this.fix = fix;
  }
}

/** One line for display: the message, without stack. */
export function oneLine(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0];
  return String(err);
}
