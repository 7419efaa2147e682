/**
 * The session folder's manifest (issue 5 §4, issue 13): SHA-256 and size of every file, the trace's
 * and the journal's chain heads and line counts, tool version, git commit, mode, and a retention
 * date one year out (PCI DSS 10.5.1). Written as `payment-e2e/manifest@2`; `@1` (no journal chain)
 * is still read. Re-writing it for unchanged files gives the same bytes: archiving is idempotent.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { ManifestError } from "../errors";
import { JOURNAL_FILE, MANIFEST_FILE, TRACE_FILE, isIgnoredFile, isSealCompanionFile } from "./files";
import { GENESIS, verifyChain } from "./chain";
import { chainBreakText } from "./finding-text";
import { readJournalFile } from "./journal";

export const MANIFEST_SCHEMA = "payment-e2e/manifest@2";
/** Sealed by an older tool: no journal chain fields. Read, never written. */
export const MANIFEST_SCHEMA_V1 = "payment-e2e/manifest@1";
const RETENTION_YEARS = 1; // PCI DSS 10.5.1: audit logs kept at least 12 months

export interface ManifestFile {
  /** Relative to the session dir, forward slashes. */
  path: string;
  sha256: string;
  bytes: number;
}

export interface Manifest {
  schema: typeof MANIFEST_SCHEMA | typeof MANIFEST_SCHEMA_V1;
  session_id: string;
  mode: string;
  created_at: string;
  /** ISO date (YYYY-MM-DD) until which the session must be kept. */
  retention_until: string;
  tool_version: string;
  git_commit: string | null;
  trace_file: string;
  chain_head: string;
  trace_lines: number;
  /** @2 only: the journal, its chain head (hash of its last line) and line count. */
  journal_file?: string;
  journal_head?: string;
  journal_lines?: number;
  files: ManifestFile[];
}

export interface ManifestInfo {
  sessionId: string;
  mode: string;
  chainHead: string;
  traceLines: number;
  /** The journal's head and line count to seal; default: read from state.jsonl (whose chain must hold). */
  journalHead?: string;
  journalLines?: number;
  toolVersion: string;
  gitCommit: string | null;
  /** The seal's date; default: kept from an existing manifest, else now. A deliberate re-seal passes now. */
  createdAt?: string;
}

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const ManifestSchema = z.object({
  schema: z.enum([MANIFEST_SCHEMA, MANIFEST_SCHEMA_V1]),
  session_id: z.string().min(1),
  mode: z.string().min(1),
  created_at: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
  retention_until: z.string().regex(/^\d{4}-\d\d-\d\d$/),
  tool_version: z.string(),
  git_commit: z.string().nullable(),
  trace_file: z.string().min(1),
  chain_head: Sha256,
  trace_lines: z.number().int().nonnegative(),
  journal_file: z.string().min(1).optional(),
  journal_head: Sha256.optional(),
  journal_lines: z.number().int().nonnegative().optional(),
  files: z.array(
    z.object({
      // Relative and inside the session dir: no absolute paths, no "..".
      path: z
        .string()
        .min(1)
        .refine(
          (p) => !p.startsWith("/") && !p.split("/").includes(".."),
          "must be a relative path inside the session",
        ),
      sha256: Sha256,
      bytes: z.number().int().nonnegative(),
    }),
  ),
});

export function sha256File(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * Files a manifest covers: every regular file under `dir`, sorted, except the manifest (and its temp
 * file), what lies beside it after the seal (its timestamp, signature and re-seal statements: `isSealCompanionFile`) and editor, Jupyter and OS leftovers (`isIgnoredFile`: `.ipynb_checkpoints/`, `*~`, `.*.swp`, …).
 */
export function listSessionFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (isIgnoredFile(r)) continue;
      if (ent.isDirectory()) walk(r);
      else if (
        ent.isFile() &&
        !(
          rel === "" &&
          (ent.name === MANIFEST_FILE || ent.name.startsWith(`${MANIFEST_FILE}.tmp`) || isSealCompanionFile(ent.name))
        )
      )
        out.push(r);
    }
  };
  walk("");
  // Code-unit order, not locale order, so the list is the same on every machine.
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Retention date: the same calendar day `years` later, as YYYY-MM-DD (29 Feb rolls to 1 Mar). */
export function retentionDate(createdAt: string, years = RETENTION_YEARS): string {
  const d = new Date(createdAt);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d.toISOString().slice(0, 10);
}

/** Stable bytes: fixed key order, 2-space indent, trailing newline. */
function serialize(m: Manifest): string {
  const ordered: Manifest = {
    schema: m.schema,
    session_id: m.session_id,
    mode: m.mode,
    created_at: m.created_at,
    retention_until: m.retention_until,
    tool_version: m.tool_version,
    git_commit: m.git_commit,
    trace_file: m.trace_file,
    chain_head: m.chain_head,
    trace_lines: m.trace_lines,
    journal_file: m.journal_file,
    journal_head: m.journal_head,
    journal_lines: m.journal_lines,
    files: m.files.map((f) => ({ path: f.path, sha256: f.sha256, bytes: f.bytes })),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/**
 * Writes `<sessionDir>/manifest.json` and returns it. Refuses to seal a trace whose chain does not
 * end at `chainHead` after `traceLines` lines. Keeps the created_at of an existing manifest
 * unless `info.createdAt` is given (a deliberate re-seal).
 * Example: writeManifest(dir, { sessionId, mode: "staging", chainHead: trace.head, traceLines: trace.seq, toolVersion: "0.1.0", gitCommit: currentGitCommit() })
 */
export function writeManifest(sessionDir: string, info: ManifestInfo): Manifest {
  const file = path.join(sessionDir, MANIFEST_FILE);
  if (!fs.existsSync(sessionDir) || !fs.statSync(sessionDir).isDirectory()) {
    throw new ManifestError("EVIDENCE_MANIFEST_MISSING", file, "session directory does not exist");
  }
  const tracePath = path.join(sessionDir, TRACE_FILE);
  if (fs.existsSync(tracePath) || info.traceLines > 0) {
    const check = verifyChain(tracePath, { lines: info.traceLines, head: info.chainHead });
    if (!check.ok) {
      const b = check.firstBroken;
      throw new ManifestError(
        "EVIDENCE_MANIFEST_INVALID",
        file,
        `trace does not match the chain head to seal: line ${b?.line}: ${b ? chainBreakText(b) : ""}`,
      );
    }
  }
  const journal = sealedJournal(sessionDir, file, info);
  let createdAt = info.createdAt ?? new Date().toISOString();
  if (!info.createdAt && fs.existsSync(file)) {
    try {
      createdAt = readManifest(sessionDir).created_at;
    } catch {
      // An unreadable old manifest is replaced; its date cannot be trusted anyway.
    }
  }
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    session_id: info.sessionId,
    mode: info.mode,
    created_at: createdAt,
    retention_until: retentionDate(createdAt),
    tool_version: info.toolVersion,
    git_commit: info.gitCommit,
    trace_file: TRACE_FILE,
    chain_head: info.chainHead,
    trace_lines: info.traceLines,
    journal_file: JOURNAL_FILE,
    journal_head: journal.head,
    journal_lines: journal.lines,
    files: listSessionFiles(sessionDir).map((rel) => {
      const abs = path.join(sessionDir, ...rel.split("/"));
      return { path: rel, sha256: sha256File(abs), bytes: fs.statSync(abs).size };
    }),
  };
  const text = serialize(manifest);
  if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return manifest;
  // Write then rename, so a crash never leaves half a manifest.
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return manifest;
}

/**
 * The journal's head and line count to seal, checked: a chain broken anywhere (a torn last line
 * included: repair it first with Journal.open(dir).repairTail()) or written by an older tool
 * (not chained) is refused, naming the line; given values must match the file.
 */
function sealedJournal(sessionDir: string, file: string, info: ManifestInfo): { head: string; lines: number } {
  const journalPath = path.join(sessionDir, JOURNAL_FILE);
  if (!fs.existsSync(journalPath)) {
    if (info.journalLines) throw new ManifestError("EVIDENCE_MANIFEST_INVALID", file, `${JOURNAL_FILE} is missing`);
    return { head: GENESIS, lines: 0 };
  }
  const expected = info.journalLines === undefined ? undefined : { lines: info.journalLines, head: info.journalHead };
  const read = readJournalFile(journalPath, expected);
  if (!read.chained)
    throw new ManifestError(
      "EVIDENCE_MANIFEST_INVALID",
      file,
      `${JOURNAL_FILE} was written by an older tool (entries not hash-chained) and cannot be sealed as manifest@2`,
    );
  if (!read.ok) {
    const b = read.firstBroken;
    throw new ManifestError(
      "EVIDENCE_MANIFEST_INVALID",
      file,
      `journal chain broken, refusing to seal: ${JOURNAL_FILE} line ${b?.line}: ${b ? chainBreakText(b) : ""}`,
    );
  }
  return { head: read.head, lines: read.lines };
}

/** Reads and validates `<sessionDir>/manifest.json` (@2, or @1 from an older tool); throws ManifestError. */
export function readManifest(sessionDir: string): Manifest {
  const file = path.join(sessionDir, MANIFEST_FILE);
  let raw: string;
  try {
    raw = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ManifestError("EVIDENCE_MANIFEST_MISSING", file, "cannot read", { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ManifestError("EVIDENCE_MANIFEST_INVALID", file, "not valid JSON", { cause: err });
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(
      "EVIDENCE_MANIFEST_INVALID",
      file,
      `${issue.path.join(".") || "(root)"}: ${issue.message}`,
      { cause: parsed.error },
    );
  }
  const m = parsed.data as Manifest;
  if (
    m.schema === MANIFEST_SCHEMA &&
    (m.journal_file === undefined || m.journal_head === undefined || m.journal_lines === undefined)
  )
    throw new ManifestError(
      "EVIDENCE_MANIFEST_INVALID",
      file,
      `${MANIFEST_SCHEMA} without journal_file, journal_head and journal_lines`,
    );
  return m;
}

/** SHA-256 of manifest.json's bytes: one value that anchors the whole session (paste it in the ticket). */
export function manifestHash(sessionDir: string): string {
  const file = path.join(sessionDir, MANIFEST_FILE);
  if (!fs.existsSync(file)) throw new ManifestError("EVIDENCE_MANIFEST_MISSING", file, "no manifest");
  return sha256File(file);
}

/** HEAD of the git work tree at `cwd`, or null outside git (recorded as such in the manifest). */
export function currentGitCommit(cwd = process.cwd()): string | null {
  try {
    const out = execFileSync("git", ["rev-parse", "HEAD"], {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return /^[0-9a-f]{40,64}$/.test(out) ? out : null;
  } catch {
    return null;
  }
}
