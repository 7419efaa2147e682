/**
 * The report's view of a session, read ONLY from the files the session left on disk (issue 6):
 * `state.jsonl` (journal), `trace.jsonl` (hash chain) and `manifest.json` when archived. Nothing
 * here asks the kernel's memory, so a report written a week later (bank confirmation) says the
 * same as one written by the notebook's last cell.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ReportError, SessionError } from "../errors";
export { BankConfirmError, ReportError, TemplateError, type ReportErrorCode } from "../errors";
import { CLOCK_SKEW_WARN_MS } from "../run/guards";
import { clockSkewMs, skewSeconds } from "../evidence/clock";
import { Journal, latestStepResults, moneyMoved, type JournalEntry } from "../evidence/journal";
import { JOURNAL_FILE, MANIFEST_FILE, TRACE_FILE } from "../evidence/files";
import { manifestHash, readManifest } from "../evidence/manifest";
import { verifyChain, type ChainCheck, type TraceEvent } from "../evidence/chain";
import { STEPS, factsSchema, type StepDef, type StepTable } from "../run/steps";
import type { Anomaly, Mode, PollSample, StepResult } from "../types";
import { repoRoot } from "../paths";

// ------------------------------------------------------------------------------------ model

export const EVIDENCE_RULES = {
  // A step with neither a human wait nor a poll window (the table's poll steps) should take seconds.
  slowStepMs: 60 * 1000, // 60 s
  slowRequestMs: 10 * 1000, // 10 s for one HTTP round trip
  clockSkewMs: CLOCK_SKEW_WARN_MS, // 5 s between our clock and the server's Date header
};

export const NOT_VISIBLE = "not visible to the runbook";

export interface CrossId {
  link: "order" | "payment" | "refund" | "licence" | "seller_transfer" | "webhook events";
  id: string | null;
  source: string;
}

export interface Counters {
  requests: number;
  retries: number;
  http5xx: number;
  networkErrors: number;
  schema: number;
  /** Largest |server Date − trace time| seen, seconds; null without Date headers. */
  maxClockSkewS: number | null;
  /** HTTP 5xx responses inside each step's trace range, index = step. */
  http5xxByStep: number[];
}

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
  /** Money left the operator's card (lib/evidence/journal.ts moneyMoved, the one predicate). */
  moneyMoved: boolean;
  preflight: { ok: boolean; refusals: string[]; warnings: string[] } | null;
  dryRun: { reference: string | null; override: string | null };
  payment: { at: string; last4: string | null; processor: string | null } | null;
  refund: { at: string; refundId: string | null; status: string | null; httpStatus: number | null } | null;
  bank: { date: string; note: string | null; recordedAt: string } | null;
  samples: PollSample[];
  /** Recorded (trace `anomaly` events) and derived (see EVIDENCE_RULES), in trace order. */
  anomalies: Anomaly[];
  counters: Counters;
  trail: CrossId[];
  notes: string[];
  chain: ChainCheck;
  manifest: { sha256: string; retentionUntil: string | null; stale: boolean; invalid: boolean } | null;
}

// ------------------------------------------------------------------------------------ reading

/**
 * The journal through its one reader (lib/evidence/journal.ts): a torn last line is tolerated,
 * an unreadable earlier line is refused rather than silently dropped.
 */
function readJournal(sessionDir: string): readonly JournalEntry[] {
  if (!fs.existsSync(path.join(sessionDir, JOURNAL_FILE))) return [];
  try {
    return Journal.open(sessionDir).all();
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

function readJsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .flatMap((l) => {
      if (!l.trim()) return [];
      try {
        return [JSON.parse(l) as T];
      } catch {
        return []; // a torn line: verifyChain reports it for the trace
      }
    });
}

const str = (v: unknown): string | null => (v === null || v === undefined || v === "" ? null : String(v));
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** A session folder from a path or an id under the archive. */
export function resolveSessionDir(ref: string, archiveDir: string): string {
  for (const dir of [ref, path.join(archiveDir, ref)]) if (fs.existsSync(path.join(dir, JOURNAL_FILE))) return dir;
  throw new ReportError(
    "E2E_REPORT_SESSION",
    `no session ${ref} (no ${JOURNAL_FILE} there or in ${archiveDir}); pass a session folder or an id listed in ${archiveDir}`,
  );
}

/** Session ids in an archive folder, oldest first (ids sort by time). */
export function listSessions(archiveDir: string, mode?: Mode): string[] {
  if (!fs.existsSync(archiveDir)) return [];
  return fs
    .readdirSync(archiveDir)
    .filter((n) => fs.existsSync(path.join(archiveDir, n, JOURNAL_FILE)) && (!mode || n.endsWith(`-${mode}`)))
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
export function loadEvidence(sessionDir: string, opts: { table?: StepTable } = {}): Evidence {
  const table = opts.table ?? STEPS;
  const journal = readJournal(sessionDir);
  const created = journal.find((e) => e.kind === "session_created");
  if (!created)
    throw new ReportError(
      "E2E_REPORT_SESSION",
      `${sessionDir} holds no session journal (${JOURNAL_FILE} without session_created); pass a folder made by \`npm run session\``,
    );
  const last = (kind: JournalEntry["kind"]) => [...journal].reverse().find((e) => e.kind === kind);
  const sessionId = str(created.data.sessionId) ?? path.basename(sessionDir);
  const mode = (str(created.data.mode) ?? sessionId.split("-").pop()) as Mode;

  const steps: Array<StepResult | null> = table.map(() => null);
  for (const r of latestStepResults(journal).values()) {
    const def = table.find((d) => d.id === r.id) ?? (table[r.step]?.id === r.id ? table[r.step] : undefined);
    if (!def) continue; // a step this table does not declare (an older or a test table)
    steps[def.n] = checkedResult(sessionDir, def, r);
  }

  const pf = last("preflight");
  const dryObserved = str((pf?.data.observed as Record<string, unknown> | undefined)?.dry_run);
  const override =
    str(created.data.dry_run_override) ??
    (dryObserved?.startsWith("overridden: ") ? dryObserved.slice("overridden: ".length) : null);
  const pay = last("payment_confirmed");
  const ref = last("refund_created");
  const bank = last("bank_confirmed");

  const traceFile = path.join(sessionDir, TRACE_FILE);
  const events = readJsonLines<TraceEvent>(traceFile);
  const chain = verifyChain(traceFile);
  const manifest = readManifestInfo(sessionDir, chain);
  const counters = count(events, steps, table);
  return {
    sessionId,
    mode,
    dir: sessionDir,
    startedAt: str(created.data.created_at) ?? created.at,
    operator: str((pf?.data.observed as Record<string, unknown> | undefined)?.operator) ?? str(created.data.operator),
    table,
    steps,
    moneyMoved: moneyMoved(journal),
    preflight: pf
      ? {
          ok: pf.data.ok === true,
          refusals: (pf.data.refusals as string[]) ?? [],
          warnings: (pf.data.warnings as string[]) ?? [],
        }
      : null,
    dryRun: {
      reference: override || !dryObserved || ["none", "n/a"].includes(dryObserved) ? null : dryObserved,
      override,
    },
    payment: pay
      ? { at: str(pay.data.at) ?? pay.at, last4: str(pay.data.last4), processor: str(pay.data.processor) }
      : null,
    refund: ref
      ? {
          at: ref.at,
          refundId: str(ref.data.refund_id),
          status: str(ref.data.status),
          httpStatus: num(ref.data.http_status),
        }
      : null,
    bank: bank ? { date: String(bank.data.date), note: str(bank.data.note), recordedAt: bank.at } : null,
    samples: events.filter((e) => e.type === "poll_attempt").map((e) => e.payload as PollSample),
    anomalies: anomalies(events, steps, chain, counters, table),
    counters,
    trail: trail(journal, steps, events, table),
    notes: [
      str(created.data.operator_notes),
      ...events
        .map((e) => e.payload as Record<string, unknown>)
        .filter((p) => p && p.source === "operator" && typeof p.text === "string")
        .map((p) => String(p.text)),
    ].filter((s): s is string => Boolean(s)),
    chain,
    manifest,
  };
}

function readManifestInfo(dir: string, chain: ChainCheck): Evidence["manifest"] {
  if (!fs.existsSync(path.join(dir, MANIFEST_FILE))) return null;
  const sha256 = manifestHash(dir);
  try {
    const m = readManifest(dir);
    // Evidence added after archiving (bank confirmation) makes the manifest stale: re-archive.
    const stale = m.chain_head !== chain.head || m.trace_lines !== chain.lines;
    return { sha256, retentionUntil: m.retention_until, stale, invalid: false };
  } catch {
    return { sha256, retentionUntil: null, stale: true, invalid: true };
  }
}

function stepAt(line: number, steps: Array<StepResult | null>): number | null {
  const s = steps.find((r) => r?.trace && line >= r.trace.from && line <= r.trace.to);
  return s ? s.step : null;
}

function count(events: TraceEvent[], steps: Array<StepResult | null>, table: StepTable): Counters {
  const c: Counters = {
    requests: 0,
    retries: 0,
    http5xx: 0,
    networkErrors: 0,
    schema: 0,
    maxClockSkewS: null,
    http5xxByStep: table.map(() => 0),
  };
  for (const e of events) {
    const p = (e.payload ?? {}) as Record<string, unknown>;
    if (e.type === "request") {
      c.requests++;
      if (Number(p.attempt) > 1) c.retries++;
    } else if (e.type === "response") {
      if (typeof p.error === "string") c.networkErrors++;
      if (Number(p.status) >= 500) {
        c.http5xx++;
        const s = stepAt(e.seq, steps);
        if (s !== null) c.http5xxByStep[s]++;
      }
      const ms = clockSkewMs((p.headers as Record<string, string> | undefined)?.date, Date.parse(e.time));
      if (ms !== null) {
        const skew = skewSeconds(ms);
        if (c.maxClockSkewS === null || Math.abs(skew) > Math.abs(c.maxClockSkewS)) c.maxClockSkewS = skew;
      }
    } else if (e.type === "anomaly" && (p as Partial<Anomaly>).kind === "schema") c.schema++;
  }
  return c;
}

function anomalies(
  events: TraceEvent[],
  steps: Array<StepResult | null>,
  chain: ChainCheck,
  c: Counters,
  table: StepTable,
): Anomaly[] {
  const out: Anomaly[] = [];
  const isPoll = (n: number | null) => n !== null && Boolean(table[n]?.poll);
  for (const e of events) {
    const p = (e.payload ?? {}) as Record<string, unknown>;
    if (e.type === "anomaly") {
      out.push({
        at: str(p.at) ?? e.time,
        step: num(p.step),
        kind: (str(p.kind) ?? "warning") as Anomaly["kind"],
        message: String(p.message ?? ""),
        traceLine: e.seq,
      });
    } else if (e.type === "response") {
      const step = stepAt(e.seq, steps);
      const poll = isPoll(step);
      // Poll 5xx are recorded per attempt by the runbook; elsewhere they are derived here.
      if (Number(p.status) >= 500 && !poll)
        out.push({
          at: e.time,
          step,
          kind: "http_5xx",
          message: `${p.endpoint} answered ${p.status} (attempt ${p.attempt})`,
          traceLine: e.seq,
        });
      if (Number(p.latency_ms) > EVIDENCE_RULES.slowRequestMs)
        out.push({
          at: e.time,
          step,
          kind: "slow_step",
          message: `${p.endpoint} took ${(Number(p.latency_ms) / 1000).toFixed(1)} s (> ${EVIDENCE_RULES.slowRequestMs / 1000} s for one round trip)`,
          traceLine: e.seq,
        });
    }
  }
  for (const r of steps) {
    if (r && !isPoll(r.step) && r.durationMs > EVIDENCE_RULES.slowStepMs) {
      out.push({
        at: r.endedAt,
        step: r.step,
        kind: "slow_step",
        message: `step ${r.step} took ${(r.durationMs / 1000).toFixed(1)} s (> ${EVIDENCE_RULES.slowStepMs / 1000} s for a step without a poll window)`,
        traceLine: r.trace?.to,
      });
    }
  }
  if (
    c.maxClockSkewS !== null &&
    Math.abs(c.maxClockSkewS) * 1000 > EVIDENCE_RULES.clockSkewMs &&
    !out.some((a) => a.kind === "clock_skew")
  ) {
    out.push({
      at: events[events.length - 1]?.time ?? "",
      step: null,
      kind: "clock_skew",
      message: `clock skew up to ${c.maxClockSkewS.toFixed(1)} s between the trace times and the server's Date headers`,
    });
  }
  if (!chain.ok && chain.firstBroken) {
    out.push({
      at: events[events.length - 1]?.time ?? "",
      step: null,
      kind: "warning",
      message: `trace chain broken at line ${chain.firstBroken.line}: ${chain.firstBroken.reason}`,
      traceLine: chain.firstBroken.line,
    });
  }
  return out.sort((a, b) => (a.traceLine ?? Infinity) - (b.traceLine ?? Infinity));
}

function trail(
  journal: readonly JournalEntry[],
  steps: Array<StepResult | null>,
  events: TraceEvent[],
  table: StepTable,
): CrossId[] {
  const order = [...journal].reverse().find((e) => e.kind === "order_created")?.data ?? {};
  const refund = [...journal].reverse().find((e) => e.kind === "refund_created")?.data ?? {};
  const obs = (n: number, k: string) => str(steps[n]?.observed[k]);
  // Which step records which cross-id is declared in the step table (FactDef.link).
  const from = (link: CrossId["link"], fallback: unknown, fbSource: string): [string | null, string] => {
    const def = table.find((d) => Object.values(d.facts).some((f) => f.link === link));
    const k = def ? Object.keys(def.facts).find((key) => def.facts[key].link === link)! : "";
    const v = def ? obs(def.n, k) : null;
    if (def && v) return [v, `step ${def.n} observed \`${k}\``];
    const f = str(fallback);
    if (f) return [f, fbSource];
    if (!def) return [null, "not recorded: no step records it"];
    return [null, `not recorded: step ${def.n} ${steps[def.n] ? steps[def.n]!.status : "did not run"}`];
  };
  const row = (link: CrossId["link"], [id, source]: [string | null, string]): CrossId => ({ link, id, source });
  // Webhooks go from the orchestrator to the backend; only a response that echoes them shows ids.
  const evt = new Map<string, number>();
  for (const e of events)
    if (e.type === "response")
      for (const m of JSON.stringify(e.payload).matchAll(/\bevt_[A-Za-z0-9_]+/g))
        if (!evt.has(m[0])) evt.set(m[0], e.seq);
  return [
    row("order", from("order", order.order_id, "journal `order_created`")),
    row("payment", from("payment", order.payment_id, "journal `order_created`")),
    row("refund", from("refund", refund.refund_id, "journal `refund_created`")),
    row("licence", from("licence", null, "")),
    row("seller_transfer", from("seller_transfer", null, "")),
    evt.size
      ? {
          link: "webhook events",
          id: [...evt.keys()].join(", "),
          source: `response bodies, trace ${[...evt.values()].map((l) => `L${l}`).join(", ")}`,
        }
      : {
          link: "webhook events",
          id: null,
          source: `${NOT_VISIBLE} (the orchestrator posts them to the backend directly)`,
        },
  ];
}
