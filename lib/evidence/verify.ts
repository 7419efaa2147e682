/**
 * Rechecks an archived session against its manifest (issue 5 §4): every file's SHA-256 and size,
 * files missing or added, and the whole trace chain against the recorded head and line count.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EvidenceError } from "../errors";
import { MANIFEST_FILE } from "./files";
import { type Manifest, listSessionFiles, readManifest, sha256File } from "./manifest";
import { type ChainCheck, verifyChain } from "./chain";

export type FindingLevel = "ok" | "warning" | "error";

export interface VerifyFinding {
  level: FindingLevel;
  /** File (relative to the session dir), with `:line` for a trace break. */
  subject: string;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  sessionDir: string;
  manifest: Manifest | null;
  chain: ChainCheck | null;
  findings: VerifyFinding[];
}

/**
 * Verifies a session folder; never throws for evidence problems, they become findings.
 * Example: verifySession("archive/payment-e2e/2026-11-26-staging").ok
 */
export function verifySession(sessionDir: string): VerifyResult {
  const findings: VerifyFinding[] = [];
  const result: VerifyResult = { ok: false, sessionDir, manifest: null, chain: null, findings };
  let manifest: Manifest;
  try {
    manifest = readManifest(sessionDir);
  } catch (err) {
    const message = err instanceof EvidenceError ? err.message : String(err);
    findings.push({ level: "error", subject: MANIFEST_FILE, message });
    return result;
  }
  result.manifest = manifest;

  const listed = new Set<string>();
  let matched = 0;
  for (const f of manifest.files) {
    if (listed.has(f.path)) {
      findings.push({ level: "error", subject: f.path, message: "listed twice in the manifest" });
      continue;
    }
    listed.add(f.path);
    const abs = path.join(sessionDir, ...f.path.split("/"));
    if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) {
      findings.push({ level: "error", subject: f.path, message: "missing (listed in the manifest)" });
      continue;
    }
    const bytes = fs.statSync(abs).size;
    const sha = sha256File(abs);
    if (sha !== f.sha256 || bytes !== f.bytes) {
      const size = bytes !== f.bytes ? `, ${f.bytes} -> ${bytes} bytes` : "";
      findings.push({ level: "error", subject: f.path, message: `changed (sha256 differs from the manifest${size})` });
      continue;
    }
    matched++;
  }
  for (const rel of listSessionFiles(sessionDir)) {
    if (!listed.has(rel)) findings.push({ level: "warning", subject: rel, message: "extra file, not in the manifest" });
  }
  findings.push({ level: "ok", subject: "files", message: `${matched} of ${manifest.files.length} hash(es) match` });

  const traceFile = path.join(sessionDir, ...manifest.trace_file.split("/"));
  if (fs.existsSync(traceFile)) {
    const chain = verifyChain(traceFile, { lines: manifest.trace_lines, head: manifest.chain_head });
    result.chain = chain;
    if (chain.ok) {
      findings.push({
        level: "ok",
        subject: manifest.trace_file,
        message: `chain intact, ${chain.lines} line(s), head ${chain.head}`,
      });
    } else if (chain.firstBroken) {
      const at = chain.firstBroken.line > 0 ? `:${chain.firstBroken.line}` : "";
      findings.push({ level: "error", subject: `${manifest.trace_file}${at}`, message: chain.firstBroken.reason });
    }
  } else if (manifest.trace_lines > 0) {
    // Its absence is already an error if listed; say what it means for the chain.
    findings.push({
      level: "error",
      subject: manifest.trace_file,
      message: `trace missing, manifest expects ${manifest.trace_lines} line(s)`,
    });
  }
  result.ok = !findings.some((f) => f.level === "error");
  return result;
}

const LEVEL_TAG: Record<FindingLevel, string> = { ok: "ok   ", warning: "WARN ", error: "ERROR" };

/** One line per finding, then a summary line. */
export function formatVerify(r: VerifyResult): string[] {
  const lines = r.findings.map((f) => `${LEVEL_TAG[f.level]} ${f.subject}: ${f.message}`);
  const errors = r.findings.filter((f) => f.level === "error").length;
  const warnings = r.findings.filter((f) => f.level === "warning").length;
  const m = r.manifest;
  const what = m
    ? `session ${m.session_id} (${m.mode}), ${m.files.length} file(s), trace ${m.trace_lines} line(s)`
    : r.sessionDir;
  lines.push(
    r.ok
      ? `verify: OK - ${what}${warnings ? `, ${warnings} warning(s)` : ""}`
      : `verify: FAILED - ${what}: ${errors} error(s), ${warnings} warning(s)`,
  );
  return lines;
}
