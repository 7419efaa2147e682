/**
 * `npm run session` (lib/cli/session.ts, lib/host/session-life.ts) and `npm run demo` (scripts/demo.ts)
 * print an operator's flags, folder and session names, paths and other programs' errors through
 * terminalLine: an escape sequence, a carriage return or a bidi override in them is shown, never
 * obeyed, and so is Jupyter's log, which the session passes on once Jupyter is up. The session command
 * runs in this process (test/cli/in-process.ts); the demo's early refusal in its own, as the operator's
 * would.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { summaryLines } from "../../scripts/demo";
import { shownLog } from "../../lib/host/ui-server";
import { sessionCommand } from "./in-process";
import { HOSTILE, HOSTILE_SHOWN, assertShownNotObeyed } from "./terminal";

const root = path.resolve(__dirname, "../..");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "hostile-lines-"));

test("npm run session: a --mode carrying escapes is quoted as text", async () => {
  const r = await sessionCommand(["--mode", HOSTILE, "--archive-dir", tmp(), "--no-jupyter"]);
  assert.equal(r.code, 2, r.err);
  assertShownNotObeyed(r.err);
  assert.match(r.err, /^session: --mode is "x\\u001b/);
});

test("npm run session: a refusal quoting a --resume id that carries escapes is one line of text", async () => {
  const archive = tmp();
  const r = await sessionCommand(["--resume", HOSTILE, "--archive-dir", archive, "--no-jupyter"]);
  assert.equal(r.code, 2, r.err);
  assertShownNotObeyed(r.err);
  assert.equal(r.err.split("\n").filter(Boolean).length, 1, r.err);
  assert.match(r.err, /^session: no session x\\u001b\[2K\\rGO: forged/);
});

test("npm run session --no-jupyter: the session's paths under an --archive-dir named with escapes are printed as text", async () => {
  const archive = path.join(tmp(), HOSTILE);
  const r = await sessionCommand(["--mode", "sandbox", "--archive-dir", archive, "--no-jupyter"], {
    OPERATOR_PASSWORD: "",
  });
  assert.equal(r.code, 0, r.err);
  assertShownNotObeyed(r.out);
  assert.match(r.out, /^ {2}notebook: \S*x\\u001b\[2K\\rGO: forged/m);
});

test("npm run demo: its summary shows paths and the archive's refusal as text", () => {
  const lines = summaryLines({
    statuses: new Map([[0, "PASS"]]),
    notebook: `/tmp/${HOSTILE}/payment-e2e.ipynb`,
    dir: `/tmp/${HOSTILE}`,
    archive: null,
    archiveError: `cannot seal ${HOSTILE}: refused`,
    timings: {},
    allPassed: false,
  });
  const text = lines.join("\n");
  assertShownNotObeyed(text);
  assert.ok(
    lines.some((l) => l === `  archive FAILED: cannot seal ${HOSTILE_SHOWN}: refused`),
    text,
  );
  assert.equal(lines.at(-1), "FAIL: see the executed notebook and its report");
});

test("npm run demo: a refusal quoting a --fault that carries escapes is one line of text", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "scripts/demo.ts"), "--fault", HOSTILE], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assertShownNotObeyed(r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^demo: --fault x\\u001b\[2K\\rGO: forged.*: use name=value/);
});

test("npm run session: Jupyter's log is passed on line by line as text, a character split across chunks kept whole", () => {
  const out: string[] = [];
  const log = shownLog((l) => out.push(l));
  const bytes = Buffer.from(
    `[I] Serving notebooks from local directory: /tmp/${HOSTILE}\r\n[I] caf\u00e9 ready\n[W] last`,
  );
  // Cut inside the two bytes of "é", and inside the hostile name.
  const cut = bytes.indexOf(Buffer.from("\u00e9")) + 1;
  for (const part of [bytes.subarray(0, 50), bytes.subarray(50, cut), bytes.subarray(cut)]) log.push(part);
  assert.equal(out.length, 2, "only whole lines so far");
  log.end();
  const text = out.join("");
  assertShownNotObeyed(text);
  assert.deepEqual(out, [
    `[I] Serving notebooks from local directory: /tmp/${HOSTILE_SHOWN}\n`,
    "[I] caf\u00e9 ready\n",
    "[W] last\n",
  ]);
});
