/**
 * The runbook library's public surface. Notebook cells, CLIs, tests and benchmarks import from
 * here (the notebook also reaches `./lib/notebook` directly, which is the same surface's UI part).
 */

// Running a session
export { Runbook, type RunbookHooks } from "./run/runbook";
export { NotebookUi, openNotebook, type TslabLike } from "./notebook";
export { Session, type StepOutcome, type Observed } from "./run/session";
export { prepareSession, type Prepared } from "./host/prepare";
export { parseConfig, DEFAULTS, type Config, type Params } from "./config";
export { runPreflight, chooseProduct, type PreflightReport } from "./run/preflight";
export { STEPS, stepDef, stepById, pollSteps, blockedBy } from "./run/steps";
export { defineSteps, factsSchema, type StepDef, type StepTable, type FactDef, type BoxDef } from "./run/step-model";
export { formatMoney, formatAmount, currencyExponent, type Money } from "./money";
export { pollUntil, nextDelayMs, type PollOutcome } from "./run/poll";
export { ApiClient, type CallOptions, type CallResult } from "./clients/http";
export { readSellerTransfers, transferSqlFor, parsePastedTransfer } from "./clients/db";
export { payHeadless, type PayResult, type TestCard } from "./clients/payer";
export * as guards from "./run/guards";
export * as contract from "./contract";

// Evidence
export { redact, redactString } from "./evidence/redact";
export { secrets, SecretRegistry } from "./evidence/secrets";
export { Trace } from "./evidence/trace";
export { verifyChain, readTrace, type TraceEvent } from "./evidence/chain";
export { canonicalJson } from "./evidence/canonical";
export { Journal, newSessionId, type JournalEntry } from "./evidence/journal";
export { scanPaths, formatHit, type Hit } from "./evidence/scan";
export { writeManifest, readManifest, manifestHash, type Manifest } from "./evidence/manifest";
export { verifySession, formatVerify, type VerifyResult } from "./evidence/verify";
export { archiveSession, type ArchiveResult } from "./host/archive";
export { applySealRules, type SealRuleOptions } from "./host/seal-rules";
export { outputsAgreement, readKernelCopy, restoreOutputs, type OutputsAgreement } from "./evidence/outputs";

// Report and paperwork
export { loadEvidence, type Evidence } from "./report/evidence";
export {
  publishReport,
  writeSessionReport,
  renderSessionBlock,
  renderBlockHtml,
  appendToReport,
} from "./report/report";
export { acceptance, deriveOutcome, actionItems } from "./report/verdict";
export { goNoGo, confirmBank, pastRetention } from "./report/paperwork";
export { compareSessions, runCompare } from "./report/compare";
export { renderPollPlot, renderComparisonPlot, svgToPng } from "./plot";

// Errors and shared types
export * from "./errors";
export type { Anomaly, Mode, Outcome, PollSample, StepResult, StepStatus, TraceRange } from "./types";
