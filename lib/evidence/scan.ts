/**
 * Secret and card-number scanner (issue 5 §3). Uses the redactor's detectors in their value-only
 * profile: card numbers (Luhn), JWTs, API-key shapes, bearer tokens with real token material, and
 * the known secret values of the environment. Reports `path:line: kind (masked excerpt)`; the
 * secret itself is never printed.
 *
 * Secrets learned in another process (the kernel's tokens and client secrets) are found through
 * the session's salted hashes (SECRET_HASHES_FILE, issue 13 §7): every such file among the scanned
 * paths is loaded, and each line is cut into candidates — a window of token characters
 * (`isTokenChar`) that starts at a run's start, after a non-alphanumeric character, or right after an
 * escape (`\n`, `\uXXXX`, `%XX`: a token in a JSON string or a URL-encoded query), and ends at the
 * run's end or next to a non-alphanumeric character — whose length is one of the registered
 * lengths. Each candidate's HMAC with the session's salt is compared with the registered ones. Work is
 * linear in (boundary positions × distinct lengths), HMACs only where both ends are boundaries.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ScanPathError, SecretLeakError } from "../errors";
import { type Finding, type FindingKind, REDACTED, detect } from "./detect";
import { SECRET_HASHES_FILE, isIgnoredFile } from "./files";
import {
  ALNUM,
  CHAR_CLASS,
  HEX,
  type SecretHashes,
  SecretRegistry,
  TOKEN_CHAR,
  envSecrets,
  readSecretHashes,
  secretHmac,
} from "./secrets";

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
  /**
   * Salted hashes of secrets learned elsewhere, besides those of every SECRET_HASHES_FILE among the
   * scanned paths (always loaded), e.g. the hook's `--hashes-from archive`.
   */
  hashes?: SecretHashes[];
}

// ------------------------------------------------------------------ salted-hash matching

/** The registered hashes, by length, ready for the scanner. */
export interface HashIndex {
  sets: Array<{ salt: Buffer; byLength: Map<number, Map<string, string>> }>;
  /** Distinct registered lengths, ascending. */
  lengths: number[];
  /** candidate → label or "" (no match), per set; bounded, cleared when full. */
  cache: Map<string, string>;
}

const CACHE_MAX = 200_000;

export function hashIndex(all: SecretHashes[]): HashIndex {
  const lengths = new Set<number>();
  const sets = all.map((h) => {
    const byLength = new Map<number, Map<string, string>>();
    for (const e of h.entries) {
      if (!byLength.has(e.length)) byLength.set(e.length, new Map());
      byLength.get(e.length)?.set(e.hmac, e.label);
      lengths.add(e.length);
    }
    return { salt: h.salt, byLength };
  });
  return { sets, lengths: [...lengths].sort((a, b) => a - b), cache: new Map() };
}

const BACKSLASH = 92;
const PERCENT = 37;
const LETTER_U = 117;
// Local copies: an imported binding read in the hot loop costs a getter call once compiled to CommonJS.
const CLASS = CHAR_CLASS;
const T_TOKEN = TOKEN_CHAR;
const T_ALNUM = ALNUM;
const T_HEX = HEX;
const hmacOf = secretHmac;

/** Occurrences of registered secrets in one line, found by their salted hashes (see the module comment). */
export function hashFindings(s: string, index: HashIndex): Finding[] {
  const out: Finding[] = [];
  const { lengths, sets, cache } = index;
  if (lengths.length === 0 || s.length < lengths[0]) return out;
  const min = lengths[0];
  const n = s.length;
  // One pass of character classes: the hot loop then reads bytes only.
  const cls = new Uint8Array(n + 1);
  for (let p = 0; p < n; p++) {
    const c = s.charCodeAt(p);
    cls[p] = c < 128 ? CLASS[c] : 0;
  }
  let i = 0;
  while (i < n) {
    while (i < n && !(cls[i] & T_TOKEN)) i++;
    const from = i;
    while (i < n && cls[i] & T_TOKEN) i++;
    const to = i;
    if (to - from < min) continue;
    for (let p = from; p + min <= to; p++) {
      // A start: the run's start, after a non-alphanumeric, or after an escape (\n, %3D, \u003d).
      const starts =
        p === from ||
        !(cls[p - 1] & T_ALNUM) ||
        (p - 2 >= from && s.charCodeAt(p - 2) === BACKSLASH) ||
        (p - 3 >= from && s.charCodeAt(p - 3) === PERCENT && cls[p - 2] & T_HEX) ||
        (p - 6 >= from && s.charCodeAt(p - 6) === BACKSLASH && s.charCodeAt(p - 5) === LETTER_U);
      if (!starts) continue;
      for (const len of lengths) {
        const e = p + len;
        if (e > to) break;
        // An end: the run's end, or next to a non-alphanumeric character.
        if (e !== to && cls[e] & T_ALNUM && cls[e - 1] & T_ALNUM) continue;
        const candidate = s.slice(p, e);
        for (let k = 0; k < sets.length; k++) {
          const want = sets[k].byLength.get(len);
          if (!want) continue;
          const key = `${k}\u0000${candidate}`;
          let label = cache.get(key);
          if (label === undefined) {
            label = want.get(hmacOf(sets[k].salt, candidate)) ?? "";
            if (cache.size >= CACHE_MAX) cache.clear();
            cache.set(key, label);
          }
          if (label) out.push({ kind: "secret", label, start: p, end: e, replacement: REDACTED });
        }
      }
    }
  }
  return out;
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
  const files = listScanFiles(paths, "all").filter((f) => path.basename(f) === SECRET_HASHES_FILE);
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
      hashes ? hashFindings(line, hashes) : [],
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
  const byFile = new Map<string, SecretHashes>();
  for (const h of [...(opts.hashes ?? []), ...findSecretHashes(paths)]) byFile.set(path.resolve(h.file), h);
  const hashes = hashIndex([...byFile.values()]);
  const hits: Hit[] = [];
  for (const file of listScanFiles(paths, opts.extensions, opts.leftovers)) {
    const buf = fs.readFileSync(file);
    if (isBinary(buf)) continue;
    opts.onFile?.(file);
    const allow = PRAGMA_EXTENSIONS.has(path.extname(file).toLowerCase());
    hits.push(...scanText(buf.toString("utf8"), file.split(path.sep).join("/"), registry, allow, hashes));
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
