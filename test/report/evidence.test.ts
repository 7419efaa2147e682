import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { NOT_VISIBLE, ReportError, listSessions, loadEvidence, resolveSessionDir } from "../../lib/report/evidence";
import { TRACE_FILE } from "../../lib/evidence/files";
import { Trace } from "../../lib/evidence/trace";
import { IDS, makeSession, seal, tmpArchive } from "./fixtures";
import { rechainJournal } from "../evidence/fixtures";

/** Appends raw events to a closed session's trace, as a later writer would. */
function addTrace(dir: string, events: Array<[Parameters<Trace["append"]>[0], unknown]>): void {
  const t = Trace.open(path.join(dir, TRACE_FILE));
  for (const [type, payload] of events) t.append(type, payload);
  t.close();
}

describe("loadEvidence", () => {
  it("reads id, mode, steps, trail and chain from the files only", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", operatorNotes: "checkout slow" });
    const ev = loadEvidence(dir);
    assert.match(ev.sessionId, /^\d{8}T\d{6}Z-live$/);
    assert.equal(ev.mode, "live");
    assert.equal(ev.startedAt, "2026-11-20T14:02:11.000Z");
    assert.deepEqual(
      ev.steps.map((s) => s?.status),
      Array(10).fill("PASS"),
    );
    assert.equal(ev.steps[5]?.observed.seconds_to_completed, 3.2);
    assert.deepEqual(Object.fromEntries(ev.trail.map((t) => [t.link, t.id])), {
      order: IDS.order,
      payment: IDS.payment,
      refund: IDS.refund,
      licence: IDS.licence,
      seller_transfer: IDS.transfer,
      "webhook events": null,
    });
    assert.match(ev.trail[5].source, new RegExp(NOT_VISIBLE));
    assert.ok(ev.chain.ok);
    assert.equal(ev.chain.lines, fs.readFileSync(path.join(dir, TRACE_FILE), "utf8").split("\n").length - 1);
    assert.equal(ev.refund?.httpStatus, 202);
    assert.equal(ev.payment?.last4, "4242");
    assert.equal(ev.dryRun.reference, "20261119T100000Z-staging");
    assert.deepEqual(ev.notes, ["checkout slow"]);
    assert.equal(ev.manifest, null);
    assert.equal(ev.bank, null);
    assert.equal(ev.samples.length, 4);
  });

  it("keeps the latest result of a step that ran twice (resume)", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging", scenario: "transfer-null" });
    const lines = fs.readFileSync(path.join(dir, "state.jsonl"), "utf8").trimEnd().split("\n");
    const failed = lines.map((l) => JSON.parse(l)).find((e) => e.kind === "step_result" && e.data.step === 7);
    fs.appendFileSync(
      path.join(dir, "state.jsonl"),
      `${JSON.stringify({
        seq: lines.length + 1,
        at: failed.at,
        kind: "step_result",
        data: { ...failed.data, status: "PASS", observed: { stripe_transfer_id: IDS.transfer } },
      })}\n`,
    );
    rechainJournal(path.join(dir, "state.jsonl"));
    assert.equal(loadEvidence(dir).steps[7]?.status, "PASS");
  });

  it("records the dry-run override and the operator's trace notes", () => {
    const dir = makeSession(tmpArchive(), { mode: "live", dryRunOverride: "staging down for maintenance this week" });
    addTrace(dir, [
      ["note", { source: "operator", text: "VAT line looked right" }],
      ["note", { event: "headless payer started" }],
    ]);
    const ev = loadEvidence(dir);
    assert.equal(ev.dryRun.override, "staging down for maintenance this week");
    assert.equal(ev.dryRun.reference, null);
    assert.deepEqual(ev.notes, ["VAT line looked right"]);
  });

  it("shows webhook event ids only when a response carried them", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    addTrace(dir, [
      [
        "response",
        { endpoint: "GET /orders/:id", attempt: 1, status: 200, body: { data: { last_event_id: "evt_9aZ" } } },
      ],
    ]);
    const row = loadEvidence(dir).trail.find((t) => t.link === "webhook events")!;
    assert.equal(row.id, "evt_9aZ");
    assert.match(row.source, /^response bodies, trace L\d+$/);
  });

  it("reads webhook event ids from the fields that carry them, not from any text that looks like one", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    addTrace(dir, [
      [
        "response",
        {
          endpoint: "GET /orders/:id",
          attempt: 1,
          status: 200,
          body: { data: { note: "replayed evt_inText", events: [{ event_id: "evt_a" }], event_ids: ["evt_b"] } },
        },
      ],
    ]);
    const row = loadEvidence(dir).trail.find((t) => t.link === "webhook events")!;
    assert.deepEqual(row.id?.split(", ").sort(), ["evt_a", "evt_b"]);
  });

  it("names the step whose result is missing in the trail", () => {
    const ev = loadEvidence(makeSession(tmpArchive(), { mode: "staging", scenario: "no-refund" }));
    assert.equal(ev.trail.find((t) => t.link === "refund")!.id, null);
    assert.equal(ev.trail.find((t) => t.link === "refund")!.source, "not recorded: step 8 SKIPPED");
  });
});

describe("anomalies", () => {
  it("lists recorded anomalies with their trace line", () => {
    const ev = loadEvidence(makeSession(tmpArchive(), { mode: "staging", poll5xx: true }));
    assert.equal(ev.anomalies.length, 1);
    assert.equal(ev.anomalies[0].kind, "http_5xx");
    assert.equal(ev.anomalies[0].step, 5);
    assert.ok(ev.anomalies[0].traceLine! > 0);
    assert.equal(ev.counters.http5xx, 1);
    assert.equal(ev.counters.http5xxByStep[5], 1);
  });

  const derived: Array<[string, Array<[Parameters<Trace["append"]>[0], unknown]>, RegExp]> = [
    [
      "a 5xx outside the poll windows",
      [["response", { endpoint: "POST /orders", attempt: 1, status: 502, latency_ms: 20 }]],
      /^http_5xx: POST \/orders answered 502 \(attempt 1\)$/,
    ],
    [
      "a slow round trip",
      [["response", { endpoint: "GET /health", attempt: 1, status: 200, latency_ms: 12_500 }]],
      /^slow_step: GET \/health took 12\.5 s \(> 10 s for one round trip\)$/,
    ],
    [
      "clock skew from Date headers",
      [
        [
          "response",
          {
            endpoint: "GET /status",
            attempt: 1,
            status: 200,
            latency_ms: 5,
            // A getter, read when the test writes the trace: built at load time, a busy machine
            // that reached this test seconds later measured 39 s instead of 42.
            headers: {
              get date() {
                return new Date(Date.now() + 42_000).toUTCString();
              },
            },
          },
        ],
      ],
      /^clock_skew: clock skew up to 4\d\.\d s between the trace times and the server's Date headers$/,
    ],
    ["no anomaly for a counted retry", [["request", { endpoint: "GET /health", attempt: 2 }]], /^$/],
  ];
  for (const [name, events, want] of derived) {
    it(name.startsWith("no ") ? name : `derives ${name}`, () => {
      const dir = makeSession(tmpArchive(), { mode: "staging" });
      addTrace(dir, events);
      const ev = loadEvidence(dir);
      // One derived anomaly at most; a retry is counted (the client records its own anomaly).
      assert.match(ev.anomalies.map((a) => `${a.kind}: ${a.message}`).join("\n"), want);
      if (name.includes("retry")) assert.equal(ev.counters.retries, 1);
    });
  }

  it("derives a slow step (not the polls) from its duration", () => {
    const stuck = loadEvidence(makeSession(tmpArchive(), { mode: "staging", scenario: "stuck" }));
    assert.equal(
      stuck.anomalies.filter((a) => a.kind === "slow_step").length,
      0,
      "step 5's 300 s poll window is expected",
    );
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    const file = path.join(dir, "state.jsonl");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/("durationMs":)250(,[^\n]*"step":3,)/, "$161000$2"));
    rechainJournal(file);
    const a = loadEvidence(dir).anomalies.find((x) => x.kind === "slow_step");
    assert.equal(a?.message, "step 3 took 61.0 s (> 60 s for a step without a poll window)");
  });

  it("reports a broken chain as an anomaly", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging" });
    const file = path.join(dir, TRACE_FILE);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"status":"ok"', '"status":"OK"'));
    const ev = loadEvidence(dir);
    assert.equal(ev.chain.ok, false);
    assert.match(ev.anomalies.at(-1)!.message, /^trace chain broken at line \d+: /);
  });
});

describe("manifest", () => {
  it("is pending before archiving, fresh after, stale once evidence is added", () => {
    const dir = makeSession(tmpArchive(), { mode: "live" });
    assert.equal(loadEvidence(dir).manifest, null);
    seal(dir);
    const fresh = loadEvidence(dir).manifest!;
    assert.match(fresh.sha256, /^[0-9a-f]{64}$/);
    assert.equal(fresh.stale, false);
    assert.match(fresh.retentionUntil!, /^\d{4}-\d\d-\d\d$/);
    addTrace(dir, [["operator_ack", { event: "later" }]]);
    assert.equal(loadEvidence(dir).manifest!.stale, true);
  });
});

describe("session lookup", () => {
  it("resolves an id under the archive or a folder, and lists sessions by mode", () => {
    const archive = tmpArchive();
    const dir = makeSession(archive, { mode: "staging" });
    makeSession(archive, { mode: "live", at: new Date(Date.UTC(2026, 10, 21)) });
    assert.equal(resolveSessionDir(path.basename(dir), archive), path.join(archive, path.basename(dir)));
    assert.equal(resolveSessionDir(dir, "elsewhere"), dir);
    assert.deepEqual(listSessions(archive, "staging"), [path.basename(dir)]);
    assert.equal(listSessions(archive).length, 2);
    assert.throws(
      () => resolveSessionDir("20990101T000000Z-live", archive),
      (e: unknown) =>
        e instanceof ReportError &&
        e.code === "E2E_REPORT_SESSION" &&
        /pass a session folder or an id listed in/.test(e.message),
    );
  });
  it("refuses a folder without a journal", () => {
    assert.throws(
      () => loadEvidence(tmpArchive()),
      (e: unknown) => e instanceof ReportError && e.code === "E2E_REPORT_SESSION",
    );
  });
});
