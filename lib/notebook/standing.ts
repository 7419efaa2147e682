/**
 * Banners computed from the journal (issue 22 §5). When the notebook cannot open its session (a MODE
 * edit, a second kernel, the parameters cell re-run without the injected one), what it says about the
 * money comes from the session's journal, never from the fact that this cell sent nothing: once an
 * order or a payment is recorded no banner says no money moved, and the advice resolves the session
 * it is in (re-run the injected cell, set MODE back, resume in the other kernel, refund), never "start
 * a fresh session".
 */
import { inertText } from "../report/inert";
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULTS, type Params } from "../config";
import { ConfigError, SessionError } from "../errors";
import { JOURNAL_FILE } from "../evidence/files";
import { checkedJournal, firstOf, lastOf, readJournalFile, sessionDir } from "../evidence/journal";
import { moneyMoved, moneyOutstanding, refundedSoFarText } from "../run/ledger";
import { STEPS, refundStepNo } from "../run/steps";

/** What a session's journal says about the money. */
export interface Standing {
  sessionId: string;
  mode: string;
  orderId: string | null;
  /** Money moved (payment confirmed, or paid but its confirmation refused / uncertain). */
  moved: boolean;
  /** Moved and no refund has succeeded. */
  outstanding: boolean;
  /** What came back, in the ledger's words ("x of y refunded (z outstanding)"), or null when nothing did. */
  refundedSoFar: string | null;
  /**
   * The journal's first broken line (an edit, a corruption; a torn last line is not broken), or null:
   * what follows it is not the record, so the lines before it cannot say that no money moved.
   */
  brokenAt?: number | null;
}

/** The session this kernel last opened: a later open that fails still knows which journal to read. */
let lastOpened: string | null = null;

export function rememberOpened(dir: string): void {
  lastOpened = dir;
}

const SESSION_ID_SHAPE = /^\d{8}T\d{6}Z(?:-[0-9a-f]{4})?-(sandbox|staging|live)$/;

/** The standing of the session these parameters name, else of the one this kernel last opened; null when neither has a journal. */
export function standingFor(params: Params): Standing | null {
  const id = typeof params.SESSION_ID === "string" ? params.SESSION_ID.trim() : "";
  const dirs = [
    SESSION_ID_SHAPE.test(id) ? sessionDir(params.ARCHIVE_DIR || DEFAULTS.archiveDir, id) : null,
    lastOpened,
  ];
  for (const dir of dirs) {
    if (!dir || !fs.existsSync(path.join(dir, JOURNAL_FILE))) continue;
    const read = readJournalFile(path.join(dir, JOURNAL_FILE));
    const entries = read.entries;
    let brokenAt: number | null = null;
    try {
      checkedJournal(read);
    } catch {
      brokenAt = read.firstBroken?.line ?? null;
    }
    const created = firstOf(entries, "session_created");
    if (!created) continue;
    const order = lastOf(entries, "order_created");
    return {
      sessionId: created.data.sessionId,
      mode: created.data.mode,
      orderId: order ? order.data.order_id : null,
      moved: moneyMoved(entries),
      outstanding: moneyOutstanding(entries),
      refundedSoFar: refundedSoFarText(entries),
      brokenAt,
    };
  }
  return null;
}

/** How to get back into the session, by why it did not open. */
function resumeAdvice(err: unknown, s: Standing): string {
  const id = inertText(s.sessionId);
  if (err instanceof ConfigError && err.variable === "SESSION_ID" && /another mode/.test(err.message))
    return `set MODE = "${inertText(s.mode)}" in the parameters cell (the mode session ${id} was created for) and re-run it and this cell`;
  if (err instanceof ConfigError && err.variable === "SESSION_ID")
    return `re-run the injected-parameters cell (the one \`npm run session\` put under the parameters cell; Run All from the top runs it) so SESSION_ID is ${id} again, then this cell`;
  if (err instanceof SessionError && /another kernel/.test(err.message))
    return "resume it in the kernel that holds it, or shut that kernel down and re-run this cell";
  return `fix the parameter above and re-run this cell to resume session ${id}`;
}

/**
 * The lines under a "cannot start" / "not started" banner: the reason, then what the journal says
 * about the money and how to resolve it.
 * @example notStartedLines("SESSION_ID: missing; …", err, standing) // [reason, "", "Money moved in session …", …]
 */
export function notStartedLines(reason: string, err: unknown, s: Standing | null): string[] {
  // Once the session has an order, SESSION_ID's own fix ("create a session …") would abandon it: dropped.
  if (s?.orderId && err instanceof ConfigError && err.variable === "SESSION_ID") reason = reason.split("; ")[0];
  if (!s)
    return [
      reason,
      "",
      "This cell sent nothing. If this notebook ran before, its session is not known to this kernel: re-run the injected-parameters cell (or reopen the notebook with `npm run session`, which resumes it) rather than starting a fresh session.",
    ];
  const advice = resumeAdvice(err, s);
  const id = inertText(s.sessionId);
  // A broken journal says nothing past its break: never "nothing was charged" or "a refund succeeded" from its first lines.
  if (s.brokenAt)
    return [
      reason,
      "",
      `**The journal of session ${id} is broken at line ${s.brokenAt}**: what follows that line is not the record, so it cannot say what happened to the money${s.moved ? " (a payment is recorded before the break: money moved)" : ""}. Until it is restored, money may have moved${s.orderId ? ` for order ${inertText(s.orderId)}` : ""}: check it at the orchestrator (Hyperswitch dashboard) and refund it there if it was paid. Restore the journal (from your copy, or \`git checkout\` for a committed session), then ${advice}. Do not start a fresh session.`,
    ];
  if (s.outstanding)
    return [
      reason,
      "",
      `**Money moved in session ${id} ${s.refundedSoFar ? `and not all of it came back** (order ${inertText(s.orderId ?? "?")}; ${s.refundedSoFar})` : `and has not been refunded** (order ${inertText(s.orderId ?? "?")})`}. Resume this session: ${advice}; then run the refund (${refundStepNo(STEPS)}) from this notebook.`,
      "Do not start a fresh session: it would leave this payment unrefunded.",
    ];
  if (s.moved)
    return [
      reason,
      "",
      `Money moved in session ${id} (order ${inertText(s.orderId ?? "?")}) and a refund succeeded. To finish its record: ${advice}.`,
    ];
  if (s.orderId)
    return [
      reason,
      "",
      `Session ${id} created order ${inertText(s.orderId)}; no payment is recorded, but its pay link may have been used — if it was paid, money moved. Resume this session to check it: ${advice}.`,
    ];
  return [reason, "", `Session ${id} has no order: nothing was charged. To go on with it: ${advice}.`];
}
