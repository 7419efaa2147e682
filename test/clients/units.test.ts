/** Pure parts of lib/clients: Retry-After and backoff (http), pasted psql output (db). */
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { parsePastedTransfer, transferSqlFor } from "../../lib/clients/db";
import { backoffMs, retryAfterMs } from "../../lib/clients/http";

test("Retry-After as seconds or HTTP date, capped", () => {
  assert.equal(retryAfterMs("2"), 2000);
  assert.equal(retryAfterMs(undefined), null);
  assert.equal(retryAfterMs("99999"), 60000);
  const now = Date.parse("2026-11-26T14:00:00Z");
  assert.equal(retryAfterMs("Thu, 26 Nov 2026 14:00:05 GMT", now), 5000);
  assert.equal(retryAfterMs("soon"), null);
});

test("backoff is capped exponential with jitter", () => {
  assert.equal(
    backoffMs(1, () => 0),
    125,
  );
  assert.equal(
    backoffMs(1, () => 1),
    250,
  );
  assert.equal(
    backoffMs(10, () => 1),
    8000,
  );
});

test("pasted psql output gives transfer id, status and amount", () => {
  const pasted = ` id | order_id | seller_id | amount | currency | stripe_transfer_id | status
----+----------+-----------+--------+----------+--------------------+--------
 st_1 | ord_9 | sel_1 | 375 | EUR | tr_1AbC | paid
(1 row)`;
  assert.deepEqual(parsePastedTransfer(pasted), {
    stripe_transfer_id: "tr_1AbC",
    status: "paid",
    amount: 375,
    currency: "EUR",
  });
  assert.deepEqual(parsePastedTransfer("(0 rows)"), {
    stripe_transfer_id: null,
    status: null,
    amount: null,
    currency: null,
  });
  assert.match(transferSqlFor("ord_1'x"), /WHERE order_id = 'ord_1''x'/);
});

test("pasted psql output: expanded (\\x), lower-case currency, zero-fraction decimals read; '4.20' left unread (review 4)", () => {
  const expanded = `-[ RECORD 1 ]------+---------------------------
id                 | st_1
order_id           | ord_9
seller_id          | sel_1
amount             | 375
currency           | eur
stripe_transfer_id | tr_1AbC
status             | paid`;
  assert.deepEqual(parsePastedTransfer(expanded), {
    stripe_transfer_id: "tr_1AbC",
    status: "paid",
    amount: 375,
    currency: "EUR",
  });
  const row = (amount: string) => ` st_1 | ord_9 | sel_1 | ${amount} | EUR | tr_1AbC | paid`;
  assert.equal(parsePastedTransfer(row("375.00")).amount, 375);
  assert.equal(parsePastedTransfer(row("4.20")).amount, null, "major or minor units: not guessed");
  assert.equal(parsePastedTransfer(expanded.replace("| 375", "| 4.20")).amount, null);
});
