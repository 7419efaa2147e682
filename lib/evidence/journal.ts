/**
 * The session's durable, append-only state journal (`state.jsonl`). Every state change is written
 * (and fsync'd) BEFORE it is acted on, so a killed kernel or a re-run cell resumes instead of
 * creating a second order or refund. Values are redacted before they are written.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SessionError } from "../errors";
import { JOURNAL_FILE } from "./files";
import { redact } from "./redact";
import type { Mode, StepResult } from "../types";

export type JournalKind =
  | "session_created"
  | "preflight"
  | "product_selected"
  | "order_intent"
  | "order_created"
  | "payment_confirmed"
  | "payment_uncertain"
  | "transfer_pasted"
  | "refund_intent"
  | "refund_created"
  | "refund_status"
  | "step_result"
  | "archived"
  | "bank_confirmed";

export interface JournalEntry {
  seq: number;
  at: string;
  kind: JournalKind;
  data: Record<string, unknown>;
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** `20261126T154400Z-live`: sortable, filesystem-safe, and names the mode. */
export function newSessionId(mode: Mode, at: Date = new Date()): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${mode}`;
}

export function sessionDir(archiveDir: string, sessionId: string): string {
  return path.join(archiveDir, sessionId);
}

export class Journal {
  readonly file: string;
  private entries: JournalEntry[];

  private constructor(file: string, entries: JournalEntry[]) {
    this.file = file;
    this.entries = entries;
  }

  /** Opens an existing session's journal. Refuses a folder that was never created by `create`. */
  static open(dir: string): Journal {
    const file = path.join(dir, JOURNAL_FILE);
    if (!fs.existsSync(file)) {
      throw new SessionError(
        `no session journal at ${file}; create the session with \`npm run session -- --mode <mode>\` first`,
      );
    }
    const entries: JournalEntry[] = [];
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch {
        // A torn last line (killed mid-write) is tolerated; anything earlier is corruption.
        if (i < lines.length - 2)
          throw new SessionError(`journal ${file} line ${i + 1} is corrupt; do not edit evidence by hand`);
      }
    });
    return new Journal(file, entries);
  }

  /** Creates a fresh session folder and journal. Starting a fresh session is always explicit. */
  static create(dir: string, data: { sessionId: string; mode: Mode; [k: string]: unknown }): Journal {
    if (fs.existsSync(path.join(dir, JOURNAL_FILE))) {
      throw new SessionError(`session ${data.sessionId} already exists; re-use it (resume) or create a new one`);
    }
    fs.mkdirSync(dir, { recursive: true });
    const j = new Journal(path.join(dir, JOURNAL_FILE), []);
    j.append("session_created", data);
    return j;
  }

  append(kind: JournalKind, data: Record<string, unknown>): JournalEntry {
    const entry: JournalEntry = { seq: this.entries.length + 1, at: nowIso(), kind, data: redact(data) };
    const fd = fs.openSync(this.file, "a");
    try {
      fs.writeSync(fd, `${JSON.stringify(entry)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.entries.push(entry);
    return entry;
  }

  /** The latest entry of a kind (optionally matching a predicate). */
  last(kind: JournalKind, where?: (e: JournalEntry) => boolean): JournalEntry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e.kind === kind && (!where || where(e))) return e;
    }
    return undefined;
  }

  all(): readonly JournalEntry[] {
    return this.entries;
  }
}

// ------------------------------------------------------------------------------------ readings
// The one place each of these is read from a journal: the runbook, the guards and the report
// all call them, so they cannot disagree.

/** The latest result of each step, by step number (a re-run replaces the earlier result). */
export function latestStepResults(entries: readonly JournalEntry[]): Map<number, StepResult> {
  const m = new Map<number, StepResult>();
  for (const e of entries) if (e.kind === "step_result") m.set(Number(e.data.step), e.data as unknown as StepResult);
  return m;
}

/**
 * Money left the operator's card, or may have: the payment was confirmed (journaled before step 4
 * passes), or the orchestrator put it in a state only an operator can settle (`payment_uncertain`,
 * e.g. `conflicted`): the record must never say no money moved when it may have.
 */
export function moneyMoved(entries: readonly JournalEntry[]): boolean {
  return entries.some((e) => e.kind === "payment_confirmed" || e.kind === "payment_uncertain");
}

/** A refund was created for this session's order. */
export function refundRequested(entries: readonly JournalEntry[]): boolean {
  return entries.some((e) => e.kind === "refund_created");
}

/** One refund attempt: its intent (key), the refund the backend created, and its latest known status. */
export interface RefundAttempt {
  attempt: number;
  key: string | null;
  refundId: string | null;
  /** The latest status recorded for it (POST answer, orchestrator, step 9), or null before the POST answered. */
  status: string | null;
  /** Where that status came from ("POST answer", "orchestrator", "step 9"). */
  source: string | null;
  createdAt: string | null;
}

/**
 * The session's refund attempts, oldest first. Attempt 1 is the session's first refund; a failed
 * refund lets step 8 create attempt 2 with a new Idempotency-Key (`<session>:refund:2`). Entries
 * written before attempts were numbered count as attempt 1.
 */
export function refundAttempts(entries: readonly JournalEntry[]): RefundAttempt[] {
  const out: RefundAttempt[] = [];
  const of = (n: number) => {
    let a = out.find((x) => x.attempt === n);
    if (!a) {
      a = { attempt: n, key: null, refundId: null, status: null, source: null, createdAt: null };
      out.push(a);
    }
    return a;
  };
  for (const e of entries) {
    const n = typeof e.data.attempt === "number" ? e.data.attempt : 1;
    if (e.kind === "refund_intent") of(n).key = e.data.idempotency_key == null ? null : String(e.data.idempotency_key);
    else if (e.kind === "refund_created") {
      const a = of(n);
      a.refundId = String(e.data.refund_id);
      a.status = e.data.status == null ? null : String(e.data.status);
      a.source = "POST answer";
      a.createdAt = e.at;
    } else if (e.kind === "refund_status") {
      const a = out.find((x) => x.refundId === String(e.data.refund_id));
      if (a) {
        a.status = String(e.data.status);
        a.source = e.data.source == null ? null : String(e.data.source);
      }
    }
  }
  return out.sort((a, b) => a.attempt - b.attempt);
}

/**
 * A refund has SUCCEEDED, on evidence: the orchestrator (or the POST answer) said `succeeded`, or
 * the step that confirms the refund (id `refunded`) passed. Requested is not returned.
 */
export function refundSucceeded(entries: readonly JournalEntry[]): boolean {
  if (refundAttempts(entries).some((a) => a.status === "succeeded")) return true;
  for (const r of latestStepResults(entries).values()) if (r.id === "refunded" && r.status === "PASS") return true;
  return false;
}

/** Money left the operator's card and no refund has succeeded yet: the refund must stay in sight. */
export function moneyOutstanding(entries: readonly JournalEntry[]): boolean {
  return moneyMoved(entries) && !refundSucceeded(entries);
}
