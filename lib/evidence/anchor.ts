/**
 * Anchors (issue 13): each staging/live session's block in the living report
 * (docs/PAYMENT_E2E_LIVE_REPORT.md) states the manifest sha256, the trace chain head and the
 * journal chain head, on one line `formatAnchor` writes and `parseAnchor` reads back. The report is
 * committed, so git keeps every anchor it ever held: `checkAnchors` compares the sealed folder with
 * the current anchor and with each committed one. A committed anchor that differs from the folder is
 * accepted only when the trace records a deliberate re-seal over that manifest
 * (`previous_manifest_sha256`, written by `npm run archive -- <dir> --reseal "<reason>"`).
 * Reads files and runs `git` (bounded); without git or a repository it warns, it never passes.
 * Over 300 lines: the anchor line's format, its git history and the re-seal rule are read together.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type Anchor, type BlockAnchor, blockAnchor } from "./anchor-line";
import { JOURNAL_FILE, MANIFEST_FILE, TRACE_FILE } from "./files";
import type { Manifest } from "./manifest";
import { GENESIS } from "./chain";
import { type SessionSnapshot, readSessionSnapshot, unsealedChain } from "./snapshot";
import type { VerifyFinding } from "./verify";

export { type Anchor, type BlockAnchor, blockAnchor, describeAnchor, formatAnchor, parseAnchor } from "./anchor-line";

/** The docs report's markers around one session's block (lib/report/report.ts writes them). */
export const sessionMarkers = (id: string) => ({ open: `<!-- session:${id} -->`, close: `<!-- /session:${id} -->` });

/** The anchor a sealed manifest stands for (its file hash, its trace and journal heads). */
export function anchorOf(manifest: Manifest, manifestSha256: string): Anchor {
  return {
    manifestSha256,
    traceHead: manifest.chain_head,
    traceLines: manifest.trace_lines,
    journalHead: manifest.journal_head ?? null,
    journalLines: manifest.journal_lines ?? null,
  };
}

/**
 * A session's block in the report text and its anchor (lib/evidence/anchor-line.ts): null when
 * the report has no block for the session. Line numbers count from the report's first line.
 */
export function readBlock(reportText: string, sessionId: string): BlockAnchor | null {
  const { open, close } = sessionMarkers(sessionId);
  const s = reportText.indexOf(open);
  if (s < 0) return null;
  const e = reportText.indexOf(close, s);
  const offset = reportText.slice(0, s).split("\n").length - 1;
  return blockAnchor(reportText.slice(s, e < 0 ? undefined : e), offset);
}

/** A session's anchor in the report text; null when absent, or when its block's anchor is ambiguous or malformed. */
export function findAnchor(reportText: string, sessionId: string): Anchor | null {
  return readBlock(reportText, sessionId)?.anchor ?? null;
}

export interface CommittedAnchor {
  anchor: Anchor;
  commit: string;
  /** Commit date, YYYY-MM-DD. */
  date: string;
}

/** The most commits of the report that are read back (a report changes a few times per session). */
export const HISTORY_LIMIT = 500;

const git = (cwd: string, args: string[]) =>
  execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    maxBuffer: 64 * 1024 * 1024,
    timeout: 30_000,
  });

/**
 * Every distinct anchor the committed report held for a session, oldest first, with the first
 * commit that held it; or `unavailable` with why (no git, no repository, report not committed).
 */
export function committedAnchors(
  reportFile: string,
  sessionId: string,
  repoDir = path.dirname(path.resolve(reportFile)),
): { anchors: CommittedAnchor[] } | { unavailable: string } {
  const abs = path.resolve(reportFile);
  let log: string;
  try {
    git(repoDir, ["rev-parse", "--git-dir"]);
    log = git(path.dirname(abs), [
      "log",
      `--max-count=${HISTORY_LIMIT}`,
      "--format=%H %cs",
      "--follow",
      "--",
      path.basename(abs),
    ]);
  } catch {
    return { unavailable: `git or a repository is not available at ${repoDir}` };
  }
  const commits = log
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ") as [string, string])
    .reverse();
  const out: CommittedAnchor[] = [];
  for (const [commit, date] of commits) {
    let text: string;
    try {
      text = git(path.dirname(abs), ["show", `${commit}:./${path.basename(abs)}`]);
    } catch {
      continue; // the file had another name at that commit (--follow): nothing to read there
    }
    const a = findAnchor(text, sessionId);
    if (a && !out.some((o) => sameAnchor(o.anchor, a))) out.push({ anchor: a, commit, date });
  }
  return { anchors: out };
}

const sameAnchor = (a: Anchor, b: Anchor) =>
  a.manifestSha256 === b.manifestSha256 &&
  a.traceHead === b.traceHead &&
  a.traceLines === b.traceLines &&
  a.journalHead === b.journalHead &&
  a.journalLines === b.journalLines;

/** Which file differs between the folder and an anchor, first by importance; null when they agree. */
/**
 * The first evidence file that differs from an anchor, with the anchored head's line (the line
 * whose hash the anchor holds: a consistent rewrite is only visible there).
 */
function differingFile(folder: Anchor, a: Anchor): string | null {
  if (a.traceHead !== folder.traceHead || a.traceLines !== folder.traceLines) return `${TRACE_FILE}:${a.traceLines}`;
  if (a.journalHead !== null && (a.journalHead !== folder.journalHead || a.journalLines !== folder.journalLines))
    return `${JOURNAL_FILE}:${a.journalLines ?? 0}`;
  if (a.manifestSha256 !== folder.manifestSha256) return MANIFEST_FILE;
  return null;
}

/** Manifest hashes the trace says were replaced on purpose (`--reseal` notes). */
function resealedOver(snap: SessionSnapshot): Set<string> {
  const out = new Set<string>();
  // A broken trace is verifySession's error; no re-seal can be read from it.
  if (!snap.trace || !unsealedChain(snap.trace.chain).ok) return out;
  for (const e of snap.trace.events) {
    const p = e.payload as { previous_manifest_sha256?: unknown } | null;
    if (e.type === "note" && typeof p?.previous_manifest_sha256 === "string") out.add(p.previous_manifest_sha256);
  }
  return out;
}

/** `file:line` when a chain's hash at an anchor's line count is no longer the anchored head, else null. */
function rewrittenUnder(snap: SessionSnapshot, a: Anchor): string | null {
  const headAt = (hashes: Array<string | undefined>, n: number) => (n === 0 ? GENESIS : hashes[n - 1]);
  // A trace that is missing or broken within its lines is verifySession's error.
  if (!snap.trace || !unsealedChain(snap.trace.chain).ok) return null;
  const trace = snap.trace.events.map((e) => e.hash);
  if (headAt(trace, a.traceLines) !== a.traceHead) return `${TRACE_FILE}:${a.traceLines}`;
  if (a.journalHead !== null && a.journalLines !== null) {
    const journal = (snap.journal?.entries ?? []).map((e) => e.hash);
    if (headAt(journal, a.journalLines) !== a.journalHead) return `${JOURNAL_FILE}:${a.journalLines}`;
  }
  return null;
}

export interface AnchorOptions {
  /** The living report (default docs/PAYMENT_E2E_LIVE_REPORT.md under repoDir). */
  reportFile?: string;
  /** The repository whose history holds the report (default: the current directory). */
  repoDir?: string;
}

/**
 * The folder against the anchors the living report holds for it, now and in its git history.
 * @example checkAnchors("archive/payment-e2e/20261126T154400Z-live").filter((f) => f.level === "error")
 */
export function checkAnchors(session: string | SessionSnapshot, o: AnchorOptions = {}): VerifyFinding[] {
  const snap = typeof session === "string" ? readSessionSnapshot(session) : session;
  const repoDir = o.repoDir ?? process.cwd();
  const reportFile = o.reportFile ?? path.join(repoDir, "docs", "PAYMENT_E2E_LIVE_REPORT.md");
  const shown = path.relative(repoDir, reportFile).split(path.sep).join("/") || reportFile;
  const subject = "anchor";
  const manifest = snap.manifest;
  if (!manifest || snap.manifestSha256 === null)
    return [{ level: "warning", subject, message: "not sealed (no readable manifest.json): no anchor to compare" }];
  const folder = anchorOf(manifest, snap.manifestSha256);
  const id = manifest.session_id;
  const text = fs.existsSync(reportFile) ? fs.readFileSync(reportFile, "utf8") : null;
  const block = text === null ? null : readBlock(text, id);
  const current = block?.anchor ?? null;
  const history = committedAnchors(reportFile, id, repoDir);
  const committed = "anchors" in history ? history.anchors : [];
  const blockFindings = block ? blockProblemFindings(block, shown) : [];
  if (!current && committed.length === 0 && blockFindings.length === 0) {
    if (manifest.mode === "sandbox")
      return [{ level: "ok", subject, message: "no anchor (sandbox sessions are not published)" }];
    return [
      {
        level: "warning",
        subject,
        message: `${id} is sealed but ${text === null ? `${shown} does not exist` : `has no anchor in ${shown}`}: publish its block with npm run report -- ${snap.dir}, then commit ${shown}`,
      },
    ];
  }
  const findings: VerifyFinding[] = [...blockFindings];
  const at = (c: CommittedAnchor) => `${c.commit.slice(0, 7)} (${c.date})`;
  const resealed = resealedOver(snap);
  for (const c of committed) {
    const file = differingFile(folder, c.anchor);
    if (!file) continue;
    if (resealed.has(c.anchor.manifestSha256) && c.anchor.manifestSha256 !== folder.manifestSha256) {
      // Issue 24 §2: a re-seal replaces a seal, never its sealed lines.
      const rewritten = rewrittenUnder(snap, c.anchor);
      if (rewritten) {
        findings.push({
          level: "error",
          subject: rewritten,
          message: `the anchor committed in ${shown} at ${at(c)} was replaced by a re-seal, but the chain no longer holds its head at that line: a sealed line was rewritten`,
          code: "RESEAL_BROKEN",
        });
        continue;
      }
      findings.push({
        level: "ok",
        subject,
        message: `the anchor committed at ${at(c)} was replaced by a deliberate re-seal recorded in ${TRACE_FILE}`,
      });
      continue;
    }
    findings.push({
      level: "error",
      subject: file,
      message: `${MANIFEST_FILE} differs from the anchor committed in ${shown} at ${at(c)}: trace and manifest rewritten after the commit (no re-seal over ${c.anchor.manifestSha256.slice(0, 12)}… is recorded in ${TRACE_FILE})`,
      code: "ANCHOR_MISMATCH",
    });
  }
  if (current) {
    const file = differingFile(folder, current);
    const inCommit = committed.find((c) => sameAnchor(c.anchor, current));
    if (file)
      findings.push({
        level: "error",
        subject: file,
        message: `${MANIFEST_FILE} differs from the anchor in ${shown}${inCommit ? ` (committed at ${at(inCommit)})` : ""}: the folder or the report block was changed after publishing`,
        code: "ANCHOR_MISMATCH",
      });
    else if (inCommit)
      findings.push({
        level: "ok",
        subject,
        message: `matches the anchor committed in ${shown} at ${at(inCommit)}`,
        kind: "anchor_committed",
      });
    else
      findings.push({
        level: "warning",
        subject,
        message: `matches the anchor in ${shown}, which is not committed yet: commit ${shown} (and the session folder)`,
      });
  } else if (text !== null && blockFindings.length === 0) {
    findings.push({
      level: "error",
      subject,
      message: `the anchor committed in ${shown} is gone from the working copy: restore the block (git checkout -- ${shown})`,
      code: "ANCHOR_MISMATCH",
    });
  }
  if ("unavailable" in history)
    findings.push({
      level: "warning",
      subject,
      message: `git history not checked (${history.unavailable}): only the working copy's anchor was compared`,
    });
  return findings;
}

/** Errors for a block whose anchor is ambiguous or malformed; a warning for the older line form. */
function blockProblemFindings(block: BlockAnchor, shown: string): VerifyFinding[] {
  const where = (n: number) => `${shown}:${n}`;
  if (block.problem === "ambiguous")
    return [
      {
        level: "error",
        subject: where(block.shaped[1]),
        message: `${block.shaped.length} anchor-shaped lines in one session block (lines ${block.shaped.join(", ")}): exactly one is allowed; remove the ones not written by the tool (e.g. pasted into the operator notes), then npm run report`,
        code: "ANCHOR_AMBIGUOUS",
      },
    ];
  if (block.problem === "malformed")
    return [
      {
        level: "error",
        subject: where(block.shaped[0]),
        message:
          "anchor-shaped line that is not the strict anchor (canonical JSON in <!-- payment-e2e:anchor … -->): re-render the block with npm run report",
        code: "ANCHOR_MALFORMED",
      },
    ];
  if (block.legacy)
    return [
      {
        level: "warning",
        subject: where(block.shaped[0]),
        message: "anchor in the older line form (before the strict anchor): re-render the block with npm run report",
      },
    ];
  return [];
}

/** The one-line fix for anchor findings with an error, or null. */
export function anchorFix(findings: readonly VerifyFinding[], sessionDir: string, reportFile: string): string | null {
  if (!findings.some((f) => f.level === "error")) return null;
  return `restore the session folder from the commit that published its anchor (git checkout -- ${sessionDir}); a change made on purpose is re-sealed with npm run archive -- ${sessionDir} --reseal "<reason>", then npm run report and commit ${reportFile}`;
}
