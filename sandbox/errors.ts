// Errors with stable codes. The marketplace renders them as
// {"success":false,"error":…,"code":…}; the orchestrator as {"error":{type,code,message}}.

export class SandboxError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends SandboxError {
  constructor(message: string, code = "BAD_REQUEST") {
    super(400, code, message);
  }
}
export class UnauthorizedError extends SandboxError {
  constructor(message = "missing, invalid or expired access token", code = "UNAUTHORIZED") {
    super(401, code, message);
  }
}
export class ForbiddenError extends SandboxError {
  constructor(message: string, code = "FORBIDDEN") {
    super(403, code, message);
  }
}
export class NotFoundError extends SandboxError {
  constructor(message: string, code = "NOT_FOUND") {
    super(404, code, message);
  }
}
export class ConflictError extends SandboxError {
  constructor(message: string, code: string, headers: Record<string, string> = {}) {
    super(409, code, message, headers);
  }
}
export class UnprocessableError extends SandboxError {
  constructor(message: string, code = "IDEMPOTENCY_KEY_REUSED") {
    super(422, code, message);
  }
}
export class TooManyRequestsError extends SandboxError {
  constructor(message: string, retryAfterS: number, code = "TOO_MANY_REQUESTS") {
    super(429, code, message, { "retry-after": String(Math.max(0, Math.ceil(retryAfterS))) });
  }
}
export class ServiceUnavailableError extends SandboxError {
  constructor(message: string, retryAfterS: number, code = "SERVICE_UNAVAILABLE") {
    super(503, code, message, { "retry-after": String(Math.max(0, Math.ceil(retryAfterS))) });
  }
}
export class UpstreamError extends SandboxError {
  constructor(message: string, code = "UPSTREAM_ERROR") {
    super(502, code, message);
  }
}

/** Map fastify's own errors (bad JSON, too large, wrong media type) onto stable codes. */
export function toSandboxError(err: unknown): SandboxError {
  if (err instanceof SandboxError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e?.validation) return new BadRequestError(e.message ?? "invalid request", "VALIDATION_ERROR");
  switch (e?.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new SandboxError(413, "PAYLOAD_TOO_LARGE", "request body is larger than 16 KiB");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new SandboxError(415, "UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new BadRequestError("empty JSON body", "INVALID_JSON");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new BadRequestError("invalid Content-Length", "BAD_REQUEST");
  }
  if (isDbUnavailable(err)) return new ServiceUnavailableError("database unavailable", 1, "DB_UNAVAILABLE");
  // Postgres "data exception" (e.g. a NUL byte, an out-of-range number) means the input was bad.
  if (typeof e?.code === "string" && /^22[0-9A-Z]{3}$/.test(e.code))
    return new BadRequestError("invalid value in request", "INVALID_VALUE");
  const status = e?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new SandboxError(status, "BAD_REQUEST", oneLine(e.message ?? "bad request"));
  }
  return new SandboxError(500, "INTERNAL", "internal error");
}

export function isDbUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (!e) return false;
  if (typeof e.code === "string" && /^(ECONNREFUSED|ECONNRESET|EPIPE|57P0[1-3]|08\d\d\d)$/.test(e.code)) return true;
  return /Connection terminated|connect ECONNREFUSED|Client has encountered a connection error/.test(e.message ?? "");
}

export function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim().slice(0, 300);
}
