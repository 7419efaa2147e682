/**
 * Over 300 lines, not split: the two ways to export share one path (the audit copy, the page's checks) and must not drift apart in two files.
 *
 * Real Jupyter, driven headless: our executor (jupyter/execute.py, nbclient) runs a session
 * notebook with the project-local tslab kernelspec (JUPYTER_PATH=<repo>/jupyter, no global
 * install), saving it after every cell; nbconvert exports the audit HTML (lib/host/html.ts,
 * templates/nbconvert/audit). Errors are allowed (every cell runs); the guard that stops later
 * steps lives in the lib (SKIPPED), not in the executor.
 * One Python process for both (issue 15): `executeNotebook(…, { exportAfter: true })` leaves the
 * executor waiting, nbconvert already loaded, for the one `exportHtml` of that notebook, and has it
 * make that page while the kernel shuts down (taken only if made from the very copy asked for); any
 * other export runs nbconvert's command line.
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

/**
 * The environment of every Jupyter process the runbook starts: its kernelspec (JUPYTER_PATH), and
 * jupyter/ first on PYTHONPATH for its Python modules (the UI's sealed_contents, and the stand-in
 * that defers rfc3987_syntax's parser build, ~0.5 s of CPU per nbconvert or JupyterLab start).
 */
export function jupyterEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const dir = path.join(REPO_ROOT, "jupyter");
  return {
    ...process.env,
    JUPYTER_PATH: dir,
    PYTHONPATH: [dir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    ...extra,
  };
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
/** The executor's line saying the last cell's final save is on disk and export requests are taken (execute.py `cells_done`). */
const CELLS_DONE_LINE = /^execute\.py-cells-done\n/m;

/** The executor's answer to one export request. */
interface Answer {
  ok: boolean;
  error: string;
  ms: number;
}

/**
 * The page asked for while the kernel shut down (executeNotebook's exportAfter): the audit copy of
 * the notebook as it was saved after its last cell, with the default title and note. exportHtml
 * takes it only when the notebook's text, the title and the note are still exactly these, so the
 * page is the one it would have asked for itself.
 */
interface Speculation extends Prefetch {
  raw: string;
  title: string;
  note: string;
  scratch: string;
  out: string;
}

/** A request that does not keep Node up while it waits, until taken. */
interface Prefetch {
  answer: Promise<Answer>;
  /** The answer, keeping Node up until it comes. */
  take(): Promise<Answer>;
}

/** An executor that stayed for its notebook's HTML export (jupyter/execute.py --serve-export). */
interface ExportWorker {
  /** Asks for the export of `copy` to `out`; resolves with its answer (never rejects). Answers come in order. */
  export(copy: string, out: string, timeoutMs: number): Promise<Answer>;
  /** Asks for an export that may never be wanted: Node does not wait for its answer unless it is taken. */
  prefetch(copy: string, out: string, timeoutMs: number): Prefetch;
  /** The page asked for while the kernel shut down, if any; awaiting its answer keeps Node up. */
  speculation: Speculation | null;
  /** Lets the executor go (it exits on the end of its stdin) and removes the speculation's scratch folder. */
  close(): void;
}

/** Scratch folders of speculations not yet taken or closed: removed when Node exits. */
const speculationScratch = new Set<string>();
process.once("exit", () => {
  for (const dir of speculationScratch) fs.rmSync(dir, { recursive: true, force: true });
});

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
  /** Called once the executor takes export requests, before it shuts the kernel down. */
  onCellsDone?: (worker: ExportWorker) => void,
): Promise<{ r: RunResult; worker: ExportWorker | null }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    if (child.pid !== undefined) onStart?.(child.pid);
    let stderr = "";
    let done = false;
    /** The requests not answered yet, oldest first, with whether each keeps Node up while it waits. */
    const waiting: Array<{ answer: (msg: Record<string, unknown> | null) => void; hold: boolean }> = [];
    // Until the executor says execution ended, Node waits for it anyway; after, only a held request keeps it up.
    const hold = () => holdNodeOpen(child, !done || waiting.some((w) => w.hold));
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
    let cellsDone = false;
    child.stderr!.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-20000);
      if (!cellsDone && CELLS_DONE_LINE.test(stderr)) {
        cellsDone = true;
        stderr = stderr.replace(CELLS_DONE_LINE, "");
        onCellsDone?.(worker);
      }
      const m = EXECUTED_LINE.exec(stderr);
      if (!m || done) return;
      stderr = stderr.replace(EXECUTED_LINE, "");
      finish(Number(m[1]), worker);
      hold();
    });
    readline.createInterface({ input: child.stdout! }).on("line", (l) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(l) as Record<string, unknown>;
      } catch {
        return; // not an answer
      }
      waiting.shift()?.answer(msg);
      hold();
    });
    child.stdin!.on("error", () => undefined); // an executor already gone: the close event says so
    /** Sends one request; `held`: Node stays up until it is answered (a speculation is not, until taken). */
    const ask = (copy: string, out: string, ms: number, held: boolean) => {
      let entry!: (typeof waiting)[number];
      const answer = new Promise<Answer>((res) => {
        const t = performance.now();
        const kill = setTimeout(() => child.kill("SIGKILL"), ms);
        if (!held) kill.unref();
        entry = {
          hold: held,
          answer: (msg) => {
            clearTimeout(kill);
            res({
              ok: msg?.ok === true,
              error: msg ? String(msg.error ?? "") : "the executor exited before answering",
              ms: Math.round(performance.now() - t),
            });
          },
        };
      });
      if (child.exitCode !== null || child.signalCode !== null) entry.answer(null);
      else {
        waiting.push(entry);
        hold();
        child.stdin!.write(`${JSON.stringify({ export: copy, out })}\n`);
      }
      return { answer, entry };
    };
    const worker: ExportWorker = {
      export: async (copy, out, ms) => {
        const a = await ask(copy, out, ms, true).answer;
        worker.close();
        return a;
      },
      prefetch: (copy, out, ms) => {
        const { answer, entry } = ask(copy, out, ms, false);
        return {
          answer,
          take: () => {
            entry.hold = true;
            hold();
            return answer;
          },
        };
      },
      speculation: null,
      close: () => {
        child.stdin!.end();
        const spec = worker.speculation;
        worker.speculation = null;
        if (spec) {
          // Removed once its answer is in: the executor may still be writing the page.
          void spec.answer.then(() => {
            fs.rmSync(spec.scratch, { recursive: true, force: true });
            speculationScratch.delete(spec.scratch);
          });
        }
      },
    };
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(cannotStart(command, err));
    });
    child.on("close", (code) => {
      for (const w of waiting.splice(0)) w.answer(null);
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
    /** With exportAfter: have the page made while the kernel shuts down (default true; false: the bench's what-if). */
    exportAhead?: boolean;
    /**
     * With exportAfter: called once the notebook on disk is final (the last code cell's save; the
     * executor writes it no more) and the executor takes the export, while the kernel still shuts
     * down. The kernel lets its session go (lib/run/lock.ts) only as it exits.
     */
    onCellsDone?: () => void;
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
    let offered = false; // the worker was handed to exportHtml at cells-done already
    const s = await runServing(
      [...args, "--serve-export", AUDIT_TEMPLATE_DIR],
      jupyterEnv(env),
      timeoutMs,
      python,
      opts.onStart,
      (worker) => {
        if (opts.exportAhead !== false) worker.speculation = speculate(file, worker);
        exportWorkers.set(path.resolve(file), worker); // an archive may start before the executor ends
        offered = true;
        opts.onCellsDone?.();
      },
    );
    r = s.r;
    if (s.worker && !offered) exportWorkers.set(path.resolve(file), s.worker);
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

/** The page's heading: the notebook's name and its session (its folder's name). */
const auditTitle = (file: string) =>
  `${path.basename(file)} — session ${path.basename(path.dirname(path.resolve(file)))}`;

/**
 * Asks the executor for the page of the notebook as it was saved after its last cell, while the
 * kernel shuts down (bench P1: the executor's process is idle then, and the archive's export would
 * otherwise wait for the page after it). Null when the notebook cannot be read or copied: the export
 * then asks as before.
 */
function speculate(file: string, worker: ExportWorker): Speculation | null {
  let scratch: string | null = null;
  try {
    const raw = fs.readFileSync(file, "utf8");
    const title = auditTitle(file);
    const note = AUDIT_NOTE;
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "audit-html-"));
    speculationScratch.add(scratch);
    const copy = path.join(scratch, path.basename(file));
    writeNotebook(copy, auditCopy(JSON.parse(raw) as Notebook, { title, note }));
    const out = copy.replace(/\.ipynb$/, ".html");
    return { raw, title, note, scratch, out, ...worker.prefetch(copy, out, 5 * 60 * 1000) };
  } catch {
    if (scratch) {
      fs.rmSync(scratch, { recursive: true, force: true });
      speculationScratch.delete(scratch);
    }
    return null;
  }
}

/** The nbconvert template of the audit export (`templates/nbconvert/audit`), found through this base dir. */
export const AUDIT_TEMPLATE_DIR = path.join(REPO_ROOT, "templates", "nbconvert");

/**
 * Writes `<name>.html` next to the notebook: the page an auditor reads (lib/host/html.ts).
 * nbconvert exports a rendered copy of the notebook (the notebook itself is not touched) with the
 * audit template, in a scratch folder; the page must be self-contained, or nothing is written.
 * `jupyter` picks the Jupyter to run (tests export with each installed one). `ahead`: the page is the
 * one the executor made while its kernel shut down (executeNotebook's exportAfter), taken because it
 * was made from exactly the copy asked for now (the notebook's text, the title and the note unchanged).
 */
export async function exportHtml(
  file: string,
  /** `sealedAs`: said under the page's heading after AUDIT_NOTE (a seal exception the cells cannot show). */
  opts: { jupyter?: string; sealedAs?: string } = {},
): Promise<RunResult & { html: string; via: "executor" | "nbconvert"; ahead: boolean }> {
  const html = file.replace(/\.ipynb$/, ".html");
  const name = path.basename(file);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "audit-html-"));
  // The executor that ran this notebook, nbconvert loaded, if it stayed (executeNotebook's
  // exportAfter); else, or if it cannot, nbconvert's command line. Same copy, same checks below.
  const waiting = takeExportWorker(file);
  if (opts.jupyter) waiting?.close(); // a caller naming its Jupyter gets that one's nbconvert
  const worker = opts.jupyter ? undefined : waiting;
  try {
    const raw = fs.readFileSync(file, "utf8");
    const title = auditTitle(file);
    const note = opts.sealedAs ? `${AUDIT_NOTE} ${opts.sealedAs}` : AUDIT_NOTE;
    // The page asked for while the kernel shut down, if it was made from this very copy.
    const spec = worker?.speculation;
    const same = spec && spec.raw === raw && spec.title === title && spec.note === note;
    const early = same ? await spec.take() : null;
    let out = spec?.out ?? "";
    let served = early?.ok && fs.existsSync(out) ? early : null;
    const copy = path.join(scratch, name);
    if (!served) {
      writeNotebook(copy, auditCopy(JSON.parse(raw) as Notebook, { title, note }));
      out = copy.replace(/\.ipynb$/, ".html");
      // A speculation that failed is not asked again: nbconvert's command line, as after any failed export.
      served = worker && !early ? await worker.export(copy, out, 5 * 60 * 1000) : null;
    }
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
    return { ...r, html, via, ahead: served === early && early !== null };
  } finally {
    worker?.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
