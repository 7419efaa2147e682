/**
 * The backend a session ran against, read from its journal (lib/evidence/backend-origin.ts): the
 * origin it was created with and each one a passed pre-flight pinned, loopback named as such, and the
 * operator's tunnel statement counted only from the first entry and only when it says something.
 */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { backendOrigin, backendText, loopbackProblem, onThisMachine } from "../../lib/evidence/backend-origin";
import type { JournalEntry } from "../../lib/evidence/journal";

const created = (data: Record<string, unknown>) =>
  ({
    kind: "session_created",
    at: "2026-12-06T10:00:00.000Z",
    data: { sessionId: "s", mode: "live", ...data },
  }) as unknown as JournalEntry;
const preflight = (BASE_URL: string, ok = true) =>
  ({
    kind: "preflight",
    at: "2026-12-06T10:01:00.000Z",
    data: { ok, params: { BASE_URL } },
  }) as unknown as JournalEntry;

test("an older session without an origin says so; a public origin is shown as is and counts", () => {
  const none = backendOrigin([created({})]);
  assert.equal(backendText(none), "backend origin not recorded");
  assert.equal(loopbackProblem(none, "live"), null);
  const prod = backendOrigin([
    created({ base_url: "https://shop.example.com/api/v1" }),
    preflight("https://shop.example.com"),
  ]);
  assert.equal(backendText(prod), "https://shop.example.com");
  assert.equal(loopbackProblem(prod, "live"), null);
});

test("a loopback origin pinned after a public one at creation is named, and counts only with a statement of 10+ characters", () => {
  const entries = [
    created({ base_url: "https://shop.example.com", via_tunnel: "  tunnel  " }),
    preflight("http://localhost:8443"),
  ];
  const b = backendOrigin(entries);
  assert.deepEqual(b.loopback, ["http://localhost:8443"]);
  assert.equal(b.tunnel, null, "a statement that says nothing is no statement");
  assert.match(
    backendText(b),
    /^http:\/\/localhost:8443 \(this machine's loopback: a tunnel or a local backend; production not verified by the tool\) — no tunnel statement recorded when the session was created$/,
  );
  assert.match(loopbackProblem(b, "staging") ?? "", /npm run session -- --mode staging --via-tunnel "<why>"$/);
  const stated = backendOrigin([
    created({ via_tunnel: "ssh -L to production" }),
    preflight("http://[::1]:8443"),
    preflight("https://shop.example.com", false),
  ]);
  assert.equal(loopbackProblem(stated, "live"), null);
  assert.match(
    backendText(stated),
    /^http:\/\/\[::1\]:8443 \(this machine's loopback.* — operator stated: "ssh -L to production"$/,
  );
});

test("a sandbox rehearsal's origin is the local sandbox, with nothing to state", () => {
  const b = backendOrigin([created({ mode: "sandbox", base_url: "http://127.0.0.1:8080" })]);
  assert.equal(backendText(b, "sandbox"), "http://127.0.0.1:8080 (this machine's loopback: the local sandbox)");
});

test("every spelling of this machine counts as loopback, a public or private address does not", () => {
  // Staging allows http anywhere: a dry run against the local sandbox must not go by another spelling.
  for (const u of [
    "http://127.0.0.1:8080",
    "http://127.1:8080",
    "http://2130706433:8080",
    "http://localhost:8080",
    "http://LOCALHOST.:8080",
    "http://shop.localhost:8080",
    "http://[::1]:8080",
    "http://0.0.0.0:8080",
    "http://[::]:8080",
    "http://[::ffff:127.0.0.1]:8080",
  ])
    assert.equal(onThisMachine(u), true, u);
  for (const u of [
    "https://shop.example.com",
    "http://10.0.0.5:8080",
    "http://[2001:db8::1]",
    "http://localhost.example.com",
    "not a url",
  ])
    assert.equal(onThisMachine(u), false, u);
});
