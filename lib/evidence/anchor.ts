/**
 * Anchors (issue 13): each staging/live session's block in the living report
 * (docs/PAYMENT_E2E_LIVE_REPORT.md) states the manifest sha256, the trace chain head and the
 * journal chain head, on one line `formatAnchor` writes and `parseAnchor` reads back. The report is
 * committed, so git keeps every anchor it ever held: `checkAnchors` compares the sealed folder with
 * the current anchor and with each committed one. A committed anchor that differs from the folder is
 * accepted only when the trace records a deliberate re-seal over that manifest
 * (`previous_manifest_sha256`, written by `npm run archive -- <dir> --reseal "<reason>"`).
 * Reads files and runs `git` (bounded); without git or a repository it warns, it never passes.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { JOURNAL_FILE, MANIFEST_FILE, TRACE_FILE } from "./files";
import { type Manifest, manifestHash, readManifest } from "./manifest";
import { GENESIS, readTrace } from "./chain";
import { readJournalFile } from "./journal";
import type { VerifyFinding } from "./verify";

export interface Anchor {
  manifestSha256: string;
  traceHead: string;
  traceLines: number;
  /** Null for a manifest@1 seal (journal not chained). */
  journalHead: string | null;
  journalLines: number | null;
}

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
 * The anchor line, readable by people and by `parseAnchor`.
 * @example formatAnchor(a) // "Anchor : manifest sha256 `…` · trace head `…` (42 lines) · journal head `…` (12 lines)"
 */
export function formatAnchor(a: Anchor): string {
  const journal =
    a.journalHead === null ? "journal not chained" : `journal head \`${a.journalHead}\` (${a.journalLines ?? 0} lines)`;
  return `Anchor : manifest sha256 \`${a.manifestSha256}\` · trace head \`${a.traceHead}\` (${a.traceLines} lines) · ${journal}`;
}

const ANCHOR_RE =
  /Anchor ?: manifest sha256 `([0-9a-f]{64})` · trace head `([0-9a-f]{64})` \((\d+) lines\) · (?:journal head `([0-9a-f]{64})` \((\d+) lines\)|journal not chained)/;

/** Reads the first anchor line of a text (a session's block), or null. */
export function parseAnchor(text: string): Anchor | null {
  const m = ANCHOR_RE.exec(text);
  if (!m) return null;
  return {
    manifestSha256: m[1],
    traceHead: m[2],
    traceLines: Number(m[3]),
    journalHead: m[4] ?? null,
    journalLines: m[5] === undefined ? null : Number(m[5]),
  };
}

/** A session's anchor in the report text: inside its block markers; null when absent or block without one. */
export function findAnchor(reportText: string, sessionId: string): Anchor | null {
  const { open, close } = sessionMarkers(sessionId);
  const s = reportText.indexOf(open);
  if (s < 0) return null;
  const e = reportText.indexOf(close, s);
  return parseAnchor(reportText.slice(s, e < 0 ? undefined : e));
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
function resealedOver(sessionDir: string): Set<string> {
  const out = new Set<string>();
  try {
    for (const e of readTrace(path.join(sessionDir, TRACE_FILE))) {
      const p = e.payload as { previous_manifest_sha256?: unknown } | null;
      if (e.type === "note" && typeof p?.previous_manifest_sha256 === "string") out.add(p.previous_manifest_sha256);
    }
  } catch {
    // a broken trace is verifySession's error; no re-seal can be read from it
  }
  return out;
}

/** `file:line` when a chain's hash at an anchor's line count is no longer the anchored head, else null. */
function rewrittenUnder(sessionDir: string, a: Anchor): string | null {
  const headAt = (hashes: Array<string | undefined>, n: number) => (n === 0 ? GENESIS : hashes[n - 1]);
  try {
    const trace = readTrace(path.join(sessionDir, TRACE_FILE)).map((e) => e.hash);
    if (headAt(trace, a.traceLines) !== a.traceHead) return `${TRACE_FILE}:${a.traceLines}`;
    if (a.journalHead !== null && a.journalLines !== null) {
      const journal = readJournalFile(path.join(sessionDir, JOURNAL_FILE)).entries.map((e) => e.hash);
      if (headAt(journal, a.journalLines) !== a.journalHead) return `${JOURNAL_FILE}:${a.journalLines}`;
    }
  } catch {
    // a chain that cannot be read is verifySession's error
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
export function checkAnchors(sessionDir: string, o: AnchorOptions = {}): VerifyFinding[] {
  const repoDir = o.repoDir ?? process.cwd();
  const reportFile = o.reportFile ?? path.join(repoDir, "docs", "PAYMENT_E2E_LIVE_REPORT.md");
  const shown = path.relative(repoDir, reportFile).split(path.sep).join("/") || reportFile;
  const subject = "anchor";
  let manifest: Manifest;
  try {
    manifest = readManifest(sessionDir);
  } catch {
    return [{ level: "warning", subject, message: "not sealed (no readable manifest.json): no anchor to compare" }];
  }
  const folder = anchorOf(manifest, manifestHash(sessionDir));
  const id = manifest.session_id;
  const text = fs.existsSync(reportFile) ? fs.readFileSync(reportFile, "utf8") : null;
  const current = text === null ? null : findAnchor(text, id);
  const history = committedAnchors(reportFile, id, repoDir);
  const committed = "anchors" in history ? history.anchors : [];
  if (!current && committed.length === 0) {
    if (manifest.mode === "sandbox")
      return [{ level: "ok", subject, message: "no anchor (sandbox sessions are not published)" }];
    return [
      {
        level: "warning",
        subject,
        message: `${id} is sealed but ${text === null ? `${shown} does not exist` : `has no anchor in ${shown}`}: publish its block with npm run report -- ${sessionDir}, then commit ${shown}`,
      },
    ];
  }
  const findings: VerifyFinding[] = [];
  const at = (c: CommittedAnchor) => `${c.commit.slice(0, 7)} (${c.date})`;
  const resealed = resealedOver(sessionDir);
  for (const c of committed) {
    const file = differingFile(folder, c.anchor);
    if (!file) continue;
    if (resealed.has(c.anchor.manifestSha256) && c.anchor.manifestSha256 !== folder.manifestSha256) {
      // Issue 24 §2: a re-seal replaces a seal, never its sealed lines.
      const rewritten = rewrittenUnder(sessionDir, c.anchor);
      if (rewritten) {
        findings.push({
          level: "error",
          subject: rewritten,
          message: `the anchor committed in ${shown} at ${at(c)} was replaced by a re-seal, but the chain no longer holds its head at that line: a sealed line was rewritten`,
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
      });
    else if (inCommit)
      findings.push({ level: "ok", subject, message: `matches the anchor committed in ${shown} at ${at(inCommit)}` });
    else
      findings.push({
        level: "warning",
        subject,
        message: `matches the anchor in ${shown}, which is not committed yet: commit ${shown} (and the session folder)`,
      });
  } else if (text !== null) {
    findings.push({
      level: "error",
      subject,
      message: `the anchor committed in ${shown} is gone from the working copy: restore the block (git checkout -- ${shown})`,
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

/** The one-line fix for anchor findings with an error, or null. */
export function anchorFix(findings: readonly VerifyFinding[], sessionDir: string, reportFile: string): string | null {
  if (!findings.some((f) => f.level === "error")) return null;
  return `restore the session folder from the commit that published its anchor (git checkout -- ${sessionDir}); a change made on purpose is re-sealed with npm run archive -- ${sessionDir} --reseal "<reason>", then npm run report and commit ${reportFile}`;
}
