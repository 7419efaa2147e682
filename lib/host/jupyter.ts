/**
 * Over 300 lines, not split: the two ways to export share one path (the audit copy, the page's checks) and must not drift apart in two files.
 *
 * Real Jupyter, driven headless: our executor (jupyter/execute.py, nbclient) runs a session
 * notebook with the project-local tslab kernelspec (JUPYTER_PATH=<repo>/jupyter, no global
 * install), saving it after every cell; nbconvert exports the audit HTML (lib/host/html.ts,
 * templates/nbconvert/audit). Errors are allowed (every cell runs); the guard that stops later
 * steps lives in the lib (SKIPPED), not in the executor.
 * One Python process for both (issue 15): `executeNotebook(…, { exportAfter: true })` leaves the
 * executor waiting, nbconvert already loaded, for the one `exportHtml` of that notebook; any other
 * export runs nbconvert's command line.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as readline from "node:readline";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type RunbookError, ToolError } from "../errors";
import { MANIFEST_FILE } from "../evidence/files";
import { repoRoot } from "../paths";
import { AUDIT_NOTE, auditCopy, selfContainedProblems } from "./html";
import { readNotebook, silentCells, writeNotebook, type Notebook } from "./nbfile";

/** Jupyter's command could not be started at all: the one-line fix is the set-up command. */
const cannotStart = (command: string, err: Error): RunbookError =>
  new ToolError(
    "E2E_JUPYTER",
    `cannot start ${command} (${err.message}); run bash scripts/setup.sh, which installs Jupyter into .venv`,
    { cause: err },
  );

export const REPO_ROOT = repoRoot();

/** Debian's Jupyter (jupyter-nbconvert, jupyter-notebook): nbconvert 6 and the classic Notebook 6.4. */
export const DEBIAN_JUPYTER = "/usr/bin/jupyter";

/** A binary of the project-local venv that `scripts/setup.sh` fills from jupyter/requirements.txt. */
export function venvBin(name: string): string {
  return path.join(REPO_ROOT, ".venv", "bin", name);
}

/**
 * The `jupyter` that executes and exports: the project venv's (pinned nbconvert 7), then Debian's
 * (`/usr/bin/jupyter`: the python3 on PATH may be another Python without Jupyter, docs/platform.md),
 * then whatever `jupyter` is on PATH.
 */
export function jupyterCommand(): string {
  const venv = venvBin("jupyter");
  if (fs.existsSync(venv)) return venv;
  return fs.existsSync(DEBIAN_JUPYTER) ? DEBIAN_JUPYTER : "jupyter";
}

/** JupyterLab's launcher: the project venv's, else a `jupyter-lab` on PATH that answers; null when neither. */
export function jupyterLabCommand(): string | null {
  const venv = venvBin("jupyter-lab");
  if (fs.existsSync(venv)) return venv;
  return spawnSync("jupyter-lab", ["--version"], { stdio: "ignore", timeout: 30_000 }).status === 0
    ? "jupyter-lab"
    : null;
}

/** Debian's classic Notebook server (`/usr/bin/jupyter notebook`), the fallback UI; null when not installed. */
export function classicNotebookCommand(): string | null {
  if (!fs.existsSync(DEBIAN_JUPYTER)) return null;
  return spawnSync(DEBIAN_JUPYTER, ["notebook", "--version"], { stdio: "ignore", timeout: 30_000 }).status === 0
    ? DEBIAN_JUPYTER
    : null;
}

export function jupyterEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, JUPYTER_PATH: path.join(REPO_ROOT, "jupyter"), ...extra };
}

export interface RunResult {
  code: number;
  ms: number;
  stderr: string;
}

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  command = jupyterCommand(),
  onStart?: (pid: number) => void,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    if (child.pid !== undefined) onStart?.(child.pid);
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20000)));
    // SIGTERM first (the executor then shuts its kernel down and saves), SIGKILL if it lingers.
    let hard: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      hard = setTimeout(() => child.kill("SIGKILL"), 20_000);
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(cannotStart(command, err));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ code: code ?? 1, ms: Math.round(performance.now() - t0), stderr });
    });
  });
}

/** The executor's line saying execution ended, when it stays for the export (execute.py `executed`). */
const EXECUTED_LINE = /^execute\.py-executed: (\d+)\n/m; // whole lines only: a chunk may end mid-number

/** An executor that stayed for its notebook's HTML export (jupyter/execute.py --serve-export). */
interface ExportWorker {
  /** Asks for the export of `copy` to `out`; resolves with its answer (never rejects). */
  export(copy: string, out: string, timeoutMs: number): Promise<{ ok: boolean; error: string; ms: number }>;
  /** Lets the executor go without exporting (it exits on the end of its stdin). */
  close(): void;
}

/** Executors waiting to export, by notebook path. */
const exportWorkers = new Map<string, ExportWorker>();

function takeExportWorker(file: string): ExportWorker | undefined {
  const key = path.resolve(file);
  const w = exportWorkers.get(key);
  exportWorkers.delete(key);
  return w;
}

/**
 * Runs the executor with --serve-export: resolves when it says execution ended (or exits), with a
 * worker for the export when it is still there. While it waits, nothing of it keeps Node alive;
 * when Node exits, its stdin closes and it exits too.
 */
function runServing(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  command: string,
  onStart?: (pid: number) => void,
): Promise<{ r: RunResult; worker: ExportWorker | null }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    if (child.pid !== undefined) onStart?.(child.pid);
    let stderr = "";
    let done = false;
    let answer: ((msg: Record<string, unknown> | null) => void) | null = null;
    let hard: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      hard = setTimeout(() => child.kill("SIGKILL"), 20_000);
    }, timeoutMs);
    const finish = (code: number, worker: ExportWorker | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ r: { code, ms: Math.round(performance.now() - t0), stderr }, worker });
    };
    child.stderr!.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-20000);
      const m = EXECUTED_LINE.exec(stderr);
      if (!m || done) return;
      stderr = stderr.replace(EXECUTED_LINE, "");
      holdNodeOpen(child, false);
      finish(Number(m[1]), worker);
    });
    readline.createInterface({ input: child.stdout! }).on("line", (l) => {
      try {
        answer?.(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not an answer
      }
    });
    child.stdin!.on("error", () => undefined); // an executor already gone: the close event says so
    const worker: ExportWorker = {
      export: (copy, out, ms) =>
        new Promise((res) => {
          const t = performance.now();
          holdNodeOpen(child, true);
          const kill = setTimeout(() => child.kill("SIGKILL"), ms);
          answer = (msg) => {
            answer = null;
            clearTimeout(kill);
            holdNodeOpen(child, false);
            child.stdin!.end();
            res({
              ok: msg?.ok === true,
              error: msg ? String(msg.error ?? "") : "the executor exited before answering",
              ms: Math.round(performance.now() - t),
            });
          };
          if (child.exitCode !== null || child.signalCode !== null) answer(null);
          else child.stdin!.write(`${JSON.stringify({ export: copy, out })}\n`);
        }),
      close: () => child.stdin!.end(),
    };
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(cannotStart(command, err));
    });
    child.on("close", (code) => {
      answer?.(null);
      finish(code ?? 1, null);
    });
  });
}

/** Whether a waiting executor keeps Node's event loop alive (only while an export is asked). */
function holdNodeOpen(child: ChildProcess, hold: boolean): void {
  for (const h of [child, child.stdin, child.stdout, child.stderr] as Array<{ ref?(): void; unref?(): void } | null>)
    hold ? h?.ref?.() : h?.unref?.();
}

/** The headless executor (jupyter/execute.py): nbclient, saving the notebook atomically after every cell. */
export const EXECUTOR = path.join(REPO_ROOT, "jupyter", "execute.py");

/** The driver's exit codes (jupyter/execute.py's docstring). */
export const EXECUTOR_EXIT = { ok: 0, usage: 2, save: 3, dead: 4, timeout: 5, error: 6, stopped: 7 } as const;

/**
 * The Python of a `jupyter` launcher (its `#!` line; a bare name is looked up on PATH), so the
 * driver imports the same nbclient: the venv's or Debian's. `python3` when there is no such file.
 */
export function pythonFor(jupyter: string = jupyterCommand()): string {
  if (!path.isAbsolute(jupyter))
    jupyter =
      (process.env.PATH ?? "")
        .split(path.delimiter)
        .map((d) => path.join(d, jupyter))
        .find((f) => fs.existsSync(f)) ?? jupyter;
  if (path.isAbsolute(jupyter)) {
    try {
      const first = fs.readFileSync(jupyter, "utf8").slice(0, 300).split("\n")[0];
      const m = /^#!\s*(\S*python[\d.]*)\s*$/.exec(first);
      if (m && fs.existsSync(m[1])) return m[1];
    } catch {
      // not readable: fall through
    }
    const sibling = path.join(path.dirname(jupyter), "python3");
    if (fs.existsSync(sibling)) return sibling;
  }
  return "python3";
}

/** How far the executed notebook on disk got (`metadata.payment_e2e`, written by the driver). */
export interface SavedState {
  /** Index of the last cell whose outputs are on disk; null when none finished. */
  executedThrough: number | null;
  /** True only when every cell ran and the notebook was saved after the last one. */
  complete: boolean;
}

export function savedState(nb: Notebook): SavedState {
  const m = (nb.metadata.payment_e2e ?? {}) as { executed_through?: unknown; complete?: unknown };
  return {
    executedThrough: typeof m.executed_through === "number" ? m.executed_through : null,
    complete: m.complete === true,
  };
}

/** The operator's sentence for a driver exit, or null for a clean run. */
function executorFailure(code: number, stderr: string, saved: SavedState | null): string | null {
  if (code === EXECUTOR_EXIT.ok) return null;
  const lines = stderr.split("\n").filter(Boolean);
  const said = lines
    .filter((l) => l.startsWith("execute.py: "))
    .slice(-1)[0]
    ?.slice("execute.py: ".length);
  const through =
    saved?.executedThrough == null
      ? "no cell's outputs are saved"
      : `the notebook on disk is saved through cell ${saved.executedThrough}`;
  const why: Record<number, string> = {
    [EXECUTOR_EXIT.save]: "notebook not saved",
    [EXECUTOR_EXIT.dead]: "the kernel died",
    [EXECUTOR_EXIT.timeout]: "a cell timed out",
    [EXECUTOR_EXIT.stopped]: "stopped (overall timeout)",
    [EXECUTOR_EXIT.usage]: "the notebook could not be read",
  };
  // The driver's own line names the cell and what is on disk; without it, say what we know.
  const what = said ?? `${why[code] ?? `executor exit ${code}`} (${lines.slice(-1)[0] ?? "no message"}) — ${through}`;
  return `${what}; re-run the notebook on the same session to resume`;
}

/**
 * Executes the notebook in place with jupyter/execute.py, which saves it atomically after every
 * cell: a dead kernel, a full disk or a read-only folder leaves the notebook as it was after the
 * last finished cell, never a truncated file. Secrets travel in `env`, never in the notebook or
 * argv. `silent` lists the code cells that produced no output (the kernel skipped them): a run with
 * any is incomplete, whatever the exit code says. `failure` is the operator's sentence when the
 * driver did not finish cleanly (`code` says which way: EXECUTOR_EXIT), `saved` how far the file
 * on disk got. `python` picks the interpreter (tests run the venv's nbclient and Debian's).
 */
export async function executeNotebook(
  file: string,
  env: Record<string, string | undefined>,
  opts: {
    cellTimeoutS?: number;
    timeoutMs?: number;
    onStart?: (pid: number) => void;
    python?: string;
    /** Keep the executor, nbconvert loaded, for this notebook's next `exportHtml` (one Python process). */
    exportAfter?: boolean;
  } = {},
): Promise<RunResult & { silent: string[]; saved: SavedState | null; failure: string | null }> {
  // A sealed session folder is read-only to the tool: executing would rewrite its notebook.
  if (fs.existsSync(path.join(path.dirname(file), MANIFEST_FILE)))
    throw new ToolError(
      "E2E_JUPYTER",
      `${file} is in a sealed session folder (manifest.json): nothing is executed there — start a new session with npm run session`,
    );
  const args = [EXECUTOR, file, "--kernel", "tslab", "--timeout", String(opts.cellTimeoutS ?? 900)];
  const timeoutMs = opts.timeoutMs ?? 30 * 60 * 1000;
  const python = opts.python ?? pythonFor();
  let r: RunResult;
  if (opts.exportAfter) {
    takeExportWorker(file)?.close();
    const s = await runServing(
      [...args, "--serve-export", AUDIT_TEMPLATE_DIR],
      jupyterEnv(env),
      timeoutMs,
      python,
      opts.onStart,
    );
    r = s.r;
    if (s.worker) exportWorkers.set(path.resolve(file), s.worker);
  } else r = await run(args, jupyterEnv(env), timeoutMs, python, opts.onStart);
  let silent: string[];
  let saved: SavedState | null = null;
  try {
    const nb = readNotebook(file);
    silent = silentCells(nb);
    saved = savedState(nb);
  } catch {
    silent = ["(the executed notebook is unreadable)"];
  }
  return { ...r, silent, saved, failure: executorFailure(r.code, r.stderr, saved) };
}

/** The nbconvert template of the audit export (`templates/nbconvert/audit`), found through this base dir. */
export const AUDIT_TEMPLATE_DIR = path.join(REPO_ROOT, "templates", "nbconvert");

/**
 * Writes `<name>.html` next to the notebook: the page an auditor reads (lib/host/html.ts).
 * nbconvert exports a rendered copy of the notebook (the notebook itself is not touched) with the
 * audit template, in a scratch folder; the page must be self-contained, or nothing is written.
 * `jupyter` picks the Jupyter to run (tests export with each installed one).
 */
export async function exportHtml(
  file: string,
  /** `sealedAs`: said under the page's heading after AUDIT_NOTE (a seal exception the cells cannot show). */
  opts: { jupyter?: string; sealedAs?: string } = {},
): Promise<RunResult & { html: string; via: "executor" | "nbconvert" }> {
  const html = file.replace(/\.ipynb$/, ".html");
  const name = path.basename(file);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "audit-html-"));
  try {
    const copy = path.join(scratch, name);
    writeNotebook(
      copy,
      auditCopy(readNotebook(file), {
        title: `${name} — session ${path.basename(path.dirname(path.resolve(file)))}`,
        note: opts.sealedAs ? `${AUDIT_NOTE} ${opts.sealedAs}` : AUDIT_NOTE,
      }),
    );
    const out = copy.replace(/\.ipynb$/, ".html");
    // The executor that ran this notebook, nbconvert loaded, if it stayed (executeNotebook's
    // exportAfter); else, or if it cannot, nbconvert's command line. Same copy, same checks below.
    const waiting = takeExportWorker(file);
    if (opts.jupyter) waiting?.close(); // a caller naming its Jupyter gets that one's nbconvert
    const worker = opts.jupyter ? undefined : waiting;
    const served = worker ? await worker.export(copy, out, 5 * 60 * 1000) : null;
    const via = served?.ok && fs.existsSync(out) ? ("executor" as const) : ("nbconvert" as const);
    const r: RunResult =
      via === "executor"
        ? { code: 0, ms: served!.ms, stderr: "" }
        : await run(
            [
              "nbconvert",
              "--to",
              "html",
              "--template",
              "audit",
              `--TemplateExporter.extra_template_basedirs=${AUDIT_TEMPLATE_DIR}`,
              "--no-prompt",
              "--output-dir",
              scratch,
              copy,
            ],
            jupyterEnv(),
            5 * 60 * 1000,
            opts.jupyter,
          );
    if (r.code !== 0 || !fs.existsSync(out))
      throw new ToolError(
        "E2E_JUPYTER",
        `HTML export failed for ${file}: ${r.stderr.split("\n").filter(Boolean).slice(-1)[0] ?? "no output"}`,
      );
    const page = fs.readFileSync(out, "utf8");
    const problems = selfContainedProblems(page);
    if (problems.length)
      throw new ToolError(
        "E2E_JUPYTER",
        `HTML export of ${file} is not self-contained (${problems[0]}${problems.length > 1 ? `, and ${problems.length - 1} more` : ""}); nothing written — check templates/nbconvert/audit against this nbconvert`,
      );
    // Write then rename: a failed export never leaves half a page beside the notebook.
    // A write cut short (a full disk) leaves no partial, unscanned page behind either.
    const tmp = `${html}.tmp-${process.pid}`;
    try {
      fs.writeFileSync(tmp, page);
      fs.renameSync(tmp, html);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    return { ...r, html, via };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
