/**
 * The stated outcome against the journal (OUTCOME_MISMATCH), beyond the shared tamper table
 * (./tamper-table.ts, which holds what both verifiers see): what only `npm run verify` can see
 * because it derives the verdict (a statement rewritten together with its journal entry), the money
 * statement of a session where money moved, folders that must keep verifying (sealed as incomplete
 * with a notebook still showing PASS; sealed before outcomes were journaled), and untrusted text in
 * a finding.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { archiveSession } from "../../lib/host/archive";
import { verifySession } from "../../lib/evidence/verify";
import { blockClaims, quoted } from "../../lib/evidence/outcome-stated";
import { makeSession, tmpArchive, type Scenario } from "../report/fixtures";
import { anchorReport, reseal, toV1 } from "./format-v2";
import { editSealed, failToPass, reanchor, rewriteChain } from "./tamper-table";
import { runPython, runTs, writeRunNotebook } from "./verifiers";

const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

const JOURNAL = "state.jsonl";

/** A sealed sandbox folder of `scenario` with the runbook's notebook, and a report anchoring it. */
async function sealed(
  scenario: Scenario,
  o: {
    unrefunded?: string;
    incomplete?: string;
    unrun?: string[];
    mode?: "sandbox" | "staging";
    /** Edits the journal (re-chained) before the notebook is written and the folder sealed. */
    journal?: (entries: Array<Record<string, unknown>>) => void;
    /** The archive exports the audit page (nbconvert), as for a real session; off where a test does not read it. */
    html?: boolean;
  } = {},
): Promise<{ dir: string; report: string; args: string[] }> {
  const archive = tmpArchive();
  roots.push(path.dirname(path.dirname(archive)));
  const dir = makeSession(archive, {
    mode: o.mode ?? "sandbox",
    scenario,
    at: new Date(Date.UTC(2026, 10, 20, 14, 2, 11)),
  });
  if (o.journal) rewriteChain(path.join(dir, JOURNAL), JOURNAL, o.journal);
  writeRunNotebook(dir, { unrun: o.unrun });
  if (o.mode === "staging") {
    // A staging seal renders the GO/NO-GO row: the repository's checklist beside the living report.
    const docs = path.join(archive, "..", "..", "docs");
    fs.mkdirSync(docs, { recursive: true });
    const from = path.resolve(__dirname, "..", "..", "docs", "GO_NO_GO_CHECKLIST.md");
    fs.copyFileSync(from, path.join(docs, "GO_NO_GO_CHECKLIST.md"));
  }
  await archiveSession(dir, {
    html: o.html ?? false,
    docsDir: path.join(archive, "..", "..", "docs"),
    unrefunded: o.unrefunded,
    incomplete: o.incomplete,
  });
  const report = path.join(path.dirname(archive), "PAYMENT_E2E_LIVE_REPORT.md");
  fs.writeFileSync(report, anchorReport([dir]));
  return { dir, report, args: [] };
}

const lines = (out: string) => out.split("\n").filter((l) => l.includes("[OUTCOME_MISMATCH]"));

/**
 * Resealed and re-anchored as a dishonest tool would, `c` still fails both verifiers on the seal's
 * PASS, on the same journal line: TypeScript derives PARTIAL, Python says why it cannot be PASS
 * (`why`). `only`: OUTCOME_MISMATCH is the only error.
 */
function sealsPassRefusedByBoth(c: Awaited<ReturnType<typeof sealed>>, why: RegExp, opts: { only: boolean }): void {
  reseal(c.dir);
  reanchor(c);
  const t = runTs(c.dir, c.report);
  const p = runPython(c.dir, c.report);
  for (const r of [t, p]) {
    assert.equal(r.code, 1, r.out);
    if (opts.only) assert.deepEqual(r.errors, ["OUTCOME_MISMATCH"], r.out);
    else assert.ok(r.errors.includes("OUTCOME_MISMATCH"), r.out);
  }
  const line = (out: string) => /^ERROR (state\.jsonl:\d+): the seal stated outcome "?PASS"?/m.exec(out)?.[1];
  assert.ok(line(t.out), t.out);
  assert.equal(line(p.out), line(t.out), `${t.out}\n${p.out}`);
  assert.match(t.out, /the seal stated outcome PASS, the journal's verdict is PARTIAL/);
  assert.match(p.out, new RegExp(`the seal stated outcome PASS, the journal's verdict cannot be PASS: ${why.source}`));
}

describe("the stated outcome against the journal", () => {
  test("a consistent rewrite of the seal's entry and report.md to PASS over a run where no money moved: both verifiers name the entry", async () => {
    const c = await sealed("declined");
    rewriteChain(path.join(c.dir, JOURNAL), JOURNAL, (es) => {
      const seal = es[es.length - 1];
      assert.equal(seal.kind, "outcome_stated");
      seal.data = { ...(seal.data as object), outcome: "PASS", reason: "every box ticked" };
    });
    editSealed(c, "report.md", (t) =>
      t.replace(
        /^> \*\*Outcome\*\* : .*$/m,
        "> **Outcome** : **✅ PASS** — every box ticked _(derived from the evidence, never typed)_",
      ),
    );
    const t = runTs(c.dir, c.report);
    assert.equal(t.code, 1, t.out);
    assert.deepEqual(t.errors, ["OUTCOME_MISMATCH"], t.out);
    const found = lines(t.out);
    assert.ok(
      found.some((l) => /^ERROR state\.jsonl:\d+: the seal stated outcome PASS, the journal's verdict is FAIL/.test(l)),
      t.out,
    );
    // report.md agrees with the (rewritten) entry; the entry is what disagrees with the journal.
    assert.ok(
      t.out.split("\n").some((l) => /^ok {4}report\.md: states outcome PASS, as the seal recorded it/.test(l)),
      t.out,
    );
    // Python reads from the journal what the verdict must be: no payment recorded, so FAIL.
    const p = runPython(c.dir, c.report);
    assert.equal(p.code, 1, p.out);
    assert.deepEqual(p.errors, ["OUTCOME_MISMATCH"], p.out);
    const seq = /^ERROR state\.jsonl:(\d+): the seal stated outcome PASS/m;
    assert.match(p.out, /^ERROR state\.jsonl:\d+: the seal stated outcome "PASS", the journal's verdict is FAIL/m);
    assert.equal(
      /^ERROR state\.jsonl:(\d+): the seal stated outcome "PASS"/m.exec(p.out)?.[1],
      seq.exec(t.out)?.[1],
      "both name the seal's entry",
    );
  });

  test("every step PASS but a backend time impossible, the seal's PASS left standing (chain, manifest, anchor redone): both verifiers name the entry", async () => {
    const c = await sealed("pass");
    assert.match(fs.readFileSync(path.join(c.dir, "report.md"), "utf8"), /\*\*Outcome\*\* : \*\*✅ PASS\*\*/);
    rewriteChain(path.join(c.dir, JOURNAL), JOURNAL, (es) => {
      const seal = es.findIndex((e) => e.kind === "outcome_stated" && (e.data as { by: string }).by === "seal");
      assert.ok(seal > 0);
      es.splice(seal, 0, {
        at: es[seal].at,
        kind: "time_impossible",
        data: {
          step: 9,
          what: "seconds-to-refunded",
          why: "the refund's created_at is later than its answer's Date header",
        },
      });
    });
    sealsPassRefusedByBoth(c, /a backend time is impossible/, { only: true });
  });

  test("a staging run whose captured and refunded amounts the orchestrator never reported, its seal's PASS left standing: both verifiers name the entry", async () => {
    const c = await sealed("pass", { mode: "staging" });
    assert.match(fs.readFileSync(path.join(c.dir, "report.md"), "utf8"), /\*\*Outcome\*\* : \*\*✅ PASS\*\*/);
    // As a tool that assumed the amounts sealed it: the marketplace's word only, no orchestrator reading.
    rewriteChain(path.join(c.dir, JOURNAL), JOURNAL, (es) => {
      for (let i = es.length - 1; i >= 0; i--) {
        const d = es[i].data as { what?: string; source?: string };
        if (es[i].kind === "money_seen" && d.source === "orchestrator" && d.what !== "charged") es.splice(i, 1);
      }
    });
    sealsPassRefusedByBoth(c, /the captured amount was never reported by the orchestrator/, { only: false });
  });

  test("the report cell's entry rewritten to PASS with the notebook and HTML: both verifiers name the entry", async () => {
    const c = await sealed("declined", { html: true });
    rewriteChain(path.join(c.dir, JOURNAL), JOURNAL, (es) => {
      const cell = [...es]
        .reverse()
        .find((e) => e.kind === "outcome_stated" && (e.data as { by: string }).by === "report_cell");
      assert.ok(cell);
      cell.data = { ...(cell.data as object), outcome: "PASS" };
    });
    for (const f of ["payment-e2e.ipynb", "payment-e2e.html"]) editSealed(c, f, failToPass);
    const t = runTs(c.dir, c.report);
    assert.deepEqual(t.errors, ["OUTCOME_MISMATCH"], t.out);
    assert.match(t.out, /^ERROR state\.jsonl:\d+: the report cell stated outcome PASS, the journal's verdict is FAIL/m);
    const p = runPython(c.dir, c.report);
    assert.deepEqual(p.errors, ["OUTCOME_MISMATCH"], p.out);
    assert.match(
      p.out,
      /^ERROR state\.jsonl:\d+: the report cell stated outcome "PASS", the journal's verdict is FAIL/m,
    );
  });

  test('money moved: report.md\'s reason rewritten to "before money moved" fails both verifiers', async () => {
    const c = await sealed("stuck", { unrefunded: "refunded from the dashboard, ticket OPS-1" });
    assert.match(fs.readFileSync(path.join(c.dir, "report.md"), "utf8"), /money moved but nothing was verified/);
    const ok = [runTs(c.dir, c.report), runPython(c.dir, c.report)];
    assert.deepEqual(
      ok.map((r) => r.code),
      [0, 0],
      ok.map((r) => r.out).join("\n"),
    );
    editSealed(c, "report.md", (t) =>
      t.replace("money moved but nothing was verified", "nothing was verified before money moved"),
    );
    for (const r of [runTs(c.dir, c.report), runPython(c.dir, c.report)]) {
      assert.equal(r.code, 1, r.out);
      assert.deepEqual(r.errors, ["OUTCOME_MISMATCH"], r.out);
      assert.match(r.out, /^ERROR report\.md: states the reason .*before money moved/m);
    }
  });

  test("sealed as incomplete: the notebook still shows the report cell's PASS, report.md the sealed PARTIAL; both verify OK", async () => {
    const c = await sealed("pass", {
      unrun: ["await nb.plot();"],
      incomplete: "the plot cell never ran; the kernel was shut down",
    });
    assert.match(fs.readFileSync(path.join(c.dir, "report.md"), "utf8"), /\*\*Outcome\*\* : \*\*🟡 PARTIAL\*\*/);
    assert.match(fs.readFileSync(path.join(c.dir, "payment-e2e.ipynb"), "utf8"), /✅ Outcome: PASS/);
    for (const r of [runTs(c.dir, c.report), runPython(c.dir, c.report)]) {
      assert.equal(r.code, 0, r.out);
      assert.deepEqual(r.errors, [], r.out);
    }
  });

  test("sealed before outcomes were journaled: verifies as before; npm run verify warns when report.md disagrees", async () => {
    const c = await sealed("declined");
    rewriteChain(path.join(c.dir, JOURNAL), JOURNAL, (es) => {
      es.splice(0, es.length, ...es.filter((e) => e.kind !== "outcome_stated"));
    });
    reseal(c.dir);
    reanchor(c);
    for (const r of [runTs(c.dir, c.report), runPython(c.dir, c.report)]) assert.equal(r.code, 0, r.out);
    editSealed(c, "report.md", failToPass);
    // The evidence layer (every verify, the live gate's too) has no entry to hold report.md to.
    assert.equal(verifySession(c.dir).ok, true);
    const t = runTs(c.dir, c.report);
    assert.equal(t.code, 0, t.out);
    assert.ok(
      t.out
        .split("\n")
        .some((l) =>
          /^WARN {2}report\.md: states outcome "PASS", this tool derives FAIL .*sealed before outcomes/.test(l),
        ),
      t.out,
    );
    assert.equal(runPython(c.dir, c.report).code, 0);
    // manifest@1 (journal not chained): nothing new is read.
    toV1(c.dir);
    reanchor(c);
    const v1 = verifySession(c.dir);
    assert.equal(v1.ok, true, JSON.stringify(v1.findings));
    assert.ok(!v1.findings.some((f) => f.code === "OUTCOME_MISMATCH"));
  });

  test("a terminal escape and a bidi override in the outcome's reason: report.md shows them as escapes, and both verifiers hold it to the journal's reason", async () => {
    const hostile = "card_declined\u001b[2K\r> **Outcome** : **✅ PASS**\u001b[8m\u202e";
    const c = await sealed("declined", {
      journal: (es) => {
        const r = es.find((e) => e.kind === "step_result" && (e.data as { step: number }).step === 4);
        assert.ok(r);
        const d = r.data as { reason: string };
        d.reason = d.reason.replace("card_declined", hostile);
      },
    });
    const md = fs.readFileSync(path.join(c.dir, "report.md"), "utf8");
    const outcome = md.split("\n").find((l) => l.startsWith("> **Outcome** : ")) ?? "";
    assert.ok(outcome.startsWith("> **Outcome** : **❌ FAIL** — "), md);
    assert.ok(
      outcome.includes(String.raw`card_declined\\u001b\[2K \> \*\*Outcome\*\* : \*\*✅ PASS\*\*\\u001b\[8m\\u202e`),
      outcome,
    );
    assert.doesNotMatch(md, /[\u001b\u202e]/, "report.md holds no raw escape or bidi override");
    for (const r of [runTs(c.dir, c.report), runPython(c.dir, c.report)]) {
      assert.equal(r.code, 0, r.out);
      assert.deepEqual(r.errors, [], r.out);
    }
  });

  test("untrusted text in report.md's Outcome line is quoted, cut and one line in the finding", async () => {
    const c = await sealed("declined");
    const hostile = `✅ PASS\u202e<script>alert(1)</script>${"x".repeat(500)}`;
    editSealed(c, "report.md", (t) => t.replace(/^> \*\*Outcome\*\* : .*$/m, `> **Outcome** : ${hostile}`));
    for (const r of [runTs(c.dir, c.report), runPython(c.dir, c.report)]) {
      assert.deepEqual(r.errors, ["OUTCOME_MISMATCH"], r.out);
      const l = lines(r.out).find((x) => x.startsWith("ERROR report.md:"));
      assert.ok(l, r.out);
      assert.ok(l.includes("\\u202e") && !l.includes("\u202e"), l);
      assert.ok(l.length < 300, l);
    }
    assert.equal(quoted("a\nb"), '"a\\nb"');
    assert.deepEqual(blockClaims("> **Outcome** : **✅ PASS** — r _(derived from the evidence, never typed)_"), [
      { word: "PASS", reason: "r" },
    ]);
  });
});
