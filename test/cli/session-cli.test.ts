/** `npm run session -- --mode … --no-jupyter`: an explicit fresh session with parameters injected. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { readNotebook, sourceOf } from "../../lib/notebook/nbfile";

const root = path.resolve(__dirname, "../..");

test("session --mode staging prepares a fresh folder, journal and notebook, and refuses a missing mode", () => {
  const archive = fs.mkdtempSync(path.join(root, "archive", ".test-"));
  try {
    const env = { ...process.env, OPERATOR_PASSWORD: "" };
    const bad = spawnSync(process.execPath, ["--import", "tsx", "lib/cli/session.ts", "--no-jupyter"], {
      cwd: root,
      encoding: "utf8",
      env,
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--mode is required; use --mode staging for the dry run/);
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "lib/cli/session.ts",
        "--mode",
        "staging",
        "--base-url",
        "https://staging.example.com",
        "--email",
        "ops@example.com",
        "--archive-dir",
        path.relative(root, archive),
        "--no-jupyter",
      ],
      { cwd: root, encoding: "utf8", env },
    );
    assert.equal(r.status, 0, r.stderr);
    const id = /Session (\d{8}T\d{6}Z-staging) prepared/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    assert.match(r.stdout, /OPERATOR_PASSWORD is not exported/);
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
