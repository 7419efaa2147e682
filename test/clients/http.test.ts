/** The traced client against a real local server on port 0, counting requests server-side. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { Agent, request } from "undici";
import { z } from "zod";
import { HttpStatusError, NetworkError, SchemaError } from "../../lib/errors";
import { ApiClient } from "../../lib/clients/http";
import { retrying } from "../../lib/clients/retrying";
import { tracing } from "../../lib/clients/tracing";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { readTrace } from "../../lib/evidence/chain";
import { Trace } from "../../lib/evidence/trace";
import type { Anomaly } from "../../lib/types";

let server: http.Server;
let origin: string;
const hits: Record<string, number> = {};
let plan: Array<(res: http.ServerResponse, req: http.IncomingMessage) => void> = [];

before(async () => {
  server = http.createServer((req, res) => {
    const key = `${req.method} ${req.url}`;
    hits[key] = (hits[key] ?? 0) + 1;
    req.resume();
    const step = plan.shift();
    if (step) return step(res, req);
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ success: true, data: { status: "ok" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function client() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "http-"));
  const anomalies: Array<Omit<Anomaly, "at">> = [];
  const reg = new SecretRegistry();
  const trace = Trace.open(path.join(dir, "trace.jsonl"), reg);
  const api = new ApiClient(origin, {
    trace,
    onAnomaly: (a) => anomalies.push(a),
    registry: reg,
    sleep: async () => undefined,
    random: () => 0.5,
  });
  return { api, trace, anomalies, reg };
}
const unavailable = (res: http.ServerResponse) =>
  res
    .writeHead(503, { "retry-after": "1", "content-type": "application/json" })
    .end('{"success":false,"error":"overloaded"}');
const S = z.object({ status: z.string() });

test("GET retries 503 with Retry-After, each retry an anomaly, then succeeds", async () => {
  const { api, anomalies } = client();
  plan = [unavailable, unavailable];
  const r = await api.call({ method: "GET", path: "/a", endpoint: "GET /a", schema: S });
  assert.equal(r.attempts, 3);
  assert.equal(hits["GET /a"], 3);
  assert.equal(anomalies.filter((a) => a.kind === "retry").length, 2);
  assert.match(anomalies[0].message, /GET \/a: HTTP 503; retry 1\/4 in 1000 ms \(Retry-After honoured\)/);
  assert.equal(api.counters.http5xx, 2);
});

test("a POST without an Idempotency-Key is never retried", async () => {
  const { api } = client();
  plan = [unavailable];
  await assert.rejects(
    api.call({ method: "POST", path: "/b", endpoint: "POST /b", schema: S, body: {} }),
    (e: unknown) => e instanceof HttpStatusError && e.status === 503,
  );
  assert.equal(hits["POST /b"], 1);
});

test("a POST with an Idempotency-Key is retried with the same key", async () => {
  const { api } = client();
  const keys: string[] = [];
  plan = [
    (res, req) => {
      keys.push(String(req.headers["idempotency-key"]));
      unavailable(res);
    },
    (res, req) => {
      keys.push(String(req.headers["idempotency-key"]));
      res.writeHead(201).end('{"success":true,"data":{"status":"pending"}}');
    },
  ];
  const r = await api.call({
    method: "POST",
    path: "/c",
    endpoint: "POST /c",
    schema: S,
    body: {},
    idempotencyKey: "sess:order",
  });
  assert.equal(r.status, 201);
  assert.deepEqual(keys, ["sess:order", "sess:order"]);
});

test("connection reset on GET is retried; gives NetworkError when it persists", async () => {
  const { api } = client();
  plan = Array.from({ length: 5 }, () => (res: http.ServerResponse) => res.socket?.destroy());
  await assert.rejects(
    api.call({ method: "GET", path: "/d", endpoint: "GET /d", schema: S }),
    (e: unknown) =>
      e instanceof NetworkError && /request failed: GET http:\/\/127\.0\.0\.1:\d+\/d/.test((e as Error).message),
  );
  assert.equal(hits["GET /d"], 5);
  assert.equal(api.counters.networkErrors, 5);
});

test("a schema mismatch names the endpoint, the field and what was expected", async () => {
  const { api, anomalies } = client();
  plan = [(res) => res.writeHead(200).end('{"success":true,"data":{"state":"completed"}}')];
  await assert.rejects(
    api.call({ method: "GET", path: "/e", endpoint: "GET /orders/:id", schema: S }),
    (e: unknown) => {
      assert.ok(e instanceof SchemaError);
      assert.equal(e.code, "E2E_SCHEMA");
      assert.match(
        e.message,
        /^response of GET \/orders\/:id does not match the contract: field `status`: .*expected string/,
      );
      return true;
    },
  );
  assert.equal(anomalies[0].kind, "schema");
});

test("the trace holds request and response, with Authorization and obtained tokens redacted", async () => {
  const { api, trace, reg } = client();
  plan = [
    (res) =>
      res
        .writeHead(200)
        .end(JSON.stringify({ success: true, data: { status: "ok", access_token: "tok_Zx81kQ9aLm2Pq7Rt5Vw3" } })),
  ];
  await api.call({
    method: "GET",
    path: "/f",
    endpoint: "GET /f",
    schema: S.loose(),
    secretsOf: (d) => [String(d.access_token)],
  });
  assert.ok(reg.has("tok_Zx81kQ9aLm2Pq7Rt5Vw3"));
  api.token = "tok_Zx81kQ9aLm2Pq7Rt5Vw3";
  await api.call({
    method: "GET",
    path: "/g?echo=tok_Zx81kQ9aLm2Pq7Rt5Vw3",
    endpoint: "GET /g",
    schema: S,
    auth: true,
  });
  const text = fs.readFileSync(trace.file, "utf8");
  assert.ok(!text.includes("tok_Zx81kQ9aLm2Pq7Rt5Vw3"), "token masked everywhere, even inside a URL");
  const types = readTrace(trace.file).map((e) => e.type);
  assert.deepEqual(types, ["request", "response", "request", "response"]);
});

test("a keyed POST that meets 409 IDEMPOTENCY_IN_PROGRESS waits and retries with the same key", async () => {
  const { api, anomalies } = client();
  plan = [
    (res) =>
      res
        .writeHead(409, { "retry-after": "1" })
        .end('{"success":false,"error":"in progress","code":"IDEMPOTENCY_IN_PROGRESS"}'),
    (res) => res.writeHead(200).end('{"success":true,"data":{"status":"pending"}}'),
  ];
  const r = await api.call({
    method: "POST",
    path: "/h",
    endpoint: "POST /h",
    schema: S,
    body: {},
    idempotencyKey: "sess:order",
  });
  assert.equal(r.attempts, 2);
  assert.match(anomalies[0].message, /HTTP 409/);
  // Without a key, a 409 is an answer, not a reason to retry.
  plan = [(res) => res.writeHead(409).end('{"success":false,"error":"in progress","code":"IDEMPOTENCY_IN_PROGRESS"}')];
  await assert.rejects(
    api.call({ method: "POST", path: "/i", endpoint: "POST /i", schema: S, body: {} }),
    (e: unknown) => e instanceof HttpStatusError && e.status === 409,
  );
});

test("every attempt lands in the trace with its number, request before response, one anomaly per retry", async () => {
  const { api, trace, anomalies } = client();
  plan = [unavailable, (res) => res.socket?.destroy()];
  await api.call({ method: "GET", path: "/j", endpoint: "GET /j", schema: S });
  const events = readTrace(trace.file).map((e) => {
    const p = e.payload as { attempt: number; status?: number; error?: string };
    return `${e.type} ${p.attempt} ${p.status ?? (p.error ? "error" : "")}`.trim();
  });
  assert.deepEqual(events, [
    "request 1",
    "response 1 503",
    "request 2",
    "response 2 error",
    "request 3",
    "response 3 200",
  ]);
  assert.deepEqual(
    anomalies.map((a) => a.message.replace(/ in \d+ ms/, "")),
    ["GET /j: HTTP 503; retry 1/4 (Retry-After honoured)", "GET /j: network error: other side closed; retry 2/4"],
  );
  const { requests, retries, http5xx, networkErrors } = api.counters;
  assert.deepEqual(
    { requests, retries, http5xx, networkErrors },
    { requests: 3, retries: 2, http5xx: 1, networkErrors: 1 },
  );
});

test("a GET whose body is cut off is retried; the caller only sees the complete answer", async () => {
  const { api } = client();
  plan = [
    (res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write('{"success":true,');
      setTimeout(() => res.socket?.destroy(), 10);
    },
  ];
  const r = await api.call({ method: "GET", path: "/k", endpoint: "GET /k", schema: S });
  assert.equal(r.attempts, 2);
  assert.equal(hits["GET /k"], 2);
});

test("a failure of our own (the anomaly sink) is thrown as is, not as a NetworkError, and stops the retries", async () => {
  const { api } = client();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "http-"));
  const sinkDown = new Error("anomaly sink down");
  const broken = new ApiClient(origin, {
    trace: Trace.open(path.join(dir, "trace.jsonl"), new SecretRegistry()),
    onAnomaly: () => {
      throw sinkDown;
    },
    sleep: async () => undefined,
  });
  plan = [unavailable];
  await assert.rejects(
    broken.call({ method: "GET", path: "/l", endpoint: "GET /l", schema: S }),
    (e) => e === sinkDown,
  );
  assert.equal(hits["GET /l"], 1);
  await Promise.all([broken.close(), api.close()]);
});

test("the interceptors leave a dispatch without a call context alone", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "http-"));
  const trace = Trace.open(path.join(dir, "trace.jsonl"), new SecretRegistry());
  const counters = { requests: 0, retries: 0, http5xx: 0, networkErrors: 0, maxClockSkewMs: 0 };
  const agent = new Agent();
  const dispatcher = agent.compose(
    tracing({ trace, registry: new SecretRegistry(), counters }),
    retrying({ counters, onAnomaly: () => undefined, random: () => 0.5, sleep: async () => undefined }),
  );
  plan = [unavailable];
  const res = await request(`${origin}/plain`, { dispatcher });
  assert.equal(res.statusCode, 503);
  await res.body.text();
  assert.equal(hits["GET /plain"], 1);
  assert.equal(trace.seq, 0);
  assert.equal(counters.requests, 0);
  await agent.close();
});

// ------------------------------------------------------------------ hostile servers (issue 14)

test("a body that drips one byte at a time fails the call at its deadline: 'body not finished after N s'", async () => {
  const { api, trace } = client();
  let timer: NodeJS.Timeout | undefined;
  plan = [
    (res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"success":true,"data":{"status":"');
      timer = setInterval(() => res.write("o"), 100);
      res.on("close", () => clearInterval(timer));
    },
  ];
  const t0 = performance.now();
  await assert.rejects(
    api.call({ method: "GET", path: "/drip", endpoint: "GET /drip", schema: S, deadlineMs: 1000 }),
    (e: unknown) => {
      assert.ok(e instanceof NetworkError, String(e));
      assert.match(e.message, /^request failed: GET http:\/\/127\.0\.0\.1:\d+\/drip \(body not finished after 1 s: /);
      return true;
    },
  );
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `the deadline held (${Math.round(ms)} ms)`);
  clearInterval(timer);
  assert.equal(hits["GET /drip"], 1, "no retry after the call's deadline");
  assert.ok(readTrace(trace.file).some((e) => e.type === "response" && JSON.stringify(e.payload).includes("error")));
});

test("a server that never answers fails at the deadline: 'no answer after N s'", async () => {
  const { api } = client();
  plan = [() => undefined];
  await assert.rejects(
    api.call({ method: "POST", path: "/mute", endpoint: "POST /mute", schema: S, body: {}, deadlineMs: 800 }),
    /\(no answer after 1 s: the server is slow or stuck; the call was abandoned\)$/,
  );
});

test("a 200 that is not JSON says so, with its content type", async () => {
  const { api } = client();
  plan = [(res) => res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Sign in</body></html>")];
  await assert.rejects(api.call({ method: "GET", path: "/html", endpoint: "GET /status", schema: S }), (e: unknown) => {
    assert.ok(e instanceof SchemaError);
    assert.match(
      e.message,
      /^response of GET \/status does not match the contract: field `\(root\)`: not JSON \(content-type text\/html, 33 bytes\)/,
    );
    return true;
  });
});

test("a redirect is not followed and names its Location", async () => {
  const { api } = client();
  plan = [(res) => res.writeHead(302, { location: "https://login.example.com/sso?next=%2F" }).end()];
  await assert.rejects(api.call({ method: "GET", path: "/moved", endpoint: "GET /moved", schema: S }), (e: unknown) => {
    assert.ok(e instanceof HttpStatusError);
    assert.equal(e.status, 302);
    assert.match(
      e.message,
      /answered 302: redirected to https:\/\/login\.example\.com\/sso\?next=%2F; redirects are not followed/,
    );
    return true;
  });
  assert.equal(hits["GET /moved"], 1);
});

test("a self-signed certificate is refused once, not retried, and the error names the host and the reason", async (t) => {
  const { execFileSync } = await import("node:child_process");
  const https = await import("node:https");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-"));
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    assert.fail("openssl is needed to make a throwaway certificate: apt-get install openssl (scripts/setup.sh does)");
  }
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"].concat([
      "-keyout",
      path.join(dir, "k.pem"),
      "-out",
      path.join(dir, "c.pem"),
    ]),
    { stdio: "ignore" },
  );
  let handshakes = 0;
  const tls = https.createServer(
    { key: fs.readFileSync(path.join(dir, "k.pem")), cert: fs.readFileSync(path.join(dir, "c.pem")) },
    (_req, res) => res.end("{}"),
  );
  tls.on("connection", () => handshakes++);
  await new Promise<void>((r) => tls.listen(0, "127.0.0.1", r));
  t.after(() => {
    tls.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const { api, anomalies } = client();
  const port = (tls.address() as { port: number }).port;
  await assert.rejects(
    api.call({ method: "GET", origin: `https://127.0.0.1:${port}`, path: "/x", endpoint: "GET /x", schema: S }),
    (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, /TLS certificate of 127\.0\.0\.1:\d+ refused: DEPTH_ZERO_SELF_SIGNED_CERT \(/);
      assert.match(e.message, /never turn verification off/);
      return true;
    },
  );
  assert.equal(anomalies.filter((a) => a.kind === "retry").length, 0, "not retried");
  assert.equal(handshakes, 1);
});

test("a secret straddling the cut of an error message or of a traced body leaves no part of itself", async () => {
  const { api, trace, reg } = client();
  const secret = "Pw-straddle-0123456789abcdef";
  reg.add(secret, "OPERATOR_PASSWORD");
  const around = (at: number) => `${"x".repeat(at)}${secret}${"y".repeat(30)}`;
  plan = [
    (res) => res.writeHead(401, { "content-type": "text/plain" }).end(around(190)),
    (res) =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ success: true, data: { status: around(19_990) } })),
  ];
  const err = await api
    .call({ method: "POST", path: "/cut", endpoint: "POST /cut", schema: S, body: {} })
    .catch((e: unknown) => e);
  assert.ok(err instanceof HttpStatusError);
  await api.call({ method: "GET", path: "/cut2", endpoint: "GET /cut2", schema: S });
  const fragments = (t: string) =>
    [...Array(secret.length - 5).keys()].filter((i) => t.includes(secret.slice(i, i + 6)));
  assert.deepEqual(fragments(err.message), [], err.message);
  const text = fs.readFileSync(trace.file, "utf8");
  assert.deepEqual(fragments(text), [], "the trace keeps no fragment of the secret");
  const big = readTrace(trace.file).find(
    (e) => e.type === "response" && (e.payload as { truncated_from?: number }).truncated_from,
  );
  assert.ok(big, "the long body is kept cut, with its length");
  assert.equal(
    (big.payload as { truncated_from: number }).truncated_from,
    JSON.stringify({ success: true, data: { status: around(19_990) } }).length,
  );
});

test("a 300 KB JSON string is answered and traced without hanging: kept as its first characters", async () => {
  const { api, trace } = client();
  const huge = "a".repeat(300 * 1024);
  plan = [
    (res) =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ success: true, data: { status: huge } })),
  ];
  const r = await api.call({ method: "GET", path: "/huge", endpoint: "GET /huge", schema: S });
  assert.equal(r.data.status.length, huge.length);
  const line = fs
    .readFileSync(trace.file, "utf8")
    .split("\n")
    .find((l) => l.includes('"truncated_from"'));
  assert.ok(line && line.length < 25_000, "the trace line is capped");
});

test("a call never outlives the running wait's budget (a fraction of a millisecond included)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "http-"));
  const reg = new SecretRegistry();
  const api = new ApiClient(origin, {
    trace: Trace.open(path.join(dir, "trace.jsonl"), reg),
    onAnomaly: () => undefined,
    registry: reg,
    callBudgetMs: () => 1200.5,
  });
  plan = [() => undefined];
  const t0 = performance.now();
  await assert.rejects(
    api.call({ method: "GET", path: "/budget", endpoint: "GET /budget", schema: S, retry: false }),
    /no answer after 1 s/,
  );
  assert.ok(performance.now() - t0 < 5000);
});
