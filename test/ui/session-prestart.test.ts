/**
 * A kernel ready before the operator (issue 26 item 1), through `npm run session` itself in real
 * JupyterLab, driven by headless Chromium against the sandbox: the session's kernel exists (lib
 * imported) before any browser connects, nothing in the session folder changed (the notebook and the
 * journal byte-identical), and the browser that then opens the URL attaches to that kernel and runs
 * the notebook's cells on it up to a passing pre-flight. `before` drives it and records what it saw;
 * each test asserts one thing. Screenshots: test/.artifacts/ui-prestart/ (git-ignored).
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "../../lib/clients/payer";
import { SESSION_NOTEBOOK } from "../../lib/evidence/files";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { isolatedLabEnv, JUPYTER_BIN, REPO } from "./jupyterlab";
import { LabNotebook, sleep, until } from "./lab-page";
import { P6_CELLS } from "./p6";

const ARTIFACTS = path.join(REPO, "test", ".artifacts", "ui-prestart");

const chromiumPath = findChromium();
const missing = !chromiumPath
  ? "Chromium is not installed (apt-get install chromium)"
  : !fs.existsSync(JUPYTER_BIN)
    ? ".venv/bin/jupyter is missing (the project venv with JupyterLab: scripts/setup.sh)"
    : null;
const skip = missing && !process.env.CI ? missing : false;

interface JupyterSession {
  path: string;
  kernel: { id: string; execution_state?: string; connections?: number };
}

/** Every file of the folder, by its bytes. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort())
    if (fs.statSync(path.join(dir, name)).isFile())
      out[name] = fs.readFileSync(path.join(dir, name)).toString("base64");
  return out;
}

describe("npm run session starts the notebook's kernel before the browser opens it", {
  skip,
  timeout: 6 * 60_000,
}, () => {
  let sb: Sandbox | undefined;
  let browser: Browser | undefined;
  let child: ChildProcess | undefined;
  let exit: Promise<unknown> = Promise.resolve();
  let out = "";
  let work = "";
  const seen = {} as {
    dirBefore: Record<string, string>;
    dirWarm: Record<string, string>;
    prestartLine: string;
    sessionsBefore: JupyterSession[];
    sessionsAfter: JupyterSession[];
    kernelAfter: { connections?: number };
    outputs: Record<string, string>;
    notebookRel: string;
  };

  before(
    async () => {
      if (missing) throw new Error(`CI is set, so this test must run, but ${missing}`);
      fs.rmSync(ARTIFACTS, { recursive: true, force: true });
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      work = fs.mkdtempSync(path.join(os.tmpdir(), "ui-prestart-"));
      const archive = path.join(work, "archive");
      sb = await startSandbox({ quiet: true, databaseUrl: process.env.TEST_PG_URL || undefined });
      child = spawn(
        "npm",
        [
          "run",
          "--silent",
          "session",
          "--",
          "--mode",
          "sandbox",
          "--base-url",
          sb.marketplaceUrl,
          "--hyperswitch-url",
          sb.hyperswitchUrl,
          "--email",
          sb.operator.email,
          "--archive-dir",
          archive,
          "--no-browser",
        ],
        {
          cwd: REPO,
          env: {
            ...process.env,
            ...isolatedLabEnv(path.join(work, "lab")),
            OPERATOR_PASSWORD: sb.operator.password,
            HYPERSWITCH_API_KEY: sb.apiKey,
            DATABASE_URL: sb.readonlyDsn,
            DISPLAY: "",
            WAYLAND_DISPLAY: "",
          },
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      const c = child;
      c.stdout!.on("data", (b: Buffer) => (out += b.toString()));
      c.stderr!.on("data", (b: Buffer) => (out += b.toString()));
      exit = new Promise((res) => c.on("close", res));
      const printed = (what: string, re: RegExp) =>
        until(`npm run session prints ${what}:\n${out}`, 180_000, async () => {
          if (c.exitCode !== null) throw new Error(`npm run session exited:\n${out}`);
          return re.exec(out) ?? undefined;
        });
      // The folder as prepared, before Jupyter (which takes seconds to start) can touch it.
      const id = (await printed("the prepared session", /Session (\S+) prepared/))[1];
      const dir = path.join(archive, id);
      seen.dirBefore = files(dir);
      const url = new URL((await printed("its URL", /(http:\/\/127\.0\.0\.1:\d+\/\S+\?token=[0-9a-f]+\S*)/))[1]);
      seen.prestartLine = (
        await printed("the kernel started ahead", /^ {2}kernel started.*$|^ {2}the kernel was not.*$/m)
      )[0];
      const token = url.searchParams.get("token")!;
      const api = async (p: string) =>
        (await fetch(`${url.origin}${p}`, { headers: { Authorization: `token ${token}` } })).json();
      seen.sessionsBefore = (await api("/api/sessions")) as JupyterSession[];
      seen.dirWarm = files(dir);
      seen.notebookRel = `${id}/${SESSION_NOTEBOOK}`;

      browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, args: CHROMIUM_ARGS });
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const nb = new LabNotebook(await ctx.newPage(), ARTIFACTS);
      try {
        await nb.page.goto(url.href, { waitUntil: "domcontentloaded", timeout: 60_000 });
        const cells = JSON.parse(fs.readFileSync(path.join(dir, SESSION_NOTEBOOK), "utf8")).cells as {
          cell_type: string;
        }[];
        await nb.loaded(cells.filter((x) => x.cell_type === "code").length, 90_000);
        await nb.waitKernelIdle(90_000);
        seen.outputs = {};
        for (const k of ["params", "injected", "open", "preflight"] as const)
          seen.outputs[k] = await nb.run(await nb.cell(P6_CELLS[k]), 120_000);
        seen.sessionsAfter = (await api("/api/sessions")) as JupyterSession[];
        seen.kernelAfter = (await api(`/api/kernels/${seen.sessionsAfter[0]?.kernel.id}`)) as { connections?: number };
        await nb.screenshot("preflight");
      } catch (err) {
        await nb.screenshot("failure");
        (err as Error).message += `\n--- npm run session (last lines) ---\n${out.slice(-3000)}`;
        throw err;
      }
    },
    { timeout: 5 * 60_000 },
  );

  after(async () => {
    await browser?.close().catch(() => undefined);
    if (child && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // gone
      }
      await Promise.race([exit, sleep(30_000)]);
    }
    await sb?.stop().catch(() => undefined);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test("the kernel exists, lib imported, before any browser connects", () => {
    assert.match(seen.prestartLine, /kernel started in \d+\.\d s, lib imported in \d+\.\d s/);
    assert.equal(seen.sessionsBefore.length, 1, JSON.stringify(seen.sessionsBefore));
    assert.equal(seen.sessionsBefore[0].path, seen.notebookRel);
    assert.equal(seen.sessionsBefore[0].kernel.connections ?? 0, 0, "a client is connected before the browser");
  });

  test("starting and warming the kernel writes nothing: the notebook and the journal are byte-identical", () => {
    assert.deepEqual(seen.dirWarm, seen.dirBefore);
  });

  test("the browser attaches to that kernel and runs the notebook's cells on it, up to a passing pre-flight", () => {
    assert.equal(seen.sessionsAfter.length, 1, JSON.stringify(seen.sessionsAfter));
    assert.equal(seen.sessionsAfter[0].kernel.id, seen.sessionsBefore[0].kernel.id);
    assert.ok((seen.kernelAfter.connections ?? 0) >= 1, JSON.stringify(seen.kernelAfter));
    assert.match(seen.outputs.preflight, /✅\s*PASS/, seen.outputs.preflight);
  });
});
