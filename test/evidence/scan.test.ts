import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { ScanPathError, SecretLeakError } from "../../lib/errors";
import { redactString } from "../../lib/evidence/redact";
import { SecretRegistry } from "../../lib/evidence/secrets";
import {
  ALLOW_PRAGMA,
  SCANNED_EXTENSIONS,
  assertNoLeaks,
  formatHit,
  scanPaths,
  scanText,
} from "../../lib/evidence/scan";
import { ACCESS_TOKEN, JWT, NOT_LUHN, PAN, PAN_SPACED, SANDBOX_KEY, tmpDir } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(ROOT, "lib/cli/scan.ts");
const ENV_SECRET = "Env-Secret-" + "91x7q";
const ENV = { OPERATOR_PASSWORD: ENV_SECRET };
const reg = new SecretRegistry();
reg.add(ENV_SECRET, "OPERATOR_PASSWORD");

function write(dir: string, rel: string, text: string | Buffer): string {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

describe("scanText", () => {
  it("finds a planted PAN with its line and masks the excerpt", () => {
    const hits = scanText(`a\nb\npaid with ${PAN_SPACED} today\n`, "x.md", reg);
    assert.equal(hits.length, 1);
    assert.deepEqual(
      { ...hits[0], excerpt: undefined },
      { path: "x.md", line: 3, column: 11, kind: "pan", label: undefined, excerpt: undefined },
    );
    assert.equal(formatHit(hits[0]), "x.md:3: pan (paid with [PAN ****4242] today)");
  });

  it("finds JWTs, key shapes, bearer tokens and known secrets, never echoing them", () => {
    const text = [
      `{"text": "${JWT}"}`,
      `key ${SANDBOX_KEY}`,
      `Authorization: Bearer ${ACCESS_TOKEN}`,
      `pw was ${ENV_SECRET}!`,
    ].join("\n");
    const hits = scanText(text, "n.ipynb", reg);
    assert.deepEqual(
      hits.map((h) => [h.line, h.kind]),
      [
        [1, "jwt"],
        [2, "api_key"],
        [3, "bearer"],
        [4, "secret"],
      ],
    );
    assert.equal(hits[3].label, "OPERATOR_PASSWORD");
    const out = hits.map(formatHit).join("\n");
    for (const s of [JWT, SANDBOX_KEY, ENV_SECRET, ACCESS_TOKEN, PAN]) assert.ok(!out.includes(s));
  });

  it("reports nothing in redacted output, ids, timestamps, hashes, floats or non-Luhn numbers", () => {
    const raw = `card ${PAN} token ${JWT} key ${SANDBOX_KEY} pw ${ENV_SECRET} Bearer ${ACCESS_TOKEN}`;
    const clean = [
      redactString(raw, reg),
      `ord_01HZX9 pay_123 tr_9 2026-11-26T15:44:00.123Z total 1200 n ${NOT_LUHN} x=0.${PAN}`,
      `"hash":"${"ab".repeat(8)}${PAN}${"cd".repeat(8)}"`,
      "password: string; const token = process.env.TOKEN; Bearer <access_token>; Bearer [REDACTED]; Bearer not-a-real-token-123",
      "postgres://user:PASS@host/db",
    ].join("\n");
    assert.deepEqual(scanText(clean, "clean.md", reg), []);
  });

  it("honours the allow pragma only when asked (source files)", () => {
    const line = `const TEST_CARD = "${PAN}"; // ${ALLOW_PRAGMA}`;
    assert.equal(scanText(line, "a.ts", reg, true).length, 0);
    assert.equal(scanText(line, "a.md", reg, false).length, 1);
  });
});

describe("scanPaths", () => {
  // Issue 25 item 6: the whole folder. A session folder's .git/ or node_modules/ is hashed into the
  // manifest like any file, so the seal's scan must read it too, and the hook scans what is staged there.
  it("walks every file of a directory, .git/ and node_modules/ too, scans named files whatever their extension, skips binaries", () => {
    const dir = tmpDir("scan-");
    write(dir, "s/notebook.ipynb", `{\n "outputs": ["${JWT}"]\n}\n`);
    write(dir, "s/trace.jsonl", `{"ok":1}\n{"card":"${PAN}"}\n`);
    write(dir, "s/code.ts", `const k = "${SANDBOX_KEY}";\n`);
    write(dir, "s/plot.png", Buffer.concat([Buffer.from([0x89, 0, 0]), Buffer.from(PAN)]));
    write(dir, "s/node_modules/x.md", PAN);
    write(dir, "s/.git/COMMIT_EDITMSG", PAN);
    const other = write(dir, "other.cfg", `x=${ENV_SECRET}\n`);
    const hits = scanPaths([path.join(dir, "s"), other], { env: ENV });
    const rel = (p: string) => path.relative(dir, p).split(path.sep).join("/");
    assert.deepEqual(
      hits.map((h) => `${rel(h.path)}:${h.line}:${h.kind}`),
      [
        "s/.git/COMMIT_EDITMSG:1:pan",
        "s/code.ts:1:api_key",
        "s/node_modules/x.md:1:pan",
        "s/notebook.ipynb:2:jwt",
        "s/trace.jsonl:2:pan",
        "other.cfg:1:secret",
      ],
    );
    assert.equal(
      scanPaths([path.join(dir, "s")], { env: ENV, extensions: SCANNED_EXTENSIONS }).length,
      3,
      "a caller may narrow the walk to the evidence file types",
    );
  });

  it("looks for extra run secrets given in a registry", () => {
    const dir = tmpDir("scan-");
    const token = "run-token-" + "77aa";
    write(dir, "r.log", `got ${token}\n`);
    const extra = new SecretRegistry();
    extra.add(token, "access_token");
    assert.equal(scanPaths([dir], { env: {} }).length, 0);
    assert.equal(scanPaths([dir], { env: {}, registry: extra })[0].label, "access_token");
  });

  it("throws ScanPathError for a missing path and SecretLeakError from assertNoLeaks", () => {
    assert.throws(() => scanPaths([`/nonexistent-${Date.now()}`]), ScanPathError);
    const dir = tmpDir("scan-");
    write(dir, "x.md", `${PAN_SPACED}\n`);
    assert.throws(
      () => assertNoLeaks([dir], { env: {} }),
      (e: unknown) => e instanceof SecretLeakError && e.hits.length === 1 && !e.message.includes(PAN_SPACED),
    );
    assert.doesNotThrow(() => assertNoLeaks([path.join(dir, "none.md")].filter(fs.existsSync), { env: {} }));
  });
});

describe("scan CLI", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, ...env },
    });

  it("exits 1 naming file and line, without printing the secret", () => {
    const dir = tmpDir("scan-cli-");
    write(dir, "a.md", `ok\npw ${ENV_SECRET}\n`);
    write(dir, "b.html", `<p>${PAN_SPACED}</p>\n`);
    // A planted name and line whose ESC[2K, carriage return and ESC[8m would forge a clean summary
    // and conceal the real one: printed as escapes.
    write(dir, "c\u001b[2K\rscan: 9 file(s), 0 hit(s)\u001b[8m.md", `x\u001b[8m\u202e ${PAN}\n`);
    const r = run(["--", dir], ENV);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /a\.md:2: secret OPERATOR_PASSWORD \(pw \[REDACTED\]\)/);
    assert.match(r.stdout, /b\.html:1: pan \(<p>\[PAN \*\*\*\*4242\]<\/p>\)/);
    assert.match(
      r.stdout,
      /c\\u001b\[2K\\rscan: 9 file\(s\), 0 hit\(s\)\\u001b\[8m\.md:1: pan \(x\\u001b\[8m\\u202e \[PAN/,
    );
    assert.doesNotMatch(r.stdout, /[\u001b\r\u202e]/);
    assert.match(r.stdout, /\nscan: 3 file\(s\), 3 hit\(s\)/);
    assert.ok(!r.stdout.includes(ENV_SECRET) && !r.stderr.includes(ENV_SECRET));
  });

  it("exits 0 on clean files and 2 on usage errors", () => {
    const dir = tmpDir("scan-cli-");
    write(dir, "a.md", "nothing here\n");
    assert.equal(run([dir]).status, 0);
    assert.equal(run([path.join(dir, "missing")]).status, 2);
    assert.equal(run(["--bogus"]).status, 2);
  });
});

describe("pre-commit hook", () => {
  it("refuses a commit whose staged content leaks, and accepts a clean one", () => {
    const repo = tmpDir("hook-");
    const git = (...args: string[]) =>
      spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], {
        cwd: repo,
        encoding: "utf8",
        env: { ...process.env, ...ENV },
      });
    git("init", "-q");
    fs.mkdirSync(path.join(repo, "hooks"));
    fs.copyFileSync(path.join(ROOT, "hooks/pre-commit"), path.join(repo, "hooks/pre-commit"));
    fs.chmodSync(path.join(repo, "hooks/pre-commit"), 0o755);
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"));
    fs.symlinkSync(path.join(ROOT, "lib"), path.join(repo, "lib"));
    fs.writeFileSync(path.join(repo, ".gitignore"), "node_modules\nlib\n");
    git("config", "core.hooksPath", "hooks");

    write(repo, "notes/run.md", `card ${PAN_SPACED}\n`);
    git("add", "notes/run.md");
    write(repo, "notes/run.md", "fixed in the work tree only\n"); // the staged blob still leaks
    const refused = git("commit", "-qm", "leak");
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /notes\/run\.md:1: pan/); // git sends hook stdout to stderr
    assert.match(refused.stderr, /commit refused/);
    assert.ok(!(refused.stdout + refused.stderr).includes(PAN_SPACED));

    git("add", "notes/run.md", ".gitignore", "hooks/pre-commit");
    const ok = git("commit", "-qm", "clean");
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);

    // A checkpoint staged by force is scanned like any staged file.
    write(repo, "notes/.ipynb_checkpoints/run-checkpoint.ipynb", `card ${PAN_SPACED}\n`);
    git("add", "-f", "notes/.ipynb_checkpoints/run-checkpoint.ipynb");
    const forced = git("commit", "-qm", "checkpoint");
    assert.notEqual(forced.status, 0);
    assert.match(forced.stderr, /run-checkpoint\.ipynb:1: pan/);
  });
});

describe("editor and checkpoint files", () => {
  it("are scanned like any file (issue 25), unless a caller sets leftovers: false", () => {
    const dir = tmpDir("leftovers-");
    write(dir, "report.md", "clean\n");
    write(dir, ".ipynb_checkpoints/payment-e2e-checkpoint.ipynb", `card ${PAN_SPACED}\n`);
    write(dir, ".report.md.swp", `card ${PAN_SPACED}\n`);
    write(dir, "report.md~", `card ${PAN_SPACED}\n`);
    const all = scanPaths([dir], { env: {} });
    assert.deepEqual(all.map((h) => path.basename(h.path)).sort(), [
      ".report.md.swp",
      "payment-e2e-checkpoint.ipynb",
      "report.md~",
    ]);
    assert.deepEqual(scanPaths([dir], { env: {}, leftovers: false }), []);
    // A file named explicitly is scanned whatever its name.
    assert.equal(scanPaths([path.join(dir, "report.md~")], { env: {}, leftovers: false }).length, 1);
  });

  it("npm run scan <dir> sees the whole folder: hidden folders, checkpoints, swap files, any extension", () => {
    const dir = tmpDir("scan-hidden-");
    write(dir, "payment-e2e.ipynb", "{}\n");
    write(dir, ".ipynb_checkpoints/payment-e2e-checkpoint.ipynb", `{"text": "card ${PAN_SPACED}"}\n`);
    write(dir, ".virtual_documents/payment-e2e.ipynb.ts", `// ${PAN}\n`);
    write(dir, ".hidden/notes", `pw ${ENV_SECRET}\n`);
    write(dir, ".payment-e2e.ipynb.swp", `card ${PAN}\n`);
    const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "--", dir], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, ...ENV },
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    for (const f of [
      ".hidden/notes:1: secret OPERATOR_PASSWORD",
      ".ipynb_checkpoints/payment-e2e-checkpoint.ipynb:1: pan",
      ".payment-e2e.ipynb.swp:1: pan",
      ".virtual_documents/payment-e2e.ipynb.ts:1: pan",
    ])
      assert.ok(r.stdout.includes(f), `${f} in:\n${r.stdout}`);
    assert.match(r.stdout, /scan: 5 file\(s\), 4 hit\(s\)/);
    assert.ok(!r.stdout.includes(PAN) && !r.stdout.includes(ENV_SECRET));
  });
});

describe("PNG text chunks", () => {
  /** A PNG of chunks (CRCs are not checked by the scanner): signature, IHDR, the given chunks, IEND. */
  const png = (...chunks: Array<[string, Buffer]>) => {
    const chunk = ([type, data]: [string, Buffer]) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, Buffer.from(type, "latin1"), data, Buffer.alloc(4)]);
    };
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    return Buffer.concat([
      sig,
      ...[["IHDR", Buffer.alloc(13)] as [string, Buffer], ...chunks, ["IEND", Buffer.alloc(0)] as [string, Buffer]].map(
        chunk,
      ),
    ]);
  };

  it("reads tEXt, zTXt and iTXt (compressed or not) and reports the chunk as the line", () => {
    const dir = tmpDir("png-");
    const nul = Buffer.from([0]);
    write(
      dir,
      "poll-latency.png",
      png(
        ["tEXt", Buffer.concat([Buffer.from("Software"), nul, Buffer.from("resvg")])],
        ["zTXt", Buffer.concat([Buffer.from("Comment"), nul, nul, zlib.deflateSync(`card ${PAN_SPACED}`)])],
        [
          "iTXt",
          Buffer.concat([Buffer.from("Title"), nul, Buffer.from([1, 0]), nul, nul, zlib.deflateSync(`jwt ${JWT}`)]),
        ],
        [
          "iTXt",
          Buffer.concat([Buffer.from("Author"), nul, Buffer.from([0, 0]), nul, nul, Buffer.from(`pw ${ENV_SECRET}`)]),
        ],
      ),
    );
    const hits = scanPaths([dir], { env: ENV });
    assert.deepEqual(
      hits.map((h) => [h.path.endsWith("poll-latency.png"), h.line, h.kind]),
      [
        [true, 2, "pan"],
        [true, 3, "jwt"],
        [true, 4, "secret"],
      ],
    );
    for (const s of [PAN_SPACED, JWT, ENV_SECRET]) assert.ok(!hits.map(formatHit).join("\n").includes(s));
    // A PNG without text chunks (the plots resvg writes) is read and clean; other binaries are skipped.
    write(dir, "poll-latency.png", png());
    write(dir, "blob.png", Buffer.from([0, 1, 2, 3]));
    assert.deepEqual(scanPaths([dir], { env: ENV, extensions: "all" }), []);
  });
});
