/**
 * The step table is the one declaration of the steps (issue 10 §2): rename a label and add a
 * dummy step in a copy of the table, and the report rows, the acceptance boxes, the plot series,
 * the comparison, the anomaly counters, the prerequisites and the notebook template all follow.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { TEMPLATE, readNotebook, sourceOf } from "../../lib/host/nbfile";
import { serializeNotebook, templateNotebook } from "../../lib/host/template";
import { pollTitle, renderPollPlot } from "../../lib/plot/poll";
import { compareSessions } from "../../lib/report/compare";
import { observedText } from "../../lib/report/display";
import { loadEvidence } from "../../lib/report/evidence";
import { renderSessionBlock } from "../../lib/report/report";
import { acceptance, actionItems, deriveOutcome } from "../../lib/report/verdict";
import { validateBankDate } from "../../lib/report/bank";
import { STEPS, awaitedChecks, blockedBy, stepById } from "../../lib/run/steps";
import { defineSteps, factsSchema, type StepDef } from "../../lib/run/step-model";
import type { StepResult } from "../../lib/types";
import { confirmPayment, stepResult } from "./fixtures";
import { parseConfig } from "../../lib/config";
import { Session } from "../../lib/run/session";
import { Runbook } from "../../lib/run/runbook";
import type { Sink, TslabLike } from "../../lib/notebook";
import { NotebookUi } from "../../lib/notebook/ui";
import { makeSession, tmpArchive } from "../report/fixtures";
import { rechainJournal } from "../evidence/fixtures";
import { Journal, latestStepResults } from "../../lib/evidence/journal";

const RENAMED_ROW = "Order completed (renamed row)";
const RENAMED_FACT = "secs until completed (renamed)";
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A copy of STEPS with step 5 relabelled and a dummy check inserted after the licence step. */
function copyTable() {
  const defs: Array<Omit<StepDef, "n">> = [];
  for (const d of STEPS) {
    if (d.id === "completed") {
      defs.push({
        ...d,
        name: RENAMED_ROW,
        title: "Wait for completion (renamed title)",
        facts: { ...d.facts, seconds_to_completed: { label: RENAMED_FACT, kind: "seconds" } },
        poll: { title: "renamed poll series", secondsFact: "seconds_to_completed" },
      });
    } else defs.push(d);
    if (d.id === "licence")
      defs.push({
        id: "dummy",
        title: "Dummy check",
        name: "Dummy row",
        observed: "dummy ok",
        requires: ["completed"],
        cells: ['await nb.run("dummy");'],
        facts: { dummy_ok: { label: "dummy ok", kind: "bool" } },
        run: async (ctx) => {
          ctx.facts.dummy_ok = true;
        },
        boxes: [{ short: "dummy", label: "Dummy box ticked.", check: { type: "true", fact: "dummy_ok" } }],
      });
  }
  return defineSteps(defs);
}

describe("one step table", () => {
  const table = copyTable();
  const dummy = stepById("dummy", table);
  const refunded = stepById("refunded", table);
  const dir = makeSession(tmpArchive(), { mode: "staging", scenario: "pass" });
  const ev = loadEvidence(dir, { table });

  test("numbers follow the position: the dummy is 7, the last step 10", () => {
    assert.equal(dummy.n, 7);
    assert.equal(refunded.n, 10);
    assert.equal(stepById("refunded").n, 9, "the real table is untouched");
  });

  test("report rows: the renamed label, the dummy NOT RUN, the later steps renumbered", () => {
    const md = renderSessionBlock(ev);
    assert.match(md, new RegExp(`\\| 5\\. ${esc(RENAMED_ROW)} \\| ✅ PASS \\| ${esc(RENAMED_FACT)}: `));
    assert.match(md, /\| 7\. Dummy row \| ⬜ NOT RUN \| — \| — \|/);
    assert.match(md, /\| 10\. License revoked \+ funds returned \| ✅ PASS \|/);
    assert.doesNotMatch(md, /seconds-to-completed/);
  });

  test("acceptance boxes: the dummy's box is open, end-to-end names it, the outcome is not PASS", () => {
    const boxes = acceptance(ev);
    const box = boxes.find((b) => b.label === "Dummy box ticked.");
    assert.ok(box && !box.ok, "the dummy's box is declared and open");
    assert.match(boxes.find((b) => b.short === "end-to-end")!.evidence, /step 7 did not run/);
    assert.match(boxes.find((b) => b.short === "completed ≤ 5 min")!.evidence, new RegExp(esc(RENAMED_FACT)));
    assert.equal(boxes.length, 10, "9 seed boxes plus the dummy's");
    assert.notEqual(deriveOutcome(ev).outcome, "PASS");
    // The same session against the real table passes every box: the copy alone made the difference.
    assert.equal(deriveOutcome(loadEvidence(dir)).outcome, "PASS");
  });

  test("plot series: facet titles and the chart title come from the table", () => {
    assert.equal(pollTitle(table), "Poll latency — steps 5 and 10");
    assert.equal(pollTitle(), "Poll latency — steps 5 and 9");
    const samples = ev.samples.map((s) => (s.step === 9 ? { ...s, step: 10 } : s));
    const { svg } = renderPollPlot(samples, { table });
    assert.match(svg, /Step 5 — renamed poll series/);
    assert.match(svg, /Step 10 — poll order until refunded/);
  });

  test("comparison: a row per step of the table and the renamed metric", () => {
    const c = compareSessions(ev, ev);
    assert.match(c.table, /7\. Dummy row/);
    assert.match(c.table, /10\. License revoked/);
    assert.ok(c.metrics.some((m) => m.metric === RENAMED_FACT));
  });

  test("anomaly counters and the trail are sized and keyed by the table", () => {
    assert.equal(ev.counters.http5xxByStep.length, table.length);
    assert.equal(ev.trail.find((t) => t.link === "seller_transfer")?.source, "step 8 observed `stripe_transfer_id`");
  });

  test("prerequisites follow ids, whatever the numbers", () => {
    const results = new Map<string, StepResult>();
    assert.match(
      blockedBy(dummy.id, results, table)!,
      /^step 5 \(Order completed \(renamed row\)\) has not run yet — run its cell first$/,
    );
  });

  test("notebook template: a heading and the declared cell for the dummy, the renamed title", () => {
    const nb = templateNotebook(table);
    const sources = nb.cells.map(sourceOf);
    const i = sources.indexOf("## 7. Dummy check");
    assert.ok(i > 0, "heading of the dummy step");
    assert.equal(sources[i + 1], 'await nb.run("dummy");');
    assert.ok(sources.includes("## 5. Wait for completion (renamed title)"));
    assert.ok(sources.some((s) => s.startsWith("## 10. Poll until refunded")));
  });
});

describe("the committed template is generated from STEPS", () => {
  test("notebooks/payment-e2e.ipynb is byte for byte templateNotebook() (regenerate with npm run template)", () => {
    const file = path.join(__dirname, "..", "..", TEMPLATE);
    assert.equal(fs.readFileSync(file, "utf8"), serializeNotebook(templateNotebook()));
    assert.equal(
      readNotebook(file).cells.filter((c) => c.cell_type === "code").length,
      4 + STEPS.reduce((n, d) => n + d.cells.length, 0),
    );
  });
});

describe("facts are typed data", () => {
  test("the schema refuses display text where data is declared, and undeclared keys", () => {
    const gone = factsSchema(stepById("refunded"));
    assert.equal(gone.safeParse({ licence_gone: true }).success, true);
    assert.equal(gone.safeParse({ licence_gone: "yes ✓" }).success, false);
    const transfer = factsSchema(stepById("transfer"));
    assert.equal(transfer.safeParse({ amount: { minor: 375, currency: "EUR" } }).success, true);
    assert.equal(transfer.safeParse({ amount: "375 EUR" }).success, false);
    assert.equal(
      transfer.safeParse({ amount: { minor: 3.75, currency: "EUR" } }).success,
      false,
      "minor units are integers",
    );
    assert.equal(transfer.safeParse({ surprise: 1 }).success, false);
  });

  test("a journal whose fact was edited into display text is refused, naming the step and field", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging", scenario: "pass" });
    const file = path.join(dir, "state.jsonl");
    const text = fs.readFileSync(file, "utf8").replace('"licence_gone":true', '"licence_gone":"yes ✓"');
    fs.writeFileSync(file, text);
    rechainJournal(file);
    assert.throws(
      () => loadEvidence(dir),
      /step 9 \(refunded\) fact `licence_gone` is not what the step table declares/,
    );
  });

  test("money renders with the currency's exponent in the report's Observed column", () => {
    const transfer = stepById("transfer");
    const row = (amount: { minor: number; currency: string }) =>
      observedText({ step: transfer.n, observed: { amount, stripe_transfer_id: "tr_1", status: "paid" } });
    assert.equal(row({ minor: 375, currency: "EUR" }), "amount: 3.75 EUR, stripe_transfer_id: tr_1, status: paid");
    assert.equal(row({ minor: 500, currency: "JPY" }), "amount: 500 JPY, stripe_transfer_id: tr_1, status: paid");
    assert.equal(row({ minor: 1234, currency: "BHD" }), "amount: 1.234 BHD, stripe_transfer_id: tr_1, status: paid");
  });

  test("a step that records an ill-typed or undeclared fact FAILs, and its journal stays readable", async () => {
    const archive = tmpArchive();
    const id = Session.create("sandbox", archive);
    const rb = new Session(
      // Nothing is sent: the body below records facts without calling the backend.
      parseConfig(
        {
          SESSION_ID: id,
          MODE: "sandbox",
          BASE_URL: "http://127.0.0.1:9",
          OPERATOR_EMAIL: "ops@sandbox.test",
          ARCHIVE_DIR: archive,
        },
        { OPERATOR_PASSWORD: "pw-not-used" },
      ),
    );
    try {
      const r = await rb.runStep("preflight", {}, async ({ facts }) => {
        facts.products = "three"; // an int is declared
        facts.surprise = "x"; // not declared at all
        facts.health = "200 ok";
      });
      assert.equal(r.status, "FAIL");
      assert.match(r.reason ?? "", /recorded a fact outside the step table \(products: .*\); this is a runbook bug/);
      assert.deepEqual(r.observed, { health: "200 ok" });
      const ev = loadEvidence(rb.dir);
      assert.equal(ev.steps[0]?.status, "FAIL", "the report reads the FAIL, not a refusal");
    } finally {
      await rb.close();
    }
  });

  test("a journaled result whose step id the table does not declare is refused, not dropped", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging", scenario: "pass" });
    const file = path.join(dir, "state.jsonl");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"id":"refund"', '"id":"bogus"'));
    rechainJournal(file);
    assert.throws(() => loadEvidence(dir), /step 8 result has id "bogus", which the step table does not declare/);
  });
});

test("every step's Markdown renders whole: each code span is complete (balanced brackets, no stray backtick)", async () => {
  const { marked } = await import("marked");
  const depth = (t: string) =>
    [...t].reduce((n, ch) => n + (ch === "(" || ch === "[" ? 1 : ch === ")" || ch === "]" ? -1 : 0), 0);
  for (const d of STEPS) {
    const html = String(await marked.parse(`## ${d.n}. ${d.title}${d.intro ? `\n${d.intro}` : ""}`));
    for (const [, code] of html.matchAll(/<code>([^<]*)<\/code>/g))
      assert.equal(depth(code), 0, `step ${d.n}: code span \`${code}\` is cut short`);
    const text = html.replace(/<code>[^<]*<\/code>/g, "").replace(/<[^>]+>/g, "");
    assert.ok(!text.includes("`"), `step ${d.n}: ${text}`);
  }
});

/** A tslab stand-in that keeps every Markdown output. */
function recordingTslab(): { tslab: TslabLike; shown: string[] } {
  const shown: string[] = [];
  const sink: Sink = {
    markdown: (t) => shown.push(t),
    html: (t) => shown.push(t),
    svg: () => undefined,
    png: () => undefined,
    text: (t) => shown.push(t),
  };
  return { tslab: { display: sink, newDisplay: () => sink }, shown };
}

/** A sandbox session on nothing (no backend is called by the steps these tests run), with a table of its own. */
function openWith(table: ReturnType<typeof defineSteps>, extra: Record<string, unknown> = {}): Runbook {
  const archive = tmpArchive();
  const id = Session.create("sandbox", archive);
  return Runbook.open(
    {
      SESSION_ID: id,
      MODE: "sandbox",
      BASE_URL: "http://127.0.0.1:9",
      OPERATOR_EMAIL: "ops@sandbox.test",
      ARCHIVE_DIR: archive,
      ...extra,
    },
    { OPERATOR_PASSWORD: "pw-not-used" },
    table,
  );
}

describe("a step added to a copy of the table runs through the notebook like any other (issue 21 §1)", () => {
  // Two steps of their own, after pre-flight: a tally that records a fact, and a check that requires
  // it and reads that fact through its context. Neither calls a backend.
  const table = defineSteps([
    ...STEPS.filter((d) => d.gate),
    {
      id: "tally",
      title: "Tally",
      name: "Tally row",
      observed: "count",
      requires: [],
      cells: ['await nb.run("tally");'],
      facts: { count: { label: "count", kind: "int" } },
      run: async (ctx) => {
        ctx.facts.count = 3;
      },
    },
    {
      id: "double",
      title: "Double the tally",
      name: "Double row",
      observed: "doubled",
      requires: ["tally"],
      cells: ['await nb.run("double");'],
      facts: { doubled: { label: "doubled", kind: "int" } },
      run: async (ctx) => {
        const count = ctx.factsOf("tally")?.count;
        if (typeof count !== "number") return { status: "FAIL", reason: "no tally recorded" };
        ctx.facts.doubled = count * 2;
      },
    },
  ]);

  test("nb.run dispatches to the copy's own run(ctx); the dummy reads the facts of the step it requires", async () => {
    const rb = openWith(table);
    const { tslab, shown } = recordingTslab();
    const nb = new NotebookUi(rb, tslab);
    try {
      await nb.run("double");
      assert.equal(rb.results.get("double")?.status, "SKIPPED", "its prerequisite has not run");
      assert.match(
        rb.results.get("double")?.reason ?? "",
        /^step 1 \(Tally row\) has not run yet — run its cell first$/,
      );
      await nb.run("tally");
      await nb.run("double");
      const r = rb.results.get("double");
      assert.equal(r?.status, "PASS", r?.reason);
      assert.deepEqual(r?.observed, { doubled: 6 });
      assert.equal(r?.step, 2, "its number is its position in the copy");
      assert.ok(
        shown.some((t) => /\| 2\. Double row \| ✅ PASS \| doubled: 6 \|/.test(t)),
        "shown like any step",
      );
      const journaled = latestStepResults(Journal.open(rb.dir).all()).get("double");
      assert.equal(journaled?.status, "PASS", "journaled by id");
    } finally {
      await rb.close();
    }
  });

  test("a step reading the facts of a step it does not require is a runbook bug (FAIL), not a silent read", async () => {
    const sneaky = defineSteps([
      ...table,
      {
        id: "sneaky",
        title: "Sneaky",
        name: "Sneaky row",
        observed: "—",
        requires: [],
        cells: [],
        facts: {},
        run: async (ctx) => {
          ctx.factsOf("tally");
        },
      },
    ]);
    const rb = openWith(sneaky);
    try {
      const r = await rb.run("sneaky");
      assert.equal(r.status, "FAIL");
      assert.match(r.reason ?? "", /reads the facts of tally, which it does not require/);
    } finally {
      await rb.close();
    }
  });
});

describe("a step inserted before pay: every message that names a step follows the table (issue 21 §2)", () => {
  const inserted = defineSteps(
    STEPS.flatMap((d) =>
      d.id === "pay"
        ? [
            {
              id: "kyc",
              title: "KYC check",
              name: "KYC row",
              observed: "kyc ok",
              requires: ["order"],
              cells: ['await nb.run("kyc");'],
              facts: { kyc_ok: { label: "kyc ok", kind: "bool" as const } },
              run: async () => undefined,
            },
            d,
          ]
        : [d],
    ),
  );
  const at = (id: string, status: StepResult["status"], reason?: string): StepResult =>
    stepResult(stepById(id, inserted).n, status, reason, inserted);

  test("the numbers shift: pay is 5, the refund 9, the last step 10", () => {
    assert.equal(stepById("pay", inserted).n, 5);
    assert.equal(stepById("refund", inserted).n, 9);
    assert.equal(stepById("refunded", inserted).n, 10);
  });

  test("blockedBy names the shifted prerequisite, and the pay step's hint its own number", () => {
    assert.equal(
      blockedBy("completed", new Map(), inserted),
      "step 5 (Pay via Hyperswitch checkout) has not run yet — pay at the link in step 5, then run the paid cell",
    );
    assert.equal(
      blockedBy("pay", new Map(), STEPS),
      "step 3 (POST /orders (create)) has not run yet — run its cell first",
      "the real table",
    );
    assert.equal(
      blockedBy("licence", new Map([["completed", at("completed", "FAIL")]]), inserted),
      "step 6 failed at 14:02:11Z (this machine's clock)",
    );
    assert.match(
      blockedBy("refunded", new Map(), inserted)!,
      /^step 9 \(Refund \(POST \/orders\/:id\/refund\)\) has not run yet/,
    );
  });

  test("awaitedChecks names the shifted checks the refund waits for", () => {
    const none = awaitedChecks("refund", new Map(), inserted);
    assert.equal(none.wait, "step 6 (Poll /orders/:id until completed) has not run yet");
    const failed = awaitedChecks("refund", new Map([["completed", at("completed", "FAIL", "deadline")]]), inserted);
    assert.equal(
      failed.failed,
      "step 6 (Poll /orders/:id until completed) FAILED at 14:02:11Z (this machine's clock): deadline",
    );
  });

  test("the refund's waiting message names its own number and the checks', from the table", async () => {
    const rb = openWith(inserted, { REFUND: true });
    try {
      // Money moved (a confirmed payment), nothing checked yet: the refund waits, nothing is sent.
      confirmPayment(rb.journal);
      const r = await rb.run("refund");
      assert.equal(r.status, "SKIPPED");
      assert.equal(r.step, 9);
      assert.match(
        r.reason ?? "",
        /^step 6 \(Poll \/orders\/:id until completed\) has not run yet: step 9 waits for steps 6, 7, 8, so they are still checked/,
      );
    } finally {
      await rb.close();
    }
  });

  test("the report's refund hints and the bank confirmation name the shifted refund step", () => {
    const dir = makeSession(tmpArchive(), { mode: "staging", scenario: "no-refund" });
    const ev = loadEvidence(dir, { table: inserted });
    const items = actionItems(ev);
    assert.ok(
      items.some((i) => /^\*\*Refund now\*\*: .* run step 9 with REFUND = true/.test(i)),
      items.join("\n"),
    );
    assert.throws(() => validateBankDate(ev, "2026-11-27"), /run step 9 \(refund\) first$/);
    assert.ok(
      actionItems(loadEvidence(dir)).some((i) => /run step 8 with REFUND = true/.test(i)),
      "the real table",
    );
  });
});
