// Issue 4 §7: the money-safety fault-injection suite. One sandbox per database backend, one test per
// scenario, each asserting the runbook's outcome and the rows the sandbox's database gained; the
// scenario table is printed at the end and written to test/.artifacts/faults/RESULTS.md (git-ignored;
// `npm run faults:refresh` refreshes the committed test/faults/RESULTS.md from a full run on both backends).
// Run: node --import tsx --test --test-concurrency=1 test/faults/*.test.ts
import { after, before, describe, test } from "node:test";
import { oneLine } from "../../lib/errors";
import { BASE_FAULTS, backends, World, type Scenario } from "./harness";
import { report, rows, type Row } from "./results";
import { amountScenarios } from "./scenarios/amounts";
import { flaky } from "./scenarios/flaky";
import { schemaDrift } from "./scenarios/drift";
import { guardScenarios } from "./scenarios/guards";
import {
  hsPaymentOutcomes,
  hsRefundFailed,
  hsRefundReview,
  hsStatusInFlight,
  hsStatusNoMoney,
} from "./scenarios/hs-status";
import { killedMidPost, lostResponse } from "./scenarios/idempotency";
import { journalTorn } from "./scenarios/journal";
import { journalTruthScenarios } from "./scenarios/journal-truth";
import { killDuringPoll } from "./scenarios/kill";
import { stuckNotebook } from "./scenarios/notebook";
import { notebookSaveScenarios } from "./scenarios/notebook-save";
import { slowDripPoll } from "./scenarios/slow-drip";
import { operatorScenarios } from "./scenarios/operator";
import { latePaidCell } from "./scenarios/late-paid";
import { refundTwice } from "./scenarios/refund-twice";
import { sealScenarios } from "./scenarios/seal";
import { ledgerScenarios } from "./scenarios/ledger";
import { lostWebhook, stuckProcessing, unreadableOrder } from "./scenarios/stuck";
import { webhookDuplicate, webhookOutOfOrder, webhookRetrySameEvent } from "./scenarios/webhooks";

export const SCENARIOS: Scenario[] = [
  flaky,
  stuckProcessing,
  stuckNotebook,
  ...notebookSaveScenarios,
  lostWebhook,
  unreadableOrder,
  killDuringPoll,
  refundTwice,
  webhookDuplicate,
  webhookOutOfOrder,
  webhookRetrySameEvent,
  schemaDrift,
  ...guardScenarios,
  lostResponse,
  killedMidPost,
  ...operatorScenarios,
  latePaidCell,
  hsStatusNoMoney,
  hsStatusInFlight,
  ...hsPaymentOutcomes,
  hsRefundFailed,
  hsRefundReview,
  ...amountScenarios,
  journalTorn,
  slowDripPoll,
  ...journalTruthScenarios,
  ...sealScenarios,
  ...ledgerScenarios,
];

const list = backends();
/** FAULTS_ONLY=3,2a runs a subset while working on one scenario (faults:refresh then refuses it). */
const only = process.env.FAULTS_ONLY ? new Set(process.env.FAULTS_ONLY.split(",").map((x) => x.trim())) : null;
const chosen = SCENARIOS.filter((s) => !only || only.has(s.n));

for (const backend of list) {
  describe(`money-safety faults [${backend.name}]`, () => {
    let w: World | undefined;
    before(async () => {
      // No scenario chosen (test/cli/npm-scripts.test.ts runs the script with FAULTS_ONLY=none): nothing to start.
      if (chosen.length > 0) w = await World.start(backend);
    });
    after(async () => {
      await w?.stop();
    });

    for (const s of chosen) {
      test(`${s.n}. ${s.title}`, { timeout: s.timeoutMs ?? 60_000 }, async () => {
        if (!w) throw new Error(`sandbox on ${backend.name} did not start`);
        const world = w;
        world.sb.setFaults(BASE_FAULTS);
        let mark = await world.mark();
        const row: Row = {
          n: s.n,
          scenario: s.title,
          backend: backend.name,
          outcome: "did not finish",
          notes: "",
          delta: null,
          ok: false,
        };
        rows.push(row);
        try {
          const out = await s.run({
            w: world,
            delta: () => world.since(mark),
            restart: async () => {
              mark = await world.mark();
            },
          });
          row.outcome = out.outcome;
          row.notes = out.notes ?? "";
          row.ok = true;
        } catch (err) {
          row.notes = `TEST FAILED: ${oneLine(err)}`;
          throw err;
        } finally {
          row.delta = await world.since(mark).catch(() => null);
          world.sb.setFaults(BASE_FAULTS);
        }
      });
    }
  });
}

after(() => report(rows, SCENARIOS.length * list.length));
