/**
 * Sealing (issue 11): `npm run archive` seals a folder once. On a sealed folder it writes nothing
 * when the seal still verifies, refuses in one line naming what changed and the fix when it does not,
 * and re-seals only on purpose (`--reseal`), recording that in the trace.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { ArchiveSealed } from "../../lib/errors";
import { MANIFEST_FILE, REPORT_FILE, SESSION_NOTEBOOK, TRACE_FILE } from "../../lib/evidence/files";
import { keyFingerprint } from "../../lib/evidence/signature";
import { type Signer, makeSigner } from "../evidence/signing";
import { readTrace } from "../../lib/evidence/chain";
import { manifestHash, readManifest } from "../../lib/evidence/manifest";
import { verifySession } from "../../lib/evidence/verify";
import { archiveSession } from "../../lib/host/archive";
import { Journal } from "../../lib/evidence/journal";
import { Trace } from "../../lib/evidence/trace";
import { day, makeSession, tmpArchive } from "../report/fixtures";
import { archiveCommand } from "../cli/in-process";

const root = path.resolve(__dirname, "../..");

/** A finished sandbox session with its (output-free) notebook, not yet sealed. */
function session(): { dir: string; docs: string } {
  const archive = tmpArchive();
  const dir = makeSession(archive, { mode: "sandbox" });
  fs.writeFileSync(
    path.join(dir, SESSION_NOTEBOOK),
    '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
  );
  return { dir, docs: path.join(archive, "..", "..", "docs") };
}

/** Every file's bytes and modification time, editor files included. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ent of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!ent.isFile()) continue;
    const abs = path.join(ent.parentPath, ent.name);
    out[path.relative(dir, abs)] = `${fs.statSync(abs).mtimeMs} ${fs.readFileSync(abs).toString("base64")}`;
  }
  return out;
}

const sealedOnce = async () => {
  const s = session();
  const first = await archiveSession(s.dir, { html: false, docsDir: s.docs });
  assert.equal(first.status, "sealed");
  return { ...s, first };
};

describe("archive on a sealed folder", () => {
  test("a second archive finds the seal intact and writes nothing", async () => {
    const { dir, docs, first } = await sealedOnce();
    const before = snapshot(dir);
    await new Promise((r) => setTimeout(r, 20));
    const again = await archiveSession(dir, { html: false, docsDir: docs });
    assert.equal(again.status, "already-sealed");
    assert.equal(again.sealedAt, first.manifest.created_at);
    assert.equal(again.manifestSha256, first.manifestSha256);
    assert.deepEqual(snapshot(dir), before, "no byte and no modification time changed");
  });

  test("a checkpoint or swap file saved after sealing changes nothing: still sealed", async () => {
    const { dir, docs } = await sealedOnce();
    fs.mkdirSync(path.join(dir, ".ipynb_checkpoints"));
    fs.writeFileSync(path.join(dir, ".ipynb_checkpoints", "payment-e2e-checkpoint.ipynb"), "{}\n");
    fs.writeFileSync(path.join(dir, ".report.md.swp"), "swap");
    assert.ok(verifySession(dir).ok);
    assert.equal((await archiveSession(dir, { html: false, docsDir: docs })).status, "already-sealed");
  });

  test("a notebook saved after sealing is refused in one line naming it and the fix; nothing written", async () => {
    const { dir, docs } = await sealedOnce();
    fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), '{"cells": [], "metadata": {"saved": 1}}\n');
    const before = snapshot(dir);
    await assert.rejects(archiveSession(dir, { html: false, docsDir: docs }), (e: unknown) => {
      assert.ok(e instanceof ArchiveSealed);
      assert.equal(e.code, "E2E_ARCHIVE_SEALED");
      assert.doesNotMatch(e.message, /\n/);
      assert.match(
        e.message,
        /was sealed at \S+ and has changed since: payment-e2e\.ipynb: the notebook was saved after sealing: .* — close the notebook in Jupyter .* re-seal: npm run archive -- \S+ --reseal "<reason>"$/,
      );
      return true;
    });
    assert.deepEqual(snapshot(dir), before);
  });

  test("an output edited inside the sealed notebook: archive refuses, verify names the notebook", async () => {
    const s = session();
    const nb = {
      cells: [
        {
          cell_type: "code",
          execution_count: 4,
          id: "pay",
          metadata: {},
          outputs: [{ name: "stdout", output_type: "stream", text: ["Step 4 ❌ FAIL: card declined\n"] }],
          source: ["await nb.run('pay')"],
        },
      ],
      metadata: {},
      nbformat: 4,
      nbformat_minor: 5,
    };
    fs.writeFileSync(path.join(s.dir, SESSION_NOTEBOOK), `${JSON.stringify(nb, null, 1)}\n`);
    assert.equal((await archiveSession(s.dir, { html: false, docsDir: s.docs })).status, "sealed");
    // Someone turns the recorded FAIL into a PASS in the saved notebook.
    nb.cells[0].outputs[0].text = ["Step 4 ✅ PASS\n"];
    fs.writeFileSync(path.join(s.dir, SESSION_NOTEBOOK), `${JSON.stringify(nb, null, 1)}\n`);
    const before = snapshot(s.dir);
    await assert.rejects(archiveSession(s.dir, { html: false, docsDir: s.docs }), (e: unknown) => {
      assert.ok(e instanceof ArchiveSealed);
      assert.match(e.message, /payment-e2e\.ipynb: the notebook was saved after sealing: sha256 differs/);
      return true;
    });
    const v = verifySession(s.dir);
    assert.equal(v.ok, false);
    assert.ok(
      v.findings.some(
        (f) =>
          f.level === "error" &&
          f.subject === SESSION_NOTEBOOK &&
          /the notebook was saved after sealing/.test(f.message),
      ),
    );
    assert.deepEqual(snapshot(s.dir), before, "the refusal wrote nothing");
    // A re-seal without a written reason is refused too.
    await assert.rejects(
      archiveSession(s.dir, { html: false, docsDir: s.docs, reseal: "short" }),
      /--reseal needs a written reason of at least 10 characters/,
    );
    assert.deepEqual(snapshot(s.dir), before);
  });

  test("--reseal on purpose: recorded in the trace, then sealed again and verified", async () => {
    const { dir, docs, first } = await sealedOnce();
    fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), '{"cells": [], "metadata": {"rerun": 1}}\n');
    const r = await archiveSession(dir, { html: false, docsDir: docs, reseal: "the notebook was re-run on purpose" });
    assert.equal(r.status, "resealed");
    assert.ok(r.sealedAt > first.sealedAt);
    const last = readTrace(path.join(dir, TRACE_FILE)).pop();
    assert.equal(last?.type, "note");
    const p = last?.payload as { event: string; reason: string; previous_manifest_sha256: string; changes: string[] };
    assert.match(p.event, /re-sealed/);
    assert.equal(p.reason, "the notebook was re-run on purpose");
    assert.equal(p.previous_manifest_sha256, first.manifestSha256);
    assert.match(p.changes[0], /^payment-e2e\.ipynb: the notebook was saved after sealing/);
    assert.ok(verifySession(dir).ok);
    assert.equal(readManifest(dir).trace_lines, first.manifest.trace_lines + 1);
    // report.md says so too (who, why, when, over which seal), not only the trace.
    const report = fs.readFileSync(path.join(dir, REPORT_FILE), "utf8");
    assert.match(
      report,
      /session · operator · re-sealed on purpose by npm run archive --reseal, replacing the seal of \S+ \(manifest [0-9a-f]{12}…\), with the reason "the notebook was re-run on purpose"; unsigned: no signing key was given; what had changed: payment-e2e\.ipynb: the notebook was saved after sealing/,
    );
    assert.equal((await archiveSession(dir, { html: false, docsDir: docs })).status, "already-sealed");
  });

  /**
   * A re-seal signed with `signer`'s key, the docs' allowed_signers holding `lines` (null: no such
   * file): report.md's words on who, the key's fingerprint, the folder.
   */
  const resealedBy = async (
    signer: Signer,
    lines: string[] | null,
  ): Promise<{ report: string; fp: string; dir: string }> => {
    const { dir, docs } = await sealedOnce();
    if (lines) {
      fs.mkdirSync(docs, { recursive: true });
      fs.writeFileSync(path.join(docs, "allowed_signers"), `# who may seal\n${lines.map((l) => `${l}\n`).join("")}`);
    }
    fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), '{"cells": [], "metadata": {"rerun": 3}}\n');
    const r = await archiveSession(dir, {
      html: false,
      docsDir: docs,
      reseal: "re-run after a kernel crash",
      signKey: signer.key,
    });
    assert.equal(r.status, "resealed");
    return {
      report: fs.readFileSync(path.join(dir, REPORT_FILE), "utf8"),
      fp: String(keyFingerprint(signer.key)),
      dir,
    };
  };

  test("a signed re-seal: report.md names the key that signed it and its statement", async () => {
    const { report, fp, dir } = await resealedBy(makeSigner("ops@example.com"), null);
    assert.match(fp, /^ED25519 key SHA256:\S+$/);
    // No allowed signers beside the docs: the key is named, no person, and why.
    assert.ok(
      report.includes(
        `signed with ${fp}; no one named: docs/allowed_signers was not found to say whose key it is (reseal-1.json's signature names the signer)`,
      ),
      report,
    );
    assert.ok(fs.existsSync(path.join(dir, "reseal-1.json.sig")));
  });

  test("a signed re-seal whose key the allowed signers list once: report.md names that identity beside the key", async () => {
    const signer = makeSigner("ops@example.com");
    const { report, fp } = await resealedBy(signer, [signer.line]);
    assert.ok(
      report.includes(
        `signed with ${fp}, the key docs/allowed_signers lists for "ops\\@example.com" (reseal-1.json's signature names the signer)`,
      ),
      report,
    );
  });

  test("the identity the allowed signers give a re-seal's key is hostile text: quoted, its controls shown, inert Markdown", async () => {
    const signer = makeSigner("x");
    const hostile = "ops<b>`x`</b>_\u202e\u001b[2K@example.com";
    const { report } = await resealedBy(signer, [signer.line.replace(/^x /, `${hostile} `)]);
    const line = report.split("\n").find((l) => l.includes("re-sealed on purpose")) ?? "";
    assert.doesNotMatch(line, /[\u001b\u202e]|<b>/, line);
    assert.match(
      line,
      /the key docs\/allowed_signers lists for "ops\\<b\\>\\`x\\`\\<\/b\\>\\_\\\\u202e\\\\u001b\\\[2K\\@example\.com"/,
    );
  });

  test("a re-seal's key listed under two identities, or a pattern, or not at all: report.md names no one and says why", async () => {
    const signer = makeSigner("alice@example.com");
    const two = await resealedBy(signer, [signer.line, signer.line.replace(/^alice@/, "bob@")]);
    assert.ok(
      two.report.includes(
        `signed with ${two.fp}; no one named: docs/allowed_signers lists this key for "alice\\@example.com", "bob\\@example.com", not for one person (reseal-1.json's signature names the signer)`,
      ),
      two.report,
    );
    const pattern = await resealedBy(signer, [signer.line.replace(/^alice@example\.com/, "*@example.com")]);
    assert.ok(
      pattern.report.includes(
        `signed with ${pattern.fp}; no one named: docs/allowed_signers lists this key for "\\*\\@example.com", not for one person`,
      ),
      pattern.report,
    );
    const other = makeSigner("carol@example.com");
    const unlisted = await resealedBy(signer, [other.line]);
    assert.ok(
      unlisted.report.includes(`signed with ${unlisted.fp}; no one named: docs/allowed_signers does not list this key`),
      unlisted.report,
    );
  });

  test("evidence appended by confirm-bank: refused without --reseal, re-sealed with it", async () => {
    const { dir, docs } = await sealedOnce();
    // What confirm-bank appends (one journal entry, one trace line), written as it writes them: it
    // refuses this sandbox session itself (no real money moved), and archive's rule is the subject here.
    Journal.open(dir).append("bank_confirmed", { date: day(0), note: null, refund_id: null, confirmed_by: "operator" });
    Trace.open(path.join(dir, TRACE_FILE)).append("operator_ack", { event: "bank statement confirmed the refund" });
    await assert.rejects(
      archiveSession(dir, { html: false, docsDir: docs }),
      /evidence was appended to (?:the journal|the trace) after sealing: 1 line\(s\) .*covered by re-sealing: npm run archive -- \S+ --reseal "<reason>"$/,
    );
    const r = await archiveSession(dir, { html: false, docsDir: docs, reseal: "the notebook was re-run on purpose" });
    assert.equal(r.status, "resealed");
    assert.ok(verifySession(dir).ok);
  });

  test("a trace edited after sealing is refused, --reseal or not: re-sealing would launder it", async () => {
    const { dir, docs } = await sealedOnce();
    const file = path.join(dir, TRACE_FILE);
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines[2] = lines[2].replace('"attempt":1', '"attempt":2');
    fs.writeFileSync(file, lines.join("\n"));
    const sha = manifestHash(dir);
    for (const reseal of [undefined, "trying to launder an edit"])
      await assert.rejects(
        archiveSession(dir, { html: false, docsDir: docs, reseal }),
        /the trace was edited after sealing: .* — restore trace\.jsonl .*cannot be re-sealed$/,
      );
    assert.equal(manifestHash(dir), sha);
  });

  test("CLI: exit 0 'already sealed at <time>; nothing to do', exit 1 with one line when changed", async () => {
    const { dir, docs, first } = await sealedOnce();
    // The real process once (the refusal: exit 1, nothing on stdout, one line on stderr); the other calls
    // run its command in this process (test/cli/in-process.ts), the same lines and exit codes.
    const real = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", path.join(root, "lib/cli/archive.ts"), ...args], {
        cwd: root,
        encoding: "utf8",
      });
    const cli = async (...args: string[]) => {
      const r = await archiveCommand(args);
      return { status: r.code, stdout: r.out, stderr: r.err };
    };
    const ok = await cli(dir, "--docs-dir", docs);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(
      ok.stdout,
      `archive: ${dir} already sealed at ${first.manifest.created_at}; nothing to do (manifest sha256 ${first.manifestSha256})\n`,
    );
    fs.appendFileSync(path.join(dir, "report.md"), "edited by hand\n");
    const refused = real(dir, "--docs-dir", docs);
    assert.equal(refused.status, 1);
    assert.equal(refused.stdout, "");
    assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /^archive: .* report\.md: the report block was rewritten after sealing: .*--reseal "<reason>"$/m,
    );
    assert.ok(fs.existsSync(path.join(dir, MANIFEST_FILE)));
    // --reseal without a written reason: exit 2, one line naming the fix; nothing written.
    const before = snapshot(dir);
    for (const args of [["--reseal"], ["--reseal", "typo"]]) {
      const r = await cli(dir, "--docs-dir", docs, ...args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(
        r.stderr,
        /^archive: --reseal needs a written reason of at least 10 characters, recorded in the trace: npm run archive -- \S+ --reseal "[^"]{10,}"\n$/,
      );
    }
    assert.deepEqual(snapshot(dir), before);
    const resealed = await cli(dir, "--docs-dir", docs, "--reseal", "the report block was corrected on purpose");
    assert.equal(resealed.status, 0, resealed.stderr);
    assert.match(resealed.stdout, /^re-sealed \(recorded in the trace\)/);
    const note = readTrace(path.join(dir, TRACE_FILE)).pop()?.payload as { reason?: string };
    assert.equal(note.reason, "the report block was corrected on purpose");
  });
});
