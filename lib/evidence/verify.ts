/**
 * Over 300 lines, not split: the seal checks and their words share one findings list and one fix.
 *
 * Rechecks an archived session against its manifest (issue 5 §4, issue 13): every file's SHA-256
 * and size, files missing or added, the trace's and the journal's chains against the recorded heads
 * and line counts, and the session's identity (folder name, manifest, journal and trace agree on
 * the session id and the mode).
 * A mismatch is said in words (issue 11): "the notebook was saved after sealing", "evidence was
 * appended to the trace after sealing", with the fix. `sealState` is what the archive step asks
 * before sealing again. The identity check is ./identity.ts.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  JOURNAL_FILE,
  MANIFEST_FILE,
  OUTPUTS_FILE,
  POLL_PLOT,
  REPORT_FILE,
  SESSION_HTML,
  SESSION_NOTEBOOK,
  TRACE_FILE,
  isIgnoredFile,
} from "./files";
import { MANIFEST_SCHEMA_V1, type Manifest, listSessionFiles, sha256File } from "./manifest";
import { type ChainCheck, type TraceEvent, sealedLinesHold } from "./chain";
import { chainBreakText } from "./finding-text";
import { type JournalEntry, type JournalRead, latestStepResults } from "./journal";
import { type SessionSnapshot, readSessionSnapshot } from "./snapshot";
import { outputsAgreement } from "./outputs";
import { htmlAgreement } from "./html-agreement";
import { identityFindings, leftoverIdFindings } from "./identity";
import { resealFindings } from "./reseal";
import { type FindingCode, chainCode } from "./finding-codes";
import { statedOutcomeFindings } from "./outcome-stated";
import { notesFindings } from "./operator-notes";
import { backendOrigin, backendText } from "./backend-origin";

export type FindingLevel = "ok" | "warning" | "error";

export interface VerifyFinding {
  level: FindingLevel;
  /** File (relative to the session dir), with `:line` for a trace break. */
  subject: string;
  message: string;
  /** Stable code both verifiers print (lib/evidence/finding-codes.ts), set on errors and some warnings. */
  code?: FindingCode;
  /** What a caller decides on besides level and code (never the message's wording): the anchor is committed. */
  kind?: "anchor_committed";
}

export interface VerifyResult {
  ok: boolean;
  sessionDir: string;
  manifest: Manifest | null;
  chain: ChainCheck | null;
  /** The journal as read against the manifest's journal head (null when absent). */
  journal: JournalRead | null;
  findings: VerifyFinding[];
  /** What changed since the seal, in words (empty when nothing did). */
  changes: SealChange[];
  /** The one thing to do about a failed check, or null. */
  fix: string | null;
  /** The trace's or journal's sealed lines no longer verify (edited, cut, rewritten): restore, never re-seal. */
  brokenChain: boolean;
}

// ------------------------------------------------------------------------------ changes in words

export interface SealChange {
  /** Relative to the session dir. */
  path: string;
  /** edited: rewritten · appended: the sealed bytes are intact and more follow · deleted · added: not in the manifest. */
  kind: "edited" | "appended" | "deleted" | "added";
  /** E.g. "the notebook was saved after sealing: sha256 differs from the manifest (…)". */
  words: string;
}

/** What a change to each session file means, in the auditor's words (the path is said beside it). */
function changeWords(rel: string, kind: SealChange["kind"]): string {
  if (kind === "appended")
    return rel === TRACE_FILE
      ? "evidence was appended to the trace after sealing"
      : rel === JOURNAL_FILE
        ? "evidence was appended to the journal after sealing"
        : "appended to after sealing";
  const named: Record<string, string> = {
    [SESSION_NOTEBOOK]: "the notebook was saved after sealing",
    [SESSION_HTML]: "the HTML export was rewritten after sealing",
    [REPORT_FILE]: "the report block was rewritten after sealing",
    [TRACE_FILE]: "the trace was edited after sealing",
    [JOURNAL_FILE]: "the journal was edited after sealing",
    [`${POLL_PLOT}.png`]: "the plot was redrawn after sealing",
    [`${POLL_PLOT}.svg`]: "the plot was redrawn after sealing",
  };
  return named[rel] ?? "changed after sealing";
}

const lineCount = (b: Buffer) => b.toString("utf8").split("\n").filter(Boolean).length;

/** Whether the first `bytes` bytes of `file` still hash to `sha256` (the file only grew). */
function sealedPrefixIntact(file: string, bytes: number, sha256: string): boolean {
  const buf = fs.readFileSync(file);
  return buf.length > bytes && crypto.createHash("sha256").update(buf.subarray(0, bytes)).digest("hex") === sha256;
}

/**
 * Every difference between a sealed folder and its manifest, in words: listed files changed,
 * appended to or deleted, and files added since (editor and checkpoint files never count).
 * Example: changesSinceSeal(dir, readManifest(dir))[0]?.words // "the notebook was saved after sealing: …"
 */
export function changesSinceSeal(
  sessionDir: string,
  manifest: Manifest,
  files: readonly string[] = listSessionFiles(sessionDir),
): SealChange[] {
  const out: SealChange[] = [];
  const listed = new Set<string>();
  const sealed = manifest.created_at;
  for (const f of manifest.files) {
    if (listed.has(f.path) || isIgnoredFile(f.path)) continue;
    listed.add(f.path);
    const abs = path.join(sessionDir, ...f.path.split("/"));
    if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) {
      out.push({
        path: f.path,
        kind: "deleted",
        words: `missing (listed in the manifest): deleted or moved after the seal of ${sealed}`,
      });
      continue;
    }
    const st = fs.statSync(abs);
    if (st.size === f.bytes && sha256File(abs) === f.sha256) continue;
    const modified = `modified ${st.mtime.toISOString()}, sealed ${sealed}`;
    // Only the append-only logs are read as appended to; any other file grew because it was rewritten.
    if (f.path.endsWith(".jsonl") && sealedPrefixIntact(abs, f.bytes, f.sha256)) {
      const added = fs.readFileSync(abs).subarray(f.bytes);
      const what = `${lineCount(added)} line(s)`;
      out.push({
        path: f.path,
        kind: "appended",
        words: `${changeWords(f.path, "appended")}: ${what} added after the sealed ${f.bytes} bytes, which are intact (${modified})`,
      });
    } else {
      out.push({
        path: f.path,
        kind: "edited",
        words: `${changeWords(f.path, "edited")}: sha256 differs from the manifest (${f.bytes} -> ${st.size} bytes; ${modified})`,
      });
    }
  }
  for (const rel of files)
    if (!listed.has(rel) && !manifest.files.some((f) => f.path === rel))
      out.push({
        path: rel,
        kind: "added",
        words: `extra file, not in the manifest: added after the seal of ${sealed}`,
      });
  return out;
}

/**
 * The one fix for what changed, e.g. restore the sealed files, or re-seal on purpose.
 * `brokenChain`: the trace's sealed lines no longer verify, which no re-seal can repair.
 */
export function sealFix(sessionDir: string, changes: SealChange[], brokenChain = false): string | null {
  const reseal = `npm run archive -- ${sessionDir} --reseal "<reason>"`;
  const restore = `git checkout -- ${sessionDir} for a committed session, or from the copy you sealed`;
  if (brokenChain)
    return `restore ${TRACE_FILE} and ${JOURNAL_FILE} (${restore}); a chain whose sealed lines changed cannot be re-sealed`;
  if (changes.length === 0) return null;
  const deleted = changes.filter((c) => c.kind === "deleted").map((c) => c.path);
  if (deleted.length)
    return `restore ${deleted.join(", ")} (${restore}); a sealed file that is gone cannot be re-sealed`;
  if (changes.every((c) => c.kind === "added"))
    return `move ${changes.map((c) => c.path).join(", ")} out of the session folder, or re-seal to cover it: ${reseal}`;
  if (changes.every((c) => c.kind === "appended" && (c.path === TRACE_FILE || c.path === JOURNAL_FILE)))
    return `evidence added on purpose (e.g. by npm run confirm-bank) is covered by re-sealing: ${reseal}`;
  const notebook = changes.some((c) => c.path === SESSION_NOTEBOOK);
  return `${notebook ? "close the notebook in Jupyter (it saves on its own), then " : ""}restore the sealed files (${restore}); if the change was on purpose, re-seal: ${reseal}`;
}

/** Whether a folder is sealed, and if so whether the seal still holds. */
export type SealState =
  | { state: "unsealed" }
  | { state: "intact"; manifest: Manifest; manifestSha256: string }
  | {
      state: "changed";
      manifest: Manifest | null;
      manifestSha256: string | null;
      /** The first line of `npm run verify`'s explanation, e.g. "the notebook was saved after sealing: …". */
      what: string;
      changes: SealChange[];
      fix: string;
      /** False when the sealed trace lines no longer verify or a sealed file is gone: re-sealing would launder it. */
      resealable: boolean;
    };

/**
 * Asked by `npm run archive` before it writes anything: unsealed (no manifest.json), sealed and
 * intact (verify passes and no file was added), or sealed and changed since (what, and the fix).
 */
export function sealState(session: string | SessionSnapshot): SealState {
  const snap = typeof session === "string" ? readSessionSnapshot(session) : session;
  const sessionDir = snap.dir;
  if (!snap.sealed) return { state: "unsealed" };
  const v = verifySession(snap);
  const sha = snap.manifestSha256;
  if (v.ok && v.manifest && v.changes.length === 0)
    return { state: "intact", manifest: v.manifest, manifestSha256: sha ?? "" };
  const firstError = v.findings.find((f) => f.level === "error");
  const what =
    v.changes[0] !== undefined
      ? `${v.changes[0].path}: ${v.changes[0].words}${v.changes.length > 1 ? ` (and ${v.changes.length - 1} more change(s))` : ""}`
      : firstError
        ? `${firstError.subject}: ${firstError.message}`
        : "the folder differs from its manifest";
  return {
    state: "changed",
    manifest: v.manifest,
    manifestSha256: sha,
    what,
    changes: v.changes,
    resealable: v.manifest !== null && !v.brokenChain && !v.changes.some((c) => c.kind === "deleted"),
    fix:
      v.fix ??
      `run npm run verify -- ${sessionDir}, restore what it names, or re-seal: npm run archive -- ${sessionDir} --reseal "<reason>"`,
  };
}

// ------------------------------------------------------------------------------ verify

/**
 * Verifies a session folder; never throws for evidence problems, they become findings.
 * Example: verifySession("archive/payment-e2e/2026-11-26-staging").ok
 */
/**
 * The journal's entries when they can be trusted as what happened: a manifest@2 seal over a chained
 * journal read intact against it; null otherwise (the broken journal is then the finding).
 */
export function trustedEntries(snap: SessionSnapshot): readonly JournalEntry[] | null {
  const j = snap.journal;
  return snap.manifest && snap.manifest.schema !== MANIFEST_SCHEMA_V1 && j?.chained === true && j.ok ? j.entries : null;
}

export function verifySession(session: string | SessionSnapshot): VerifyResult {
  const snap = typeof session === "string" ? readSessionSnapshot(session) : session;
  const sessionDir = snap.dir;
  const findings: VerifyFinding[] = [];
  const result: VerifyResult = {
    ok: false,
    sessionDir,
    manifest: null,
    chain: null,
    journal: null,
    findings,
    changes: [],
    fix: null,
    brokenChain: false,
  };
  const manifest = snap.manifest;
  if (!manifest) {
    findings.push({
      level: "error",
      subject: MANIFEST_FILE,
      message: snap.manifestError ?? "no manifest",
      code: "MANIFEST_INVALID",
    });
    result.fix = snap.sealed
      ? `restore ${MANIFEST_FILE} (git checkout -- ${sessionDir} for a committed session, or from the copy you sealed); without it the seal cannot be checked`
      : `the folder is not sealed: npm run archive -- ${sessionDir}`;
    return result;
  }
  result.manifest = manifest;

  const listed = new Set<string>();
  let matched = 0;
  for (const f of manifest.files) {
    if (listed.has(f.path)) {
      findings.push({
        level: "error",
        subject: f.path,
        message: "listed twice in the manifest",
        code: "MANIFEST_INVALID",
      });
      continue;
    }
    listed.add(f.path);
    if (isIgnoredFile(f.path)) {
      // Sealed by an older tool that hashed checkpoints and editor files: not evidence, not checked.
      findings.push({
        level: "warning",
        subject: f.path,
        message: "an editor or checkpoint file (never evidence): not checked",
      });
      continue;
    }
    const abs = path.join(sessionDir, ...f.path.split("/"));
    if (
      fs.existsSync(abs) &&
      fs.statSync(abs).isFile() &&
      fs.statSync(abs).size === f.bytes &&
      sha256File(abs) === f.sha256
    )
      matched++;
  }
  result.changes = changesSinceSeal(sessionDir, manifest, snap.files);
  // An extra file in a sealed folder is an error (issue 24 §6): only the manifest says what the evidence is.
  for (const c of result.changes)
    findings.push({
      level: "error",
      subject: c.path,
      message: c.words,
      code: c.kind === "added" ? "EXTRA_FILE" : "FILE_CHANGED",
    });
  findings.push({ level: "ok", subject: "files", message: `${matched} of ${manifest.files.length} hash(es) match` });

  const events: readonly TraceEvent[] = snap.trace?.events ?? [];
  if (snap.trace) {
    result.chain = snap.trace.chain;
    if (chainFinding(findings, manifest.trace_file, snap.trace.chain)) result.brokenChain = true;
  } else if (manifest.trace_lines > 0) {
    // Its absence is already an error if listed; say what it means for the chain.
    result.brokenChain = true;
    findings.push({
      level: "error",
      subject: manifest.trace_file,
      message: `trace missing, manifest expects ${manifest.trace_lines} line(s)`,
      code: "CHAIN_BROKEN",
    });
  }

  const journalRel = snap.journalRel;
  const journal = snap.journal;
  result.journal = journal;
  if (manifest.schema === MANIFEST_SCHEMA_V1) {
    findings.push({
      level: "warning",
      subject: MANIFEST_FILE,
      message: `sealed by an older tool (${MANIFEST_SCHEMA_V1}): journal not chained; its bytes are checked, its entries cannot be`,
    });
  } else if (journal) {
    if (!journal.chained) {
      result.brokenChain = true;
      findings.push({
        level: "error",
        subject: `${journalRel}:1`,
        message: "entries are not hash-chained, but the manifest sealed a chained journal (journal replaced)",
        code: "CHAIN_BROKEN",
      });
    } else if (chainFinding(findings, journalRel, journal)) result.brokenChain = true;
  } else if ((manifest.journal_lines ?? 0) > 0) {
    result.brokenChain = true;
    findings.push({
      level: "error",
      subject: journalRel,
      message: `journal missing, manifest expects ${manifest.journal_lines} line(s)`,
      code: "CHAIN_BROKEN",
    });
  }
  findings.push(...identityFindings(sessionDir, manifest, result.journal, events, journalRel));
  findings.push(...agreementFindings(sessionDir, result.journal));
  // What the seal refuses since it checked it, named in a folder sealed before: a note shown, never reported.
  findings.push(...notesFindings(sessionDir, result.journal?.entries ?? [], events));
  findings.push(...htmlFindings(sessionDir));
  // Truth, not only integrity: what the folder states as the outcome is what the journal says. Only
  // over an intact chained journal (a broken one is already the finding).
  findings.push(...statedOutcomeFindings(snap, trustedEntries(snap)));
  findings.push(...leftoverIdFindings(sessionDir, manifest.session_id));
  // Issue 24 §2: a re-seal proves what it replaced, or the sealed lines were rewritten.
  const reseals = resealFindings(events, result.journal?.entries ?? []);
  if (reseals.some((f) => f.level === "error")) result.brokenChain = true;
  findings.push(...reseals);
  result.ok = !findings.some((f) => f.level === "error");
  if (!result.ok)
    result.fix =
      sealFix(sessionDir, result.changes, result.brokenChain) ??
      `restore the files named above from the committed copy (git checkout -- ${sessionDir})`;
  return result;
}

/**
 * The notebook agrees with the kernel's copy of its outputs and with the journal (issue 22 item 6):
 * what the archive checked before sealing, checked again (a folder sealed by an older tool, or
 * re-sealed over a stripped notebook, is named here).
 */
function agreementFindings(sessionDir: string, journal: JournalRead | null): VerifyFinding[] {
  if (!fs.existsSync(path.join(sessionDir, SESSION_NOTEBOOK))) return [];
  const results = [...latestStepResults(journal?.entries ?? []).values()];
  const { problems } = outputsAgreement(sessionDir, results);
  if (!problems.length)
    return fs.existsSync(path.join(sessionDir, OUTPUTS_FILE))
      ? [
          {
            level: "ok",
            subject: SESSION_NOTEBOOK,
            message: `shows every output the kernel displayed (${OUTPUTS_FILE}) and every step result of the journal`,
          },
        ]
      : [];
  return problems.map((message) => ({
    level: "error",
    subject: SESSION_NOTEBOOK,
    message,
    code: "NOTEBOOK_DISAGREES",
  }));
}

/** The HTML export shows, code cell by code cell, what the notebook shows (lib/evidence/html-agreement.ts). */
function htmlFindings(sessionDir: string): VerifyFinding[] {
  if (!fs.existsSync(path.join(sessionDir, SESSION_HTML)) || !fs.existsSync(path.join(sessionDir, SESSION_NOTEBOOK)))
    return [];
  const problem = htmlAgreement(sessionDir);
  return problem
    ? [{ level: "error", subject: SESSION_HTML, message: problem, code: "HTML_DISAGREES" }]
    : [{ level: "ok", subject: SESSION_HTML, message: `shows every code cell's outputs as ${SESSION_NOTEBOOK} does` }];
}

/** A chain's finding (ok, or its first broken line); true when the sealed lines no longer verify. */
function chainFinding(findings: VerifyFinding[], rel: string, chain: ChainCheck): boolean {
  if (chain.ok) {
    findings.push({ level: "ok", subject: rel, message: `chain intact, ${chain.lines} line(s), head ${chain.head}` });
    return false;
  }
  if (!chain.firstBroken) return false;
  const at = chain.firstBroken.line > 0 ? `:${chain.firstBroken.line}` : "";
  findings.push({
    level: "error",
    subject: `${rel}${at}`,
    message: chainBreakText(chain.firstBroken),
    code: chainCode(chain.firstBroken),
  });
  // Lines added after the sealed ones leave the seal's chain intact; anything else broke it.
  return !sealedLinesHold(chain.firstBroken);
}

const LEVEL_TAG: Record<FindingLevel, string> = { ok: "ok   ", warning: "WARN ", error: "ERROR" };

/** One line per finding, then a summary line. */
export function formatVerify(r: VerifyResult): string[] {
  const lines = r.findings.map(
    (f) => `${LEVEL_TAG[f.level]} ${f.subject}: ${f.message}${f.code ? ` [${f.code}]` : ""}`,
  );
  const errors = r.findings.filter((f) => f.level === "error").length;
  const warnings = r.findings.filter((f) => f.level === "warning").length;
  const m = r.manifest;
  // A staging or live run against this machine's loopback says so here too (a sandbox one is local by design).
  const b = r.journal && m && m.mode !== "sandbox" ? backendOrigin(r.journal.entries) : null;
  const backend = b?.loopback.length ? `, backend ${backendText(b)}` : "";
  const what = m
    ? `session ${m.session_id} (${m.mode}), ${m.files.length} file(s), trace ${m.trace_lines} line(s)${backend}`
    : r.sessionDir;
  if (!r.ok && r.fix) lines.push(`fix: ${r.fix}`);
  lines.push(
    r.ok
      ? `verify: OK - ${what}${warnings ? `, ${warnings} warning(s)` : ""}`
      : `verify: FAILED - ${what}: ${errors} error(s), ${warnings} warning(s)`,
  );
  return lines;
}
