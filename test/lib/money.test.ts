import { strict as assert } from "node:assert";
import { test } from "node:test";
import { MoneySchema, currencyExponent, formatAmount, formatMoney, hundredthsToMinor } from "../../lib/money";

const ROWS: Array<[number, string, string]> = [
  [375, "EUR", "3.75 EUR"],
  [5, "EUR", "0.05 EUR"],
  [0, "EUR", "0.00 EUR"],
  [-375, "EUR", "-3.75 EUR"],
  [500, "JPY", "500 JPY"],
  [1234, "BHD", "1.234 BHD"],
  [5, "BHD", "0.005 BHD"],
  [499, "usd", "4.99 USD"],
];

for (const [minor, currency, text] of ROWS)
  test(`formatMoney(${minor}, ${currency}) is "${text}"`, () => {
    assert.equal(formatMoney(minor, currency), text);
    assert.equal(formatAmount({ minor, currency }), text);
  });

test("exponents come from the currency: EUR 2, JPY 0, BHD 3, an unknown code 2", () => {
  assert.deepEqual(["EUR", "JPY", "BHD", "KWD", "XQQ"].map(currencyExponent), [2, 0, 3, 3, 2]);
});

test("MAX_PRICE's hundredths in a currency's minor units: 5.00 is 500 EUR cents, 5 JPY, 5000 BHD fils; down, never up", () => {
  assert.deepEqual(
    ["EUR", "JPY", "BHD"].map((c) => hundredthsToMinor(500, c)),
    [500, 5, 5000],
  );
  assert.equal(hundredthsToMinor(599, "JPY"), 5);
});

test("Money is integer minor units and an ISO code", () => {
  assert.equal(MoneySchema.safeParse({ minor: 375, currency: "EUR" }).success, true);
  assert.equal(MoneySchema.safeParse({ minor: 3.75, currency: "EUR" }).success, false);
  assert.equal(MoneySchema.safeParse({ minor: 375, currency: "euro" }).success, false);
  assert.equal(MoneySchema.safeParse({ minor: 375, currency: "EUR", display: "3.75" }).success, false);
});
