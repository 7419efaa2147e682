/**
 * The documented commands work (issue 15): every command line in README.md's and
 * docs/operator-guide.md's ```bash / ```sh / ```console blocks, and every `npm run …` in their
 * tables, has an entry in COMMANDS below, and is run against a real sandbox on 127.0.0.1 with the
 * documented example host and email rewritten to the sandbox's. A command that charges (live mode)
 * is run to its documented refusal; a long-running one (session = JupyterLab) is started, checked
 * for the line the docs show, and stopped; what is not run says why. A command found in the docs
 * without an entry fails the test, so new docs get tested.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { type Sandbox, startSandbox } from "../../sandbox/index";
import { sessionCommand } from "../cli/in-process";

const ROOT = path.resolve(__dirname, "../..");
const DOCS = ["README.md", "docs/operator-guide.md"];
const SCRIPTS = (
  JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

/** The documented examples and what they become here. */
const REWRITE: Array<[RegExp, (sb: Sandbox) => string]> = [
  [/https:\/\/staging\.example\.com/g, (sb) => sb.marketplaceUrl],
  [/https:\/\/www\.example\.com/g, (sb) => sb.marketplaceUrl],
  [/ops-test@example\.com/g, (sb) => sb.operator.email],
  [/https:\/\/hyperswitch\.example\.com/g, (sb) => sb.hyperswitchUrl],
];

/** Sessions the doc test starts go under the repository's git-ignored tmp/ (Jupyter serves the repository). */
const SCRATCH = path.join(ROOT, "tmp", `doc-test-${process.pid}`);

interface Ctx {
  sb: Sandbox;
  /** Runs a shell line in the repository; resolves with exit code and output. `until` stops it once matched. */
  sh: (line: string, o?: { stdin?: string; until?: RegExp; env?: Record<string, string> }) => Promise<Run>;
}
interface Run {
  code: number | null;
  out: string;
}

type Entry =
  | { run: (ctx: Ctx, line: string) => Promise<void>; note: string }
  /** Not run here, for the reason given; `check` still asserts what can be checked without running it. */
  | { notRun: string; check: (line: string) => void };

const refundSessionOk = async (ctx: Ctx, line: string) => {
  // The dry run must refund (step 8) so that it can satisfy the live gate (every step PASS).
  assert.match(
    line,
    /--refund\b/,
    "the staging session command lacks --refund: the dry run could never satisfy the live gate",
  );
  const archive = path.join(SCRATCH, "payment-e2e");
  const r = await ctx.sh(`${line} --archive-dir ${path.relative(ROOT, archive)} --no-browser`, {
    until: /\?token=[0-9a-f]+/,
  });
  // The docs' line, with the archive folder this test uses instead of archive/payment-e2e.
  const doc = fs.readFileSync(path.join(ROOT, "docs/operator-guide.md"), "utf8");
  const shown = /^(JupyterLab is serving the session notebook.*)\n\s+(http:\/\/127\.0\.0\.1:<port>\/lab\/\S+)$/m.exec(
    doc,
  );
  assert.ok(shown, "the operator guide no longer shows the session's URL line");
  assert.ok(r.out.includes(shown[1]), `no "${shown[1]}" in:\n${r.out.slice(-1500)}`);
  const url = new RegExp(
    shown[2]
      .replace("archive/payment-e2e", path.relative(ROOT, archive))
      .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      .replace("<port>", "\\d+")
      .replaceAll("<id>", "\\d{8}T\\d{6}Z-staging")
      .replace("<token>", "[0-9a-f]+"),
  );
  assert.match(r.out, url);
  const nb = /notebook: (\S+)/.exec(r.out)?.[1];
  assert.ok(nb, r.out);
  assert.match(
    fs.readFileSync(path.resolve(ROOT, nb), "utf8"),
    /REFUND = true/,
    "the session notebook does not refund",
  );
};

/** A documented line as a whole line of a script (leading spaces and a trailing comment allowed). */
const lineIn = (line: string) => new RegExp(`^\\s*${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\s.*)?$`, "m");

/** Every documented command: how it is run here, or why not. Keyed by the line as written, comments cut. */
const COMMANDS: Record<string, Entry> = {
  "bash scripts/setup.sh": {
    notRun:
      "installs Debian packages, runs npm ci over the shared node_modules and a full demo; .ci/run runs it first; here: --help answers without touching anything",
    // CI runs exactly this line (before the tests), so a fresh machine is set up the way the README says.
    check: (line) => assert.match(fs.readFileSync(path.join(ROOT, ".ci/run"), "utf8"), lineIn(line)),
  },
  "npm test": {
    notRun: "this test is part of it",
    // The README's test command is the one CI runs, and it runs this file.
    check: (line) => {
      assert.match(fs.readFileSync(path.join(ROOT, ".ci/run"), "utf8"), lineIn(line));
      assert.match(SCRIPTS.test, /test\/docs\/\*\.test\.ts/, "npm test does not run test/docs/");
    },
  },
  "export HYPERSWITCH_URL=https://hyperswitch.example.com": {
    note: "exports the orchestrator double's origin to a child",
    run: async (ctx, line) => {
      const r = await ctx.sh(
        `${line}; node -e 'process.exit(process.env.HYPERSWITCH_URL === process.argv[1] ? 0 : 1)' "$U"`,
        {
          env: { U: ctx.sb.hyperswitchUrl },
        },
      );
      assert.equal(r.code, 0, r.out);
    },
  },
  "read -s HYPERSWITCH_API_KEY; export HYPERSWITCH_API_KEY": {
    note: "bash reads the orchestrator double's key from stdin and exports it to a child",
    run: async (ctx, line) => {
      const r = await ctx.sh(
        `${line}; node -e 'process.exit(process.env.HYPERSWITCH_API_KEY === process.argv[1] ? 0 : 1)' "$K"`,
        {
          stdin: `${ctx.sb.apiKey}\n`,
          env: { K: ctx.sb.apiKey },
        },
      );
      assert.equal(r.code, 0, "the exported key is not the one typed");
      assert.doesNotMatch(r.out, new RegExp(ctx.sb.apiKey), "the key was echoed");
    },
  },
  "npm run preflight -- --mode staging --base-url https://staging.example.com --email ops-test@example.com": {
    note: "against the sandbox with the two exports above (the orchestrator double's origin and key): GO, exit 0; without them refused",
    run: async (ctx, line) => {
      const r = await ctx.sh(line, {
        env: { HYPERSWITCH_URL: ctx.sb.hyperswitchUrl, HYPERSWITCH_API_KEY: ctx.sb.apiKey },
      });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^GO: pre-flight passed$/m);
      const bare = await ctx.sh(line, { env: { HYPERSWITCH_URL: "", HYPERSWITCH_API_KEY: "" } });
      assert.equal(bare.code, 1, bare.out);
      assert.match(
        bare.out,
        /REFUSED: refused \(orchestrator\): MODE=staging needs HYPERSWITCH_URL and HYPERSWITCH_API_KEY/,
      );
    },
  },
  "read -s OPERATOR_PASSWORD; export OPERATOR_PASSWORD": {
    note: "bash reads the sandbox operator's password from stdin and exports it to a child",
    run: async (ctx, line) => {
      const r = await ctx.sh(
        `${line}; node -e 'process.exit(process.env.OPERATOR_PASSWORD === process.argv[1] ? 0 : 1)' "$P"`,
        {
          stdin: `${ctx.sb.operator.password}\n`,
          env: { P: ctx.sb.operator.password },
        },
      );
      assert.equal(r.code, 0, "the exported password is not the one typed");
      assert.doesNotMatch(r.out, new RegExp(ctx.sb.operator.password), "the password was echoed");
    },
  },
  "export DATABASE_URL='postgres://readonly@…'": {
    notRun: "a placeholder DSN (…); the sandbox's read-only DSN is what `npm run sandbox` prints",
    check: (line) => assert.match(line, /^export DATABASE_URL='postgres:\/\/readonly@/),
  },
  "npm run session -- --mode staging --base-url https://staging.example.com --email ops-test@example.com --refund --hyperswitch-url https://hyperswitch.example.com":
    {
      note: "started under the git-ignored tmp/ with --no-browser; prints the docs' URL line; the notebook refunds; stopped",
      run: refundSessionOk,
    },
  "npm run session -- --resume": {
    note: "with --archive-dir under the git-ignored tmp/ and --no-jupyter: reopens the newest unsealed session there, creating none",
    run: async (ctx, line) => {
      const archive = path.join(SCRATCH, "resume");
      fs.rmSync(archive, { recursive: true, force: true });
      // The session to resume, prepared by the same command in this process (test/cli/in-process.ts):
      // not a documented line; the documented one below runs through npm.
      const made = await sessionCommand(["--mode", "staging", "--archive-dir", archive, "--no-jupyter"]);
      assert.equal(made.code, 0, made.out + made.err);
      const id = /Session (\S+) prepared/.exec(made.out)?.[1];
      const r = await ctx.sh(`${line} --archive-dir ${archive} --no-jupyter`);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`^Session ${id} resumed`, "m"));
      assert.equal(fs.readdirSync(archive).length, 1);
    },
  },
  "npm run session -- --resume 20261126T154400Z-staging": {
    note: "the example id is not in an empty archive: its one-line refusal, exit 2, nothing created",
    run: async (ctx, line) => {
      const empty = path.join(SCRATCH, "no-such-session");
      fs.mkdirSync(empty, { recursive: true });
      const r = await ctx.sh(`${line} --archive-dir ${empty} --no-jupyter`);
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /session: no session 20261126T154400Z-staging in .*: check the id/);
      assert.deepEqual(fs.readdirSync(empty), []);
    },
  },
  "npm run session -- --mode live --base-url https://www.example.com --email ops-test@example.com --hyperswitch-url https://hyperswitch.example.com":
    {
      note: "charges: run to its documented refusal, the same gate the session's first cell runs (npm run preflight --mode live, the orchestrator's origin from the environment as pre-flight reads it): exit 1, dry run first, environment and LIVE_CONFIRM refused",
      run: async (ctx, line) => {
        const empty = path.join(SCRATCH, "no-staging");
        fs.mkdirSync(empty, { recursive: true });
        const [cmd] = line.split(" --hyperswitch-url ");
        const r = await ctx.sh(`${cmd.replace("npm run session", "npm run preflight")} --archive-dir ${empty}`, {
          env: { HYPERSWITCH_URL: ctx.sb.hyperswitchUrl },
        });
        assert.equal(r.code, 1, r.out);
        assert.match(r.out, /REFUSED: refused \(dry-run\): no passed staging dry run/);
        assert.match(r.out, /REFUSED: refused \(environment\): MODE=live but the backend says environment=staging/);
        assert.match(r.out, /REFUSED: refused \(live-confirm\)/);
        assert.match(r.out, /^NO-GO: pre-flight refused$/m);
      },
    },
  'npm run session -- --mode live --base-url http://127.0.0.1:8443 --via-tunnel "ssh -L 8443 to prod, bastion host checked by ops"':
    {
      note: "with --archive-dir under the git-ignored tmp/ and --no-jupyter (nothing charges: no cell runs): the session is prepared and its journal's first entry holds the statement",
      run: async (ctx, line) => {
        const archive = path.join(SCRATCH, "via-tunnel");
        fs.rmSync(archive, { recursive: true, force: true });
        const r = await ctx.sh(`${line} --archive-dir ${path.relative(ROOT, archive)} --no-jupyter`);
        assert.equal(r.code, 0, r.out);
        const id = /Session (\S+-live) prepared/.exec(r.out)?.[1];
        assert.ok(id, r.out);
        const first = JSON.parse(fs.readFileSync(path.join(archive, id, "state.jsonl"), "utf8").split("\n")[0]);
        assert.equal(first.data.via_tunnel, "ssh -L 8443 to prod, bastion host checked by ops");
        assert.equal(first.data.base_url, "http://127.0.0.1:8443");
      },
    },
};

/** The command lines of the docs' shell blocks, and the `npm run <script>` of their tables. */
function documented(): { lines: string[]; tableScripts: string[] } {
  const lines: string[] = [];
  const tableScripts: string[] = [];
  for (const f of DOCS) {
    const text = fs.readFileSync(path.join(ROOT, f), "utf8");
    for (const m of text.matchAll(/^```(bash|sh|console)\n([\s\S]*?)^```/gm)) {
      for (const raw of m[2].split("\n")) {
        const line = raw
          .replace(/^\$\s+/, "")
          .replace(/(^|\s)#\s.*$/, "")
          .trim();
        if (line) lines.push(line);
      }
    }
    for (const row of text.split("\n").filter((l) => l.startsWith("|")))
      for (const m of row.matchAll(/`npm run ([\w:-]+)/g)) tableScripts.push(m[1]);
  }
  return { lines: [...new Set(lines)], tableScripts: [...new Set(tableScripts)] };
}

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ quiet: true, marketplacePort: 0, hyperswitchPort: 0, pgPort: 0 });
});
after(async () => {
  await sb?.stop();
  fs.rmSync(SCRATCH, { recursive: true, force: true });
  // tmp/ itself only when this test made it and it is empty.
  try {
    fs.rmdirSync(path.join(ROOT, "tmp"));
  } catch {
    // not empty or absent
  }
});

function sh(line: string, o: { stdin?: string; until?: RegExp; env?: Record<string, string> } = {}): Promise<Run> {
  let cmd = line;
  for (const [re, to] of REWRITE) cmd = cmd.replace(re, to(sb));
  const child = spawn("bash", ["-c", o.until ? `exec ${cmd}` : cmd], {
    cwd: ROOT,
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, ...o.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin.end(o.stdin ?? "");
  let out = "";
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (o.until?.test(out)) child.kill("SIGTERM");
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test("every documented command has an entry in the doc test's table, and no entry is stale", () => {
  const { lines, tableScripts } = documented();
  assert.ok(lines.length >= 5, `only ${lines.length} command lines found: the block parser is broken`);
  const missing = lines.filter((l) => !(l in COMMANDS));
  assert.deepEqual(
    missing,
    [],
    `documented commands without an entry in test/docs/commands.test.ts:\n${missing.join("\n")}`,
  );
  const stale = Object.keys(COMMANDS).filter((k) => !lines.includes(k));
  assert.deepEqual(stale, [], `entries for commands the docs no longer show:\n${stale.join("\n")}`);
  // The tables' commands are npm scripts; each is run with --help or a dry argument by test/cli/npm-scripts.test.ts.
  const unknown = tableScripts.filter((s) => !(s in SCRIPTS));
  assert.deepEqual(unknown, [], `the docs' tables name npm scripts package.json does not have: ${unknown.join(", ")}`);
});

test("the documented commands run against the sandbox", { concurrency: 2, timeout: 300_000 }, async (t) => {
  const ctx: Ctx = { sb, sh };
  await Promise.all(
    documented()
      .lines.filter((l) => l in COMMANDS)
      .map((line) => {
        const e = COMMANDS[line];
        if ("notRun" in e) return t.test(`${line} (checked, not run: ${e.notRun})`, () => e.check(line));
        return t.test(line, () => e.run(ctx, line));
      }),
  );
});

test("bash scripts/setup.sh --help answers without installing anything", async () => {
  const r = await sh("bash scripts/setup.sh --help");
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^usage: bash scripts\/setup\.sh/m);
});
