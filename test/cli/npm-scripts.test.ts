/**
 * Every npm script runs (issue 15): each entry of package.json's "scripts" is run through a real
 * npm, with `--help` or a dry argument, and must exit 0 with a meaningful line; a script added without
 * an entry in SCRIPTS fails the test. Then the long-running scripts (sandbox, demo) are stopped by a
 * signal to the npm process and must leave no process behind and no port taken (`npm run session`
 * has the same test in session-cli.test.ts).
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { refreshProblem } from "../faults/results";
import { alive, descendants } from "../../lib/procs";

const ROOT = path.resolve(__dirname, "../..");
const SCRIPTS_JSON = (
  JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

type Entry =
  /** Run `npm run <name> -- ...args`; exit 0 and `expect` somewhere in stdout + stderr. */
  | { args: string[]; expect: RegExp; env?: Record<string, string> }
  /** Not run, with why; `check` looks at the script's text instead. */
  | { notRun: string; check: (script: string) => void };

const help = (expect: RegExp): Entry => ({ args: ["--help"], expect });

/** Every `dir/*.test.ts` glob of a test script names at least one file. */
function globsHaveFiles(script: string): void {
  const globs = script.split(/\s+/).filter((w) => w.includes("*"));
  assert.ok(globs.length > 0, `no test file glob in: ${script}`);
  for (const g of globs) {
    const dir = path.join(ROOT, path.dirname(g));
    const suffix = path.basename(g).replace(/^\*/, "");
    const hits = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(suffix)) : [];
    assert.ok(hits.length > 0, `${g} matches no file`);
  }
}

/** One entry per script, decided per script. */
const SCRIPTS: Record<string, Entry> = {
  setup: help(/^usage: bash scripts\/setup\.sh/m),
  test: {
    notRun: "this test is part of it (it would run itself); checked: every glob names test files, test/docs included",
    check: (s) => {
      globsHaveFiles(s);
      for (const dir of ["test/cli", "test/docs"])
        assert.ok(s.includes(`${dir}/*.test.ts`), `npm test leaves out ${dir}`);
    },
  },
  typecheck: {
    notRun:
      "two full compiles take minutes on 2 shared cores and tsc has no dry mode; .ci/run runs it as its own step; checked: both compilers and configs exist",
    check: (s) => {
      for (const f of s.split(/\s+/).filter((w) => /\/tsc$|\.json$/.test(w)))
        assert.ok(fs.existsSync(path.join(ROOT, f)), `${f} is missing`);
    },
  },
  lint: { args: [], expect: /^Checked \d+ files/m },
  "format:check": { args: [], expect: /^Checked \d+ files/m },
  format: help(/Usage: biome format/), // --help: never writes
  sandbox: help(/^Usage: npm run sandbox -- \[options\]/m),
  demo: help(/^usage: npm run demo --/m),
  preflight: help(/^usage: npm run preflight --/m),
  session: help(/^usage: npm run session -- --mode sandbox\|staging\|live/m),
  scan: help(/^usage: scan /m),
  verify: help(/^usage: verify <session-dir>/m),
  archive: help(/^usage: npm run archive -- <session-dir>/m),
  report: help(/^usage: npm run report -- <session-dir-or-id>/m),
  "confirm-bank": help(/^usage: npm run confirm-bank -- <session-dir-or-id> --date YYYY-MM-DD/m),
  compare: help(/^usage: npm run compare --/m),
  "test:ui": {
    notRun:
      "the operator path in real JupyterLab takes minutes and cannot select no test (its before hook starts JupyterLab); CI runs it; checked: its glob names test files",
    check: globsHaveFiles,
  },
  // FAULTS_ONLY names no scenario: the suite loads every scenario, starts no sandbox and runs none.
  // TAP (`# tests 0`, Node 20) or spec (`ℹ tests 0`, the default on Node 23+ whatever the output).
  "test:faults": { args: [], env: { FAULTS_ONLY: "none" }, expect: /^(?:#|ℹ) tests 0$/m },
  "faults:refresh": help(/^usage: TEST_PG_URL=postgres:\/\/… npm run faults:refresh/m),
  build: help(/^usage: npm run build/m),
  bench: help(/^usage: npm run bench --/m),
  template: { args: ["--check"], expect: /^notebooks\/payment-e2e\.ipynb is current$/m },
  "hs-reference": { args: ["--check"], expect: /^lib\/hs-reference\.ts is current$/m },
};

interface Ran {
  code: number | null;
  out: string;
}

/** `npm run <name> [-- args]` in the repository; killed after `timeoutMs`. */
function npmRun(name: string, args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 150_000) {
  const child = spawn("npm", ["run", name, ...(args.length > 0 ? ["--", ...args] : [])], {
    cwd: ROOT,
    // NODE_TEST_CONTEXT would make a nested `node --test` skip its files.
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, FAULTS_ONLY: undefined, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<Ran>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
  return { child, done, out: () => out };
}

test("every npm script has an entry in this test's table, and no entry is stale", () => {
  const missing = Object.keys(SCRIPTS_JSON).filter((s) => !(s in SCRIPTS));
  const stale = Object.keys(SCRIPTS).filter((s) => !(s in SCRIPTS_JSON));
  assert.deepEqual(missing, [], `scripts without an entry in test/cli/npm-scripts.test.ts: ${missing.join(", ")}`);
  assert.deepEqual(stale, [], `entries for scripts package.json no longer has: ${stale.join(", ")}`);
});

test("every npm script runs: --help or a dry argument, exit 0 and its usage line", { concurrency: 3 }, async (t) => {
  await Promise.all(
    Object.entries(SCRIPTS).map(([name, entry]) =>
      t.test(name, async () => {
        const script = SCRIPTS_JSON[name];
        assert.ok(script, `${name} is not in package.json`);
        if ("notRun" in entry) {
          entry.check(script);
          return;
        }
        const r = await npmRun(name, entry.args, entry.env).done;
        const tail = r.out.slice(-1500);
        assert.equal(r.code, 0, `npm run ${name} ${entry.args.join(" ")} exited ${r.code}:\n${tail}`);
        assert.match(r.out, entry.expect, `npm run ${name}: no ${entry.expect} in:\n${tail}`);
        if (entry.args.includes("--help"))
          assert.doesNotMatch(
            r.out,
            /\b(Error|TypeError|EADDRINUSE|ECONNREFUSED)\b/,
            `--help of ${name} failed:\n${tail}`,
          );
      }),
    ),
  );
});

test("npm run faults:refresh refuses without TEST_PG_URL: one line naming it, exit 2", async () => {
  const r = await npmRun("faults:refresh", [], { TEST_PG_URL: "" }).done;
  assert.equal(r.code, 2, r.out);
  const lines = r.out.split("\n").filter((l) => l.startsWith("faults:refresh:"));
  assert.equal(lines.length, 1, r.out);
  assert.match(lines[0], /refused: .*set TEST_PG_URL/);
});

test("faults:refresh writes the committed table only from a full, green run on both backends", () => {
  const full = { expected: 76, ran: 76, failed: 0, backends: ["pglite", "postgres"], subset: false };
  assert.equal(refreshProblem(full, 0), null);
  assert.match(refreshProblem(null, 0) ?? "", /no run summary/);
  assert.match(refreshProblem({ ...full, subset: true }, 0) ?? "", /FAULTS_ONLY/);
  assert.match(
    refreshProblem({ ...full, backends: ["pglite"], expected: 38, ran: 38 }, 0) ?? "",
    /no rows from postgres/,
  );
  assert.match(refreshProblem({ ...full, ran: 75 }, 1) ?? "", /75 of 76 scenarios ran/);
  assert.match(refreshProblem({ ...full, failed: 1 }, 1) ?? "", /1 scenario\(s\) failed/);
  assert.match(refreshProblem(full, 1) ?? "", /test exit 1/);
});

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return cond();
}

/** Signals the npm process once `ready` shows, then asserts that npm and every process below it end. */
async function stopsEverything(
  run: { child: ChildProcess; done: Promise<Ran>; out: () => string },
  ready: RegExp,
  signal: NodeJS.Signals,
  portsOf: (out: string) => number[] = () => [],
): Promise<string> {
  const npmPid = run.child.pid as number;
  let exited = false;
  void run.done.then(() => {
    exited = true;
  });
  try {
    assert.ok(await until(() => exited || ready.test(run.out()), 150_000), `never ready:\n${run.out().slice(-1500)}`);
    assert.ok(!exited, `exited before the signal:\n${run.out().slice(-1500)}`);
    const ports = portsOf(run.out());
    const tree = descendants(npmPid);
    assert.ok(tree.length > 0, "npm has no child");
    run.child.kill(signal);
    assert.ok(await until(() => exited, 30_000), `npm still running 30 s after ${signal}`);
    const gone = await until(() => tree.every((p) => !alive(p)), 30_000);
    const left = tree.filter(alive);
    for (const p of left) process.kill(p, "SIGKILL");
    assert.ok(
      gone,
      `${signal} to npm left ${left.length} process(es) running: ${left.join(", ")}\n${run.out().slice(-1500)}`,
    );
    for (const port of ports) assert.ok(await until(() => portIsFree(port), 10_000), `port ${port} still taken`);
    return run.out();
  } finally {
    if (!exited) run.child.kill("SIGKILL");
  }
}

/** The three ports the sandbox's banner names: the marketplace, the orchestrator and PostgreSQL's. */
function bannerPorts(out: string): number[] {
  const ports = [
    /^ {2}Marketplace +http:\/\/127\.0\.0\.1:(\d+)/m,
    /^ {2}Orchestrator +http:\/\/127\.0\.0\.1:(\d+)/m,
    /^ {2}Read-only DSN +postgres:\/\/[^@\s]+@127\.0\.0\.1:(\d+)\//m,
  ].map((re) => Number(re.exec(out)?.[1]));
  assert.ok(
    ports.every((p) => p > 0),
    `the banner names no port:\n${out.slice(-1500)}`,
  );
  return ports;
}

test("a signal to npm stops sandbox and demo with every process below them", {
  concurrency: 3,
  timeout: 300_000,
}, async (t) => {
  const sandbox = (signal: NodeJS.Signals) =>
    t.test(`${signal} to npm run sandbox's npm process stops the sandbox and frees its ports`, async () => {
      // Port 0: the sandbox binds ports the system picks and prints them. A port found free first and
      // passed by number could be taken meanwhile (by any connection's local side) under load.
      const run = npmRun(
        "sandbox",
        ["--port", "0", "--hyperswitch-port", "0", "--pg-port", "0", "--quiet"],
        {},
        240_000,
      );
      const out = await stopsEverything(run, /^Press Ctrl-C to stop\.$/m, signal, bannerPorts);
      assert.match(out, /^Sandbox stopped\.$/m);
    });
  const demo = t.test(
    "SIGINT to npm run demo's npm process stops the executor, its kernel and the sandbox",
    async () => {
      const archive = fs.mkdtempSync(path.join(os.tmpdir(), "npm-demo-signal-"));
      try {
        const run = npmRun("demo", ["--archive-dir", archive], {}, 300_000);
        // Signalled once the session is prepared: the executor starts right after (or during the stop).
        const out = await stopsEverything(run, /^demo: session \S+ → /m, "SIGINT");
        assert.match(out, /^demo: SIGINT; stopping the headless run and the sandbox$/m);
      } finally {
        fs.rmSync(archive, { recursive: true, force: true });
      }
    },
  );
  await Promise.all([sandbox("SIGTERM"), sandbox("SIGINT"), demo]);
});
