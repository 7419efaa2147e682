/**
 * Real Jupyter, driven headless: nbconvert executes a session notebook with the project-local
 * tslab kernelspec (JUPYTER_PATH=<repo>/jupyter, no global install) and exports the audit HTML
 * (lib/notebook/html.ts, templates/nbconvert/audit).
 * `--allow-errors` keeps the executed notebook even when a cell fails; the guard that stops
 * later steps lives in the lib (SKIPPED), not in the executor.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RunbookError } from "../errors";
import { repoRoot } from "../paths";
import { AUDIT_NOTE, auditCopy, selfContainedProblems } from "./html";
import { readNotebook, writeNotebook } from "./nbfile";

export const REPO_ROOT = repoRoot();

export function jupyterCommand(): string {
  // Debian's Jupyter: the python3 on PATH may be another Python without it (PLATFORM.md).
  return fs.existsSync("/usr/bin/jupyter") ? "/usr/bin/jupyter" : "jupyter";
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
          `cannot start ${command} (${err.message}); install Debian's jupyter-nbconvert`,
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

/** Executes the notebook in place. Secrets travel in `env`, never in the notebook. */
export async function executeNotebook(
  file: string,
  env: Record<string, string | undefined>,
  opts: { cellTimeoutS?: number; timeoutMs?: number } = {},
): Promise<RunResult> {
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
  return run(args, jupyterEnv(env), opts.timeoutMs ?? 30 * 60 * 1000);
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
