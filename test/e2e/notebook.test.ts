/**
 * One full headless notebook run against the sandbox, through real Jupyter (nbconvert + tslab),
 * then what an auditor gets: every step PASS, the artefacts in the session folder, a verified
 * chain and manifest, no secret in anything written, every result readable untrusted (Markdown or
 * PNG), and the HTML export showing the plot in headless Chromium. Plus the stuck-order replay.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { rehearse, type Rehearsal } from "../../scripts/rehearse";
import { readNotebook, silentCells, sourceOf, hygieneProblems, TEMPLATE } from "../../lib/host/nbfile";
import { formatVerify, trustedEntries, verifySession } from "../../lib/evidence/verify";
import { readSessionSnapshot } from "../../lib/evidence/snapshot";
import { derivedOutcomeFindings } from "../../lib/report/outcome-check";
import { scanPaths } from "../../lib/evidence/scan";
import { SecretRegistry } from "../../lib/evidence/secrets";
import { selfContainedProblems } from "../../lib/host/html";
import { blockClaims, htmlClaims, notebookClaims } from "../../lib/evidence/outcome-stated";
import { ARTIFACTS, chromiumMissing, openAuditPage } from "../host/audit-page";
import { sealRulesOnARealRun } from "../host/seal-rules-run";

const root = path.resolve(__dirname, "../..");

describe("headless notebook run against the sandbox", { timeout: 10 * 60 * 1000 }, () => {
  let sb: Sandbox;
  let run: Rehearsal;
  let archiveDir: string;

  before(async () => {
    archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-archive-"));
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 300, refundDelayMs: 300 } });
    run = await rehearse({ sandbox: sb, archiveDir });
  });
  after(async () => {
    await sb?.stop();
  });

  test("pre-flight and all 9 steps PASS; nbconvert saved the executed notebook", () => {
    assert.equal(run.execute.code, 0, run.execute.stderr.slice(-2000));
    for (let n = 0; n <= 9; n++) assert.equal(run.statuses.get(n), "PASS", `step ${n}`);
    assert.ok(run.allPassed);
  });

  test("the session folder holds the notebook, HTML, trace, journal, plots, report and manifest", () => {
    assert.equal(run.archiveError, null);
    for (const f of [
      "payment-e2e.ipynb",
      "payment-e2e.html",
      "trace.jsonl",
      "state.jsonl",
      "poll-latency.svg",
      "poll-latency.png",
      "manifest.json",
    ]) {
      assert.ok(fs.statSync(path.join(run.dir, f)).size > 0, `${f} present and not empty`);
    }
  });

  test("verify passes on the untouched session", () => {
    const v = verifySession(run.dir);
    assert.ok(v.ok, JSON.stringify(v.findings));
  });

  test("the outcome report.md, the notebook and the real HTML export state is the journal's: both verifiers find and agree with it", () => {
    const stated = fs
      .readFileSync(path.join(run.dir, "state.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; data: { by?: string; outcome?: string } })
      .filter((e) => e.kind === "outcome_stated");
    assert.deepEqual(
      stated.map((e) => [e.data.by, e.data.outcome]),
      [
        ["report_cell", "PASS"],
        ["seal", "PASS"],
      ],
    );
    const read = (f: string) => fs.readFileSync(path.join(run.dir, f), "utf8");
    // Read, not vacuous: the block, the outcome line and the banner, in the notebook and in nbconvert's page.
    assert.deepEqual(
      blockClaims(read("report.md")).map((c) => c.word),
      ["PASS"],
    );
    assert.deepEqual(
      notebookClaims(read("payment-e2e.ipynb")).map((c) => c.word),
      ["PASS", "PASS", "PASS"],
    );
    assert.deepEqual(
      htmlClaims(read("payment-e2e.html")).map((c) => c.word),
      ["PASS", "PASS", "PASS"],
    );
    const py = spawnSync("python3", [path.join(root, "verifier", "verify_session.py"), run.dir], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stdout + py.stderr);
    assert.match(py.stdout, /^ok {4}report\.md: states outcome PASS, as the seal recorded it/m);
    assert.match(
      formatVerify(verifySession(run.dir)).join("\n"),
      /^ok {4}report\.md: states outcome PASS, as the seal recorded it/m,
    );
    // npm run verify's own step: the seal's entry against the verdict the report derives from the journal.
    const snap = readSessionSnapshot(run.dir);
    assert.deepEqual(
      derivedOutcomeFindings(snap, trustedEntries(snap)).map((f) => `${f.level} ${f.message}`),
      ["ok the seal's outcome PASS is the journal's verdict"],
    );
  });

  test("verify names the exact line after a one-byte edit, a deleted middle line, or a cut tail", () => {
    const tamper = (name: string, edit: (lines: string[]) => string[]) => {
      const copy = fs.mkdtempSync(path.join(os.tmpdir(), `tamper-${name}-`));
      fs.cpSync(run.dir, copy, { recursive: true });
      const f = path.join(copy, "trace.jsonl");
      fs.writeFileSync(f, `${edit(fs.readFileSync(f, "utf8").split("\n").filter(Boolean)).join("\n")}\n`);
      return formatVerify(verifySession(copy)).join("\n");
    };
    assert.match(
      tamper("byte", (l) => {
        l[9] = l[9].replace(/"seq":10/, '"seq":10 ');
        return l;
      }),
      /trace\.jsonl:10\b/,
    );
    assert.match(
      tamper("middle", (l) => l.filter((_, i) => i !== 20)),
      /trace\.jsonl:21\b/,
    );
    const lines = fs.readFileSync(path.join(run.dir, "trace.jsonl"), "utf8").split("\n").filter(Boolean).length;
    assert.match(
      tamper("tail", (l) => l.slice(0, -3)),
      new RegExp(`trace\\.jsonl.*(${lines - 2}|cut|tail|${lines})`),
    );
  });

  test("nothing written contains the run's secrets or a card number", async () => {
    const reg = new SecretRegistry();
    for (const s of [sb.operator.password, sb.apiKey, sb.webhookSecret, new URL(sb.readonlyDsn).password])
      reg.add(s, "run secret");
    const hits = scanPaths([run.dir], { registry: reg, extensions: "all", env: {} });
    assert.deepEqual(hits, []);
    // And the sandbox's full test card never reached the notebook, trace or HTML.
    for (const f of ["payment-e2e.ipynb", "payment-e2e.html", "trace.jsonl"]) {
      const text = fs.readFileSync(path.join(run.dir, f), "utf8");
      assert.ok(!/4242\s?4242\s?4242\s?4242/.test(text), `${f} holds no full test PAN`);
    }
  });

  test("every result cell renders untrusted: each carries Markdown or PNG", () => {
    const nb = readNotebook(run.notebook);
    const code = nb.cells.filter(
      (c) => c.cell_type === "code" && !c.metadata.tags?.some((t) => t.includes("parameters")),
    );
    assert.ok(code.length >= 14);
    for (const c of code) {
      const kinds = (c.outputs ?? []).flatMap((o) => Object.keys(o.data ?? {}));
      assert.ok(
        kinds.includes("text/markdown") || kinds.includes("image/png"),
        `cell \`${sourceOf(c).split("\n").pop()}\` has only ${kinds.join(", ") || "no outputs"}`,
      );
      const errors = (c.outputs ?? []).filter((o) => o.output_type === "stream" && o.name === "stderr");
      assert.equal(errors.length, 0, `cell \`${sourceOf(c).slice(0, 60)}\` wrote to stderr`);
      // Each result once: no second rendering of the same thing (HTML/SVG beside Markdown/PNG), and
      // no stray value printed by tslab (a cell's last expression).
      assert.ok(!kinds.includes("text/html") && !kinds.includes("image/svg+xml"), `${kinds.join(", ")}`);
      assert.ok(!(c.outputs ?? []).some((o) => o.output_type === "execute_result" || o.name === "stdout"));
    }
    const params = nb.cells.filter((c) => c.metadata.tags?.some((t) => t.includes("parameters")));
    assert.equal(params.length, 2);
    for (const c of params) assert.deepEqual(c.outputs, [], "the parameter cells print nothing");
    assert.deepEqual(silentCells(nb), [], "no cell was skipped by the kernel");
  });

  test("the notebook starts with the outcome banner and ends with the report", () => {
    const nb = readNotebook(run.notebook);
    const code = nb.cells.filter((c) => c.cell_type === "code" && (c.outputs ?? []).length);
    const md = (c: (typeof code)[number]) =>
      (c.outputs ?? []).map((o) => [o.data?.["text/markdown"] ?? ""].flat().join("")).join("\n");
    assert.match(md(code[0]), /^> ### ✅ Outcome: PASS/);
    assert.match(md(code.at(-1)!), /### Session — .* — sandbox rehearsal/);
    assert.match(md(code.at(-1)!), /\*\*Outcome: ✅ PASS\*\*/);
    // The report's markers, hidden but readable (they used to be escaped into visible text).
    assert.doesNotMatch(md(code.at(-1)!), /&lt;!--/);
    assert.match(md(code.at(-1)!), new RegExp(`^\\[//\\]: # \\(session:${path.basename(run.dir)}\\)$`, "m"));
  });

  test("report.md, the notebook and its HTML say which clock the session's own times come from", () => {
    const nbText = readNotebook(run.notebook)
      .cells.flatMap((c) => c.outputs ?? [])
      .map((o) => [o.data?.["text/markdown"] ?? ""].flat().join(""))
      .join("\n");
    const html = fs.readFileSync(path.join(run.dir, "payment-e2e.html"), "utf8");
    for (const [where, text] of [
      ["report.md", fs.readFileSync(path.join(run.dir, "report.md"), "utf8")],
      ["the notebook", nbText],
      ["the HTML", html],
    ] as const)
      assert.match(
        text,
        /Session — \d{4}-\d\d-\d\dT\d\d:\d\dZ \(this machine(?:'|&#39;|&#x27;)s clock\) — sandbox rehearsal/,
        where,
      );
    // Each step's window under its row: in the notebook and, rendered, in the HTML, every one labelled.
    for (const [where, text] of [
      ["the notebook", nbText],
      ["the HTML", html],
    ] as const) {
      const windows = text.match(/<sub>started [^<]*<\/sub>/g) ?? [];
      assert.ok(windows.length >= 10, `${where}: ${windows.length} step windows`);
      for (const w of windows)
        assert.match(w, /· ended \S+ \(this machine(?:'|&#39;|&#x27;)s clock\) · \d+ ms<\/sub>$/, where);
    }
  });

  test("the demo's report shows the money reconciliation, every amount per source, balanced (issue 23)", () => {
    for (const [where, md] of [
      ["report.md", fs.readFileSync(path.join(run.dir, "report.md"), "utf8")],
      [
        "the notebook's last cell",
        (
          readNotebook(run.notebook)
            .cells.filter((c) => c.cell_type === "code" && (c.outputs ?? []).length)
            .at(-1)?.outputs ?? []
        )
          .map((o) => [o.data?.["text/markdown"] ?? ""].flat().join(""))
          .join("\n"),
      ],
    ] as const) {
      assert.match(md, /\*\*Money reconciliation\*\*/, where);
      const rows = new Map(
        [
          ...md.matchAll(
            /^\| (charged|captured|refunded|outstanding|transfer|reversal) \| (.*) \| (.*) \| (.*) \| (.*) \|$/gm,
          ),
        ].map((m) => [m[1], { marketplace: m[2], orchestrator: m[3], database: m[4], verdict: m[5] }]),
      );
      assert.deepEqual(
        [...rows.keys()],
        ["charged", "captured", "refunded", "outstanding", "transfer", "reversal"],
        `${where}: the six rows`,
      );
      for (const [what, r] of rows) assert.equal(r.verdict, "✅ balanced", `${where}: ${what} ${JSON.stringify(r)}`);
      // Each amount compared across the sources that report it, not one source alone.
      const has = (v: string) => v !== "—";
      assert.ok(has(rows.get("charged")!.marketplace) && has(rows.get("charged")!.orchestrator), where);
      assert.ok(has(rows.get("captured")!.orchestrator), where);
      assert.ok(has(rows.get("refunded")!.marketplace) && has(rows.get("refunded")!.orchestrator), where);
      for (const what of ["transfer", "reversal"])
        assert.ok(has(rows.get(what)!.marketplace) && has(rows.get(what)!.database), `${where}: ${what}`);
      assert.match(md, /^\*\*Balanced\*\* : ✅ balanced: (\d+\.\d\d) EUR of \1 EUR refunded$/m, where);
    }
  });

  test("the HTML archive is self-contained: the report once, rendered, nothing loads or runs", () => {
    const html = fs.readFileSync(path.join(run.dir, "payment-e2e.html"), "utf8");
    assert.deepEqual(selfContainedProblems(html), []);
    assert.equal(html.match(/<h3>Session — /g)?.length, 1, "the report's heading, once");
    assert.doesNotMatch(html, /<script|<link|@import/i);
    assert.doesNotMatch(html, /(?:src|href)\s*=\s*["']?(?:file:|\/)/i);
    assert.doesNotMatch(html, /\|\s*---\s*\|/, "no raw Markdown table left");
    assert.doesNotMatch(html, /(?:&lt;|<)!--\s*\/?(?:session|notes):/, "a report marker shown as text");
    assert.equal(html.match(/<img[^>]*src="data:image\/png/g)?.length, 1, "the plot once, embedded");
  });

  /** The archived page opened once in headless Chromium, the way an auditor opens it; two tests read it. */
  let opened: ReturnType<typeof openAuditPage> | undefined;
  const auditPage = () =>
    (opened ??= openAuditPage(path.join(run.dir, "payment-e2e.html"), {
      width: 1000,
      screenshot: path.join(ARTIFACTS, "audit-e2e.png"),
    }));

  test("the HTML archive in headless Chromium: no request, every Trace column within 1000 px", {
    skip: chromiumMissing(),
  }, async () => {
    const p = await auditPage();
    assert.deepEqual(p.requests, []);
    assert.deepEqual(p.cspViolations, []);
    assert.deepEqual(p.dialogs, []);
    assert.equal(p.title, `payment-e2e.ipynb — session ${run.sessionId}`);
    assert.ok(p.traceColumnRights.length >= 10, "each step row and the report");
    for (const right of p.traceColumnRights) assert.ok(right <= p.innerWidth, `Trace column ends at ${right} px`);
    assert.ok(p.scrollWidth <= p.innerWidth, `no horizontal scroll (${p.scrollWidth} px)`);
    assert.equal(p.pngs.length, 1);
  });

  test("archiving the sealed session again writes nothing: already sealed", async () => {
    const { archiveSession } = await import("../../lib/host/archive");
    const before = fs.readFileSync(path.join(run.dir, "manifest.json"));
    const r = await archiveSession(run.dir, { docsDir: path.join(archiveDir, "docs") });
    assert.equal(r.status, "already-sealed");
    assert.ok(before.equals(fs.readFileSync(path.join(run.dir, "manifest.json"))));
  });

  test("the HTML archive shows the plot in headless Chromium", { skip: chromiumMissing() }, async () => {
    const p = await auditPage();
    assert.equal(p.pngs.length, 1, "the plot, once");
    const [width, height] = p.pngs[0];
    assert.ok(width > 300 && height > 200, `plot PNG rendered at ${width},${height}`);
    assert.ok(fs.statSync(path.join(ARTIFACTS, "audit-e2e.png")).size > 10000, "the page's screenshot is not blank");
    assert.ok(p.text.includes("License revoked + funds returned"));
  });

  test("a sealed session is never run again: refused before anything is sent or written", async () => {
    // Resuming an unsealed session (no second order or refund) is fault scenarios 3 and 3j.
    const before = await sb.counts();
    const files = fs.readdirSync(run.dir).map((f) => [f, fs.readFileSync(path.join(run.dir, f)).toString("base64")]);
    const { executeNotebook } = await import("../../lib/host/jupyter");
    await assert.rejects(
      executeNotebook(run.notebook, { OPERATOR_PASSWORD: sb.operator.password }),
      /is in a sealed session folder \(manifest\.json\): nothing is executed there/,
    );
    const { Runbook } = await import("../../lib/run/runbook");
    assert.throws(
      () =>
        Runbook.open(
          {
            SESSION_ID: path.basename(run.dir),
            MODE: "sandbox",
            BASE_URL: sb.marketplaceUrl,
            OPERATOR_EMAIL: sb.operator.email,
            ARCHIVE_DIR: archiveDir,
          },
          { OPERATOR_PASSWORD: sb.operator.password },
        ),
      /is sealed \(manifest\.json\): nothing is added to a sealed folder/,
    );
    assert.deepEqual(await sb.counts(), before);
    assert.deepEqual(
      fs.readdirSync(run.dir).map((f) => [f, fs.readFileSync(path.join(run.dir, f)).toString("base64")]),
      files,
      "no file of the sealed folder changed",
    );
    assert.equal(verifySession(run.dir).ok, true);
  });

  // The seal rules' real-run cases (issue 22 items 6–7) read this run and copy its folder: no second rehearsal.
  sealRulesOnARealRun(() => run);
});

test("the runbook template is committed clean: no outputs, counts or volatile metadata", () => {
  assert.deepEqual(hygieneProblems(readNotebook(path.join(root, TEMPLATE))), []);
});

test("npm run demo -- --stuck: exit 1, step 5 FAIL at its deadline, 6–7 SKIPPED, notebook saved", {
  timeout: 5 * 60 * 1000,
}, () => {
  const archive = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-stuck-"));
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(root, "scripts/demo.ts"), "--stuck", "--deadline-s", "6", "--archive-dir", archive],
    { cwd: root, encoding: "utf8", timeout: 5 * 60 * 1000 },
  );
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /step 5: FAIL/);
  assert.match(r.stdout, /step 6: SKIPPED/);
  assert.match(r.stdout, /step 7: SKIPPED/);
  const [session] = fs.readdirSync(archive).filter((d) => d.endsWith("-sandbox"));
  const nb = readNotebook(path.join(archive, session, "payment-e2e.ipynb"));
  const text = JSON.stringify(nb);
  assert.match(text, /order completed not reached within 6 s/);
  assert.match(text, /SKIPPED.*step 5 failed at/);
});
