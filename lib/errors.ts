/**
 * Every error the runbook raises, in one place (papermill's `exceptions`, undici's `errors`).
 * Each has a stable `code`, structured fields and a one-line message that names the fix.
 */

export class RunbookError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options as ErrorOptions);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A parameter or environment variable is missing or invalid. Raised before any HTTP call. */
export class ConfigError extends RunbookError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super("E2E_CONFIG", `${variable}: ${message}`);
    this.variable = variable;
  }
}

/** A safety guard refused to let money move. Nothing was sent. */
export class GuardError extends RunbookError {
  readonly guard: string;
  constructor(guard: string, message: string) {
    super("E2E_GUARD", `refused (${guard}): ${message}`);
    this.guard = guard;
  }
}

/** Transport failure: connection refused/reset, timeout. */
export class NetworkError extends RunbookError {
  readonly method: string;
  readonly url: string;
  constructor(method: string, url: string, cause: unknown) {
    const detail = cause instanceof Error ? (cause as Error & { code?: string }).code ?? cause.message : String(cause);
    super("E2E_NETWORK", `Request failed: ${method} ${url} (${detail})`, { cause });
    this.method = method;
    this.url = url;
  }
}

/** The server answered with a non-2xx status. */
export class HttpStatusError extends RunbookError {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly serverMessage: string | null;
  readonly serverCode: string | null;
  constructor(method: string, url: string, status: number, serverMessage: string | null, serverCode: string | null) {
    super("E2E_HTTP_STATUS", `${method} ${url} answered ${status}${serverMessage ? `: ${serverMessage}` : ""}`);
    this.method = method;
    this.url = url;
    this.status = status;
    this.serverMessage = serverMessage;
    this.serverCode = serverCode;
  }
}

export interface SchemaIssue {
  path: string;
  expected: string;
  message: string;
}

/** A response did not match the contract (lib/contract.ts). Kept apart from HTTP errors, as ky does. */
export class SchemaError extends RunbookError {
  readonly endpoint: string;
  readonly issues: SchemaIssue[];
  constructor(endpoint: string, issues: SchemaIssue[]) {
    const first = issues[0];
    const where = first ? `field \`${first.path || "(root)"}\`: ${first.message}` : "unknown mismatch";
    super("E2E_SCHEMA", `Response of ${endpoint} does not match the contract: ${where} (see docs/api-contract.md)`);
    this.endpoint = endpoint;
    this.issues = issues;
  }
}

/** A poll did not reach its target before the deadline. */
export class DeadlineError extends RunbookError {
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
  constructor(message: string) {
    super("E2E_SESSION", message);
  }
}

/** One line for display: the message, without stack. */
export function oneLine(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0];
  return String(err);
}
