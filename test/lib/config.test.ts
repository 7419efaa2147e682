import { strict as assert } from "node:assert";
import { test } from "node:test";
import { ConfigError } from "../../lib/errors";
import { isOperatorEmail, parseConfig, type Params } from "../../lib/config";

const good: Params = {
  MODE: "staging",
  BASE_URL: "https://staging.example.com/",
  OPERATOR_EMAIL: "ops@example.com",
  SESSION_ID: "20261126T154400Z-staging",
};
const env = { OPERATOR_PASSWORD: "pw-123456" };

test("a good configuration parses with the seed's defaults", () => {
  const c = parseConfig(good, env);
  assert.equal(c.baseUrl, "https://staging.example.com");
  assert.equal(c.maxPriceMinor, 500);
  assert.equal(c.pollDeadlineS, 300);
  assert.equal(c.refund, false); // opt-in, as in the seed
  assert.equal(c.product, "cheapest");
  assert.equal(c.databaseUrl, null);
});

// Each bad value: one line naming the variable and the fix; secrets never echoed.
const cases: Array<[string, Params, Record<string, string>, RegExp]> = [
  ["MODE", { ...good, MODE: "prod" }, env, /^MODE: invalid value "prod"; set MODE to "sandbox", "staging" or "live"$/],
  ["BASE_URL", { ...good, BASE_URL: "staging.example.com" }, env, /^BASE_URL: .*set BASE_URL to the backend origin/],
  ["BASE_URL", { ...good, BASE_URL: "ftp://x.example.com" }, env, /^BASE_URL: /],
  // Issue 14: only an origin (plus the API prefix); userinfo is refused without echoing it.
  [
    "BASE_URL",
    { ...good, BASE_URL: "https://ops:secretpw@staging.example.com" }, // evidence-scan: allow (a test of the detector)
    env,
    /^BASE_URL: carries a user name or password before the host .*; remove it and set BASE_URL to the origin alone, e\.g\. https:\/\/staging\.example\.com$/,
  ],
  [
    "BASE_URL",
    { ...good, BASE_URL: "https://staging.example.com/shop" },
    env,
    /^BASE_URL: has a path "\/shop", which the runbook would not use; set BASE_URL to the origin alone/,
  ],
  ["BASE_URL", { ...good, BASE_URL: "https://staging.example.com/?a=1" }, env, /^BASE_URL: has a query string/],
  ["BASE_URL", { ...good, BASE_URL: "https://staging.example.com/#x" }, env, /^BASE_URL: has a fragment/],
  [
    "HYPERSWITCH_URL",
    { ...good, HYPERSWITCH_URL: "https://u:secretpw@hs.example.com" }, // evidence-scan: allow (a test of the detector)
    env,
    /^HYPERSWITCH_URL: carries a user name or password/,
  ],
  ["HYPERSWITCH_URL", { ...good, HYPERSWITCH_URL: "https://hs.example.com/v1" }, env, /^HYPERSWITCH_URL: has a path/],
  [
    "OPERATOR_EMAIL",
    { ...good, OPERATOR_EMAIL: "ops@" },
    env,
    /^OPERATOR_EMAIL: invalid value "ops@"; set OPERATOR_EMAIL/,
  ],
  [
    "OPERATOR_EMAIL",
    { ...good, OPERATOR_EMAIL: "ops..test@example.com" },
    env,
    /^OPERATOR_EMAIL: invalid value "ops\.\.test@example\.com"; set OPERATOR_EMAIL to the buyer account's address, e\.g\. ops-test@example\.com$/,
  ],
  ["OPERATOR_EMAIL", { ...good, OPERATOR_EMAIL: undefined }, env, /^OPERATOR_EMAIL: missing; /],
  ["OPERATOR_PASSWORD", good, {}, /^OPERATOR_PASSWORD: missing; export OPERATOR_PASSWORD in the environment/],
  ["MAX_PRICE", { ...good, MAX_PRICE: "five" }, env, /^MAX_PRICE: invalid value "five"; set MAX_PRICE/],
  ["MAX_PRICE", { ...good, MAX_PRICE: -1 }, env, /^MAX_PRICE: /],
  ["POLL_DEADLINE_S", { ...good, POLL_DEADLINE_S: 1 }, env, /^POLL_DEADLINE_S: .*between 5 and 3600/],
  [
    "SESSION_ID",
    { ...good, SESSION_ID: "" },
    env,
    /^SESSION_ID: missing; create a session with `npm run session -- --mode <mode>`/,
  ],
  [
    "SESSION_ID",
    { ...good, SESSION_ID: "20261126T154400Z-live" },
    env,
    /^SESSION_ID: session .* was created for another mode than staging/,
  ],
  ["PRODUCT", { ...good, PRODUCT: "x y" }, env, /^PRODUCT: /],
  ["REFUND", { ...good, REFUND: "maybe" }, env, /^REFUND: invalid value "maybe"; set REFUND to true or false$/],
  ["AUTO_PAY", { ...good, AUTO_PAY: "4242" }, env, /^AUTO_PAY: /],
  [
    "DATABASE_URL",
    good,
    { ...env, DATABASE_URL: "mysql://u:secretpw@h/db" }, // evidence-scan: allow (a test of the detector)
    /^DATABASE_URL: invalid; export DATABASE_URL as a read-only postgres:\/\/ DSN/,
  ],
  ["HYPERSWITCH_API_KEY", good, { ...env, HYPERSWITCH_API_KEY: "short" }, /^HYPERSWITCH_API_KEY: invalid; /],
];

for (const [variable, params, e, message] of cases) {
  test(`bad ${variable} → ConfigError naming it (${message.source.slice(0, 40)}…)`, () => {
    assert.throws(
      () => parseConfig(params, e),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.code, "E2E_CONFIG");
        assert.equal(err.variable, variable);
        assert.match(err.message, message);
        assert.ok(!err.message.includes("\n"), "one line");
        assert.ok(!err.message.includes("secretpw"), "secret not echoed");
        return true;
      },
    );
  });
}

// One rule for the operator's address, shared with pre-flight (issue 10): what the parameters
// cell accepts, pre-flight never refuses.
const emails: Array<[unknown, boolean]> = [
  ["ops@example.com", true],
  ["ops-test@example.com", true],
  ["a+b@sub.example.co.uk", true],
  ["operator@sandbox.test", true],
  [" ops@example.com ", true], // trimmed, as the parameters cell stores it
  ["ops@", false],
  ["ops test@example.com", false],
  ["ops..test@example.com", false],
  [".ops@example.com", false],
  ["ops@localhost", false],
  ['"ops"@example.com', false],
  ["", false],
  [undefined, false],
];
for (const [value, ok] of emails) {
  test(`isOperatorEmail(${JSON.stringify(value)}) is ${ok}`, () => {
    assert.equal(isOperatorEmail(value), ok);
    const parse = () => parseConfig({ ...good, OPERATOR_EMAIL: value as string }, env);
    if (ok) assert.equal(parse().operatorEmail, String(value).trim());
    else assert.throws(parse, ConfigError);
  });
}

test("BASE_URL may carry the API prefix the sandbox and the docs print; it is stripped to the origin", () => {
  for (const u of [
    "https://staging.example.com/api/v1",
    "https://staging.example.com/api/v1/",
    "https://staging.example.com",
  ])
    assert.equal(parseConfig({ ...good, BASE_URL: u }, env).baseUrl, "https://staging.example.com");
});
