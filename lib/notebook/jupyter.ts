/**
 * Real Jupyter, driven headless: nbconvert executes a session notebook with the project-local
 * tslab kernelspec (JUPYTER_PATH=<repo>/jupyter, no global install) and exports the audit HTML
 * (lib/notebook/html.ts, templates/nbconvert/audit).
 * `--allow-errors` keeps the executed notebook even when a cell fails; the guard that stops
 * later steps lives in the lib (SKIPPED), not in the executor.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RunbookError } from "../errors";
import { repoRoot } from "../paths";
import { AUDIT_NOTE, auditCopy, selfContainedProblems } from "./html";
import { readNotebook, silentCells, writeNotebook } from "./nbfile";

export const REPO_ROOT = repoRoot();

/** Debian's Jupyter (jupyter-nbconvert, jupyter-notebook): nbconvert 6 and the classic Notebook 6.4. */
export const DEBIAN_JUPYTER = "/usr/bin/jupyter";

/** A binary of the project-local venv that `scripts/setup.sh` fills from jupyter/requirements.txt. */
export function venvBin(name: string): string {
  return path.join(REPO_ROOT, ".venv", "bin", name);
}

/**
 * The `jupyter` that executes and exports: the project venv's (pinned nbconvert 7), then Debian's
 * (`/usr/bin/jupyter`: the python3 on PATH may be another Python without Jupyter, PLATFORM.md),
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
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20000)));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(
        new RunbookError(
          "E2E_JUPYTER",
          `cannot start ${command} (${err.message}); run bash scripts/setup.sh, which installs Jupyter into .venv`,
          { cause: err },
        ),
      );
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, ms: Math.round(performance.now() - t0), stderr });
    });
  });
}

/**
 * Executes the notebook in place. Secrets travel in `env`, never in the notebook. `silent` lists
 * the code cells that produced no output (the kernel skipped them): a run with any is incomplete,
 * whatever nbconvert's exit code says.
 */
export async function executeNotebook(
  file: string,
  env: Record<string, string | undefined>,
  opts: { cellTimeoutS?: number; timeoutMs?: number } = {},
): Promise<RunResult & { silent: string[] }> {
  const args = [
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    "--inplace",
    "--allow-errors",
    "--ExecutePreprocessor.kernel_name=tslab",
    `--ExecutePreprocessor.timeout=${opts.cellTimeoutS ?? 900}`,
    file,
  ];
  const r = await run(args, jupyterEnv(env), opts.timeoutMs ?? 30 * 60 * 1000);
  let silent: string[];
  try {
    silent = silentCells(readNotebook(file));
  } catch {
    silent = ["(the executed notebook is unreadable)"];
  }
  return { ...r, silent };
}

/** The nbconvert template of the audit export (`templates/nbconvert/audit`), found through this base dir. */
export const AUDIT_TEMPLATE_DIR = path.join(REPO_ROOT, "templates", "nbconvert");

/**
 * Writes `<name>.html` next to the notebook: the page an auditor reads (lib/notebook/html.ts).
 * nbconvert exports a rendered copy of the notebook (the notebook itself is not touched) with the
 * audit template, in a scratch folder; the page must be self-contained, or nothing is written.
 * `jupyter` picks the Jupyter to run (tests export with each installed one).
 */
export async function exportHtml(file: string, opts: { jupyter?: string } = {}): Promise<RunResult & { html: string }> {
  const html = file.replace(/\.ipynb$/, ".html");
  const name = path.basename(file);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "audit-html-"));
  try {
    const copy = path.join(scratch, name);
    writeNotebook(
      copy,
      auditCopy(readNotebook(file), {
        title: `${name} — session ${path.basename(path.dirname(path.resolve(file)))}`,
        note: AUDIT_NOTE,
      }),
    );
    const r = await run(
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
    const out = copy.replace(/\.ipynb$/, ".html");
    if (r.code !== 0 || !fs.existsSync(out))
      throw new RunbookError(
        "E2E_JUPYTER",
        `HTML export failed for ${file}: ${r.stderr.split("\n").filter(Boolean).slice(-1)[0] ?? "no output"}`,
      );
    const page = fs.readFileSync(out, "utf8");
    const problems = selfContainedProblems(page);
    if (problems.length)
      throw new RunbookError(
        "E2E_JUPYTER",
        `HTML export of ${file} is not self-contained (${problems[0]}${problems.length > 1 ? `, and ${problems.length - 1} more` : ""}); nothing written — check templates/nbconvert/audit against this nbconvert`,
      );
    // Write then rename: a failed export never leaves half a page beside the notebook.
    const tmp = `${html}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, page);
    fs.renameSync(tmp, html);
    return { ...r, html };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
