/**
 * Secrets across processes (issue 13 §7): what the kernel learns is salted and hashed into the
 * session folder, and the archive, `npm run scan` and the hook find it in any artefact without
 * ever holding the value; a pay link left in the notebook is masked at seal time and recorded.
 */
import { strict as assert } from "node:assert";
import { execFile, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { SecretLeakError } from "../../lib/errors";
import { readTrace } from "../../lib/evidence/chain";
import { redactString } from "../../lib/evidence/redact";
import { SECRET_HASHES_FILE, REPORT_FILE, SESSION_NOTEBOOK, TRACE_FILE } from "../../lib/evidence/files";
import { formatHit, scanPaths, scanText } from "../../lib/evidence/scan";
import {
  SECRET_HASHES_SCHEMA,
  hashIndex,
  hashedForms,
  readSecretHashes,
  recordSecretHash,
} from "../../lib/evidence/secret-hashes";
import { SecretRegistry, secrets } from "../../lib/evidence/secrets";
import { verifySession } from "../../lib/evidence/verify";
import { archiveSession } from "../../lib/host/archive";
import { makeSession, tmpArchive } from "../report/fixtures";
import { tmpDir } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const EMPTY = new SecretRegistry();

/** Fresh random values each run, assembled at runtime (the hook scans test files too). */
const opaqueToken = () => `sat_${crypto.randomBytes(32).toString("base64url")}`;
const clientSecret = () =>
  `pay_${crypto.randomBytes(6).toString("hex")}_secret_${crypto.randomBytes(16).toString("hex")}`;
/** Standard base64 with `+`, `/` and `=`: its URL-encoded and JSON-escaped forms differ from the raw one. */
const base64Key = () => {
  for (;;) {
    const k = `k${crypto.randomBytes(31).toString("base64")}`;
    if (/[+]/.test(k) && /[/]/.test(k)) return k;
  }
};

/** A notebook whose one output holds `text` (as nbconvert writes it: a JSON string). */
function notebook(text: string): string {
  const cell = {
    cell_type: "code",
    execution_count: 1,
    metadata: {},
    source: ["await nb.run('pay')"],
    outputs: [{ output_type: "display_data", data: { "text/markdown": [text] }, metadata: {} }],
  };
  return `${JSON.stringify({ cells: [cell], metadata: {}, nbformat: 4, nbformat_minor: 5 }, null, 1)}\n`;
}

describe("the salted-hash file", () => {
  test("holds a salt and {label, form, length, hmac} lines: never the value, never a prefix", () => {
    const dir = tmpDir("hashes-");
    const values = [opaqueToken(), clientSecret(), base64Key()];
    for (const v of values) assert.equal(recordSecretHash(dir, v, "learned secret"), true);
    recordSecretHash(dir, values[0], "learned secret"); // idempotent: no new line
    const text = fs.readFileSync(path.join(dir, SECRET_HASHES_FILE), "utf8");
    for (const v of values)
      for (let n = 4; n <= v.length; n++) assert.ok(!text.includes(v.slice(0, n)), `a ${n}-character prefix leaked`);
    const lines = text.trimEnd().split("\n");
    const header = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(header).sort(), ["alg", "salt", "schema"]);
    assert.equal(header.schema, SECRET_HASHES_SCHEMA);
    assert.match(header.salt, /^[0-9a-f]{64}$/);
    const forms = values.flatMap((v) => hashedForms(v));
    assert.equal(lines.length - 1, forms.length, "one line per findable written form, none twice");
    for (const line of lines.slice(1)) {
      const e = JSON.parse(line);
      assert.deepEqual(Object.keys(e).sort(), ["at", "form", "hmac", "label", "length"]);
      assert.match(e.hmac, /^[0-9a-f]{64}$/);
    }
    assert.deepEqual(
      hashedForms(values[2]).map((f) => f.form),
      ["raw", "url", "url2", "json_slash"],
    );
  });

  test("learn(): masked in this process at once, hashed into the folder only when it is a random token", () => {
    const dir = tmpDir("hashes-");
    const reg = new SecretRegistry();
    const token = opaqueToken();
    reg.learn(token, "POST /auth/login secret", dir);
    reg.learn("Operator-Pass-1", "OPERATOR_PASSWORD", dir);
    assert.equal(redactString(`a ${token} b Operator-Pass-1`, reg), "a [REDACTED] b [REDACTED]");
    const h = readSecretHashes(path.join(dir, SECRET_HASHES_FILE));
    assert.deepEqual(
      h.entries.map((e) => e.label),
      ["POST /auth/login secret"],
    );
  });

  test("each session has its own salt: the same token hashes differently", () => {
    const v = opaqueToken();
    const [a, b] = [tmpDir("hashes-"), tmpDir("hashes-")];
    recordSecretHash(a, v, "t");
    recordSecretHash(b, v, "t");
    const [ha, hb] = [a, b].map((d) => readSecretHashes(path.join(d, SECRET_HASHES_FILE)));
    assert.notEqual(ha.salt.toString("hex"), hb.salt.toString("hex"));
    assert.notEqual(ha.entries[0].hmac, hb.entries[0].hmac);
  });

  test("short or low-entropy values are not registered (a salted hash of them is a brute-force away)", () => {
    const dir = tmpDir("hashes-");
    for (const v of ["Sh0rt-Secret-1", "a".repeat(40), "passwordpassword", "abababababababababababab"])
      assert.equal(recordSecretHash(dir, v, "weak"), false, `${v.length} chars registered`);
    assert.equal(fs.existsSync(path.join(dir, SECRET_HASHES_FILE)), false);
  });

  test("a torn last line (a kernel killed mid-append) is skipped, and the next append starts a new line", () => {
    const dir = tmpDir("hashes-");
    const [t1, t2] = [opaqueToken(), opaqueToken()];
    recordSecretHash(dir, t1, "first");
    fs.appendFileSync(path.join(dir, SECRET_HASHES_FILE), '{"at":"2026-11-29T00:00:00Z","hmac":"ab');
    recordSecretHash(dir, t2, "second");
    const h = readSecretHashes(path.join(dir, SECRET_HASHES_FILE));
    assert.deepEqual(
      h.entries.map((e) => e.label),
      ["first", "second"],
    );
    assert.equal(scanText(`a ${t2} b`, "x.md", EMPTY, false, hashIndex([h]))[0]?.label, "second");
  });
});

describe("the scanner finds learned secrets by their salted hashes", () => {
  const dir = tmpDir("hashes-");
  const [token, cs, key] = [opaqueToken(), clientSecret(), base64Key()];
  recordSecretHash(dir, token, "access_token");
  recordSecretHash(dir, cs, "client_secret");
  recordSecretHash(dir, key, "HYPERSWITCH_API_KEY");
  const index = () => hashIndex([readSecretHashes(path.join(dir, SECRET_HASHES_FILE))]);
  const labels = (text: string) => scanText(text, "f", EMPTY, false, index()).map((h) => h.label);

  test("raw, in a URL query, in JSON strings after escapes, URL-encoded once and twice, HTML", () => {
    const u = encodeURIComponent;
    const cases: Array<[string, string, string]> = [
      ["token alone", token, "access_token"],
      ["JSON string", `{"access_token":"${token}"}`, "access_token"],
      ["after a JSON escape", `"line one\\n${token}\\tnext"`, "access_token"],
      ["after a \\u escape", `"x\\u003d${token}\\u0026y"`, "access_token"],
      ["pay link in Markdown", `[Pay](http://127.0.0.1:1/checkout/p?client_secret=${cs})`, "client_secret"],
      ["pay link with more parameters", `<a href="/c?client_secret=${cs}&amp;x=1">`, "client_secret"],
      ["URL inside a URL", `/next?u=${u(`http://h/c?client_secret=${cs}`)}`, "client_secret"],
      ["key URL-encoded", `?api_key=${u(key)}&v=1`, "HYPERSWITCH_API_KEY"],
      ["key URL-encoded twice", `?next=${u(`/x?k=${u(key)}`)}`, "HYPERSWITCH_API_KEY"],
      ["key JSON-escaped with \\/", `{"k":"${key.replace(/\//g, "\\/")}"}`, "HYPERSWITCH_API_KEY"],
      ["key in a path", `GET /keys/${key}/rotate`, "HYPERSWITCH_API_KEY"],
    ];
    for (const [name, text, label] of cases) assert.deepEqual(labels(text), [label], name);
  });

  test("no false hit on near misses: a longer token, another value, a masked link", () => {
    assert.deepEqual(labels(`${token}x`), []);
    assert.deepEqual(labels(`x${token}`), []);
    assert.deepEqual(labels(opaqueToken()), []);
    assert.deepEqual(labels(`?client_secret=[REDACTED]`), []);
  });

  test("a hit names file, line and label and never echoes the value", () => {
    const f = path.join(dir, "out.md");
    fs.writeFileSync(f, `one\ntwo ${token} three\n`);
    const hits = scanPaths([dir], { env: {} });
    assert.equal(hits.length, 1);
    const line = formatHit(hits[0]);
    assert.match(line, /out\.md:2: secret access_token \(two \[REDACTED\] three\)$/);
    assert.ok(!line.includes(token));
    fs.rmSync(f);
  });

  test("5 MB of notebook-like text (trace lines, prose, base64 images) scans in seconds", () => {
    const parts: string[] = [];
    let size = 0;
    for (let i = 0; size < 5_000_000; i++) {
      const p =
        i % 3 === 0
          ? `{"seq":${i},"time":"2026-11-29T03:30:54.123Z","payload":{"url":"http://127.0.0.1/c/p?client_secret=[REDACTED]"},"prev":"${crypto.randomBytes(32).toString("hex")}"}\n`
          : i % 3 === 1
            ? `    "The order was paid and step five waited for the marketplace to see it.\\n",\n`
            : `"image/png": "${crypto.randomBytes(3000).toString("base64")}"\n`;
      parts.push(p);
      size += p.length;
    }
    parts.splice(parts.length >> 1, 0, `"see ${cs} here"\n`);
    const big = path.join(dir, "big.ipynb");
    fs.writeFileSync(big, parts.join(""));
    const t0 = performance.now();
    const hits = scanPaths([big], { env: {}, hashes: [readSecretHashes(path.join(dir, SECRET_HASHES_FILE))] });
    const ms = performance.now() - t0;
    console.log(`# scan of ${(size / 1e6).toFixed(1)} MB with ${index().lengths.length} lengths: ${Math.round(ms)} ms`);
    assert.deepEqual(
      hits.map((h) => h.label),
      ["client_secret"],
    );
    assert.ok(ms < 20_000, `${Math.round(ms)} ms`);
    fs.rmSync(big);
  });
});

describe("leaks across processes, caught at the archive", () => {
  let server: http.Server;
  let origin: string;
  let issued = "";
  before(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      issued = opaqueToken();
      const data = { access_token: issued, expires_in: 900, user: { id: "usr_1", email: "op@example.test" } };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ success: true, data }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test("an opaque token learned in a kernel process and written into a notebook output: seal refused, naming file and label", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox" });
    // The "kernel": another process logs in through the traced client, then leaks the token into an output.
    const kernel = path.join(dir, "..", "kernel.ts");
    const lib = (m: string) => JSON.stringify(path.join(ROOT, "lib", m));
    fs.writeFileSync(
      kernel,
      `import * as fs from "node:fs";
import * as path from "node:path";
import { ApiClient, logIn } from ${lib("clients/http")};
import { Trace } from ${lib("evidence/trace")};
const [origin, dir] = process.argv.slice(2);
const trace = Trace.open(path.join(dir, "trace.jsonl"));
const api = new ApiClient(origin, { trace, onAnomaly: () => undefined });
logIn(api, { email: "op@example.test", password: "not-checked" }).then(async (me) => {
  const out = { output_type: "stream", name: "stdout", text: ["token: " + me.access_token + "\\n"] };
  const nb = { cells: [{ cell_type: "code", source: [], metadata: {}, execution_count: 1, outputs: [out] }], metadata: {}, nbformat: 4, nbformat_minor: 5 };
  fs.writeFileSync(path.join(dir, ${JSON.stringify(SESSION_NOTEBOOK)}), JSON.stringify(nb, null, 1));
  trace.close();
  await api.close();
});
`,
    );
    // Asynchronously: this process serves the login.
    await new Promise<void>((resolve, reject) =>
      execFile(TSX, [kernel, origin, dir], { cwd: ROOT }, (err, _out, stderr) =>
        err ? reject(new Error(`kernel failed: ${stderr}`)) : resolve(),
      ),
    );
    assert.ok(issued && !secrets.has(issued), "this process never learned the token");
    assert.ok(fs.readFileSync(path.join(dir, SESSION_NOTEBOOK), "utf8").includes(issued));
    // The kernel's trace masked it by value; only the salted hashes let this process find it.
    assert.ok(!fs.readFileSync(path.join(dir, TRACE_FILE), "utf8").includes(issued));
    await assert.rejects(archiveSession(dir, { html: false, docsDir: path.join(archive, "docs") }), (e: unknown) => {
      assert.ok(e instanceof SecretLeakError);
      assert.equal(e.hits.length, 1);
      assert.match(e.hits[0], /payment-e2e\.ipynb:\d+: secret POST \/auth\/login secret \(/);
      assert.ok(!e.message.includes(issued) && !e.hits[0].includes(issued));
      return true;
    });
    // The same from the command line (the hook's path), with the hashes taken from the folder.
    const cli = spawnSync(TSX, [path.join(ROOT, "lib/cli/scan.ts"), dir], {
      cwd: ROOT,
      encoding: "utf8",
      env: { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR ?? "/tmp" },
    });
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /payment-e2e\.ipynb:\d+: secret POST \/auth\/login secret/);
    assert.ok(!cli.stdout.includes(issued));
  });

  test("the pre-commit path: a staged copy without the hash file, hashes taken from --hashes-from", () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "staging" });
    const token = opaqueToken();
    recordSecretHash(dir, token, "POST /auth/login secret");
    const stage = tmpDir("stage-");
    fs.writeFileSync(path.join(stage, "notes.md"), `debugging with ${token}\n`);
    const scan = (...args: string[]) =>
      spawnSync(TSX, [path.join(ROOT, "lib/cli/scan.ts"), ...args], {
        cwd: stage,
        encoding: "utf8",
        env: { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR ?? "/tmp" },
      });
    assert.equal(scan("--all-files", ".").status, 0, "without the hashes the opaque token passes");
    const r = scan("--all-files", "--hashes-from", archive, ".");
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /notes\.md:1: secret POST \/auth\/login secret/);
    assert.equal(scan("--all-files", "--hashes-from", path.join(stage, "absent"), ".").status, 0);
  });
});

describe("a pay link left in the notebook at seal time", () => {
  const seal = async (scenario: "declined" | "pass") => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario });
    const cs = clientSecret();
    recordSecretHash(dir, cs, "GET /orders/:id secret"); // learned by the kernel, as tracing does
    const link = `[**Pay EUR 1.00 on the hosted checkout →**](http://127.0.0.1:1/checkout/pay_1?client_secret=${cs})\n\nThen fill in the paid cell below and run it.`;
    fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), notebook(link));
    const res = await archiveSession(dir, { html: false, docsDir: path.join(archive, "docs") });
    return { dir, cs, res };
  };

  test("step 4 never passed: masked before the seal, recorded in the trace, and the folder verifies", async () => {
    const { dir, cs, res } = await seal("declined");
    assert.equal(res.status, "sealed");
    const nb = fs.readFileSync(path.join(dir, SESSION_NOTEBOOK), "utf8");
    assert.ok(!nb.includes(cs));
    assert.match(nb, /client_secret=\[REDACTED\]\)/);
    assert.doesNotThrow(() => JSON.parse(nb), "still a valid notebook");
    const note = readTrace(path.join(dir, TRACE_FILE)).find(
      (e) => e.type === "note" && /pay link/.test(String((e.payload as { event?: string }).event)),
    );
    assert.ok(note, "the masking is in the trace");
    const p = note.payload as Record<string, unknown>;
    assert.equal(p.event, "pay link masked at seal: step 4 never ran");
    assert.equal(p.file, SESSION_NOTEBOOK);
    assert.equal(p.links, 1);
    assert.match(String(p.sha256_after), /^[0-9a-f]{64}$/);
    assert.ok(verifySession(dir).ok, "sealed over the masked notebook and the note");
    // report.md lists the masking (when, why, the notebook's hashes), never the link or its secret.
    const report = fs.readFileSync(path.join(dir, REPORT_FILE), "utf8");
    assert.match(
      report,
      /session · warning · the checkout link's client secret was masked in payment-e2e\.ipynb by npm run archive before sealing \(1 link; step 4 never ran\): the notebook's SHA-256 was [0-9a-f]{12}… before, [0-9a-f]{12}… after/,
    );
    assert.ok(!report.includes(cs) && !report.includes("client_secret"));
    assert.deepEqual(scanPaths([dir], { env: {}, extensions: "all" }), []);
  });

  test("a re-seal over a notebook saved with the link: the audit page says both, never the secret", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "declined" });
    const docsDir = path.join(archive, "docs");
    fs.writeFileSync(path.join(dir, SESSION_NOTEBOOK), notebook("nothing to pay"));
    assert.equal((await archiveSession(dir, { html: false, docsDir })).status, "sealed");
    const cs = clientSecret();
    recordSecretHash(dir, cs, "GET /orders/:id secret");
    fs.writeFileSync(
      path.join(dir, SESSION_NOTEBOOK),
      notebook(`[**Pay →**](http://127.0.0.1:1/checkout/pay_1?client_secret=${cs})`),
    );
    const res = await archiveSession(dir, { docsDir, reseal: "the notebook was saved again after sealing" });
    assert.equal(res.status, "resealed");
    const page = fs.readFileSync(String(res.html), "utf8");
    assert.ok(!page.includes(cs));
    assert.match(
      page,
      /The checkout link's client secret was masked in this notebook by npm run archive before sealing \(1 link; step 4 never ran\)\./,
    );
    assert.match(
      page,
      /Re-sealed on purpose by npm run archive --reseal, replacing the seal of \S+, with the reason "the notebook was saved again after sealing"\./,
    );
    const report = fs.readFileSync(path.join(dir, REPORT_FILE), "utf8");
    assert.match(report, /re-sealed on purpose by npm run archive --reseal/);
    assert.match(report, /the checkout link's client secret was masked/);
  });

  test("step 4 passed but the link was not overwritten: masked too, with its own words", async () => {
    const { dir, res } = await seal("pass");
    assert.equal(res.status, "sealed");
    const events = readTrace(path.join(dir, TRACE_FILE)).map((e) => String((e.payload as { event?: string }).event));
    assert.ok(events.includes("pay link masked at seal: step 4 passed, but the notebook kept the link"));
  });

  test("the same client secret anywhere else in the folder is refused, not rewritten", async () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "sandbox", scenario: "declined" });
    const cs = clientSecret();
    recordSecretHash(dir, cs, "GET /orders/:id secret");
    fs.writeFileSync(path.join(dir, "notes.md"), `checkout secret was ${cs}\n`);
    await assert.rejects(archiveSession(dir, { html: false, docsDir: path.join(archive, "docs") }), (e: unknown) => {
      assert.ok(e instanceof SecretLeakError);
      assert.match(e.hits[0], /notes\.md:1: secret GET \/orders\/:id secret/);
      return true;
    });
    assert.ok(fs.readFileSync(path.join(dir, "notes.md"), "utf8").includes(cs), "evidence is not rewritten");
  });
});
