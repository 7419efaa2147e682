/**
 * Errors of the evidence layer (redaction, trace, scan, manifest, verify).
 * Kept apart until they are merged into lib/errors.ts; each has a stable `code`.
 */

export type EvidenceErrorCode =
  | "EVIDENCE_TRACE_PARSE"
  | "EVIDENCE_TRACE_BROKEN"
  | "EVIDENCE_MANIFEST_MISSING"
  | "EVIDENCE_MANIFEST_INVALID"
  | "EVIDENCE_SCAN_PATH"
  | "EVIDENCE_SECRET_LEAK";

export class EvidenceError extends Error {
  readonly code: EvidenceErrorCode;
  constructor(code: EvidenceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EvidenceError";
    this.code = code;
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
    super(code, `Trace ${file}${line > 0 ? `:${line}` : ""}: ${reason}`, options);
    this.name = "TraceError";
    this.file = file;
    this.line = line;
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
    super(code, `Manifest ${file}: ${reason}`, options);
    this.name = "ManifestError";
    this.file = file;
  }
}

/** A path given to the scanner does not exist or cannot be read. */
export class ScanPathError extends EvidenceError {
  readonly path: string;
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super("EVIDENCE_SCAN_PATH", `Scan ${path}: ${reason}`, options);
    this.name = "ScanPathError";
    this.path = path;
  }
}

/** The scanner found secret- or card-shaped material; `hits` are already masked. */
export class SecretLeakError extends EvidenceError {
  readonly hits: ReadonlyArray<string>;
  constructor(hits: ReadonlyArray<string>) {
    super(
      "EVIDENCE_SECRET_LEAK",
      `Secret scan: ${hits.length} hit(s), first: ${hits[0] ?? "none"}`,
    );
    this.name = "SecretLeakError";
    this.hits = hits;
  }
}
