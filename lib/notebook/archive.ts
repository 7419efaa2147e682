/**
 * Sealing a session folder for the auditor: HTML export (nbconvert), the session report block,
 * the plots, a secret/card scan that refuses to finish on a hit, and manifest.json (hashes, chain
 * head, version, commit, retention date). Idempotent: archiving twice gives the same manifest.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ArchiveRefused } from "../errors";
import { exportHtml } from "./jupyter";
import { Journal } from "../evidence/journal";
import { SESSION_NOTEBOOK, TRACE_FILE } from "../evidence/files";
import { currentGitCommit, manifestHash, writeManifest, type Manifest } from "../evidence/manifest";
import { SecretRegistry, secrets } from "../evidence/secrets";
import { publishReport, writeSessionReport } from "../report/report";
import { formatHit, scanPaths } from "../evidence/scan";
import { Trace } from "../evidence/trace";
import { inRepo, repoRoot } from "../paths";

export interface ArchiveResult {
  dir: string;
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
}

export async function archiveSession(dir: string, opts: ArchiveOptions = {}): Promise<ArchiveResult> {
  const journal = Journal.open(dir);
  const created = journal.all()[0];
  const sessionId = String(created.data.sessionId);
  const mode = String(created.data.mode);
  const nb = path.join(dir, SESSION_NOTEBOOK);
  let html: string | null = null;
  if (opts.html !== false && fs.existsSync(nb)) html = (await exportHtml(nb)).html;
  // The session's own block goes in before the seal, so the manifest covers it.
  writeSessionReport(dir);

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
    manifest,
    manifestSha256: manifestHash(dir),
    html,
    scannedFiles: scanned,
    outcome: published.session.outcome,
    docsReport: published.docs?.path ?? null,
  };
}
