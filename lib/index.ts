/**
 * The runbook library's public surface. Notebook cells, CLIs, tests and benchmarks import from
 * here (the notebook also reaches `./lib/notebook` directly, which is the same surface's UI part).
 */

// Running a session
export { Runbook, type RunbookHooks } from "./runbook";
export { NotebookUi, openNotebook, type TslabLike } from "./notebook";
export { Session, type StepOutcome, type Observed } from "./session";
export { prepareSession, type Prepared } from "./prepare";
export { parseConfig, DEFAULTS, type Config, type Params } from "./config";
export { runPreflight, chooseProduct, type PreflightReport } from "./preflight";
export { STEPS, stepDef, blockedBy, type StepDef } from "./steps";
export { pollUntil, nextDelayMs, type PollOutcome } from "./poll";
export { ApiClient, type CallOptions, type CallResult } from "./http";
export { readSellerTransfers, transferSqlFor, parsePastedTransfer } from "./db";
export { payHeadless, type PayResult, type TestCard } from "./payer";
export * as guards from "./guards";
export * as contract from "./contract";

// Evidence
export { redact, redactString, secrets, SecretRegistry } from "./redact";
export { Trace, verifyChain, readTrace, canonicalJson, type TraceEvent } from "./trace";
export { Journal, newSessionId, type JournalEntry } from "./journal";
export { scanPaths, formatHit, type Hit } from "./scan";
export { writeManifest, readManifest, manifestHash, type Manifest } from "./manifest";
export { verifySession, formatVerify, type VerifyResult } from "./verify";
export { archiveSession, type ArchiveResult } from "./archive";

// Report and paperwork
export { loadEvidence, type Evidence } from "./evidence";
export { publishReport, writeSessionReport, renderSessionBlock, renderBlockHtml, appendToReport } from "./report";
export { acceptance, deriveOutcome, actionItems, goNoGo, confirmBank, pastRetention } from "./paperwork";
export { compareSessions, runCompare } from "./compare";
export { renderPollPlot, renderComparisonPlot, svgToPng } from "./plot";

// Errors and shared types
export * from "./errors";
export type { Anomaly, Mode, Outcome, PollSample, StepResult, StepStatus, TraceRange } from "./types";
