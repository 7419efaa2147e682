/**
 * The session block (issue 6 §2–4, §7): verdict computed from evidence, filled into
 * `templates/session-block.md`, written to the session folder and spliced into the docs report
 * between invisible markers. Earlier blocks are never touched; the same session replaces only its
 * own block, keeping whatever the operator typed in its notes region. Over 300 lines: the
 * block's view (where evidence text is made inert, lib/report/inert.ts) and the files it goes to.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Marked } from "marked";
import { comparisonForLive, type Comparison } from "./compare";
import { MANIFEST_FILE, REPORT_FILE } from "../evidence/files";
import { type SessionSnapshot, readSessionSnapshot } from "../evidence/snapshot";
import { describeAnchor, formatAnchor, sessionMarkers } from "../evidence/anchor";
import { SEAL_NAMESPACE, type SignatureCheck, checkSignature } from "../evidence/signature";
import type { TrustOptions } from "../evidence/seal-trust";
import { chainBreakText } from "../evidence/finding-text";
import { ICON, TABLE_HEAD, cell, observedText, stepRow, traceText } from "./display";
import { inertCode, inertCodeCell, inertSentence, inertText, safeHref } from "./inert";
import { ReportError, displayDir, loadEvidence, type Evidence } from "./evidence";
import { acceptance, actionItems, bankDoesNotHold, bankDueText, deriveOutcome } from "./verdict";
import { GO_NO_GO_ROW, goNoGoForArchive, housekeeping, updateGoNoGo, type GoNoGo } from "./paperwork";
import { MACHINE_CLOCK, clock, machineClock } from "../run/steps";
import { PINNED_PARAMS } from "../config";
import type { StepTable } from "../run/step-model";
import { fillTemplate } from "./template";
import { backendText } from "../evidence/backend-origin";
import { formatMoney } from "../money";
import type { Mode, Outcome, StepResult } from "../types";

export const MODE_LABEL: Record<Mode, string> = {
  staging: "staging dry-run",
  live: "prod live run",
  sandbox: "sandbox rehearsal",
};
const OUTCOME_ICON: Record<Outcome, string> = { PASS: "✅", FAIL: "❌", PARTIAL: "🟡" };

// ------------------------------------------------------------------------------------ rendering

function notRunRow(n: number, table: StepTable): string {
  return `| ${cell(`${n}. ${table[n].name}`)} | ⬜ NOT RUN | — | — |`;
}

/** The refund-confirming step's row says what the bank confirmed, not what was pending when it ran. */
function shown(ev: Evidence, r: StepResult): StepResult {
  // A confirmation that does not stand for the latest, settled refund is not shown as one (box 9 says why).
  if (!ev.bank || bankDoesNotHold(ev) || !("funds_returned" in (ev.table[r.step]?.facts ?? {}))) return r;
  return { ...r, observed: { ...r.observed, funds_returned: `bank statement ${ev.bank.date} ✓` } };
}

/** A session id as written into markers, anchors and code spans: letters, digits, `_` and `-` only. */
const plainId = (id: string) => id.replace(/[^\w-]/g, "_");

/** An action item as Markdown: its leading `**Verb**:` is the runbook's own, the rest is text. */
function actionMarkdown(item: string): string {
  const m = /^\*\*([\w ]{1,40})\*\*: ([\s\S]*)$/.exec(item);
  return m ? `**${m[1]}**: ${inertSentence(m[2])}` : inertSentence(item);
}

/**
 * Who sealed the session, for the Integrity list's signer line (lib/evidence/signer-line.ts parses
 * it back): only beside the anchor (a fresh seal), and only when the signature was checked.
 */
function sealedBy(ev: Evidence, seal: SignatureCheck | null): string | null {
  if (!ev.manifest?.anchor || !seal) return null;
  if (seal.state === "good")
    return `${inertCode(seal.signer)} with ${inertCode(seal.key)} — the signature on manifest.json, by a signer in the allowed signers; checked by \`npm run verify\``;
  if (seal.state === "unsigned")
    return ev.mode === "sandbox"
      ? "unsigned (a sandbox seal may be)"
      : `unsigned — a ${ev.mode} seal counts only when an allowed signer signs it: ${inertCode(`npm run archive -- ${displayDir(ev.dir)} --sign-key <key>`)}`;
  // No path or key material from the check's words: npm run verify says why.
  return `no allowed signer — the signature does not count (${seal.code}): run \`npm run verify -- ${plainId(displayDir(ev.dir))}\``;
}

function sessionView(ev: Evidence, comparison: Comparison | null, seal: SignatureCheck | null = null): object {
  const v = deriveOutcome(ev);
  const gate = ev.table.find((d) => d.gate);
  const pf = gate ? ev.steps[gate.n] : null;
  const env = pf
    ? [pf.observed.environment, pf.observed.hyperswitch && `Hyperswitch ${pf.observed.hyperswitch}`]
        .filter(Boolean)
        .join(", ")
    : "";
  const c = ev.counters;
  // Markdown composed here: every backend, operator or evidence text in it goes through inertText.
  const reasons = ev.steps
    .filter((r): r is StepResult => Boolean(r && !ev.table[r.step]?.gate && r.reason))
    .map((r) => `**Step ${r.step} ${ICON[r.status]} ${r.status}** : ${inertText(r.reason ?? "")}`);
  const id = plainId(ev.sessionId);
  return {
    sessionId: id,
    anchor: `session-${id}`,
    heading: `${ev.startedAt.slice(0, 16)}Z (${MACHINE_CLOCK})`,
    label: MODE_LABEL[ev.mode],
    mode: ev.mode,
    outcome: v.outcome,
    outcomeIcon: OUTCOME_ICON[v.outcome],
    outcomeReason: v.reason,
    operator: ev.operator ?? "—",
    environment: env || "not recorded (pre-flight did not run)",
    // The origin the journal records, loopback said so (a local backend can claim production).
    backend: backendText(ev.backend, ev.mode),
    evidenceDir: inertCode(`${displayDir(ev.dir)}/`),
    preflight: {
      status: pf ? `${ICON[pf.status]} ${pf.status}` : "⬜ NOT RUN",
      observed: pf ? observedText(pf, ev.table) : "—",
      trace: pf ? traceText(pf.trace) : "no trace",
      refusals: ev.preflight?.refusals ?? [],
      warnings: ev.preflight?.warnings ?? [],
    },
    dryRun: ev.dryRun.override
      ? `requirement overridden by the operator: "${inertText(ev.dryRun.override)}"`
      : ev.dryRun.reference
        ? `passed staging dry run ${inertCode(ev.dryRun.reference)}`
        : null,
    parameters: ev.parameters
      ? `${[
          ...PINNED_PARAMS,
          ...Object.keys(ev.parameters.params).filter((k) => !(PINNED_PARAMS as readonly string[]).includes(k)),
        ]
          .filter((k) => k in ev.parameters!.params)
          .map((k) => `${k} ${inertCode(ev.parameters!.params[k] ?? "")}`)
          .join(
            " · ",
          )} (pinned by the pre-flight of ${machineClock(ev.parameters.at)}; a change since is refused until pre-flight runs again, and listed under anomalies)`
      : null,
    tableHead: TABLE_HEAD,
    rows: ev.table
      .filter((d) => !d.gate)
      .map((d) => ({
        row: ev.steps[d.n] ? stepRow(shown(ev, ev.steps[d.n]!), ev.table) : notRunRow(d.n, ev.table),
      })),
    hasReasons: reasons.length > 0,
    reasons,
    trail: ev.trail.map((t) => ({
      link: cell(t.link),
      // A table cell: GFM splits cells at `|` before code spans are read (inertCodeCell says how).
      id: t.id ? inertCodeCell(t.id) : "—",
      source: t.source, // composed from the step table's fact keys
    })),
    reconciliation: reconciliationView(ev),
    anomalies: ev.anomalies.map(
      (a) =>
        `${inertCode(a.at ? clock(a.at) : "—")} · ${a.step === null ? "session" : `step ${a.step}`} · ${inertText(a.kind)} · ${inertText(a.message)}${a.traceLine ? ` (trace L${a.traceLine})` : ""}`,
    ),
    counters: `requests ${c.requests} · retries ${c.retries} · HTTP 5xx ${c.http5xx} · network errors ${c.networkErrors} · schema warnings ${c.schema} · max clock skew ${c.maxClockSkewS === null ? "n/a" : `${c.maxClockSkewS.toFixed(1)} s`} · poll attempts ${ev.samples.length}`,
    recordedNotes: ev.notes,
    actions: actionItems(ev).map(actionMarkdown),
    boxes: acceptance(ev).map((b) => ({ mark: b.ok ? "x" : " ", label: b.label, evidence: inertSentence(b.evidence) })),
    comparison: comparison && {
      stagingId: plainId(comparison.stagingId),
      liveId: plainId(comparison.liveId),
      table: comparison.table,
      plot: inertCode(`${comparison.plot}.png`),
    },
    chain: {
      head: ev.chain.head,
      status: ev.chain.ok
        ? `${ev.chain.lines} lines, chain verified ✓ (anchor this hash in the ticket)`
        : `BROKEN at line ${ev.chain.firstBroken?.line}: ${ev.chain.firstBroken ? chainBreakText(ev.chain.firstBroken) : undefined} (${ev.chain.lines} valid lines)`,
    },
    manifest: !ev.manifest
      ? "pending archive (manifest.json is written when the session is archived)"
      : `${inertCode(ev.manifest.sha256)} (SHA-256 of manifest.json)${ev.manifest.invalid ? " — not valid JSON: run verify" : ev.manifest.stale ? ' — stale: evidence was added after archiving; seal it again with `npm run archive -- <session-dir> --reseal "<reason>"`' : ""}${ev.manifest.retentionUntil ? `, retention until ${inertText(ev.manifest.retentionUntil)}` : ""}`,
    // Only a fresh seal is anchored: the block written into the folder before sealing has none.
    anchorLine: ev.manifest?.anchor ? describeAnchor(ev.manifest.anchor) : null,
    // The one machine-readable anchor (issue 24 §3), written as is: the tool's own markup.
    anchorComment: ev.manifest?.anchor ? formatAnchor(ev.manifest.anchor) : null,
    sealedBy: sealedBy(ev, seal),
    bank: ev.bank
      ? `statement dated ${ev.bank.date}${ev.bank.note ? ` — ${ev.bank.note}` : ""}`
      : ev.mode === "live" && ev.refund
        ? `pending (due by ${bankDueText(ev)})`
        : "none",
  };
}

/** The money reconciliation table's rows: each amount per source, and the ledger's verdict. */
function reconciliationView(ev: Evidence): object {
  const r = ev.reconciliation;
  const val = (v: { amount: number; currency: string; ref: string } | null) =>
    v ? cell(`${formatMoney(v.amount, v.currency)}${v.ref ? ` (${v.ref})` : ""}`) : "—";
  return {
    rows: r.rows.map((x) => ({
      what: x.what,
      marketplace: val(x.values["marketplace API"]),
      orchestrator: val(x.values.orchestrator),
      database: val(x.values.database),
      verdict: cell(x.ok ? (x.verdict === "balanced" ? "✅ balanced" : x.verdict) : `❌ ${x.verdict}`),
    })),
    summary: `${r.balanced ? "✅" : "❌"} ${r.summary}`,
  };
}

/**
 * The session block (Markdown) from evidence; for a live run, pass the dry-run comparison.
 * @example renderSessionBlock(loadEvidence(dir))
 */
export function renderSessionBlock(
  ev: Evidence,
  opts: { comparison?: Comparison | null; seal?: SignatureCheck | null } = {},
): string {
  return fillTemplate("session-block.md", sessionView(ev, opts.comparison ?? null, opts.seal ?? null));
}

/** The signer list beside the living report (docs/allowed_signers beside docs/PAYMENT_E2E_LIVE_REPORT.md). */
export const signersBeside = (docsReport: string) => path.join(path.dirname(docsReport), "allowed_signers");

/** The seal's signature checked against `allowedSigners`, for a session with a fresh seal; else null. */
function sealSignature(ev: Evidence, allowedSigners: string): SignatureCheck | null {
  return ev.manifest?.anchor ? checkSignature(path.join(ev.dir, MANIFEST_FILE), allowedSigners, SEAL_NAMESPACE) : null;
}

// The only HTML the block itself writes: the anchor (split by marked into open and close) and <sub>.
const ALLOWED_HTML = /^(<sub>|<\/sub>|<a id="[\w-]+">|<\/a>|<a id="[\w-]+"><\/a>)\s*$/;
const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const htmlMarked = new Marked({
  gfm: true,
  // Values come from a remote backend: raw HTML is shown as text, markers are dropped.
  renderer: {
    html: ({ text }) => (text.trim().startsWith("<!--") ? "" : ALLOWED_HTML.test(text) ? text : escapeHtml(text)),
    // Links only to the web, anchors and files; images never load from elsewhere (issue 14).
    link({ href, text, tokens }) {
      const shown = this.parser.parseInline(tokens);
      if (safeHref(href))
        return `<a href="${escapeHtml(href).replace(/"/g, "&quot;")}" rel="noopener noreferrer nofollow">${shown}</a>`;
      // An address GFM linked by itself (an e-mail) is shown as text; a written link says it was removed.
      return href.endsWith(`:${text}`) ? shown : `${shown} (link removed: not a web address)`;
    },
    image: ({ href, text }) =>
      safeHref(href) && !/^https?:/i.test(href)
        ? `<img src="${escapeHtml(href).replace(/"/g, "&quot;")}" alt="${escapeHtml(text)}">`
        : `[image not loaded: ${escapeHtml(text || "no description")}]`,
  },
});

/** The block as HTML for the notebook's rich view (the Markdown stays the untrusted-viewer form). */
export function renderBlockHtml(md: string): string {
  return htmlMarked.parse(md, { async: false }) as string;
}

// ------------------------------------------------------------------------------------ files

/** Where the notebook and the CLIs write by default, relative to the repo root (the working directory). */
export const REPORT_DEFAULTS = {
  docsReport: "docs/PAYMENT_E2E_LIVE_REPORT.md",
  checklist: "docs/GO_NO_GO_CHECKLIST.md",
  archiveDir: "archive/payment-e2e",
};

/** The docs report's session region; blocks go just before `end`, in the order sessions are written. */
export const DOCS_MARKERS = { start: "<!-- sessions:start -->", end: "<!-- sessions:end -->" };
const openMarker = (id: string) => sessionMarkers(id).open;
const closeMarker = (id: string) => sessionMarkers(id).close;
const escRe = (s: string) => s.replace(/[^\w-]/g, "\\$&");
const notesRe = (id: string) => new RegExp(`(<!-- notes:${escRe(id)} -->\n)([\\s\\S]*?)(<!-- /notes:${escRe(id)} -->)`);

/** [start, end) of a session's block including its markers and trailing newline, or null. */
function blockSpan(text: string, id: string, file: string): [number, number] | null {
  const s = text.indexOf(openMarker(id));
  if (s < 0) return null;
  const e = text.indexOf(closeMarker(id), s);
  if (e < 0)
    throw new ReportError(
      "E2E_REPORT_MARKERS",
      `${file} has ${openMarker(id)} without ${closeMarker(id)}; restore the closing marker from git before writing`,
    );
  const end = e + closeMarker(id).length;
  return [s, text[end] === "\n" ? end + 1 : end];
}

/** Carries what the operator typed in the old block's notes region into the new block. */
function keepNotes(oldBlock: string, block: string, id: string): string {
  const old = notesRe(id).exec(oldBlock);
  return old ? block.replace(notesRe(id), (_m, a: string, _b: string, c: string) => a + old[2] + c) : block;
}

/** Write-then-rename, so a crash never leaves a half-written report. */
function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export function docsHasSession(docsReportPath: string, sessionId: string): boolean {
  return fs.existsSync(docsReportPath) && fs.readFileSync(docsReportPath, "utf8").includes(openMarker(sessionId));
}

/** The initial docs report, from `templates/report.md`. */
export function renderReportSkeleton(): string {
  return fillTemplate("report.md", {
    markers: DOCS_MARKERS,
    archiveDir: REPORT_DEFAULTS.archiveDir,
    goNoGoRow: GO_NO_GO_ROW,
  });
}

/**
 * Adds (or replaces) one session's block in the docs report, creating the report from the template
 * when missing. Bytes outside the session's own block are never changed.
 * @example appendToReport("docs/PAYMENT_E2E_LIVE_REPORT.md", loadEvidence(dir))
 */
export function appendToReport(
  docsReportPath: string,
  ev: Evidence,
  opts: { comparison?: Comparison | null; allowedSigners?: string } = {},
): { path: string; action: "created" | "appended" | "replaced" } {
  const seal = sealSignature(ev, opts.allowedSigners ?? signersBeside(docsReportPath));
  const block = renderSessionBlock(ev, { comparison: opts.comparison, seal });
  const exists = fs.existsSync(docsReportPath);
  let text = exists ? fs.readFileSync(docsReportPath, "utf8") : renderReportSkeleton();
  const span = blockSpan(text, ev.sessionId, docsReportPath);
  let action: "created" | "appended" | "replaced";
  if (span) {
    text = text.slice(0, span[0]) + keepNotes(text.slice(span[0], span[1]), block, ev.sessionId) + text.slice(span[1]);
    action = "replaced";
  } else {
    const at = text.lastIndexOf(DOCS_MARKERS.end);
    if (at < 0)
      throw new ReportError(
        "E2E_REPORT_MARKERS",
        `${docsReportPath} has no ${DOCS_MARKERS.end} marker; restore it (after the last session block) from git`,
      );
    text = `${text.slice(0, at)}${block}\n${text.slice(at)}`;
    action = exists ? "appended" : "created";
  }
  writeAtomic(docsReportPath, text);
  return { path: docsReportPath, action };
}

export interface SessionReport {
  markdown: string;
  outcome: Outcome;
  reason: string;
  path: string;
  /** False when the session folder is sealed (manifest.json present): it was left untouched. */
  written: boolean;
  comparison: Comparison | null;
  evidence: Evidence;
}

/**
 * Renders the session's block from its folder and writes `<session>/report.md`, unless the folder
 * is sealed: a folder with manifest.json is never written to (its block in the docs report carries
 * the new render; evidence added since is covered by `npm run archive -- <dir> --reseal "<reason>"`,
 * which passes `sealing` to write the block it is about to seal). A live session gets the comparison
 * with the dry run its pre-flight recorded (plot files under `<archive>/comparisons/`).
 * @example const { markdown, outcome } = writeSessionReport("archive/payment-e2e/20261126T154400Z-live");
 */
export function writeSessionReport(session: string | SessionSnapshot, o: { sealing?: boolean } = {}): SessionReport {
  const snap = typeof session === "string" ? readSessionSnapshot(session) : session;
  const sessionDir = snap.dir;
  const ev = loadEvidence(snap);
  const sealed = snap.sealed && !o.sealing;
  const comparison = ev.mode === "live" ? comparisonForLive(ev) : null;
  const file = path.join(sessionDir, REPORT_FILE);
  const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
  const markdown = keepNotes(old ?? "", renderSessionBlock(ev, { comparison }), ev.sessionId);
  if (!sealed && markdown !== old) writeAtomic(file, markdown);
  const v = deriveOutcome(ev);
  return { markdown, outcome: v.outcome, reason: v.reason, path: file, written: !sealed, comparison, evidence: ev };
}

export interface Published {
  session: SessionReport;
  docs: { path: string; action: "created" | "appended" | "replaced" } | null;
  goNoGo: GoNoGo | null;
  housekeeping: string[];
}

/**
 * The notebook's last cell and `npm run report`: session report.md, the docs block (staging and
 * live always; sandbox only with `toDocs` or when already there), the GO/NO-GO row, reminders.
 */
export function publishReport(
  session: string | SessionSnapshot,
  o: { docsReport?: string; checklist?: string | null; toDocs?: boolean; today?: Date; allowedSigners?: string } = {},
): Published {
  const docsReport = o.docsReport ?? REPORT_DEFAULTS.docsReport;
  // Who may seal: the signer list beside the living report, committed with it (the GO row requires it committed).
  const trust: TrustOptions = { reportFile: docsReport, allowedSigners: o.allowedSigners ?? signersBeside(docsReport) };
  const written = writeSessionReport(session);
  const ev = written.evidence;
  const archiveDir = path.dirname(path.resolve(ev.dir));
  const toDocs = ev.mode !== "sandbox" || Boolean(o.toDocs) || docsHasSession(docsReport, ev.sessionId);
  const docs = toDocs
    ? appendToReport(docsReport, ev, { comparison: written.comparison, allowedSigners: trust.allowedSigners })
    : null;
  const checklist = o.checklist === undefined ? REPORT_DEFAULTS.checklist : o.checklist;
  let decision: GoNoGo | null = null;
  if (docs && checklist) {
    decision = goNoGoForArchive(archiveDir, trust);
    updateGoNoGo(checklist, decision, path.relative(path.dirname(checklist), docsReport).split(path.sep).join("/"));
  }
  return {
    session: written,
    docs,
    goNoGo: decision,
    housekeeping: housekeeping(ev, { archiveDir, today: o.today, goNoGo: decision ?? undefined }),
  };
}

export { loadEvidence };
