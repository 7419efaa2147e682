/**
 * `npm run session` refuses a new session while an earlier one moved money without a refund. An
 * earlier session whose journal does not read (a line edited by hand) cannot say it did not: it was
 * skipped in silence, and a new session opened beside a payment nobody refunded. Run in-process.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { makeSession, tmpArchive } from "../report/fixtures";
import { sessionCommand } from "./in-process";

test("an earlier session whose journal does not read holds a new one back, naming it; --new-anyway still opens one", async () => {
  const archive = tmpArchive();
  // Step 5 stuck, the refund refused: money moved, no refund. Then an edit breaks its journal.
  const stuck = makeSession(archive, { mode: "staging", scenario: "stuck", at: new Date(Date.UTC(2026, 10, 20, 9)) });
  const id = path.basename(stuck);
  const file = path.join(stuck, "state.jsonl");
  const text = fs.readFileSync(file, "utf8");
  fs.writeFileSync(file, text.replace('"status":"PASS"', '"status":"PASSED"'));
  assert.notEqual(fs.readFileSync(file, "utf8"), text);
  const args = ["--mode", "staging", "--base-url", "https://staging.example.com", "--archive-dir", archive];
  const refused = await sessionCommand([...args, "--no-jupyter"], { OPERATOR_PASSWORD: "" });
  assert.equal(refused.code, 2, `${refused.out}\n${refused.err}`);
  assert.match(
    refused.err,
    new RegExp(`session ${id}'s journal does not read \\(.*line \\d+.*\\): it cannot say whether money moved there`),
  );
  assert.deepEqual(fs.readdirSync(archive), [id], "nothing was created");
  const anyway = await sessionCommand([...args, "--no-jupyter", "--new-anyway"], { OPERATOR_PASSWORD: "" });
  assert.equal(anyway.code, 0, `${anyway.out}\n${anyway.err}`);
  assert.equal(fs.readdirSync(archive).length, 2);
  fs.rmSync(path.dirname(path.dirname(archive)), { recursive: true, force: true });
});
