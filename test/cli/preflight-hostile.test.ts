/**
 * Issue 14's bound: against a backend that answers a 300 KB JSON string, a body that never
 * finishes, or a 200 text/html page, `npm run preflight` ends within 60 s with a one-line error and
 * a non-zero exit. The servers are real, on 127.0.0.1; the drip stops when the client goes.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import { after, test } from "node:test";
import { EXIT, main } from "../../lib/cli/preflight";
import { verifyChain } from "../../lib/evidence/chain";
import { HTTP_DEFAULTS } from "../../lib/clients/policy";

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

const HOSTILE: Record<string, http.RequestListener> = {
  "a 300 KB JSON string": (_req, res) =>
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ success: true, data: { status: "x".repeat(300 * 1024) } })),
  "a body that never finishes": (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"success":true,"data":{"status":"');
    const drip = setInterval(() => res.write("o"), 1000);
    res.on("close", () => clearInterval(drip));
  },
  "a 200 text/html page": (_req, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end("<html><body><script>alert(1)</script></body></html>"),
};

for (const [name, handler] of Object.entries(HOSTILE))
  test(`${name}: pre-flight ends within 60 s, one line, non-zero exit`, async () => {
    const base = await serve(handler);
    const lines: string[] = [];
    const t0 = performance.now();
    const code = await main(["--mode", "staging", "--base-url", base, "--email", "ops@example.com"], {}, (s) =>
      lines.push(s),
    );
    const s = (performance.now() - t0) / 1000;
    assert.ok(s < 60, `ended after ${s.toFixed(1)} s`);
    assert.equal(code, EXIT.backend, lines.join("\n"));
    const failure = lines.find((l) => l.startsWith("preflight: backend check failed: "));
    assert.ok(failure, lines.join("\n"));
    assert.doesNotMatch(failure, /\n/);
    assert.ok(failure.length < 600, `one readable line (${failure.length} characters)`);
    assert.doesNotMatch(failure, /<script>/);
  });

// Issue 25 item 4: a body nested 2,000 levels ended the call with "Maximum call stack size
// exceeded" and left the response out of the trace; at 100,000 the deep field passed unnoticed.
for (const depth of [2_000, 100_000])
  test(`a JSON body nested ${depth.toLocaleString("en")} levels: one-line error, the response in the trace as cut text with a note`, async () => {
    const deep = `${"[".repeat(depth)}${"]".repeat(depth)}`;
    const base = await serve((_req, res) =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(`{"success":true,"data":{"status":"ok","x":${deep}}}`),
    );
    const lines: string[] = [];
    const code = await main(["--mode", "staging", "--base-url", base, "--email", "ops@example.com"], {}, (s) =>
      lines.push(s),
    );
    assert.equal(code, EXIT.backend, lines.join("\n"));
    const failure = lines.find((l) => l.startsWith("preflight: backend check failed: "));
    assert.ok(failure, lines.join("\n"));
    // The body's depth: the deep array plus the envelope and its `data`.
    assert.match(
      failure,
      new RegExp(`nested ${depth + 2} levels deep \\(the limit is ${HTTP_DEFAULTS.maxJsonDepth}\\)`),
    );
    assert.doesNotMatch(failure, /\n|call stack/);
    assert.ok(failure.length < 300, failure);
    const traceFile = /^trace: (\S+) \(kept: /.exec(lines.find((l) => l.startsWith("trace: ")) ?? "")?.[1] ?? "";
    assert.ok(verifyChain(traceFile).ok, "the trace chain holds");
    const events = fs
      .readFileSync(traceFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const response = events.find((e) => e.type === "response")?.payload;
    assert.ok(response, "the response is in the trace");
    assert.equal(typeof response.body, "string");
    assert.ok(response.body.length <= HTTP_DEFAULTS.deepBodyKeepChars + 1, `${response.body.length} characters kept`);
    assert.ok(response.truncated_from > HTTP_DEFAULTS.deepBodyKeepChars);
    assert.match(response.note, new RegExp(`nested ${depth + 2} levels deep`));
  });

// Issue 25: the CLI checks HYPERSWITCH_URL and DATABASE_URL from the environment as the notebook
// does, before it talks to anything (the backend here is a closed port: reaching it would exit 3).
const PW = "Ro-pw-91x7q";
const URL_CASES: Array<[string, string, Record<string, string>, number, RegExp]> = [
  [
    "HYPERSWITCH_URL with a password before the host",
    "staging",
    { HYPERSWITCH_URL: `https://ops:${PW}@hs.example.com` },
    EXIT.config,
    /^preflight: HYPERSWITCH_URL: carries a user name or password/,
  ],
  [
    "HYPERSWITCH_URL in clear on a live run",
    "live",
    { HYPERSWITCH_URL: "http://hs.example.com" },
    EXIT.refused,
    /^ {2}REFUSED: refused \(https\): MODE=live requires an https HYPERSWITCH_URL/,
  ],
  [
    "the issue's DATABASE_URL (host= another host)",
    "staging",
    { DATABASE_URL: `postgres://ro:${PW}@127.0.0.1/postgres?host=192.0.2.2&port=5439&sslmode=disable` },
    EXIT.config,
    /^preflight: DATABASE_URL: its host= parameter names "192\.0\.2\.2", not "127\.0\.0\.1".*remove host=/,
  ],
  [
    "DATABASE_URL without a host and PGHOST remote, on a live run",
    "live",
    { DATABASE_URL: `postgres://ro:${PW}@/app`, PGHOST: "192.0.2.2" },
    EXIT.refused,
    /^ {2}REFUSED: .*sslmode=verify-full.*192\.0\.2\.2:5432 \(from PGHOST\)/,
  ],
];

for (const [name, mode, env, exit, line] of URL_CASES)
  test(`preflight CLI: ${name} → exit ${exit}, one line, nothing sent`, async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const lines: string[] = [];
    const code = await main(
      ["--mode", mode, "--base-url", `http://127.0.0.1:${port}`, "--email", "ops@example.com"],
      env,
      (s) => lines.push(s),
    );
    assert.equal(code, exit, lines.join("\n"));
    const hit = lines.find((l) => line.test(l));
    assert.ok(hit, lines.join("\n"));
    for (const l of lines) assert.ok(!l.includes(PW), "the password is never echoed");
  });
