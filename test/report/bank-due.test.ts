/**
 * When the bank statement is due is counted from the backend's refund time (the refund's own
 * `created_at`), never from when this machine journaled the answer: a refund the orchestrator made
 * at 23:59:58Z on a Thursday and journaled two seconds later, on Friday, is due a business day sooner.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, test } from "node:test";
import { loadEvidence } from "../../lib/report/evidence";
import { actionItems, acceptance, bankDueDate } from "../../lib/report/verdict";
import { validateBankDate } from "../../lib/report/bank";
import { makeSession, tmpArchive } from "./fixtures";
import { rewriteChain } from "../evidence/tamper-table";

const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

/** A live session that passed every step; its refund created by the backend at `createdAt`, journaled at `journaledAt`. */
function liveRefund(createdAt: string | null, journaledAt: string): string {
  const archive = tmpArchive();
  roots.push(path.dirname(path.dirname(archive)));
  const dir = makeSession(archive, { mode: "live", at: new Date(Date.UTC(2026, 10, 26, 23, 50)) });
  rewriteChain(path.join(dir, "state.jsonl"), "state.jsonl", (es) => {
    const r = es.find((e) => e.kind === "refund_created");
    assert.ok(r);
    r.at = journaledAt;
    r.data = { ...(r.data as object), created_at: createdAt, received_at: journaledAt, server_date: null };
  });
  return dir;
}

test("the bank statement's due date counts from the refund's backend time, not the journal's", () => {
  // 2026-11-26 is a Thursday: 7 business days on is Monday 2026-12-07 (from Friday it would be Tuesday the 8th).
  const ev = loadEvidence(liveRefund("2026-11-26T23:59:58Z", "2026-11-27T00:00:01.000Z"));
  assert.equal(bankDueDate(ev), "2026-12-07");
  assert.ok(
    actionItems(ev).includes(
      `Confirm the bank statement by 2026-12-07: \`npm run confirm-bank -- ${ev.sessionId} --date YYYY-MM-DD\`.`,
    ),
    actionItems(ev).join("\n"),
  );
  assert.match(acceptance(ev).at(-1)?.evidence ?? "", /^pending: confirm by 2026-12-07 /);
  // A statement dated the backend's refund day is on or after the refund: accepted.
  assert.doesNotThrow(() => validateBankDate(ev, "2026-11-26", new Date(Date.UTC(2026, 11, 3))));
  assert.throws(() => validateBankDate(ev, "2026-11-25", new Date(Date.UTC(2026, 11, 3))), /before the refund/);
});

test("without a backend time for the refund, the journal's time stands", () => {
  const ev = loadEvidence(liveRefund(null, "2026-11-27T00:00:01.000Z"));
  assert.equal(bankDueDate(ev), "2026-12-08");
  // …and where the date is shown, it says whose clock it was counted from.
  const said = /^2026-12-08 \(counted from this machine's clock: the backend gave no usable time for the refund\)/;
  assert.match(acceptance(ev).at(-1)?.evidence ?? "", new RegExp(`^pending: confirm by ${said.source.slice(1)}`));
  const item = actionItems(ev).find((a) => a.startsWith("Confirm the bank statement by "));
  assert.match(item?.slice("Confirm the bank statement by ".length) ?? "", said);
  // A refund time from the future (beyond the tolerance) is not the backend's either.
  const future = loadEvidence(liveRefund("2026-12-01T00:00:00Z", "2026-11-27T00:00:01.000Z"));
  assert.match(acceptance(future).at(-1)?.evidence ?? "", /confirm by 2026-12-08 \(counted from this machine's clock/);
});
