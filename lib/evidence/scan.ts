/**
 * Secret and card-number scanner (issue 5 §3). Uses the redactor's detectors in their value-only
 * profile: card numbers (Luhn), JWTs, API-key shapes, bearer tokens with real token material, and
 * the known secret values of the environment. Reports `path:line: kind (masked excerpt)`; the
 * secret itself is never printed.
 *
 * Secrets learned in another process (the kernel's tokens and client secrets) are found through
 * the session's salted hashes (SECRET_HASHES_FILE, issue 13 §7; lib/evidence/secret-hashes.ts): every
 * such file among the scanned paths is loaded, plus any given (`ScanOptions.hashes`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { ScanPathError, SecretLeakError } from "../errors";
import { type Finding, type FindingKind, REDACTED, detect } from "./detect";
import { SECRET_HASHES_FILE, isIgnoredFile } from "./files";
import { type HashIndex, type SecretHashes, hashIndex, hashMatches, readSecretHashes } from "./secret-hashes";
import { SecretRegistry, envSecrets } from "./secrets";

export const DEFAULT_SCAN_PATHS = ["archive", "docs", "notebooks"];

/**
 * The evidence file types. A scan walks every file of a folder (issue 25: a card number in
 * `.ipynb_checkpoints/` passed `npm run scan <dir>`); a caller may narrow it to these.
 */
export const SCANNED_EXTENSIONS = [".ipynb", ".html", ".jsonl", ".log", ".md", ".json", ".txt", ".svg", ".png"];

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
  /** Extensions walked in directories: "all" (the default) walks every file; e.g. SCANNED_EXTENSIONS narrows it. */
  extensions?: string[] | "all";
  /**
   * Walk editor, Jupyter and OS leftovers too (`.ipynb_checkpoints/`, swap files, …): default true.
   * The manifest does not hash them, but a card number in one is on disk all the same (issue 25).
   */
  leftovers?: boolean;
  /** Called once per scanned file (for counting). */
  onFile?: (file: string) => void;
  /**
   * Salted hashes of secrets learned elsewhere, besides those of every SECRET_HASHES_FILE among the
   * scanned paths (always loaded), e.g. the hook's `--hashes-from archive`.
   */
  hashes?: SecretHashes[];
}

/** Findings of both kinds, sorted; a span overlapping an earlier one is dropped (it is masked already). */
function mergeSpans(a: Finding[], b: Finding[]): Finding[] {
  if (b.length === 0) return a;
  // Hash findings first: on the same span (a bearer token that is also a learned one) the label wins.
  const all = [...b, ...a].sort((x, y) => x.start - y.start || y.end - x.end);
  const out: Finding[] = [];
  for (const f of all) {
    const last = out[out.length - 1];
    if (last && f.start < last.end) {
      if (f.end > last.end) last.end = f.end;
      continue;
    }
    out.push({ ...f });
  }
  return out;
}

/**
 * Every SECRET_HASHES_FILE under `paths` (directories walked, leftovers skipped), read. A file that
 * cannot be read or has no valid header throws ScanPathError: a scan never silently looks for less.
 */
export function findSecretHashes(paths: string[]): SecretHashes[] {
  const files = listScanFiles(paths, "all", false).filter((f) => path.basename(f) === SECRET_HASHES_FILE);
  return files.map((f) => readSecretHashes(f));
}

/** Builds the registry of secret values to look for: the environment's plus any extra. */
export function scanRegistry(opts: ScanOptions = {}): SecretRegistry {
  const reg = new SecretRegistry();
  for (const e of envSecrets(opts.env ?? process.env)) reg.add(e.value, e.label);
  for (const e of opts.registry?.entries() ?? []) reg.add(e.value, e.label);
  return reg;
}

/** Scans one text; `displayPath` is only used in the hits. */
export function scanText(
  text: string,
  displayPath: string,
  registry: SecretRegistry,
  allowPragma = false,
  hashes?: HashIndex,
): Hit[] {
  const hits: Hit[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (allowPragma && line.includes(ALLOW_PRAGMA)) continue;
    const found = mergeSpans(
      detect(line, registry, { valueShapesOnly: true }),
      hashes ? hashMatches(line, hashes).map((m) => ({ kind: "secret" as const, ...m, replacement: REDACTED })) : [],
    );
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
  return [...hits, ...splitCards(lines, displayPath, registry, allowPragma)];
}

/** Characters either side of a line break that a card number split across two lines can span. */
const JOINT = 40;

/** Card numbers written across a line break (half on each line): each reported once, on its first line. */
function splitCards(lines: string[], displayPath: string, registry: SecretRegistry, allowPragma: boolean): Hit[] {
  const hits: Hit[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    if (allowPragma && (lines[i].includes(ALLOW_PRAGMA) || lines[i + 1].includes(ALLOW_PRAGMA))) continue;
    const tail = lines[i].slice(-JOINT);
    const joint = `${tail}\n${lines[i + 1].slice(0, JOINT)}`;
    for (const f of detect(joint, registry, { valueShapesOnly: true }))
      if (f.kind === "pan" && f.start < tail.length && f.end > tail.length + 1)
        hits.push({
          path: displayPath,
          line: i + 1,
          column: lines[i].length - tail.length + f.start + 1,
          kind: "pan",
          excerpt: `…${f.replacement} (split across lines ${i + 1}–${i + 2})`,
        });
  }
  return hits;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The text chunks of a PNG (tEXt, zTXt, iTXt, compressed or not), one `keyword: text` line each;
 * null when `buf` is not a PNG. A chunk that cannot be inflated is shown as such, not skipped.
 */
export function pngText(buf: Buffer): string | null {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) return null;
  const lines: string[] = [];
  for (let at = 8; at + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString("latin1", at + 4, at + 8);
    const data = buf.subarray(at + 8, Math.min(buf.length, at + 8 + len));
    at += 12 + len;
    if (type !== "tEXt" && type !== "zTXt" && type !== "iTXt") continue;
    const nul = data.indexOf(0);
    const keyword = data.toString("latin1", 0, Math.max(0, nul));
    try {
      if (type === "tEXt") lines.push(`${keyword}: ${data.toString("latin1", nul + 1)}`);
      else if (type === "zTXt")
        lines.push(`${keyword}: ${zlib.inflateSync(data.subarray(nul + 2)).toString("latin1")}`);
      else {
        const compressed = data[nul + 1] === 1;
        const lang = data.indexOf(0, nul + 3);
        const text = data.subarray(data.indexOf(0, lang + 1) + 1);
        lines.push(`${keyword}: ${(compressed ? zlib.inflateSync(text) : text).toString("utf8")}`);
      }
    } catch {
      lines.push(`${keyword}: (a ${type} chunk that does not inflate)`);
    }
  }
  return lines.map((l) => l.replace(/[\r\n]+/g, " ")).join("\n");
}

function isBinary(buf: Buffer): boolean {
  return buf.subarray(0, 8192).includes(0);
}

function walk(dir: string, exts: Set<string> | null, leftovers: boolean, out: string[]): void {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, ent.name);
    if (!leftovers && isIgnoredFile(ent.name)) continue;
    if (ent.isDirectory()) {
      walk(p, exts, leftovers, out);
    } else if (ent.isFile() && (!exts || exts.has(path.extname(ent.name).toLowerCase()))) {
      out.push(p);
    }
  }
}

/**
 * Lists the files a scan of `paths` covers: directories are walked whole (symlinks not followed),
 * hidden folders, `.git/` and `node_modules/` included (a session folder's are hashed into its
 * manifest like any file, issue 25), and editor, Jupyter and OS leftovers unless `leftovers` is
 * false; files are taken as given. Throws ScanPathError for a path that does not exist.
 */
export function listScanFiles(paths: string[], extensions: string[] | "all" = "all", leftovers = true): string[] {
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
  const byFile = new Map<string, SecretHashes>();
  for (const h of [...(opts.hashes ?? []), ...findSecretHashes(paths)]) byFile.set(path.resolve(h.file), h);
  const hashes = hashIndex([...byFile.values()]);
  const hits: Hit[] = [];
  for (const file of listScanFiles(paths, opts.extensions, opts.leftovers)) {
    const buf = fs.readFileSync(file);
    const display = file.split(path.sep).join("/");
    if (isBinary(buf)) {
      // Of a binary file only a PNG's text chunks are read; "line" n is its n-th text chunk.
      const text = pngText(buf);
      if (text === null) continue;
      opts.onFile?.(file);
      hits.push(...scanText(text, display, registry, false, hashes));
      continue;
    }
    opts.onFile?.(file);
    const allow = PRAGMA_EXTENSIONS.has(path.extname(file).toLowerCase());
    hits.push(...scanText(buf.toString("utf8"), display, registry, allow, hashes));
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
