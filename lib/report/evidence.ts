/**
 * The report's view of a session, read ONLY from the files the session left on disk (issue 6):
 * `state.jsonl` (journal), `trace.jsonl` (hash chain) and `manifest.json` when archived. Nothing
 * here asks the kernel's memory, so a report written a week later (bank confirmation) says the
 * same as one written by the notebook's last cell.
 * Over 300 lines: one reader of a session folder for the report, each field validated where it is read.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ReportError, SessionError } from "../errors";
export { BankConfirmError, ReportError, TemplateError, type ReportErrorCode } from "../errors";
import {
  allOf,
  checkedJournal,
  type DataOf,
  lastOf,
  latestStepResults,
  pinnedParameters,
  type JournalEntry,
} from "../evidence/journal";
import {
  SEAL_KINDS,
  type SessionSnapshot,
  readSessionSnapshot,
  recordedIdentity,
  unsealedChain,
} from "../evidence/snapshot";
import {
  moneyMoved,
  moneyOutstanding,
  reconcile,
  refundAttempts,
  refundedSoFarText,
  type Reconciliation,
} from "../run/ledger";
import { JOURNAL_FILE, TRACE_FILE } from "../evidence/files";
import { recordedNotes } from "../evidence/operator-notes";
import { type BackendOrigin, backendOrigin } from "../evidence/backend-origin";
import { anchorOf, type Anchor } from "../evidence/anchor";
import { verifyChain, type ChainCheck, type TraceEvent } from "../evidence/chain";
import { STEPS } from "../run/steps";
import { TIME_TOLERANCE_MS, backendTime } from "../run/backend-time";
import { factsSchema, type StepDef, type StepTable } from "../run/step-model";
import type { Anomaly, FactValue, Mode, PollSample, StepResult } from "../types";
import { repoRoot } from "../paths";
import { anomalies, besideAnomalies, count, trail, type Counters, type CrossId } from "./derived";
import { orchestratorReads, type OrchestratorReads } from "./orchestrator-check";
import { ORCHESTRATOR_ENDPOINTS } from "../run/steps/payment";
export { EVIDENCE_RULES, NOT_VISIBLE, type Counters, type CrossId } from "./derived";

// ------------------------------------------------------------------------------------ model

export interface Evidence {
  sessionId: string;
  mode: Mode;
  dir: string;
  startedAt: string;
  operator: string | null;
  /** The step table the session is read against (STEPS unless a test hands a copy). */
  table: StepTable;
  /** Latest StepResult per step, indexed by step number; null = never ran. Facts validated. */
  steps: Array<StepResult | null>;
  /** Money left the operator's card (lib/run/ledger.ts moneyMoved, the one predicate). */
  moneyMoved: boolean;
  /** Money moved and not all of it came back, by amount (run/ledger.ts moneyOutstanding, the same predicate as the notebook's banner). */
  moneyOutstanding: boolean;
  /** What came back, in the ledger's words ("x of y refunded (z outstanding)"), or null when nothing did. */
  refundedSoFar: string | null;
  /** Each amount per source with a verdict (run/ledger.ts reconcile); the GO/NO-GO row needs it balanced. */
  reconciliation: Reconciliation;
  /**
   * An order was created and no payment is recorded: its pay link was shown, so "no money moved" is
   * claimed only on the report's last look at it (`payment_checked`); null when money moved or there
   * is no order.
   */
  unpaidOrder: { orderId: string; check: { at: string; seen: string | null; error: string | null } | null } | null;
  preflight: { ok: boolean; refusals: string[]; warnings: string[] } | null;
  dryRun: { reference: string | null; override: string | null };
  /** The backend the journal records (lib/evidence/backend-origin.ts): its origin, loopback or not, the tunnel statement. */
  backend: BackendOrigin;
  /** The parameters the last passed pre-flight pinned (issue 22 §4), with its time; null when none did. */
  parameters: { params: Record<string, string>; at: string } | null;
  payment: { at: string; last4: string | null; processor: string | null } | null;
  /** The latest refund attempt: its latest known status, and which attempt it is (2 after a failed refund). */
  refund: {
    /** When this machine journaled the refund's answer. */
    at: string;
    /**
     * The backend's own time for the refund (its `created_at`, ISO with a zone, not later than the
     * answer that carried it), or null without one; what the bank statement's due date counts from.
     * Absent in evidence built by hand.
     */
    backendAt?: string | null;
    refundId: string | null;
    status: string | null;
    httpStatus: number | null;
    attempt: number;
  } | null;
  /** The latest bank confirmation; `refundId` the refund it confirmed (absent in evidence built by hand). */
  bank: { date: string; note: string | null; recordedAt: string; refundId?: string | null } | null;
  /**
   * The orchestrator's processor mode each pre-flight saw, in journal order (see `processorModes`).
   * Absent in evidence built by hand.
   */
  hyperswitchModes?: ProcessorMode[];
  /**
   * A gate's clock a step would have read from a backend time that cannot be true (journal
   * `time_impossible`), in journal order: the verdict is never PASS over one. Absent in evidence built by hand.
   */
  impossibleTimes?: Array<{ step: number | null; what: string; why: string }>;
  /**
   * Sealed against a seal rule on purpose (journal `seal_exception`, lib/host/seal-rules.ts): money
   * left out (`--unrefunded`), an incomplete run (`--incomplete`, with what was incomplete). Absent
   * in evidence built by hand.
   */
  sealedAs?: { unrefunded: string | null; incomplete: { reason: string; what: string[] } | null };
  samples: PollSample[];
  /** Recorded (trace `anomaly` events) and derived (see EVIDENCE_RULES), in trace order. */
  anomalies: Anomaly[];
  /** What the orchestrator's endpoints answered (from the trace); absent in evidence built by hand. */
  orchestratorReads?: OrchestratorReads;
  counters: Counters;
  trail: CrossId[];
  notes: string[];
  chain: ChainCheck;
  manifest: {
    sha256: string;
    retentionUntil: string | null;
    stale: boolean;
    invalid: boolean;
    /** What the living report's block states for this seal (null when stale or invalid). */
    anchor: Anchor | null;
  } | null;
}

/**
 * What one pre-flight recorded of the orchestrator's processor mode: `journaled` (its
 * `hyperswitch_mode`), `fact` (a pre-flight journaled before that field: its `hyperswitch` fact, read
 * only in the exact form the contract's enums make, e.g. "enabled (live)"), or `unknown` (neither:
 * stopped before `/status`, or a fact in any other form), with the fact's words for the record.
 */
export interface ProcessorMode {
  mode: string | null;
  source: "journaled" | "fact" | "unknown";
  fact: string | null;
}

// ------------------------------------------------------------------------------------ reading

/** The `hyperswitch` fact as pre-flight writes it from the contract's enums: "<status> (<mode>)". */
const HS_FACT = /^(?:enabled|degraded|disabled) \((live|sandbox)\)$/;

/** Each pre-flight's processor mode, in journal order (the structured field first, never guessed). */
function processorModes(journal: readonly JournalEntry[]): ProcessorMode[] {
  return allOf(journal, "preflight").map((e) => {
    const fact = textFact(e.data.observed.hyperswitch);
    const m = e.data.hyperswitch_mode;
    if (m !== undefined) return { mode: m, source: m === null ? "unknown" : "journaled", fact };
    const legacy = fact === null ? null : HS_FACT.exec(fact);
    return legacy ? { mode: legacy[1], source: "fact", fact } : { mode: null, source: "unknown", fact };
  });
}

/**
 * The journal through its one reader (lib/evidence/journal.ts): a torn last line is tolerated,
 * an unreadable earlier line is refused rather than silently dropped. Lines added after a seal are
 * the report's to read (the manifest is then stale), so the journal is judged on its own.
 */
function readJournal(snap: SessionSnapshot): readonly JournalEntry[] {
  if (!snap.journal) return [];
  try {
    return checkedJournal(unsealedChain(snap.journal)).entries;
  } catch (err) {
    if (err instanceof SessionError) throw new ReportError("E2E_REPORT_SESSION", err.message);
    throw err;
  }
}

/** A journaled step result whose facts match the step table, or a one-line refusal naming the field. */
function checkedResult(sessionDir: string, def: StepDef, r: StepResult): StepResult {
  const parsed = factsSchema(def).safeParse(r.observed ?? {});
  if (parsed.success) return { ...r, step: def.n, id: def.id, observed: parsed.data };
  const i = parsed.error.issues[0];
  throw new ReportError(
    "E2E_REPORT_SESSION",
    `${path.join(sessionDir, JOURNAL_FILE)}: step ${def.n} (${def.id}) fact \`${i.path.join(".") || "(facts)"}\` is not what the step table declares (${i.message}); do not edit evidence by hand`,
  );
}

/** A refund's latest status, or "not this order's refund" when a source said so (never its "succeeded"). */
function refundStatusOf(journal: readonly JournalEntry[], refundId: string): string | null {
  const a = refundAttempts(journal).find((x) => x.refundId === refundId);
  return a?.foreign ? "not this order's refund" : (a?.status ?? null);
}

function unpaidOrder(journal: readonly JournalEntry[]): Evidence["unpaidOrder"] {
  const order = lastOf(journal, "order_created");
  if (!order || moneyMoved(journal)) return null;
  const orderId = order.data.order_id;
  const c = lastOf(journal, "payment_checked", (e) => e.data.order_id === orderId);
  return {
    orderId,
    check: c ? { at: str(c.data.at) ?? c.at, seen: str(c.data.seen), error: str(c.data.error) } : null,
  };
}

/** Text or null: an empty or absent string is no value. */
const str = (v: string | null | undefined): string | null => (v ? v : null);
/** A fact that is text (pre-flight's `dry_run`, `operator`), else null. */
const textFact = (v: FactValue | undefined): string | null => (typeof v === "string" ? str(v) : null);

/** A session folder from a path or an id under the archive. */
export function resolveSessionDir(ref: string, archiveDir: string): string {
  for (const dir of [ref, path.join(archiveDir, ref)]) if (fs.existsSync(path.join(dir, JOURNAL_FILE))) return dir;
  throw new ReportError(
    "E2E_REPORT_SESSION",
    `no session ${ref} (no ${JOURNAL_FILE} there or in ${archiveDir}); pass a session folder or an id listed in ${archiveDir}`,
  );
}

/**
 * Session folders in an archive folder, oldest first (ids sort by time). With `mode`, the ones
 * whose journal records that mode: the folder's name is no evidence of it.
 */
export function listSessions(archiveDir: string, mode?: Mode): string[] {
  if (!fs.existsSync(archiveDir)) return [];
  return fs
    .readdirSync(archiveDir)
    .filter((n) => fs.existsSync(path.join(archiveDir, n, JOURNAL_FILE)))
    .filter((n) => !mode || recordedIdentity(path.join(archiveDir, n))?.mode === mode)
    .sort();
}

/** A folder as shown in reports: relative to the repo when inside it, never an absolute path. */
export function displayDir(dir: string): string {
  const rel = path.relative(repoRoot(), path.resolve(dir));
  const inside = rel && !rel.startsWith("..") && !path.isAbsolute(rel);
  return (inside ? rel : path.join("…", path.basename(path.dirname(dir)), path.basename(dir)))
    .split(path.sep)
    .join("/");
}

/**
 * Reads a session folder into the report's model.
 * @example const ev = loadEvidence("archive/payment-e2e/20261126T154400Z-live"); ev.steps[5]?.status
 */
export function loadEvidence(session: string | SessionSnapshot, opts: { table?: StepTable } = {}): Evidence {
  const snap = typeof session === "string" ? readSessionSnapshot(session) : session;
  const sessionDir = snap.dir;
  const table = opts.table ?? STEPS;
  const journal = readJournal(snap);
  const created = allOf(journal, "session_created")[0];
  if (!created)
    throw new ReportError(
      "E2E_REPORT_SESSION",
      `${sessionDir} holds no session journal (${JOURNAL_FILE} without session_created); pass a folder made by \`npm run session\``,
    );
  // Typed by the journal's schema: never read from the folder's name.
  const sessionId = created.data.sessionId;
  const mode = created.data.mode;

  const steps: Array<StepResult | null> = table.map(() => null);
  for (const r of latestStepResults(journal).values()) {
    const def = table.find((d) => d.id === r.id);
    // A result the table cannot place is refused, never dropped: the report would otherwise omit it.
    if (!def)
      throw new ReportError(
        "E2E_REPORT_SESSION",
        `${path.join(sessionDir, JOURNAL_FILE)}: step ${r.step} result has id ${JSON.stringify(r.id)}, which the step table does not declare; do not edit evidence by hand`,
      );
    steps[def.n] = checkedResult(sessionDir, def, r);
  }

  const pf = lastOf(journal, "preflight");
  // Pre-flight records the requirement as data (evidence/journal-entries.ts DryRunRef); a journal
  // written before it did has none, and its reference is then unknown rather than read from the
  // words of the `dry_run` fact.
  const dryRef = pf?.data.dry_run;
  const pay = lastOf(journal, "payment_confirmed");
  const ref = lastOf(journal, "refund_created");
  const bank = lastOf(journal, "bank_confirmed");

  const events = snap.trace?.lines ?? [];
  // The trace on its own (lines added after a seal make the manifest stale, not the chain broken).
  const chain = snap.trace ? unsealedChain(snap.trace.chain) : verifyChain(path.join(sessionDir, TRACE_FILE));
  const manifest = manifestInfo(snap, chain);
  const counters = count(events, steps, table);
  return {
    sessionId,
    mode,
    dir: sessionDir,
    startedAt: str(created.data.created_at) ?? created.at,
    operator: textFact(pf?.data.observed.operator) ?? str(created.data.operator),
    table,
    steps,
    moneyMoved: moneyMoved(journal),
    moneyOutstanding: moneyOutstanding(journal),
    refundedSoFar: refundedSoFarText(journal),
    reconciliation: reconcile(journal),
    unpaidOrder: unpaidOrder(journal),
    preflight: pf ? { ok: pf.data.ok, refusals: pf.data.refusals, warnings: pf.data.warnings } : null,
    dryRun: {
      reference: dryRef?.kind === "passed" ? dryRef.session_id : null,
      override: dryRef?.kind === "overridden" ? dryRef.reason : str(created.data.dry_run_override),
    },
    backend: backendOrigin(journal),
    parameters: pinnedParameters(journal),
    payment: pay
      ? { at: str(pay.data.at) ?? pay.at, last4: str(pay.data.last4), processor: str(pay.data.processor) }
      : null,
    refund: ref
      ? {
          at: ref.at,
          backendAt: refundBackendTime(ref.data),
          refundId: ref.data.refund_id,
          status: refundStatusOf(journal, ref.data.refund_id) ?? str(ref.data.status),
          httpStatus: ref.data.http_status,
          attempt: ref.data.attempt ?? 1,
        }
      : null,
    bank: bank
      ? { date: bank.data.date, note: str(bank.data.note), recordedAt: bank.at, refundId: bank.data.refund_id }
      : null,
    hyperswitchModes: processorModes(journal),
    impossibleTimes: allOf(journal, "time_impossible").map((e) => ({
      step: e.data.step,
      what: e.data.what,
      why: e.data.why,
    })),
    sealedAs: sealedAs(journal),
    samples: samplesByRun(events),
    anomalies: [
      ...besideAnomalies(created.at, created.data.new_anyway_beside),
      ...anomalies(events, steps, chain, counters, table),
    ],
    orchestratorReads: orchestratorReads(events, ORCHESTRATOR_ENDPOINTS),
    counters,
    trail: trail(journal, steps, events, table),
    notes: recordedNotes(journal, events),
    chain,
    manifest,
  };
}

/**
 * The refund's own time as the backend gave it, when it can be true: an ISO time with a zone, not
 * later than when its answer was received (beyond the clock-skew tolerance), which step 9 would have
 * recorded as impossible. Null otherwise: the journal's time then stands in.
 */
function refundBackendTime(d: DataOf<"refund_created">): string | null {
  const t = backendTime(d.created_at, "the refund's created_at");
  if (!t) return null;
  const received = d.received_at ? Date.parse(d.received_at) : Number.NaN;
  return Number.isFinite(received) && Date.parse(t.at) > received + TIME_TOLERANCE_MS ? null : t.at;
}

function sealedAs(journal: readonly JournalEntry[]): NonNullable<Evidence["sealedAs"]> {
  const rule = (r: DataOf<"seal_exception">["rule"]) => lastOf(journal, "seal_exception", (e) => e.data.rule === r);
  const u = rule("unrefunded");
  const i = rule("incomplete");
  return {
    unrefunded: u ? u.data.reason : null,
    incomplete: i ? { reason: i.data.reason, what: i.data.what ?? [] } : null,
  };
}

function manifestInfo(snap: SessionSnapshot, chain: ChainCheck): Evidence["manifest"] {
  if (!snap.sealed || snap.manifestSha256 === null) return null;
  const sha256 = snap.manifestSha256;
  const m = snap.manifest;
  if (!m) return { sha256, retentionUntil: null, stale: true, invalid: true, anchor: null };
  // Evidence added after archiving (bank confirmation) makes the manifest stale: re-archive. The
  // journal too (a manifest@2 seals its head): a line written into it alone is no fresh seal either.
  const journalMoved = Boolean(snap.journal?.firstBroken && SEAL_KINDS.has(snap.journal.firstBroken.kind));
  const stale = m.chain_head !== chain.head || m.trace_lines !== chain.lines || journalMoved;
  return {
    sha256,
    retentionUntil: m.retention_until,
    stale,
    invalid: false,
    anchor: stale ? null : anchorOf(m, sha256),
  };
}

/**
 * The poll attempts in trace order, each tagged with the run of its step it belongs to (a step run
 * again after Kernel ■, or in a restarted kernel, starts a new poll window at t = 0).
 */
function samplesByRun(events: readonly TraceEvent[]): PollSample[] {
  const runs = new Map<number, number>();
  const out: PollSample[] = [];
  for (const e of events) {
    const p = e.payload as { step?: number } | null;
    if (e.type === "step_start" && typeof p?.step === "number") runs.set(p.step, (runs.get(p.step) ?? 0) + 1);
    if (e.type === "poll_attempt") {
      const s = e.payload as PollSample;
      out.push({ ...s, run: runs.get(s.step) ?? 1 });
    }
  }
  return out;
}
