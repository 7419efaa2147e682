/**
 * Secret and card-number scanner (issue 5 §3). Uses the redactor's detectors in their value-only
 * profile: card numbers (Luhn), JWTs, API-key shapes, bearer tokens with real token material, and
 * the known secret values of the environment. Reports `path:line: kind (masked excerpt)`; the
 * secret itself is never printed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ScanPathError, SecretLeakError } from "../errors";
import { type FindingKind, detect } from "./detect";
import { isIgnoredFile } from "./files";
import { SecretRegistry, envSecrets } from "./secrets";

export const DEFAULT_SCAN_PATHS = ["archive", "docs", "notebooks"];

/** Extensions walked inside directories; a file named explicitly is scanned whatever its extension. */
export const SCANNED_EXTENSIONS = [".ipynb", ".html", ".jsonl", ".log", ".md", ".json", ".txt", ".svg"];

/** Never descended into while walking. */
const SKIPPED_DIRS = new Set([".git", "node_modules"]);

/**
 * Source files may mark a deliberate fixture with this pragma on the same line (e.g. the sandbox's
 * well-known test key). Evidence files (notebooks, HTML, traces, logs) are never exempted.
 */
export const ALLOW_PRAGMA = "evidence-scan: allow";
const PRAGMA_EXTENSIONS = new Set([".ts", ".js", ".mjs", ".cjs", ".sh", ".py", ".yml", ".yaml", ".toml"]);

const EXCERPT_CONTEXT = 24; // characters of masked context either side of a hit

export interface Hit {
  /** As given or found under a given directory, with forward slashes. */
  path: string;
  line: number; // 1-based
  column: number; // 1-based
  kind: FindingKind;
  /** Registry label of a known secret (e.g. "OPERATOR_PASSWORD"). */
  label?: string;
  /** The line around the hit with every finding masked. */
  excerpt: string;
}

export interface ScanOptions {
  /** Environment whose secrets are looked for; default process.env. */
  env?: Record<string, string | undefined>;
  /** Extra secrets, e.g. tokens obtained during the run (the shared `secrets` registry). */
  registry?: SecretRegistry;
  /** Extensions walked in directories (default SCANNED_EXTENSIONS); "all" walks every file. */
  extensions?: string[] | "all";
  /**
   * Also walk editor, Jupyter and OS leftovers (`.ipynb_checkpoints/`, swap files, …), which evidence
   * scans skip like the manifest does. The pre-commit hook sets it: whatever is staged is scanned.
   */
  leftovers?: boolean;
  /** Called once per scanned file (for counting). */
  onFile?: (file: string) => void;
}

/** Builds the registry of secret values to look for: the environment's plus any extra. */
export function scanRegistry(opts: ScanOptions = {}): SecretRegistry {
  const reg = new SecretRegistry();
  for (const e of envSecrets(opts.env ?? process.env)) reg.add(e.value, e.label);
  for (const e of opts.registry?.entries() ?? []) reg.add(e.value, e.label);
  return reg;
}

/** Scans one text; `displayPath` is only used in the hits. */
export function scanText(text: string, displayPath: string, registry: SecretRegistry, allowPragma = false): Hit[] {
  const hits: Hit[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (allowPragma && line.includes(ALLOW_PRAGMA)) continue;
    const found = detect(line, registry, { valueShapesOnly: true });
    if (found.length === 0) continue;
    // Mask the whole line once, remembering where each finding lands, then cut excerpts from it:
    // slicing the raw line could leave half a secret in the context.
    let masked = "";
    let at = 0;
    const where: number[] = [];
    for (const f of found) {
      masked += line.slice(at, f.start);
      where.push(masked.length);
      masked += f.replacement;
      at = f.end;
    }
    masked += line.slice(at);
    found.forEach((f, k) => {
      const from = Math.max(0, where[k] - EXCERPT_CONTEXT);
      const to = Math.min(masked.length, where[k] + f.replacement.length + EXCERPT_CONTEXT);
      const excerpt = `${from > 0 ? "…" : ""}${masked.slice(from, to)}${to < masked.length ? "…" : ""}`.replace(
        /\s+/g,
        " ",
      );
      hits.push({ path: displayPath, line: i + 1, column: f.start + 1, kind: f.kind, label: f.label, excerpt });
    });
  }
  return hits;
}

function isBinary(buf: Buffer): boolean {
  return buf.subarray(0, 8192).includes(0);
}

function walk(dir: string, exts: Set<string> | null, leftovers: boolean, out: string[]): void {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, ent.name);
    if (!leftovers && isIgnoredFile(ent.name)) continue;
    if (ent.isDirectory()) {
      if (!SKIPPED_DIRS.has(ent.name)) walk(p, exts, leftovers, out);
    } else if (ent.isFile() && (!exts || exts.has(path.extname(ent.name).toLowerCase()))) {
      out.push(p);
    }
  }
}

/**
 * Lists the files a scan of `paths` covers: directories are walked (symlinks not followed), skipping
 * editor, Jupyter and OS leftovers (`isIgnoredFile`, as the manifest does) unless `leftovers` is set;
 * files are taken as given. Throws ScanPathError for a path that does not exist.
 */
export function listScanFiles(
  paths: string[],
  extensions: string[] | "all" = SCANNED_EXTENSIONS,
  leftovers = false,
): string[] {
  const exts = extensions === "all" ? null : new Set(extensions.map((e) => e.toLowerCase()));
  const out: string[] = [];
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (err) {
      throw new ScanPathError(p, "no such file or directory", { cause: err });
    }
    if (st.isDirectory()) walk(p, exts, leftovers, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/**
 * Scans files and directories for secrets and card numbers.
 * Example: scanPaths(["archive/payment-e2e/2026-11-26-staging"], { registry: secrets }).length === 0
 */
export function scanPaths(paths: string[], opts: ScanOptions = {}): Hit[] {
  const registry = scanRegistry(opts);
  const hits: Hit[] = [];
  for (const file of listScanFiles(paths, opts.extensions, opts.leftovers)) {
    const buf = fs.readFileSync(file);
    if (isBinary(buf)) continue;
    opts.onFile?.(file);
    const allow = PRAGMA_EXTENSIONS.has(path.extname(file).toLowerCase());
    hits.push(...scanText(buf.toString("utf8"), file.split(path.sep).join("/"), registry, allow));
  }
  return hits;
}

/** One report line, e.g. `archive/x/trace.jsonl:12: pan (…card [PAN ****4242] ok…)`. */
export function formatHit(h: Hit): string {
  return `${h.path}:${h.line}: ${h.kind}${h.label ? ` ${h.label}` : ""} (${h.excerpt})`;
}

/** For the archive step: throws SecretLeakError (masked hit lines) when anything is found. */
export function assertNoLeaks(paths: string[], opts: ScanOptions = {}): void {
  const hits = scanPaths(paths, opts);
  if (hits.length > 0) throw new SecretLeakError(hits.map(formatHit));
}
