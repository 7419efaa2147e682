/**
 * The paperwork around a session (issue 6 §4–5): the seed's acceptance gate and the derived
 * outcome, action items, the GO/NO-GO row, post-session housekeeping, archived sessions past
 * their retention date, and the bank-statement confirmation recorded days after the run.
 * Everything is computed from Evidence (lib/report/evidence.ts); nothing here is typed by hand.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { cell, traceText } from "./display";
import { BankConfirmError, ReportError, listSessions, loadEvidence, type Evidence } from "./evidence";
import { readManifest } from "../evidence/manifest";
import { Journal } from "../evidence/journal";
import { MANIFEST_FILE, TRACE_FILE } from "../evidence/files";
import { STEPS } from "../run/steps";
import { Trace } from "../evidence/trace";
import type { Outcome } from "../types";

export const GATE = {
  withinS: 5 * 60, // the seed's "within 5 minutes" for completed and refunded
  bankBusinessDays: 7, // the seed's "5-7 business days" for the bank statement
};

export interface Box {
  n: number;
  /** Short name for reasons: "completed ≤ 5 min". */
  short: string;
  label: string;
  ok: boolean;
  evidence: string;
}

export interface Verdict {
  outcome: Outcome;
  reason: string;
}

// ------------------------------------------------------------------------------------ verdict

const passed = (ev: Evidence, n: number) => ev.steps[n]?.status === "PASS";
const obs = (ev: Evidence, n: number, k: string) => ev.steps[n]?.observed[k] ?? null;
const seconds = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** "step 5 PASS (trace L3–L9)", "step 5 FAIL: deadline…", "step 5 did not run". */
function stepNote(ev: Evidence, n: number): string {
  const r = ev.steps[n];
  if (!r) return `step ${n} did not run`;
  return r.status === "PASS"
    ? `step ${n} PASS (${traceText(r.trace)})`
    : `step ${n} ${r.status}: ${r.reason ?? "no reason recorded"}`;
}

/** `YYYY-MM-DD` plus n business days (Mon–Fri), UTC. */
export function addBusinessDays(isoDate: string, n: number): string {
  const d = new Date(`${isoDate.slice(0, 10)}T00:00:00Z`);
  for (let left = n; left > 0; ) {
    d.setUTCDate(d.getUTCDate() + 1);
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) left--;
  }
  return d.toISOString().slice(0, 10);
}

export function bankDueDate(ev: Evidence): string | null {
  return ev.refund ? addBusinessDays(ev.refund.at, GATE.bankBusinessDays) : null;
}

const SHORT = [
  "pre-flight",
  "end-to-end",
  "completed ≤ 5 min",
  "licence visible",
  "transfer id",
  "refund 2xx",
  "refunded ≤ 5 min",
  "licence gone",
  "bank statement",
];

/** The seed's 9 acceptance checkboxes, each ticked only from recorded evidence. */
export function acceptance(ev: Evidence): Box[] {
  const within = (n: number, key: string) => {
    const s = seconds(obs(ev, n, key));
    const ok = passed(ev, n) && s !== null && s <= GATE.withinS;
    return {
      ok,
      evidence:
        s === null
          ? stepNote(ev, n)
          : `${key} ${s} s ${s <= GATE.withinS ? "≤" : ">"} ${GATE.withinS} s; ${stepNote(ev, n)}`,
    };
  };
  const notPassed = [1, 2, 3, 4, 5, 6, 7, 8, 9].filter((n) => !passed(ev, n));
  const licence = obs(ev, 6, "license_id");
  const transfer = obs(ev, 7, "stripe_transfer_id");
  const http = ev.refund?.httpStatus ?? seconds(obs(ev, 8, "http"));
  const gone = String(obs(ev, 9, "license disappeared from /mine") ?? "");
  const due = bankDueDate(ev);
  const boxes: Array<Omit<Box, "n" | "short">> = [
    {
      label: `Pre-flight returns 0 against the ${ev.mode} target.`,
      ok: passed(ev, 0) && ev.preflight?.ok !== false,
      evidence: stepNote(ev, 0),
    },
    {
      label: "Walkthrough runs end-to-end with the operator's own card.",
      ok: notPassed.length === 0,
      evidence: notPassed.length
        ? `not PASS: ${notPassed.map((n) => `step ${n} ${ev.steps[n]?.status ?? "did not run"}`).join(", ")}`
        : "steps 1–9 PASS",
    },
    { label: "Order reaches `status=completed` within 5 minutes.", ...within(5, "seconds-to-completed") },
    {
      label: "License is attributed AND visible in `/licenses/mine`.",
      ok: passed(ev, 6) && Boolean(licence),
      evidence: licence ? `licence ${licence}; ${stepNote(ev, 6)}` : stepNote(ev, 6),
    },
    {
      label: "`seller_transfers` row exists with non-NULL `stripe_transfer_id`.",
      ok: passed(ev, 7) && Boolean(transfer),
      evidence: transfer ? `${transfer}; ${stepNote(ev, 7)}` : stepNote(ev, 7),
    },
    {
      label: "Refund POST returns 2xx.",
      ok: passed(ev, 8) && http !== null && http >= 200 && http < 300,
      evidence: http !== null ? `HTTP ${http}; ${stepNote(ev, 8)}` : stepNote(ev, 8),
    },
    { label: "Order reaches `status=refunded` within 5 minutes.", ...within(9, "seconds-to-refunded") },
    {
      label: "License disappears from `/licenses/mine` after refund.",
      ok: passed(ev, 9) && gone.startsWith("yes"),
      evidence: stepNote(ev, 9),
    },
    {
      label: "Funds returned to the operator's card (verify on the bank statement within 5-7 business days).",
      ok: ev.bank !== null,
      evidence: ev.bank
        ? `bank statement dated ${ev.bank.date}, recorded ${ev.bank.recordedAt.slice(0, 10)} by \`npm run confirm-bank\``
        : !ev.refund
          ? "open: no refund recorded"
          : ev.mode !== "live"
            ? `open: a ${ev.mode} run moves no real money`
            : `pending: confirm by ${due} with \`npm run confirm-bank -- ${ev.sessionId} --date YYYY-MM-DD\``,
    },
  ];
  return boxes.map((b, i) => ({ n: i + 1, short: SHORT[i], ...b }));
}

/** Money left the card: the payment was confirmed (journal) or step 4 passed. */
export const moneyMoved = (ev: Evidence) => ev.payment !== null || passed(ev, 4);

/**
 * The session's outcome, derived from the acceptance boxes (docs/PAYMENT_E2E_LIVE_REPORT.md,
 * "How the outcome is derived"). The required boxes are 1–8, plus 9 (bank) for a live run.
 * PASS    every required box is ticked;
 * FAIL    nothing ran; or a step did not pass before money moved (no payment confirmed); or money
 *         moved but none of the payment checks (steps 5, 6, 7) passed: nothing was verified;
 * PARTIAL money moved and at least one payment check passed, but a required box is open (failed or
 *         skipped step, too slow, no refund, refund unconfirmed, bank statement pending).
 */
export function deriveOutcome(ev: Evidence): Verdict {
  if (!ev.steps.some((r) => r !== null))
    return { outcome: "FAIL", reason: "nothing ran: no step result in the journal" };
  if (!moneyMoved(ev)) {
    const first = STEPS.find((d) => !passed(ev, d.n))!;
    const r = ev.steps[first.n];
    return {
      outcome: "FAIL",
      reason: `step ${first.n} ${r ? r.status : "did not run"}${r?.reason ? ` (${r.reason})` : ""} before money moved`,
    };
  }
  const boxes = acceptance(ev);
  const open = boxes.slice(0, ev.mode === "live" ? 9 : 8).filter((b) => !b.ok);
  if (!open.length)
    return {
      outcome: "PASS",
      reason: ev.bank
        ? `every box ticked; the bank statement confirmed the refund on ${ev.bank.date}`
        : "every box ticked: pre-flight and steps 1–9 PASS within the limits",
    };
  // Names every open box, then the evidence of the first specific one (box 2 only lists steps).
  const first = open.find((b) => b.n !== 2) ?? open[0];
  const list = `${open.map((b) => b.short).join(", ")} — ${first.evidence}`;
  if (![5, 6, 7].some((n) => passed(ev, n)))
    return { outcome: "FAIL", reason: `money moved but nothing was verified; open: ${list}` };
  return { outcome: "PARTIAL", reason: `money moved; open: ${list}` };
}

/** What the operator must do next, derived from the evidence (empty when nothing is open). */
export function actionItems(ev: Evidence): string[] {
  const out: string[] = [];
  for (const r of ev.steps) {
    if (r?.status !== "FAIL") continue;
    out.push(
      r.step === 0
        ? `Fix the pre-flight refusal, then start a fresh session: ${r.reason ?? "see the pre-flight row"}`
        : `Step ${r.step} (${r.name}) failed: ${r.reason ?? "no reason"} — file an issue for the marketplace squad.`,
    );
  }
  const order = ev.trail.find((t) => t.link === "order")?.id ?? "the order";
  if (moneyMoved(ev) && !ev.refund)
    out.push(
      `**Refund now**: money moved and was not refunded — run step 8 with REFUND = true (it resumes), or refund ${order} from the Hyperswitch dashboard.`,
    );
  if (ev.refund && !passed(ev, 9))
    out.push(
      `Refund not confirmed for ${order}: re-run step 9 (it resumes) and check the refund at the orchestrator; escalate to the marketplace squad if it stays unrefunded.`,
    );
  const late = seconds(obs(ev, 9, "seconds-to-refunded"));
  const oddities =
    ev.anomalies.filter((a) => a.step === 8 || a.step === 9).length + (late !== null && late > GATE.withinS ? 1 : 0);
  if (ev.refund && oddities)
    out.push(
      `The refund flow surfaced ${oddities} oddit${oddities === 1 ? "y" : "ies"} (delay, retry, error): file an issue and assign it to the marketplace squad.`,
    );
  if (ev.mode === "live" && ev.refund && !ev.bank)
    out.push(
      `Confirm the bank statement by ${bankDueDate(ev)}: \`npm run confirm-bank -- ${ev.sessionId} --date YYYY-MM-DD\`.`,
    );
  if (!ev.chain.ok)
    out.push(
      `Trace chain broken at line ${ev.chain.firstBroken?.line}: do not sign off on this session; investigate with \`npm run verify -- ${ev.sessionId}\`.`,
    );
  if (ev.manifest?.stale)
    out.push(
      "Evidence was added after archiving (e.g. the bank confirmation): re-run the archive step so manifest.json covers it.",
    );
  if (ev.mode === "live" && ev.dryRun.override)
    out.push(
      `The staging dry-run requirement was overridden ("${ev.dryRun.override}"): justify it at the GO/NO-GO review.`,
    );
  return out;
}

// ------------------------------------------------------------------------------------ GO/NO-GO

export const GO_NO_GO_ROW = "Flux paiement E2E avec vrais fonds";

export interface GoNoGo {
  go: boolean;
  status: "✅ GO" | "🟡 PENDING";
  reason: string;
  /** The live session that earned GO, or the latest live session still open. */
  sessionId: string | null;
}

/**
 * GO only when a **live** session has all 9 boxes ticked (bank included) and an intact trace chain.
 * @example goNoGo(listSessions(archive, "live").map((id) => loadEvidence(path.join(archive, id))))
 */
export function goNoGo(sessions: Evidence[]): GoNoGo {
  const live = sessions.filter((ev) => ev.mode === "live").sort((a, b) => a.sessionId.localeCompare(b.sessionId));
  const full = live.filter((ev) => ev.chain.ok && acceptance(ev).every((b) => b.ok));
  const best = full[full.length - 1];
  if (best)
    return {
      go: true,
      status: "✅ GO",
      reason: `live session ${best.sessionId}: all 9 boxes ticked, bank statement ${best.bank?.date}`,
      sessionId: best.sessionId,
    };
  const latest = live[live.length - 1];
  if (!latest)
    return {
      go: false,
      status: "🟡 PENDING",
      reason: "no live session yet: run a staging dry run, then the live run",
      sessionId: null,
    };
  const open = acceptance(latest)
    .filter((b) => !b.ok)
    .map((b) => `box ${b.n} open (${b.evidence})`);
  if (!latest.chain.ok) open.unshift(`trace chain broken at line ${latest.chain.firstBroken?.line}`);
  return {
    go: false,
    status: "🟡 PENDING",
    reason: `latest live session ${latest.sessionId}: ${open.join("; ")}`,
    sessionId: latest.sessionId,
  };
}

/** The decision over every live session of an archive folder. */
export function goNoGoForArchive(archiveDir: string): GoNoGo {
  return goNoGo(listSessions(archiveDir, "live").map((id) => loadEvidence(path.join(archiveDir, id))));
}

/**
 * Rewrites only the Status and Evidence cells of the GO/NO-GO row; every other byte stays.
 * `reportLink` is the docs report relative to the checklist (e.g. "PAYMENT_E2E_LIVE_REPORT.md").
 */
export function updateGoNoGo(checklistPath: string, d: GoNoGo, reportLink: string): { changed: boolean; row: string } {
  if (!fs.existsSync(checklistPath))
    throw new ReportError(
      "E2E_CHECKLIST",
      `no GO/NO-GO checklist at ${checklistPath}; restore docs/GO_NO_GO_CHECKLIST.md from git`,
    );
  const text = fs.readFileSync(checklistPath, "utf8");
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.trimStart().startsWith("|") && l.includes(GO_NO_GO_ROW));
  if (i < 0)
    throw new ReportError(
      "E2E_CHECKLIST",
      `${checklistPath} has no table row "${GO_NO_GO_ROW}"; add it back (| ${GO_NO_GO_ROW} | 🟡 PENDING | … |)`,
    );
  const cells = lines[i].split(/(?<!\\)\|/);
  const at = cells.findIndex((c) => c.trim() === GO_NO_GO_ROW);
  if (at < 0 || cells.length < at + 3)
    throw new ReportError(
      "E2E_CHECKLIST",
      `${checklistPath}: the row "${GO_NO_GO_ROW}" needs Status and Evidence cells after its name`,
    );
  const link = d.go ? `[session block](${reportLink}#session-${d.sessionId})` : `[report](${reportLink})`;
  cells[at + 1] = ` ${d.status} `;
  cells[at + 2] = ` ${cell(d.reason)} — ${link} `;
  const row = cells.join("|");
  if (row === lines[i]) return { changed: false, row };
  lines[i] = row;
  fs.writeFileSync(checklistPath, lines.join("\n"));
  return { changed: true, row };
}

// ------------------------------------------------------------------------------------ housekeeping

export interface RetentionItem {
  sessionId: string;
  retentionUntil: string;
}

/** Archived sessions whose manifest's `retention_until` is before `today`. Listed, never deleted. */
export function pastRetention(archiveDir: string, today = new Date()): RetentionItem[] {
  const day = today.toISOString().slice(0, 10);
  return listSessions(archiveDir).flatMap((id) => {
    const dir = path.join(archiveDir, id);
    if (!fs.existsSync(path.join(dir, MANIFEST_FILE))) return [];
    try {
      const until = readManifest(dir).retention_until;
      return until < day ? [{ sessionId: id, retentionUntil: until }] : [];
    } catch {
      return []; // an invalid manifest is verify's finding, not a retention question
    }
  });
}

/** The seed's post-session housekeeping, as reminders for this session and archive. */
export function housekeeping(ev: Evidence, o: { archiveDir: string; today?: Date; goNoGo?: GoNoGo }): string[] {
  const out: string[] = [];
  if (!ev.manifest)
    out.push(
      "Archive the session (notebook, HTML, trace, journal, report, plots and manifest.json with a 1-year retention date).",
    );
  if (ev.mode !== "sandbox")
    out.push(
      `Commit the session folder \`${ev.sessionId}\`: staging and live sessions are evidence (sandbox rehearsals stay local).`,
    );
  if (o.goNoGo) out.push(`GO/NO-GO row "${GO_NO_GO_ROW}": ${o.goNoGo.status} — ${o.goNoGo.reason}.`);
  if (ev.mode !== "sandbox")
    out.push(
      "If OPERATOR_PASSWORD was passed on a command line, rotate it and remove that line from your shell history: `history | grep OPERATOR_PASSWORD`, then `history -d <line>`.",
    );
  for (const r of pastRetention(o.archiveDir, o.today))
    out.push(
      `\`${r.sessionId}\` is past its retention date (${r.retentionUntil}): review it with accounting before removing anything — this tool lists, it never deletes.`,
    );
  return out;
}

// ------------------------------------------------------------------------------------ bank

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Checks a bank-statement date against the session; throws BankConfirmError naming the fix. */
export function validateBankDate(ev: Evidence, date: string, today = new Date()): void {
  const id = ev.sessionId;
  const parsed = new Date(`${date}T00:00:00Z`);
  if (!DAY.test(date) || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== date) {
    throw new BankConfirmError(
      "E2E_BANK_DATE",
      id,
      `invalid date "${date}"; pass --date YYYY-MM-DD, the day the refund shows on the bank statement`,
    );
  }
  if (!ev.refund)
    throw new BankConfirmError(
      "E2E_BANK_NO_REFUND",
      id,
      "no refund recorded in this session, so there is nothing for the bank to confirm; run step 8 (refund) first",
    );
  const todayDay = today.toISOString().slice(0, 10);
  if (date > todayDay)
    throw new BankConfirmError(
      "E2E_BANK_DATE",
      id,
      `date ${date} is in the future (today is ${todayDay} UTC); pass the statement date once the refund has appeared`,
    );
  const refundDay = ev.refund.at.slice(0, 10);
  if (date < refundDay)
    throw new BankConfirmError(
      "E2E_BANK_DATE",
      id,
      `date ${date} is before the refund (created ${refundDay}); pass a statement date on or after ${refundDay}`,
    );
}

/**
 * Records the bank confirmation as evidence: a `bank_confirmed` journal entry and an
 * `operator_ack` trace event (the chain grows by one line). Re-render the report afterwards.
 * @example confirmBank("archive/payment-e2e/20261126T154400Z-live", { date: "2026-12-03" })
 */
export function confirmBank(
  sessionDir: string,
  o: { date: string; note?: string; today?: Date },
): { sessionId: string; date: string; traceLine: number } {
  const ev = loadEvidence(sessionDir);
  validateBankDate(ev, o.date, o.today);
  const note = o.note?.trim() || null;
  Journal.open(sessionDir).append("bank_confirmed", {
    date: o.date,
    note,
    refund_id: ev.refund?.refundId ?? null,
    confirmed_by: "operator",
  });
  const trace = Trace.open(path.join(sessionDir, TRACE_FILE));
  const e = trace.append("operator_ack", {
    event: "bank statement confirmed the refund",
    date: o.date,
    note,
    refund_id: ev.refund?.refundId ?? null,
  });
  return { sessionId: ev.sessionId, date: o.date, traceLine: e.seq };
}
