/**
 * Both verifiers as an auditor runs them, `npm run verify` (lib/cli/verify.ts, spawned) and
 * verifier/verify_session.py, with their finding codes read back; and a sealed fixture session.
 * Shared by test/evidence/parity.test.ts and test/evidence/timestamp.test.ts.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { archiveSession, type ArchiveOptions } from "../../lib/host/archive";
import { makeSession, tmpArchive } from "../report/fixtures";

const ROOT = path.resolve(__dirname, "../..");
export const PYTHON = process.env.PYTHON ?? "python3";

export interface VerifierRun {
  code: number | null;
  /** Codes of the ERROR findings, sorted, without repeats. */
  errors: string[];
  out: string;
}

const CODE = /^ERROR\s.*\s\[([A-Z0-9_]+)\]$/;
function parse(stdout: string, stderr: string, status: number | null): VerifierRun {
  const codes = new Set<string>();
  for (const l of stdout.split("\n")) {
    const m = CODE.exec(l);
    if (m) codes.add(m[1]);
  }
  return { code: status, errors: [...codes].sort(), out: stdout + stderr };
}

/** verifier/verify_session.py on a folder, with the living report; extra args appended. */
export function runPython(dir: string, report: string, extra: string[] = []): VerifierRun {
  const r = spawnSync(PYTHON, [path.join(ROOT, "verifier", "verify_session.py"), dir, "--report", report, ...extra], {
    encoding: "utf8",
  });
  if (r.error) throw r.error;
  return parse(r.stdout, r.stderr, r.status);
}

/** `npm run verify` (lib/cli/verify.ts) on a folder, with the living report; extra args appended. */
export function runTs(dir: string, report: string, extra: string[] = []): VerifierRun {
  const cli = path.join(ROOT, "lib", "cli", "verify.ts");
  const r = spawnSync(process.execPath, ["--import", "tsx", cli, dir, "--report", report, ...extra], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (r.error) throw r.error;
  return parse(r.stdout, r.stderr, r.status);
}

/** A sealed sandbox session whose notebook, like the runbook's, names its session id. */
export async function sealedFixture(
  opts: Pick<ArchiveOptions, "tsa"> = { tsa: null },
): Promise<{ dir: string; cleanup: () => void }> {
  const archive = tmpArchive();
  const dir = makeSession(archive, {
    mode: "sandbox",
    scenario: "pass",
    at: new Date(Date.UTC(2026, 10, 20, 14, 2, 11)),
  });
  const id = path.basename(dir);
  const notebook = {
    cells: [
      {
        cell_type: "code",
        execution_count: 1,
        id: "session",
        metadata: {},
        outputs: [{ output_type: "display_data", data: { "text/markdown": `**Session** \`${id}\`` }, metadata: {} }],
        source: ["nb.session()"],
      },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  fs.writeFileSync(path.join(dir, "payment-e2e.ipynb"), `${JSON.stringify(notebook, null, 1)}\n`);
  const r = await archiveSession(dir, { html: false, docsDir: path.join(archive, "..", "..", "docs"), ...opts });
  assert.equal(r.status, "sealed");
  return { dir, cleanup: () => fs.rmSync(path.dirname(path.dirname(archive)), { recursive: true, force: true }) };
}
