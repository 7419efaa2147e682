/**
 * The files of a session folder, named once (issue 10): every module and test that reads or
 * writes one of them imports its name from here.
 */

/** The journal: one JSON line per intent and outcome, fsynced before money can move. */
export const JOURNAL_FILE = "state.jsonl";
/** Torn journal tails set aside before the next append: one JSON line per repair (issue 13). */
export const JOURNAL_QUARANTINE_FILE = "state.quarantine.jsonl";
/** The hash-chained log of every request, response, poll and operator acknowledgement. */
export const TRACE_FILE = "trace.jsonl";
/** Hashes and sizes of every file, chain head, versions, retention date; written by the archive. */
export const MANIFEST_FILE = "manifest.json";
/**
 * The RFC 3161 timestamp token over the manifest's SHA-256 (issue 24 §5), written beside the manifest
 * when a time-stamping authority is configured. Not listed in the manifest: it is made after it.
 */
export const MANIFEST_TSR_FILE = "manifest.json.tsr";
/** The operator's SSH signature over the manifest (issue 24 §1, `ssh-keygen -Y sign`; lib/evidence/signature.ts). */
export const MANIFEST_SIG_FILE = "manifest.json.sig";
/** A re-seal statement and its signature, `reseal-<k>.json(.sig)` (issue 24 §2; lib/evidence/reseal.ts). */
export const RESEAL_STATEMENT_RE = /^reseal-(\d+)\.json(\.sig)?$/;
/** Files written beside the manifest, over it, and so never listed in it: its timestamp and its signature. */
export const SEAL_COMPANION_FILES: readonly string[] = [MANIFEST_TSR_FILE, MANIFEST_SIG_FILE];
/**
 * True for a file of the session folder's top level that the seal writes beside the manifest, after
 * it: SEAL_COMPANION_FILES and the re-seal statements. The manifest never lists one, verify never
 * calls one an extra file (the one list both the manifest and verify use; Python: SEAL_COMPANIONS).
 */
export function isSealCompanionFile(name: string): boolean {
  return SEAL_COMPANION_FILES.includes(name) || RESEAL_STATEMENT_RE.test(name);
}
/** The session's own report block (templates/session-block.md, filled). */
export const REPORT_FILE = "report.md";
/** The executed runbook, copied from notebooks/ with the parameters injected. */
export const SESSION_NOTEBOOK = "payment-e2e.ipynb";
/** nbconvert's export of the session notebook, written beside it by the archive. */
export const SESSION_HTML = "payment-e2e.html";
/**
 * Salted hashes of the secrets the kernel learned (tokens, the checkout's client secret, API key):
 * a per-session salt, then one `{label, form, length, hmac}` line per written form; never a value.
 * Written by `recordSecretHash` (lib/evidence/secret-hashes.ts), read by the scanner (evidence/scan.ts).
 */
export const SECRET_HASHES_FILE = "secrets.sha256.jsonl";
/**
 * The kernel's own copy of what it displayed (issue 22 item 6): one JSON line per cell call and per
 * output (redacted, as shown), written by the notebook's sink (lib/notebook/sink.ts) and hashed into
 * the manifest. The archive and verify compare the notebook with it; `--restore-outputs` writes it back.
 */
export const OUTPUTS_FILE = "outputs.jsonl";
/**
 * The lock of the kernel that has the session open (`{pid, host, since}`): one kernel per session.
 * Named like an editor lock (`.#…`), so the manifest, both verifiers and git ignore it: never evidence.
 */
export const SESSION_LOCK_FILE = ".#session.lock";
/** The poll-latency plot (steps 5 and 9): `.svg` and `.png`. */
export const POLL_PLOT = "poll-latency";
/** The dry run vs live comparison, under `<archive>/comparisons/<staging>--<live>/` (never a session folder): `.md`, `.svg` and `.png`. */
export const COMPARISON_FILE = "comparison";

// ------------------------------------------------------------------------------ not evidence

/** Folders that editors, Jupyter and Python leave behind: never evidence, wherever they appear. */
export const IGNORED_DIRS: ReadonlySet<string> = new Set([
  ".ipynb_checkpoints", // Jupyter's copy of the notebook at each save
  ".virtual_documents", // JupyterLab's language-server shadow files
  "__pycache__",
  ".pytest_cache",
  ".mypy_cache",
  ".idea",
  ".vscode",
  ".Trash-0",
]);

/** File names that editors and operating systems leave behind (tested on the base name). */
const IGNORED_NAMES: ReadonlyArray<RegExp> = [
  /~$/, // Emacs, gedit, nano backups: report.md~
  /^\.#/, // Emacs lock files: .#report.md
  /^#.*#$/, // Emacs auto-save: #report.md#
  /^\..*\.sw[a-p]$/, // Vim swap files: .report.md.swp, .swo, …
  /^\.~lock\..*#$/, // LibreOffice locks
  /^\.DS_Store$/,
  /^\._/, // macOS resource forks on foreign file systems
  /^Thumbs\.db$/i,
  /^desktop\.ini$/i,
  /\.py[co]$/,
];

/**
 * True for a path (relative, `/` or the OS separator) that is an editor, Jupyter or OS leftover:
 * inside `.ipynb_checkpoints/`, `__pycache__/` and the other IGNORED_DIRS, or named like a backup,
 * swap, lock or OS metadata file (`*~`, `.*.swp`, `.#*`, `.DS_Store`, …). The manifest never hashes
 * such a file and verify never reports it, so saving a notebook in Jupyter (which writes a
 * checkpoint) after sealing changes nothing that was sealed. .gitignore keeps them out of commits.
 * Scans still read them (lib/evidence/scan.ts): a card number in a checkpoint is on disk all the same.
 * @example isIgnoredFile(".ipynb_checkpoints/payment-e2e-checkpoint.ipynb") // true
 */
export function isIgnoredFile(rel: string): boolean {
  const parts = rel.split(/[\\/]/).filter(Boolean);
  if (parts.slice(0, -1).some((d) => IGNORED_DIRS.has(d))) return true;
  const name = parts[parts.length - 1] ?? "";
  return IGNORED_DIRS.has(name) || IGNORED_NAMES.some((re) => re.test(name));
}
