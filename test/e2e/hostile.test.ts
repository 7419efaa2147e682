/**
 * Issue 14 §2, end to end: a backend that sends script, and an operator note that holds script,
 * through the real notebook (nbconvert + tslab), the archive and its HTML export, then the page
 * opened in headless Chromium the way an auditor opens it. The product's title carries an
 * `<img onerror>` and a `<script>`, the refund is refused with an error text carrying the same plus a
 * `javascript:` link, and OPERATOR_NOTES carries a `<script>`, a `javascript:` link and a foreign
 * image. Nothing may run, load or change the page; each text must show literally.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { startSandbox, type Sandbox } from "../../sandbox/index";
import { rehearse, type Rehearsal } from "../../scripts/rehearse";
import { readNotebook } from "../../lib/host/nbfile";
import { verifySession } from "../../lib/evidence/verify";
import { pyVerify } from "../host/seal-rules-run";
import { faultyProxy } from "../faults/harness";
import { problems } from "../report/hostile-corpus";
import { ARTIFACTS, chromiumMissing, openAuditPage, type AuditPage } from "../host/audit-page";

// Issue 25 §2 added the forms the first escaper missed: HTML inside a code span, HTML after a blank
// line inside one, and a javascript: link with parentheses two deep.
const TITLE = `<img src=x onerror="document.title='pwned-title'"> E2E <script>document.title='pwned-title-script'</script> \`<img src=x onerror="document.title='pwned-title-code'">\` [t](javascript:((document.title='pwned-title-link')))`;
const ERROR = `refund refused <img src=x onerror="document.title='pwned-error'"> [click](javascript:document.title='pwned-link') <script>document.title='pwned-error-script'</script> \`a\n\n<img src=x onerror="document.title='pwned-error-code'">\``;
const NOTES = `<script>document.title='pwned-notes'</script> [notes link](javascript:document.title='pwned-notes-link') <img src=x onerror="document.title='pwned-notes-img'"> ![i](https://example.invalid/x.png)\n\n\`x\n\n<img src=x onerror="document.title='pwned-notes-code'">\` [n](javascript:((document.title='pwned-notes-deep')))`;
const RAW_TAG = /(?<!\\)<(?:script|img src=x)/i;
/** A link to javascript: that could form: `](javascript:` not behind a backslash escape. */
const JS_LINK = /(?<!\\)\]\(\s*javascript:/i;
const isRefund = (m: string, u: string) => m === "POST" && /^\/api\/v1\/orders\/[^/]+\/refund$/.test(u.split("?")[0]);

describe("hostile backend and operator text through the notebook, the archive and Chromium", {
  timeout: 5 * 60 * 1000,
}, () => {
  let sb: Sandbox;
  let proxy: Awaited<ReturnType<typeof faultyProxy>>;
  let run: Rehearsal;
  let page: AuditPage | null = null;

  before(async () => {
    sb = await startSandbox({ quiet: true, faults: { completionDelayMs: 100, refundDelayMs: 100 } });
    const db = new pg.Client({ connectionString: sb.adminDsn });
    await db.connect();
    try {
      // The test product is the one near 5 EUR; every title turns hostile so whichever is picked carries it.
      await db.query("UPDATE products SET title = $1 || ' ' || title", [TITLE]);
    } finally {
      await db.end();
    }
    proxy = await faultyProxy(sb.marketplaceUrl, (m, u) =>
      isRefund(m, u) ? { answer: 422, json: { success: false, error: ERROR, code: "REFUND_REFUSED" } } : "pass",
    );
    const archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-hostile-"));
    run = await rehearse({
      sandbox: sb,
      archiveDir,
      params: { BASE_URL: `${proxy.url}/api/v1`, OPERATOR_NOTES: NOTES },
      // The refund is refused on purpose: sealed under the unrefunded rule (issue 22 item 7).
      seal: { unrefunded: "the hostile refund answer refuses the refund on purpose" },
    });
    if (!chromiumMissing() && run.archiveError === null)
      page = await openAuditPage(path.join(run.dir, "payment-e2e.html"), {
        screenshot: path.join(ARTIFACTS, "hostile", "audit-page.png"),
      });
  });
  after(async () => {
    await proxy?.close();
    await sb?.stop();
  });

  test("the hostile texts reached the run: the product picked, the refund refused with the error", () => {
    assert.equal(run.execute.code, 0, run.execute.stderr.slice(-2000));
    assert.equal(run.archiveError, null);
    assert.equal(run.statuses.get(2), "PASS");
    assert.equal(run.statuses.get(8), "FAIL", "the refund was refused by the hostile answer");
    assert.ok(
      proxy.acted.some((a) => typeof a === "object"),
      "the refund met the hostile answer",
    );
  });

  test("no output of the executed notebook carries a raw tag or a javascript: link", () => {
    const nb = readNotebook(path.join(run.dir, "payment-e2e.ipynb"));
    const shown = nb.cells
      .flatMap((c) => c.outputs ?? [])
      .flatMap((o) => {
        const data = (o as { data?: Record<string, unknown> }).data ?? {};
        const text = (o as { text?: unknown }).text;
        return [data["text/markdown"], data["text/plain"], data["text/html"], text].filter((v) => v !== undefined);
      })
      .map((v) => (Array.isArray(v) ? v.join("") : String(v)))
      .join("\n");
    assert.match(shown, /pwned-title/, "the title was shown");
    assert.match(shown, /pwned-error/, "the error text was shown");
    assert.match(shown, /pwned-notes/, "the operator notes were shown");
    // Escaped is `\<` (a Markdown escape) or `&lt;`; a bare `<` would be a tag.
    assert.doesNotMatch(shown, RAW_TAG);
    assert.doesNotMatch(shown, JS_LINK);
  });

  test("the archived HTML shows what the notebook shows, hostile texts included: both verifiers hold it to the notebook", () => {
    const v = verifySession(run.dir);
    const html = v.findings.filter((f) => f.subject === "payment-e2e.html");
    assert.deepEqual(
      html.map((f) => [f.level, f.message]),
      [["ok", "shows every code cell's outputs as payment-e2e.ipynb does"]],
      JSON.stringify(html),
    );
    assert.match(
      pyVerify(run.dir).stdout,
      /^ok {4}payment-e2e\.html: shows every code cell's outputs as payment-e2e\.ipynb does$/m,
    );
  });

  test("report.md carries the texts escaped, never as raw HTML", () => {
    const md = fs.readFileSync(path.join(run.dir, "report.md"), "utf8");
    assert.match(md, /pwned-notes/);
    assert.doesNotMatch(md, RAW_TAG);
    assert.doesNotMatch(md, JS_LINK);
    // Rendered as a trusted viewer renders it: nothing runs or loads, the notes show as written.
    assert.deepEqual(problems(md, null), []);
    assert.deepEqual(
      problems(md, NOTES).filter((p) => p.startsWith("visible")),
      [],
    );
  });

  test("the archived HTML in Chromium: nothing ran or loaded, the title is unchanged, the texts show literally", {
    skip: chromiumMissing(),
  }, () => {
    assert.ok(page, "the page was opened");
    assert.doesNotMatch(page.title, /pwned/, `document.title is ${page.title}`);
    assert.deepEqual(page.dialogs, []);
    assert.deepEqual(page.pageErrors, []);
    assert.deepEqual(page.requests, [], "no request left the page");
    assert.equal(page.scripts, 0, "no <script> element");
    assert.equal(page.javascriptLinks, 0, "no javascript: link");
    assert.equal(page.foreignImages, 0, "no image from elsewhere");
    // The auditor reads what the backend and the operator sent, as text.
    assert.ok(page.text.includes(`onerror="document.title='pwned-title'"`), "the title's tag shows as text");
    assert.ok(page.text.includes("<script>document.title='pwned-notes'</script>"), "the note's script shows as text");
    assert.ok(page.text.includes("pwned-error-script"), "the refund error shows");
  });
});
