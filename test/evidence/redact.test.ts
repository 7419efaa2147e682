import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { REDACTED, luhnValid, maskPan } from "../../lib/evidence/detect";
import { REDACT_MAX_DEPTH, redact, redactHeaders, redactString } from "../../lib/evidence/redact";
import { SecretRegistry, envSecrets } from "../../lib/evidence/secrets";
import {
  AMEX_SPACED,
  JWT,
  LIVE_KEY,
  NOT_LUHN,
  OPAQUE_TOKEN,
  PAN,
  PAN_DASHED,
  PAN_SPACED,
  SANDBOX_KEY,
} from "./fixtures";

const reg = new SecretRegistry();
const OPERATOR_PW = "Op3rator-pass!";
reg.add(OPERATOR_PW, "OPERATOR_PASSWORD");
reg.add(OPAQUE_TOKEN, "access_token");
reg.add("abc", "too short"); // ignored: under 6 chars

describe("redactString", () => {
  const rows: Array<[string, string, string]> = [
    ["secret alone", OPERATOR_PW, REDACTED],
    ["secret inside a sentence", `login with ${OPERATOR_PW} failed`, `login with ${REDACTED} failed`],
    ["secret glued inside a longer word", `xx${OPERATOR_PW}yy`, `xx${REDACTED}yy`],
    ["secret URL-encoded in a query", `/login?p=${encodeURIComponent(OPERATOR_PW)}&x=1`, `/login?p=${REDACTED}&x=1`],
    [
      "token in a URL query",
      `https://h/checkout/pay_1?client_secret=${OPAQUE_TOKEN}`,
      `https://h/checkout/pay_1?client_secret=${REDACTED}`,
    ],
    [
      "unknown client_secret in a query",
      "https://h/checkout/pay_1?client_secret=pay_1_secret_zz9",
      `https://h/checkout/pay_1?client_secret=${REDACTED}`,
    ],
    ["bearer token", `Authorization: Bearer ${"a1b2c3d4e5f6g7h8"}`, `Authorization: Bearer ${REDACTED}`],
    ["bearer JWT", `Bearer ${JWT}`, `Bearer ${REDACTED}`],
    ["bare JWT in text", `token was ${JWT}.`, `token was ${REDACTED}.`],
    ["sandbox API key", `api-key ${SANDBOX_KEY} used`, `api-key ${REDACTED} used`],
    ["live API key", `key=${LIVE_KEY}`, `key=${REDACTED}`],
    ["DSN password", "postgres://runbook:s3cr3tPW@db:5432/app", `postgres://runbook:${REDACTED}@db:5432/app`], // evidence-scan: allow (a test of the detector)
    ["key=value password", "password=hunter22&email=a@b.c", `password=${REDACTED}&email=a@b.c`],
    ["JSON text password", '{"email":"a@b.c","password":"hunter22"}', `{"email":"a@b.c","password":"${REDACTED}"}`],
    ["PAN plain", `card ${PAN} ok`, "card [PAN ****4242] ok"],
    ["PAN with spaces", `card ${PAN_SPACED}`, "card [PAN ****4242]"],
    ["PAN with dashes", `card ${PAN_DASHED}.`, "card [PAN ****4242]."],
    ["Amex 4-6-5", AMEX_SPACED, "[PAN ****0005]"],
    ["PAN followed by expiry", `${PAN_SPACED} 12 34`, "[PAN ****4242] 12 34"],
    ["non-Luhn 16 digits left alone", `n ${NOT_LUHN}`, `n ${NOT_LUHN}`],
    [
      "ordinary ids left alone",
      "ord_01HZX9 pay_7781 tr_9 prd_2b3c4d5e6f7a8b9c0d1e",
      "ord_01HZX9 pay_7781 tr_9 prd_2b3c4d5e6f7a8b9c0d1e",
    ],
    ["ISO timestamp left alone", "2026-11-26T15:44:00.123Z", "2026-11-26T15:44:00.123Z"],
    ["amounts left alone", "total_cents 1200 EUR, 12.00", "total_cents 1200 EUR, 12.00"],
    ["float digits are not a PAN", `x=0.${PAN}`, `x=0.${PAN}`],
    ["hex hash left alone", `${"a".repeat(10) + PAN}b`, `${"a".repeat(10) + PAN}b`],
    ["token_type Bearer kept", '"token_type":"Bearer"', '"token_type":"Bearer"'],
    ["redaction markers are stable", `Bearer ${REDACTED} [PAN ****4242]`, `Bearer ${REDACTED} [PAN ****4242]`],
    ["short value not registered", "abc abc", "abc abc"],
  ];
  for (const [name, input, expected] of rows) {
    it(name, () => assert.equal(redactString(input, reg), expected));
  }
});

describe("redact (deep)", () => {
  it("masks by key name, value and pattern in nested objects and arrays, without mutating", () => {
    const input = {
      headers: { Authorization: `Bearer ${OPAQUE_TOKEN}`, "x-api-key": "whatever-value", accept: "application/json" },
      body: {
        access_token: OPAQUE_TOKEN,
        refresh_token: "r-123456789",
        token_type: "Bearer",
        user: { id: "usr_1", email: "a@b.c", password_set: true },
        cards: [{ number: PAN_SPACED, cvc: "123" }, { number: NOT_LUHN }],
        note: `operator typed ${OPERATOR_PW} twice`,
        clientSecret: "cs_1",
        total_cents: 1200,
        raw: Number(PAN),
      },
    };
    const before = JSON.stringify(input);
    const out = redact(input, reg);
    assert.equal(JSON.stringify(input), before, "input untouched");
    assert.deepEqual(out, {
      headers: { Authorization: REDACTED, "x-api-key": REDACTED, accept: "application/json" },
      body: {
        access_token: REDACTED,
        refresh_token: REDACTED,
        token_type: "Bearer",
        user: { id: "usr_1", email: "a@b.c", password_set: true },
        cards: [{ number: "[PAN ****4242]", cvc: REDACTED }, { number: NOT_LUHN }],
        note: `operator typed ${REDACTED} twice`,
        clientSecret: REDACTED,
        total_cents: 1200,
        raw: "[PAN ****4242]",
      },
    });
  });

  it("handles cycles, dates, errors and primitives", () => {
    const a: Record<string, unknown> = { when: new Date(0) };
    a.self = a;
    const out = redact(a, reg) as Record<string, unknown>;
    assert.equal(out.self, "[Circular]");
    assert.ok(out.when instanceof Date && out.when !== a.when);
    assert.deepEqual(redact(new Error(`bad ${OPERATOR_PW}`), reg), { name: "Error", message: `bad ${REDACTED}` });
    assert.equal(redact(null, reg), null);
    assert.equal(redact(42, reg), 42);
  });
});

describe("redact (bounded depth, issue 25 item 4)", () => {
  /** `{ a: { a: … { a: leaf } } }`, `depth` levels, built without recursion. */
  const nested = (depth: number, leaf: unknown) => {
    let v: unknown = leaf;
    for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
    return v;
  };
  for (const depth of [2_000, 100_000])
    it(`a value nested ${depth.toLocaleString("en")} levels is cut at ${REDACT_MAX_DEPTH} with a note, not a stack overflow`, () => {
      const out = redact(nested(depth, `card ${PAN_SPACED}`), reg);
      let v: unknown = out;
      let levels = 0;
      while (v !== null && typeof v === "object") {
        v = Array.isArray(v) ? v[0] : (v as { a: unknown }).a;
        levels++;
      }
      assert.equal(levels, REDACT_MAX_DEPTH);
      assert.equal(v, `[nested deeper than ${REDACT_MAX_DEPTH} levels: not kept]`);
    });
  it("a value within the limit is kept whole, its card masked", () => {
    const out = JSON.stringify(redact(nested(REDACT_MAX_DEPTH - 1, `card ${PAN_SPACED}`), reg));
    assert.ok(out.includes("card [PAN ****4242]") && !out.includes("not kept"), out.slice(-80));
  });
});

describe("redactHeaders", () => {
  it("flattens arrays, drops undefined and masks sensitive names", () => {
    assert.deepEqual(
      redactHeaders(
        {
          "Set-Cookie": ["a=1", "b=2"],
          "api-key": SANDBOX_KEY,
          date: "Thu",
          x: undefined,
          location: `/p?token=${OPAQUE_TOKEN}`,
        },
        reg,
      ),
      { "Set-Cookie": REDACTED, "api-key": REDACTED, date: "Thu", location: `/p?token=${REDACTED}` },
    );
  });
});

describe("card helpers", () => {
  const rows: Array<[string, boolean]> = [
    [PAN, true],
    [PAN_SPACED, true],
    [AMEX_SPACED, true],
    [NOT_LUHN, false],
    ["", false],
    ["12a4", false],
  ];
  for (const [digits, ok] of rows)
    it(`luhnValid(${digits.length} chars) = ${ok}`, () => assert.equal(luhnValid(digits), ok));
  it("maskPan keeps last 4 only", () => assert.equal(maskPan(PAN_SPACED), "[PAN ****4242]"));
});

describe("SecretRegistry and envSecrets", () => {
  it("ignores short values and reports entries", () => {
    const r = new SecretRegistry();
    r.add(undefined);
    r.add("12345");
    r.add("123456", "six");
    assert.deepEqual(r.entries(), [{ value: "123456", label: "six" }]);
    assert.ok(r.has("123456"));
  });
  it("takes secrets from the environment by name and URL password", () => {
    const found = envSecrets({
      OPERATOR_PASSWORD: OPERATOR_PW,
      HYPERSWITCH_API_KEY: SANDBOX_KEY,
      DATABASE_URL: "postgres://ro:p%40ssw0rd@db/app", // evidence-scan: allow (a test of the detector)
      BASE_URL: "https://staging.example",
      TOKEN_FILE: "/var/run/token",
      HOME: "/home/someone",
    });
    assert.deepEqual(found.map((f) => f.value).sort(), ["p%40ssw0rd", "p@ssw0rd", OPERATOR_PW, SANDBOX_KEY].sort());
  });
});
