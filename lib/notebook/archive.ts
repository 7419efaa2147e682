/**
 * Sealing a session folder for the auditor: HTML export (nbconvert), the session report block,
 * the plots, a secret/card scan that refuses to finish on a hit, and manifest.json (hashes, chain
 * head, version, commit, retention date).
 * A folder is sealed once. Archiving a sealed folder whose seal still verifies writes nothing
 * ("already sealed"); one that changed since is refused with what changed and the fix, unless the
 * operator re-seals on purpose (`reseal`), which the trace records before the new seal covers it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ArchiveRefused, ArchiveSealed } from "../errors";
import { exportHtml } from "./jupyter";
import { Journal } from "../evidence/journal";
import { SESSION_HTML, SESSION_NOTEBOOK, TRACE_FILE } from "../evidence/files";
import { currentGitCommit, manifestHash, writeManifest, type Manifest } from "../evidence/manifest";
import { SecretRegistry, secrets } from "../evidence/secrets";
import { loadEvidence } from "../report/evidence";
import { publishReport, writeSessionReport } from "../report/report";
import { deriveOutcome } from "../report/verdict";
import { formatHit, scanPaths } from "../evidence/scan";
import { Trace } from "../evidence/trace";
import { sealState } from "../evidence/verify";
import { inRepo, repoRoot } from "../paths";

export interface ArchiveResult {
  dir: string;
  /** sealed: first seal · resealed: sealed again on purpose, recorded in the trace · already-sealed: nothing written. */
  status: "sealed" | "resealed" | "already-sealed";
  /** When the seal in force was made (manifest.json's created_at). */
  sealedAt: string;
  manifest: Manifest;
  manifestSha256: string;
  html: string | null;
  scannedFiles: number;
  outcome: string;
  docsReport: string | null;
}

export function toolVersion(): string {
  try {
    return String(JSON.parse(fs.readFileSync(inRepo("package.json"), "utf8")).version);
  } catch {
    return "unknown";
  }
}

export interface ArchiveOptions {
  /** Secret values of this run that the scan must not find (tokens, passwords, keys). */
  extraSecrets?: Array<string | undefined>;
  /** Skip the nbconvert HTML export (tests of the archive logic alone). */
  html?: boolean;
  /** Where the living report and the GO/NO-GO checklist live (default `docs`). */
  docsDir?: string;
  /**
   * Seal again, on purpose, a folder that changed since it was sealed (evidence added by
   * confirm-bank, a notebook re-run): the written reason (≥ REASON_MIN characters) goes into the
   * trace note with the previous manifest hash. Refused when the trace's sealed lines changed or a
   * sealed file is gone.
   */
  reseal?: string;
}

/** The shortest re-seal reason accepted: a sentence, not "ok". */
export const RESEAL_REASON_MIN = 10;

/** Null when the reason will do, else the one-line refusal naming the fix. */
export function resealReasonProblem(reason: string | undefined, dir = "<session-dir>"): string | null {
  if (reason !== undefined && reason.trim().length >= RESEAL_REASON_MIN) return null;
  return `--reseal needs a written reason of at least ${RESEAL_REASON_MIN} characters, recorded in the trace: npm run archive -- ${dir} --reseal "bank statement confirmed the refund"`;
}

export async function archiveSession(dir: string, opts: ArchiveOptions = {}): Promise<ArchiveResult> {
  const seal = sealState(dir);
  if (seal.state === "intact") {
    const html = path.join(dir, SESSION_HTML);
    return {
      dir,
      status: "already-sealed",
      sealedAt: seal.manifest.created_at,
      manifest: seal.manifest,
      manifestSha256: seal.manifestSha256,
      html: fs.existsSync(html) ? html : null,
      scannedFiles: 0,
      outcome: deriveOutcome(loadEvidence(dir)).outcome,
      docsReport: null,
    };
  }
  if (seal.state === "changed" && (opts.reseal === undefined || !seal.resealable))
    throw new ArchiveSealed(dir, seal.manifest?.created_at ?? null, seal.what, seal.fix);
  if (seal.state === "changed") {
    const problem = resealReasonProblem(opts.reseal, dir);
    if (problem) throw new ArchiveSealed(dir, seal.manifest?.created_at ?? null, seal.what, problem);
    // A deliberate re-seal is evidence too: the trace says when, over which seal, and why.
    const t = Trace.open(path.join(dir, TRACE_FILE));
    t.append("note", {
      event: "re-sealed by npm run archive --reseal",
      reason: opts.reseal?.trim(),
      previous_manifest_sha256: seal.manifestSha256,
      previous_sealed_at: seal.manifest?.created_at ?? null,
      changes: seal.changes.map((c) => `${c.path}: ${c.words}`),
    });
    t.close();
  }

  const journal = Journal.open(dir);
  const created = journal.all()[0];
  const sessionId = String(created.data.sessionId);
  const mode = String(created.data.mode);
  const nb = path.join(dir, SESSION_NOTEBOOK);
  let html: string | null = null;
  if (opts.html !== false && fs.existsSync(nb)) html = (await exportHtml(nb)).html;
  // The session's own block goes in before the seal, so the manifest covers it.
  writeSessionReport(dir, { sealing: true });

  const registry = new SecretRegistry();
  for (const e of secrets.entries()) registry.add(e.value, e.label);
  for (const s of opts.extraSecrets ?? []) registry.add(s, "run secret");
  let scanned = 0;
  const hits = scanPaths([dir], { registry, extensions: "all", onFile: () => scanned++ });
  if (hits.length) throw new ArchiveRefused(dir, hits.map(formatHit));

  const trace = Trace.open(path.join(dir, TRACE_FILE));
  const manifest = writeManifest(dir, {
    sessionId,
    mode,
    chainHead: trace.head,
    traceLines: trace.seq,
    toolVersion: toolVersion(),
    gitCommit: currentGitCommit(repoRoot()),
    // Dated now, a re-seal too (the trace records the seal it replaced).
    createdAt: new Date().toISOString(),
  });
  // After the seal: the docs report's block now names the manifest hash (staging and live only,
  // or a sandbox session already published there); the sealed folder itself is left untouched.
  const docs = opts.docsDir ?? "docs";
  const published = publishReport(dir, {
    docsReport: path.join(docs, "PAYMENT_E2E_LIVE_REPORT.md"),
    checklist: path.join(docs, "GO_NO_GO_CHECKLIST.md"),
  });
  return {
    dir,
    status: seal.state === "changed" ? "resealed" : "sealed",
    sealedAt: manifest.created_at,
    manifest,
    manifestSha256: manifestHash(dir),
    html,
    scannedFiles: scanned,
    outcome: published.session.outcome,
    docsReport: published.docs?.path ?? null,
  };
}
