/**
 * The notebook's one door (lib/notebook/sink.ts, issue 14 §1–2): hostile backend and operator text
 * is shown literally and masked, whichever output it reaches. The last test renders the guarded
 * Markdown the way JupyterLab renders a trusted output (marked, no sanitiser) and opens it in
 * Chromium: nothing may run or load.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { Marked } from "marked";
import { SecretRegistry } from "../../lib/evidence/secrets";
import type { Sink } from "../../lib/notebook";
import { NotebookUi } from "../../lib/notebook/ui";
import { guardSink, safeMarkdown } from "../../lib/notebook/sink";
import { banner, stepMarkdown } from "../../lib/report/display";
import { inertText, markdownProblems, safeHref } from "../../lib/report/inert";
import type { StepResult } from "../../lib/types";
import { chromiumMissing, openAuditPage } from "../host/audit-page";

const ACCESS = "opaque-access-Zk29fQx81LmNa0";
const REFRESH = "opaque-refresh-Qp77sVc02HhTy4";

function registry(): SecretRegistry {
  const r = new SecretRegistry();
  r.add(ACCESS, "access_token");
  r.add(REFRESH, "refresh_token");
  return r;
}

function recorder(): Sink & { out: string[] } {
  const out: string[] = [];
  return {
    out,
    markdown: (s) => out.push(s),
    text: (s) => out.push(s),
    html: (s) => out.push(`HTML:${s}`),
    svg: (s) => out.push(`SVG:${s}`),
    png: () => out.push("PNG"),
  };
}

/** The hostile strings of issue 14, and what must not survive the sink. */
const HOSTILE: Array<[string, string, RegExp]> = [
  ["img onerror", "Product <img src=x onerror=alert(1)>", /<img/],
  ["script", "<script>document.title='pwned'</script>", /<script/],
  ["javascript link", "[open](javascript:alert(1))", /\]\(javascript:/],
  ["javascript reference link", "[x][r]\n\n[r]: javascript:alert(1)", /\]: javascript:/],
  ["remote image", "![t](https://tracker.example/p.png)", /!\[t\]\(https:/],
  ["data-uri link", "[x](data:text/html;base64,PHNjcmlwdD4=)", /\]\(data:/],
  ["svg onload", "<svg onload=alert(1)>", /<svg/],
  ["closing and reopening", "</sub><iframe src=//evil>", /<iframe/],
];

describe("safeMarkdown", () => {
  for (const [name, input, forbidden] of HOSTILE) {
    test(`text put in through inertText: ${name} is shown literally, nothing of it forms`, () => {
      const out = safeMarkdown(`Refund refused: ${inertText(input)}`, registry());
      // Only unescaped: `\<img` is the text `<img`, shown literally.
      assert.doesNotMatch(out, new RegExp(`(?<!\\\\)${forbidden.source}`));
      assert.deepEqual(markdownProblems(out), []);
    });
    test(`the backstop: ${name} given raw is shown as a fenced block, not rendered`, () => {
      const out = safeMarkdown(`Refund refused: ${input}`, registry());
      assert.match(out, /^```+text\n/);
      assert.ok(out.includes(input), "the text is kept, as text");
    });
  }

  test("masks registered tokens anywhere in the text, including inside code spans", () => {
    const out = safeMarkdown(`session ${ACCESS} (refresh \`${REFRESH}\`) has expired`, registry());
    assert.ok(!out.includes(ACCESS) && !out.includes(REFRESH), out);
  });

  test("keeps the runbook's own Markdown: anchors, <sub>, code spans with angle brackets, web and file links", () => {
    const own = [
      '<a id="session-20261126T154400Z-staging"></a>',
      "<sub>started 2026-11-26T15:44:00.000Z</sub>",
      "run `npm run session -- --mode <mode>`",
      "[the checklist](https://example.com/a?b=c) and ![plot](poll-latency.png) and [step 5](#5.-Poll)",
    ].join("\n");
    assert.equal(safeMarkdown(own, new SecretRegistry()), own);
  });

  test("Markdown with escaped text passes unchanged (the backstop never adds escapes)", () => {
    assert.equal(safeMarkdown("a \\<b\\> c", new SecretRegistry()), "a \\<b\\> c");
  });

  test("safeHref allows the web, anchors and relative files only", () => {
    for (const ok of ["https://a.example", "http://127.0.0.1:8080/x", "#top", "poll-latency.png", "dir/a.md"])
      assert.ok(safeHref(ok), ok);
    for (const bad of [
      "javascript:alert(1)",
      " JavaScript:x",
      "data:text/html,x",
      "vbscript:x",
      "//evil.example",
      "file:///etc/passwd",
    ])
      assert.ok(!safeHref(bad), bad);
  });
});

describe("the notebook's outputs", () => {
  test("a FAIL row whose reason echoes both tokens shows neither (the High finding of issue 14)", () => {
    const r: StepResult = {
      step: 1,
      name: "Login",
      status: "FAIL",
      reason: `POST /auth/login answered 401: session ${ACCESS} (refresh ${REFRESH}) has expired`,
      observed: {},
      startedAt: "2026-11-26T15:44:00.000Z",
      endedAt: "2026-11-26T15:44:01.000Z",
      durationMs: 1000,
      trace: null,
    } as unknown as StepResult;
    const sink = recorder();
    const g = guardSink(sink, registry());
    g.markdown(stepMarkdown(r));
    g.markdown(banner("❌ Step 1 FAILED", [r.reason ?? ""]));
    const all = sink.out.join("\n");
    assert.ok(!all.includes(ACCESS) && !all.includes(REFRESH), all);
  });

  test("a notebook that could not start shows a hostile refusal literally, through the same door", async () => {
    const shown = recorder();
    const ui = new NotebookUi(null, { display: shown, newDisplay: () => shown }, "<img src=x onerror=alert(1)>");
    await ui.run("preflight");
    assert.ok(shown.out.length >= 2);
    for (const o of shown.out) assert.doesNotMatch(o, /(?<!\\)<img/);
    assert.ok(shown.out.some((o) => o.includes("\\<img src=x onerror=alert(1)\\>")));
  });

  test("the checkout link is shown unmasked only when it is a web address", () => {
    const sink = recorder();
    const g = guardSink(sink, registry());
    g.link(
      "**Pay 5.00 EUR →**",
      `https://pay.example/checkout?client_secret=${ACCESS}&x=(1)`,
      "\n\nthen run the paid cell",
    );
    assert.match(sink.out[0], /^\[\*\*Pay 5\.00 EUR →\*\*\]\(https:\/\/pay\.example\/checkout\?client_secret=/);
    assert.ok(sink.out[0].includes("%281%29"), "parentheses cannot end the link early");
    g.link("**Pay →**", "javascript:alert(1)");
    assert.doesNotMatch(sink.out[1], /javascript:/);
    assert.match(sink.out[1], /not a web address/);
  });

  test("HTML and SVG from the runbook are shown as text, never rendered", () => {
    const sink = recorder();
    guardSink(sink).html("<b>x</b>");
    assert.deepEqual(sink.out, ["<b>x</b>"]);
  });
});

test("in Chromium, guarded Markdown rendered like a trusted JupyterLab output runs nothing and shows the text", async (t) => {
  const missing = chromiumMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  // JupyterLab renders a trusted output's Markdown to HTML as is; marked does the same here.
  // Each text once through the escaper, once raw (the backstop's fenced block).
  const md = HOSTILE.flatMap(([name, input]) => [
    safeMarkdown(`**${name}:** ${inertText(input)}`, registry()),
    safeMarkdown(`**${name} (raw):** ${input}`, registry()),
  ]).join("\n\n");
  const body = await new Marked({ gfm: true }).parse(md);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sink-"));
  const file = path.join(dir, "outputs.html");
  fs.writeFileSync(file, `<!doctype html><html><head><title>outputs</title></head><body>${body}</body></html>`);
  try {
    const page = await openAuditPage(file);
    assert.equal(page.title, "outputs", "no script changed the title");
    assert.deepEqual(page.dialogs, []);
    assert.deepEqual(page.requests, [], "nothing was loaded");
    assert.deepEqual(page.pageErrors, []);
    assert.equal(page.scripts, 0);
    assert.equal(page.javascriptLinks, 0);
    assert.equal(page.foreignImages, 0);
    assert.match(page.text, /Product <img src=x onerror=alert\(1\)>/, "the hostile title is shown literally");
    assert.match(page.text, /<script>document\.title='pwned'<\/script>/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
