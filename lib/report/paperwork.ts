/**
 * The paperwork around a session (issue 6 §5): the GO/NO-GO row, post-session housekeeping and
 * archived sessions past their retention date; the bank-statement confirmation recorded days after
 * the run is ./bank.ts. The acceptance boxes and the outcome are lib/report/verdict.ts. Everything is
 * computed from Evidence (lib/report/evidence.ts); nothing here is typed by hand.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { cell } from "./display";
import { inertCodeCell } from "./inert";
import { ReportError, displayDir, listSessions, loadEvidence, type Evidence } from "./evidence";
import { recordedIdentity } from "../evidence/snapshot";
import { oneLine } from "../errors";
import { readManifest } from "../evidence/manifest";
import { MANIFEST_FILE } from "../evidence/files";
import { acceptance, deriveOutcome } from "./verdict";
import { backendText, loopbackProblem } from "../evidence/backend-origin";
import { derivedOutcomeFindings } from "./outcome-check";
import { type SealTrust, type TrustOptions, sealTrust } from "../evidence/seal-trust";

// ------------------------------------------------------------------------------------ GO/NO-GO

export const GO_NO_GO_ROW = "Flux paiement E2E avec vrais fonds";

export interface GoNoGo {
  go: boolean;
  status: "✅ GO" | "🟡 PENDING";
  reason: string;
  /** The live session that earned GO, or the latest live session still open. */
  sessionId: string | null;
  /** That session's seal, as its block's anchor states it (null before it is sealed). */
  anchor: { manifestSha256: string; traceHead: string } | null;
  /** Who vouched for the GO: the allowed signer whose signature over manifest.json verifies (null unless GO). */
  signer: { identity: string; key: string } | null;
}

const anchorOfEv = (ev: Evidence | undefined): GoNoGo["anchor"] =>
  ev?.manifest?.anchor
    ? { manifestSha256: ev.manifest.anchor.manifestSha256, traceHead: ev.manifest.anchor.traceHead }
    : null;

/** A session folder as shown in a fix: relative to the working directory when inside it. */
function shownDir(ev: Evidence): string {
  const rel = path.relative(process.cwd(), ev.dir);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : ev.dir;
}

/**
 * The seal check of one goNoGo call, made once per session: the live gate's check of a staging dry
 * run (lib/evidence/seal-trust.ts), here for a live session — the seal verifies (files unchanged
 * since it, chains intact, what the folder states agrees with the journal and its derived verdict),
 * it and every re-seal are signed by a signer in the committed allowed_signers, and no anchor in the
 * living report disagrees (committing the anchor comes after the row is written, so it is not asked).
 */
type Trusted = (ev: Evidence) => SealTrust;
function trustedBy(o: TrustOptions): Trusted {
  const seen = new Map<string, SealTrust>();
  return (ev) => {
    let t = seen.get(ev.dir);
    if (!t) {
      t = sealTrust(shownDir(ev), {
        ...o,
        mode: "live",
        anchor: "consistent",
        redo: "the session cannot carry a GO; run a new live session",
        judge: derivedOutcomeFindings,
      });
      seen.set(ev.dir, t);
    }
    return t;
  };
}

/**
 * Why a session's seal cannot carry a GO, or null when it can: sealed, over the evidence as it stands
 * now (a bank confirmation added after the seal makes it stale until re-sealed), verified and signed
 * by a committed allowed signer. A GO rests on evidence no one can change afterwards and that a person
 * vouched for, which only the signed seal makes so.
 */
function sealProblem(ev: Evidence, trusted: Trusted): string | null {
  const dir = shownDir(ev);
  if (!ev.manifest) return `not sealed: npm run archive -- ${dir} --sign-key <key>`;
  if (ev.manifest.invalid) return `its manifest.json is unreadable: npm run verify -- ${dir}`;
  if (ev.manifest.stale)
    return `evidence added after its seal: re-seal it (npm run archive -- ${dir} --reseal "<reason>" --sign-key <key>)`;
  const t = trusted(ev);
  return t.ok === false ? t.problem : null;
}

/**
 * A live session that earns GO: its backend not this machine's loopback unless the session was created
 * stating why (`--via-tunnel`), its derived outcome is PASS (so sealed `--incomplete` never is),
 * all 9 boxes ticked (bank included), the money balanced, the trace chain intact, and sealed over
 * that evidence, verified and signed by a committed allowed signer.
 */
const earnsGo = (ev: Evidence, trusted: Trusted): boolean =>
  ev.chain.ok &&
  // A backend on this machine's loopback may be a local one claiming production: only with the
  // operator's statement, journaled at creation (lib/evidence/backend-origin.ts).
  loopbackProblem(ev.backend, "live") === null &&
  deriveOutcome(ev).outcome === "PASS" &&
  acceptance(ev).every((b) => b.ok) &&
  // The money must reconcile too (issue 23): every box ticked over an unbalanced ledger is not a GO.
  ev.reconciliation.balanced &&
  sealProblem(ev, trusted) === null;

/**
 * GO only when a **live** session earns it (`earnsGo`, sealed included) and no later live session that moved money
 * fell short: a later run whose refund stuck is the payment path as it is now, not hidden behind an
 * older GO (it stays PENDING, naming both).
 * @example goNoGo(listSessions(archive, "live").map((id) => loadEvidence(path.join(archive, id))))
 */
export function goNoGo(sessions: Evidence[], o: TrustOptions = {}): GoNoGo {
  const trusted = trustedBy(o);
  const live = sessions.filter((ev) => ev.mode === "live").sort((a, b) => a.sessionId.localeCompare(b.sessionId));
  const full = live.filter((ev) => earnsGo(ev, trusted));
  const best = full[full.length - 1];
  const laterShort = best
    ? live.filter((ev) => ev.sessionId > best.sessionId && ev.moneyMoved && !earnsGo(ev, trusted))
    : [];
  const seal = best && trusted(best);
  if (best && seal?.ok && !laterShort.length)
    return {
      go: true,
      status: "✅ GO",
      reason: `live session ${best.sessionId}: all 9 boxes ticked, bank statement ${best.bank?.date}${best.backend.loopback.length ? ` — backend ${backendText(best.backend)}` : ""}`,
      sessionId: best.sessionId,
      anchor: anchorOfEv(best),
      signer: { identity: seal.signer, key: seal.key },
    };
  // The session PENDING names: the latest live one that moved money and fell short after a GO.
  const latest = laterShort[laterShort.length - 1] ?? live[live.length - 1];
  if (!latest)
    return {
      go: false,
      status: "🟡 PENDING",
      reason: "no live session yet: run a staging dry run, then the live run",
      sessionId: null,
      anchor: null,
      signer: null,
    };
  const open = acceptance(latest)
    .filter((b) => !b.ok)
    .map((b) => `box ${b.n} open (${b.evidence})`);
  if (!latest.chain.ok) open.unshift(`trace chain broken at line ${latest.chain.firstBroken?.line}`);
  if (!latest.reconciliation.balanced) open.unshift(`money not reconciled (${latest.reconciliation.summary})`);
  // Said first: whatever its boxes say, a run on an unexplained loopback backend is not production's.
  const loopback = loopbackProblem(latest.backend, "live");
  if (loopback) open.unshift(`not GO: ${loopback}`);
  const v = deriveOutcome(latest);
  // Every box ticked and balanced, yet not PASS (sealed --incomplete): the outcome says why.
  if (!open.length && v.outcome !== "PASS") open.push(`outcome ${v.outcome} (${v.reason})`);
  // All of that in order, the seal is what is left (said last: before it, it is the usual state).
  const unsealed = open.length ? null : sealProblem(latest, trusted);
  if (unsealed) open.push(unsealed);
  const which = best
    ? `live session ${latest.sessionId}, after ${best.sessionId} earned GO (a later run that moved money and fell short)`
    : `latest live session ${latest.sessionId}`;
  // A loopback backend the operator explained is named here too, as on the GO it may become.
  const via =
    latest.backend.loopback.length && latest.backend.tunnel ? ` — backend ${backendText(latest.backend)}` : "";
  return {
    go: false,
    status: "🟡 PENDING",
    reason: `${which}: ${open.join("; ")}${via}`,
    sessionId: latest.sessionId,
    anchor: anchorOfEv(latest),
    signer: null,
  };
}

/**
 * The decision over every live session of an archive folder (`o`: what the seal check trusts). A
 * session whose journal does not read (its first line edited: no mode; a later line broken) may be a
 * live run that moved money and fell short: it is never left out, it holds GO back, named.
 */
export function goNoGoForArchive(archiveDir: string, o: TrustOptions = {}): GoNoGo {
  const live: Evidence[] = [];
  const unreadable: string[] = [];
  for (const id of listSessions(archiveDir)) {
    const dir = path.join(archiveDir, id);
    const mode = recordedIdentity(dir)?.mode ?? null;
    if (mode !== null && mode !== "live") continue; // staging and sandbox runs do not decide GO
    try {
      const ev = loadEvidence(dir);
      if (ev.mode === "live") live.push(ev);
    } catch (err) {
      // Named by its folder as the report shows it, never this machine's path.
      const why = oneLine(err).split(path.resolve(dir)).join(displayDir(dir)).split(dir).join(displayDir(dir));
      unreadable.push(`${id} (${mode ?? "mode unknown: its session_created line does not read"}: ${why})`);
    }
  }
  const d = goNoGo(live, o);
  if (!unreadable.length) return d;
  return {
    go: false,
    status: "🟡 PENDING",
    reason: `session${unreadable.length > 1 ? "s" : ""} that cannot be read, which may be a live run that moved money: ${unreadable.join("; ")} — restore its journal (your copy, or git checkout) and run npm run report on it; GO waits${d.go ? ` (${d.reason})` : `; ${d.reason}`}`,
    sessionId: d.sessionId,
    anchor: d.go ? null : d.anchor,
    signer: null,
  };
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
  const signer = d.signer ? ` — sealed by ${inertCodeCell(d.signer.identity)} (${inertCodeCell(d.signer.key)})` : "";
  const seal = d.anchor
    ? `${signer} — manifest sha256 \`${d.anchor.manifestSha256}\` · trace head \`${d.anchor.traceHead}\``
    : "";
  cells[at + 2] = ` ${cell(d.reason)}${seal} — ${link} `;
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
