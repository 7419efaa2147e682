/**
 * `npm run session`: an explicit fresh session with parameters injected, then a real Jupyter
 * serving it on 127.0.0.1 — JupyterLab from the project venv, Debian's classic Notebook as the
 * fallback — stopped with its kernel on SIGTERM; and a UI that cannot start leaves no stray folder.
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { removeIfUnused } from "../../lib/host/lifecycle";
import { SESSION_NOTEBOOK } from "../../lib/evidence/files";
import { Journal } from "../../lib/evidence/journal";
import { classicNotebookCommand, jupyterLabCommand } from "../../lib/host/jupyter";
import { readNotebook, sourceOf } from "../../lib/host/nbfile";
import { makeSession, seal } from "../report/fixtures";
import { sessionCommand } from "./in-process";

const root = path.resolve(__dirname, "../..");
const SESSION = ["--import", "tsx", "lib/cli/session.ts"];
/** JupyterLab takes ~6 s to serve on 2 idle cores; the parallel suite can make that much longer. */
const START_MS = 150_000;

test("session --mode staging prepares a fresh folder, journal and notebook, and refuses a missing mode", async () => {
  const archive = fs.mkdtempSync(path.join(root, "archive", ".test-"));
  try {
    const env = { ...process.env, OPERATOR_PASSWORD: "" };
    // The real process's refusal and exit code; the preparation (--no-jupyter, no process of its own
    // to stop) is the same command run in this process (test/cli/in-process.ts).
    const bad = spawnSync(process.execPath, [...SESSION, "--no-jupyter"], { cwd: root, encoding: "utf8", env });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--mode is required; use --mode staging for the dry run/);
    const r = await sessionCommand(
      [
        "--mode",
        "staging",
        "--base-url",
        "https://staging.example.com",
        "--email",
        "ops@example.com",
        "--archive-dir",
        path.relative(process.cwd(), archive),
        "--no-jupyter",
      ],
      { OPERATOR_PASSWORD: "" },
    );
    assert.equal(r.code, 0, r.err);
    const id = /Session (\d{8}T\d{6}Z-staging) prepared/.exec(r.out)?.[1];
    assert.ok(id, r.out);
    assert.match(r.out, /OPERATOR_PASSWORD is not exported/);
    const nb = readNotebook(path.join(archive, id!, "payment-e2e.ipynb"));
    const injected = nb.cells.find((c) => c.metadata.tags?.includes("injected-parameters"));
    assert.ok(injected);
    assert.match(sourceOf(injected!), new RegExp(`SESSION_ID = "${id}";`));
    assert.match(sourceOf(injected!), /BASE_URL = "https:\/\/staging.example.com";/);
    assert.ok(fs.existsSync(path.join(archive, id!, "state.jsonl")));
  } finally {
    fs.rmSync(archive, { recursive: true, force: true });
  }
});

test("session --via-tunnel journals the operator's statement with the session; too short or for the sandbox is refused before any folder", async () => {
  const archive = fs.mkdtempSync(path.join(root, "archive", ".test-"));
  try {
    const dirArg = path.relative(process.cwd(), archive);
    const base = ["--base-url", "http://127.0.0.1:9", "--archive-dir", dirArg, "--no-jupyter"];
    const short = await sessionCommand(["--mode", "live", ...base, "--via-tunnel", "tunnel"]);
    assert.equal(short.code, 2);
    assert.match(
      short.err,
      /^session: --via-tunnel: needs one line of at least 10 characters .* e\.g\. --via-tunnel "/,
    );
    const sandbox = await sessionCommand(["--mode", "sandbox", ...base, "--via-tunnel", "ssh -L to production"]);
    assert.equal(sandbox.code, 2);
    assert.match(sandbox.err, /--via-tunnel: is for staging and live; .* leave it out/);
    assert.deepEqual(fs.readdirSync(archive), [], "a refusal leaves no folder");
    const why = "ssh -L 8443 to production <b>bastion</b>";
    const r = await sessionCommand(["--mode", "staging", ...base, "--via-tunnel", why], { OPERATOR_PASSWORD: "" });
    assert.equal(r.code, 0, r.err);
    const id = /Session (\d{8}T\d{6}Z-staging) prepared/.exec(r.out)?.[1];
    const created = Journal.open(path.join(archive, id!)).all()[0];
    assert.equal(created.kind, "session_created");
    assert.equal((created.data as { via_tunnel?: string }).via_tunnel, why);
    assert.equal((created.data as { base_url?: string }).base_url, "http://127.0.0.1:9");
  } finally {
    fs.rmSync(archive, { recursive: true, force: true });
  }
});

test("session --help names the --base-url form; a bad --port or RUNBOOK_JUPYTER_UI is refused before any folder", async () => {
  // In this process (test/cli/in-process.ts): the test above runs the real process's refusal and exit code.
  const help = await sessionCommand(["--help"]);
  assert.equal(help.code, 0, help.err);
  assert.match(help.out, /--base-url\s+the marketplace's origin, e\.g\. https:\/\/staging\.example\.com/);
  assert.match(help.out, /<origin>\/api\/v1\//);
  // Issue 22: the orchestrator flag is offered, with when to use it (the payment's own time).
  assert.match(help.out, /^usage: .*\[--hyperswitch-url URL\]/m);
  assert.match(help.out, /--hyperswitch-url\s+the orchestrator's API origin \(HYPERSWITCH_URL\)/);
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-session-"));
  try {
    const port = await sessionCommand(["--mode", "sandbox", "--archive-dir", archive, "--port", "x"]);
    assert.equal(port.code, 2);
    assert.match(port.err, /^session: --port: is "x"; give a number 1–65535\n$/);
    const ui = await sessionCommand(["--mode", "sandbox", "--archive-dir", archive], { RUNBOOK_JUPYTER_UI: "voila" });
    assert.equal(ui.code, 2);
    assert.match(ui.err, /^session: RUNBOOK_JUPYTER_UI: is "voila"; use lab, notebook/);
    assert.deepEqual(fs.readdirSync(archive), []);
  } finally {
    fs.rmSync(archive, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------ a real Jupyter

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer().on("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`'s value, or "still running" after `ms` (the timer does not keep the test process alive). */
function within<T>(p: Promise<T>, ms: number): Promise<T | "still running"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"still running">((r) => {
    timer = setTimeout(() => r("still running"), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Polls `check` every 250 ms until it holds or `ms` passed; returns whether it held. */
async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(250)) if (await check()) return true;
  return check();
}

/** Processes whose command line contains `needle` (Linux /proc). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Cleanup after a failed assertion only: what the session should have stopped itself. */
function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

interface Started {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Started {
  // No display in the tests: no browser is opened either way; OPERATOR_PASSWORD is not needed here.
  const child = spawn(cmd, args, {
    cwd: root,
    env: { ...process.env, DISPLAY: "", WAYLAND_DISPLAY: "", OPERATOR_PASSWORD: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (err += b.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function urlOf(s: Started): Promise<URL> {
  let done = false;
  void s.exit.then(() => (done = true));
  const found = await until(() => done || /\?token=[0-9a-f]+/.test(s.out()), START_MS);
  const url = /(http:\/\/127\.0\.0\.1:\d+\/\S+\?token=[0-9a-f]+\S*)/.exec(s.out())?.[1];
  assert.ok(found && url, `no URL printed:\n${s.out()}\n${s.err().slice(-2000)}`);
  return new URL(url!);
}

/** The notebook behind a printed URL, read through the server's contents API with the URL's token. */
async function servedNotebook(url: URL, prefix: string): Promise<{ rel: string; nb: Record<string, unknown> }> {
  const token = url.searchParams.get("token") ?? "";
  // JupyterLab's URL names the session's own workspace: /lab/workspaces/<session id>/tree/<path>?reset.
  const pathname = url.pathname.replace(/^\/lab\/workspaces\/\d{8}T\d{6}Z-\w+\/tree\//, "/lab/tree/");
  assert.ok(pathname.startsWith(`/${prefix}/`), url.pathname);
  const rel = pathname.slice(prefix.length + 2);
  const page = await fetch(url, { redirect: "manual" });
  assert.equal(page.status, 200, `GET ${url.pathname} answered ${page.status}`);
  await page.body?.cancel();
  const denied = await fetch(`${url.origin}${url.pathname}`, { redirect: "manual" });
  assert.notEqual(denied.status, 200, "served without the token");
  await denied.body?.cancel();
  const r = await fetch(`${url.origin}/api/contents/${rel}?token=${token}`);
  assert.equal(r.status, 200, `GET /api/contents/${rel} answered ${r.status}`);
  const body = (await r.json()) as { type: string; content: Record<string, unknown> };
  assert.equal(body.type, "notebook");
  return { rel, nb: body.content };
}

/** A sealed session folder (fixture, with the runbook notebook) in `archive`; returns its path. */
function sealedSession(archive: string): string {
  const dir = makeSession(archive, { mode: "sandbox", at: new Date(Date.UTC(2026, 10, 20, 9)) });
  fs.copyFileSync(path.join(root, "notebooks", "payment-e2e.ipynb"), path.join(dir, SESSION_NOTEBOOK));
  seal(dir);
  return dir;
}

/** Every file's bytes and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ent of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!ent.isFile()) continue;
    const abs = path.join(ent.parentPath, ent.name);
    out[path.relative(dir, abs)] = `${fs.statSync(abs).mtimeMs} ${fs.readFileSync(abs).toString("base64")}`;
  }
  return out;
}

/**
 * Every write the server's contents API offers, aimed at a sealed folder (`rel` under the server
 * root): the notebook is offered read-only, each write is refused with 403, and not a byte or a
 * modification time in the folder changes (no .ipynb_checkpoints either).
 */
async function sealedWritesRefused(url: URL, rel: string, dir: string): Promise<void> {
  const before = snapshot(dir);
  const token = url.searchParams.get("token") ?? "";
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${url.origin}/api/contents/${p}?token=${token}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  };
  const nbRel = `${rel}/${SESSION_NOTEBOOK}`;
  const got = await api("GET", `${nbRel}`);
  assert.equal(got.status, 200, got.text);
  const model = JSON.parse(got.text) as { writable: boolean; content: unknown };
  assert.equal(model.writable, false, "a sealed notebook is offered as writable");
  const tries: Record<string, { status: number; text: string }> = {
    save: await api("PUT", nbRel, { type: "notebook", format: "json", content: model.content }),
    "new file": await api("PUT", `${rel}/extra.txt`, { type: "file", format: "text", content: "x" }),
    untitled: await api("POST", rel, { type: "file" }),
    rename: await api("PATCH", nbRel, { path: `${rel}/renamed.ipynb` }),
    delete: await api("DELETE", `${rel}/state.jsonl`),
    checkpoint: await api("POST", `${nbRel}/checkpoints`),
  };
  for (const [what, r] of Object.entries(tries)) {
    assert.equal(r.status, 403, `${what} in a sealed folder answered ${r.status}: ${r.text.slice(0, 300)}`);
    assert.match(r.text, /sealed session folder \(manifest\.json\): it is read-only/, what);
  }
  assert.deepEqual(snapshot(dir), before, "a file of the sealed folder changed");
}

test("npm run session starts JupyterLab on the session notebook; SIGTERM to npm stops it and its kernel", {
  timeout: START_MS + 60_000,
}, async () => {
  assert.ok(jupyterLabCommand(), "JupyterLab is missing: run `bash scripts/setup.sh` (it fills .venv)");
  // Inside the repository (the usual layout: served from the repo root), not under a hidden folder.
  const archive = fs.mkdtempSync(path.join(root, "archive", "tmp-session-test-"));
  const sealed = sealedSession(archive);
  const port = await freePort();
  const s = start("npm", [
    "run",
    "session",
    "--",
    "--mode",
    "sandbox",
    "--archive-dir",
    path.relative(root, archive),
    "--port",
    String(port),
  ]);
  let kernel = "";
  try {
    const url = await urlOf(s);
    assert.equal(url.host, `127.0.0.1:${port}`);
    assert.match(url.searchParams.get("token") ?? "", /^[0-9a-f]{48}$/);
    const id = /Session (\S+) prepared/.exec(s.out())?.[1];
    assert.match(url.pathname, new RegExp(`^/lab/workspaces/${id}/tree/`), "a workspace of the session's own");
    assert.ok(url.searchParams.has("reset"), "the session's workspace starts empty (?reset)");
    const { rel, nb } = await servedNotebook(url, "lab/tree");
    assert.equal(rel, `${path.relative(root, archive)}/${id}/payment-e2e.ipynb`);
    assert.equal((nb.metadata as { kernelspec: { name: string } }).kernelspec.name, "tslab");
    assert.match(JSON.stringify(nb.cells), new RegExp(`SESSION_ID = \\\\"${id}\\\\";`));
    await sealedWritesRefused(url, `${path.relative(root, archive)}/${path.basename(sealed)}`, sealed);

    // The notebook's kernel, started ahead (issue 26): the warm-up line came before the URL, and the
    // kernel is the notebook's Jupyter session with no client yet. It must not outlive the session.
    assert.match(
      s.out(),
      /\n {2}kernel started and lib imported in \d+\.\d s: opening the notebook attaches to it\nJupyterLab is serving the session notebook/,
    );
    const token = url.searchParams.get("token");
    const sessions = (await (await fetch(`${url.origin}/api/sessions?token=${token}`)).json()) as {
      path: string;
      kernel: { id: string; connections?: number };
    }[];
    assert.deepEqual(
      sessions.map((x) => [x.path, x.kernel.connections ?? 0]),
      [[rel, 0]],
      JSON.stringify(sessions),
    );
    kernel = `kernel-${sessions[0].kernel.id}.json`;
    assert.equal(processesWith(kernel).length, 1, "the kernel started ahead is not running");

    s.child.kill("SIGTERM");
    const code = await within(s.exit, 30_000);
    assert.notEqual(code, "still running", "npm did not exit within 30 s of SIGTERM");
    assert.ok(await until(() => portIsFree(port), 30_000), `port ${port} still taken after SIGTERM`);
    assert.ok(
      await until(() => processesWith(kernel).length === 0 && processesWith(`--port=${port}`).length === 0, 30_000),
      "a Jupyter server or kernel outlived the session",
    );
  } finally {
    s.child.kill("SIGKILL");
    for (const pid of [...(kernel ? processesWith(kernel) : []), ...processesWith(`--port=${port}`)]) kill(pid);
    fs.rmSync(archive, { recursive: true, force: true });
  }
});

test("RUNBOOK_JUPYTER_UI=notebook falls back to Debian's classic Notebook; SIGTERM to the tsx entry stops it", {
  timeout: START_MS + 60_000,
}, async () => {
  assert.ok(classicNotebookCommand(), "Debian's classic Notebook is missing: apt-get install jupyter-notebook");
  // Outside the repository: the server root is then the archive folder.
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-session-"));
  const sealed = sealedSession(archive);
  const port = await freePort();
  const s = start(
    process.execPath,
    [...SESSION, "--mode", "sandbox", "--archive-dir", archive, "--port", String(port), "--no-browser"],
    { RUNBOOK_JUPYTER_UI: "notebook" },
  );
  try {
    const url = await urlOf(s);
    assert.match(s.out(), /Starting classic Notebook on/);
    const id = /Session (\S+) prepared/.exec(s.out())?.[1];
    const { rel } = await servedNotebook(url, "notebooks");
    assert.equal(rel, `${id}/payment-e2e.ipynb`);
    await sealedWritesRefused(url, path.basename(sealed), sealed);
    s.child.kill("SIGTERM");
    const code = await within(s.exit, 30_000);
    assert.equal(code, 0, `exit ${code}: ${s.err().slice(-1000)}`);
    assert.ok(await until(() => portIsFree(port), 30_000), `port ${port} still taken after SIGTERM`);
    assert.deepEqual(processesWith(`--port=${port}`), []);
    assert.ok(fs.existsSync(path.join(archive, id!, "payment-e2e.ipynb")), "a served session folder is kept");
  } finally {
    s.child.kill("SIGKILL");
    for (const pid of processesWith(`--port=${port}`)) kill(pid);
    fs.rmSync(archive, { recursive: true, force: true });
  }
});

test("stopped while Jupyter creates the kernel started ahead: it waits for that kernel, then nothing outlives the session", {
  timeout: START_MS + 60_000,
}, async () => {
  assert.ok(jupyterLabCommand(), "JupyterLab is missing: run `bash scripts/setup.sh` (it fills .venv)");
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-session-"));
  // Jupyter's own runtime folder: the kernels' connection files there name this test's kernels only.
  const runtime = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-runtime-"));
  const started: Started[] = [];
  try {
    const port = await freePort();
    const s = start(
      process.execPath,
      [...SESSION, "--mode", "sandbox", "--archive-dir", archive, "--port", String(port), "--no-browser"],
      { JUPYTER_RUNTIME_DIR: runtime },
    );
    started.push(s);
    const t0 = Date.now();
    const waiting = () => s.child.exitCode === null && Date.now() - t0 < START_MS;
    // Jupyter writes the kernel's connection file into the runtime folder just before it launches the
    // kernel: until then a listing of that one folder says enough, and /proc (every process's command
    // line, some 2 ms of CPU a scan) is read every 10 ms only from there on.
    while (!fs.readdirSync(runtime).some((f) => f.startsWith("kernel-")) && waiting()) await sleep(10);
    while (processesWith(`${runtime}/kernel-`).length === 0 && waiting()) await sleep(10);
    assert.ok(processesWith(`${runtime}/kernel-`).length > 0, `no kernel was started ahead:\n${s.out()}\n${s.err()}`);
    s.child.kill("SIGTERM");
    const code = await within(s.exit, 60_000);
    assert.notEqual(code, "still running", `npm run session did not stop within 60 s:\n${s.err().slice(-2000)}`);
    assert.doesNotMatch(s.out(), /\?token=/, "the URL was printed after the stop");
    assert.match(
      s.err(),
      /session: SIGTERM, stopping JupyterLab …\n(?:[\s\S]*\n)?session: stopped before its URL was printed; the unused session folder \S+ was removed/,
    );
    assert.ok(
      await until(
        () => processesWith(`${runtime}/kernel-`).length === 0 && processesWith(`--port=${port}`).length === 0,
        30_000,
      ),
      "a kernel or Jupyter outlived the stopped session",
    );
  } finally {
    for (const x of started) x.child.kill("SIGKILL");
    for (const pid of processesWith(runtime)) kill(pid);
    fs.rmSync(archive, { recursive: true, force: true });
    fs.rmSync(runtime, { recursive: true, force: true });
  }
});

test("a UI that cannot start: one line naming cause and fix, non-zero exit, the unused folder removed", {
  timeout: START_MS,
}, async () => {
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-session-"));
  const port = await freePort();
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
  try {
    const s = start(process.execPath, [
      ...SESSION,
      "--mode",
      "sandbox",
      "--archive-dir",
      archive,
      "--port",
      String(port),
    ]);
    const code = await within(s.exit, START_MS - 10_000);
    assert.notEqual(code, "still running");
    assert.notEqual(code, 0);
    assert.match(s.out(), /Session \S+ prepared/);
    const lines = s.err().trim().split("\n");
    assert.equal(lines.length, 1, s.err());
    assert.match(
      lines[0],
      new RegExp(
        `^session: (JupyterLab|classic Notebook) did not start: port ${port} is already in use — pick another --port, or leave --port out to get a free one; the unused session folder \\S+ was removed$`,
      ),
    );
    assert.deepEqual(fs.readdirSync(archive), []);
  } finally {
    squatter.close();
    fs.rmSync(archive, { recursive: true, force: true });
  }
});

test("removeIfUnused keeps a session folder something ran in", () => {
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-session-"));
  try {
    const used = path.join(archive, "used");
    Journal.create(used, { sessionId: "used", mode: "sandbox" }).append("preflight", {
      ok: true,
      refusals: [],
      warnings: [],
      observed: {},
    });
    assert.equal(removeIfUnused(used), false);
    assert.ok(fs.existsSync(used));
    const extra = path.join(archive, "extra");
    Journal.create(extra, { sessionId: "extra", mode: "sandbox" });
    fs.writeFileSync(path.join(extra, "trace.jsonl"), "");
    assert.equal(removeIfUnused(extra), false);
    const unused = path.join(archive, "unused");
    Journal.create(unused, { sessionId: "unused", mode: "sandbox" });
    fs.writeFileSync(path.join(unused, "payment-e2e.ipynb"), "{}");
    assert.equal(removeIfUnused(unused), true);
    assert.ok(!fs.existsSync(unused));
  } finally {
    fs.rmSync(archive, { recursive: true, force: true });
  }
});
