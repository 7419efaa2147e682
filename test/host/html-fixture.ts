/**
 * The audit page's fixture (test/host/html.test.ts): a notebook with outputs like the kernel's and
 * hostile backend text, the Jupyter installations to export it with, the Python verifier's HTML check
 * and a page editor for the agreement tests.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Resvg } from "@resvg/resvg-js";
import { TABLE_HEAD, banner } from "../../lib/report/display";
import { fencedBlock, inertCode, inertCodeCell, inertSentence, inertText } from "../../lib/report/inert";
import { jupyterCommand } from "../../lib/host/jupyter";
import { writeNotebook, type NbCell, type Notebook } from "../../lib/host/nbfile";
import { CORPUS } from "../report/hostile-corpus";

const root = path.resolve(__dirname, "../..");

export const SCRIPT = "<script>document.title='pwned'</script>";
export const IMG = `<img src=x onerror="document.title='pwned'">`;
export const JS_LINK = "[x](javascript:alert(1))";
export const REPORT_HEADING = "Session — fixture report";
export const LONG_TRACE = "trace L10–L13 · L14–L17 · L18–L23 · L28–L32 · L33–L49 · L50–L53";

// ------------------------------------------------------------------------------ the fixture

export const lines = (s: string) => s.split(/(?<=\n)/);
export const md = (text: string) => ({
  output_type: "display_data",
  data: { "text/markdown": lines(text) },
  metadata: {},
});
export const code = (source: string, outputs: NbCell["outputs"]): NbCell => ({
  cell_type: "code",
  metadata: {},
  source: lines(source),
  outputs,
  execution_count: null,
});
export const markdownCell = (source: string): NbCell => ({
  cell_type: "markdown",
  metadata: {},
  source: lines(source),
});

export function plotPng(): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="240"><rect width="640" height="240" fill="#fff"/><polyline points="20,200 120,150 220,170 320,60 420,90 620,40" fill="none" stroke="#1f77b4" stroke-width="4"/></svg>`;
  return new Resvg(svg, { background: "white" }).render().asPng().toString("base64");
}

export function stepRow(n: number, title: string): string {
  return `| ${n}. Step number ${n} | ✅ PASS | product_id: prd_e2e_test_licence, title: ${title}, rights: {"territory":"worldwide","license_type":"personal","max_projects":1,"commercial_use":false,"attribution_required":true} | ${LONG_TRACE} |`;
}

export function reportMarkdown(): string {
  return [
    "<!-- session:fixture -->",
    '<a id="session-fixture"></a>',
    "",
    `### ${REPORT_HEADING}`,
    "",
    "> **Outcome** : **✅ PASS** — every box ticked _(derived from the evidence, never typed)_",
    `> **Operator** : ops@example.com · **Product title** : ${IMG}`,
    "",
    TABLE_HEAD,
    ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => stepRow(n, n === 2 ? IMG : "E2E test licence")),
    "",
    `**Notes** : ${SCRIPT} and a link ${JS_LINK}`,
    "",
    `**Chain head** : \`${"ab12".repeat(16)}\``,
    "",
    "<sub>requests 25 · retries 0</sub>",
    "",
    "<!-- /session:fixture -->",
  ].join("\n");
}

export function fixtureNotebook(): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "tslab", display_name: "TypeScript (tslab)", language: "typescript" },
      language_info: { name: "typescript" },
    },
    cells: [
      markdownCell(`# Fixture runbook\n\nWhat ran, step by step. ${SCRIPT}`),
      code('// </script><script>document.title="pwned"</script>\nnb.show(await nb.rb.login());', [
        md(
          `${TABLE_HEAD}\n${stepRow(2, IMG)}\n\n<sub>started 2026-11-29T00:40:22.468Z · ended 2026-11-29T00:40:22.610Z · 141 ms</sub>`,
        ),
      ]),
      code("nb.show(await nb.rb.pollCompleted());", [
        md(`${TABLE_HEAD}\n| 5. Poll until completed | ❌ FAIL | last_status: pending | trace L33–L49 |`),
        md(banner("❌ Step 5 FAILED — later steps that depend on it will be SKIPPED", [`reason: ${SCRIPT}`])),
      ]),
      code("nb.plot();", [{ output_type: "display_data", data: { "image/png": plotPng() }, metadata: {} }]),
      code("await nb.report();", [md(reportMarkdown()), md("**Outcome: PASS**")]),
      code("kernelHtml();", [
        { output_type: "stream", name: "stdout", text: [`stdout says ${SCRIPT}\n`] },
        {
          output_type: "execute_result",
          execution_count: null,
          data: { "text/html": [IMG], "application/javascript": ["document.title='pwned'"] },
          metadata: {},
        } as NonNullable<NbCell["outputs"]>[number],
      ]),
      code("hostileOutputs();", hostileOutputs()),
    ],
  };
}

/** Text that looks like the template's own markup: escaped, it must stay one output's text. */
export const FAKE_OUTPUT = `</pre></div></div><div class="jp-OutputArea-child"><div class="jp-OutputArea-output"><pre>a forged output`;
/** One line of 8,000 characters (a backend body printed whole; longer only makes Chromium's screenshot slower). */
export const LONG_LINE = `${"0123456789abcdef".repeat(500)} end`;

/**
 * Outputs whose text is hostile to a page reader: markup, a script, ANSI colour and cursor escapes,
 * a forged output's markup, two consecutive streams (Debian's nbconvert 6 merges them), a carriage
 * return overwrite, a stdin echo (not shown), an error's coloured traceback, an 8,000-character line,
 * Markdown with all of it, and the hostile corpus as the runbook writes backend text into Markdown
 * (escaped text, code spans, sentences, table cells, fenced blocks).
 */
export function hostileOutputs(): NonNullable<NbCell["outputs"]> {
  return [
    {
      output_type: "stream",
      name: "stdout",
      text: [`\x1b[31mFAIL\x1b[0m in red, \x1b[1;32mPASS\x1b[0m <b>bold?</b>\n`],
    },
    {
      output_type: "stream",
      name: "stdout",
      text: [`${FAKE_OUTPUT} \x1b[2K\x1b[<1;2Hcursor\nprogress 10%\rprogress 100%\n`],
    },
    { output_type: "stream", name: "stderr", text: [`${SCRIPT}\n`] },
    { output_type: "stream", name: "stdin", text: ["typed at a prompt\n"] },
    {
      output_type: "error",
      ename: "Error",
      evalue: IMG,
      traceback: [`\x1b[0;31mError\x1b[0m: ${IMG}`, `    at \x1b[1mhostileOutputs\x1b[0m (<anonymous>:1:1)`],
    } as NonNullable<NbCell["outputs"]>[number],
    { output_type: "display_data", data: { "text/plain": [LONG_LINE] }, metadata: {} },
    md(`**Observed** : ${SCRIPT} ${FAKE_OUTPUT} \x1b[31mred\x1b[0m ${LONG_LINE}`),
    // The hostile corpus (issue 25) in every form the runbook writes backend text into Markdown.
    md(
      Object.entries(CORPUS)
        .map(([name, text]) => `- ${inertText(name)}: ${inertText(text)} · ${inertCode(text)} · ${inertSentence(text)}`)
        .join("\n"),
    ),
    md(
      `| text | as a cell |\n| --- | --- |\n${Object.values(CORPUS)
        .map((text) => `| ${inertText(text)} | ${inertCodeCell(text)} |`)
        .join("\n")}`,
    ),
    md(Object.values(CORPUS).map(fencedBlock).join("\n\n")),
  ];
}

/** The Jupyter installations to export with: the project venv's, Debian's, and the default if it is another. */
export function jupyters(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [label, cmd] of [
    ["venv", path.join(root, ".venv", "bin", "jupyter")],
    ["debian", "/usr/bin/jupyter"],
    ["default", jupyterCommand()],
  ] as const) {
    const resolved = fs.existsSync(cmd) ? fs.realpathSync(cmd) : null;
    if (resolved && !out.some(([, c]) => fs.realpathSync(c) === resolved)) out.push([label, cmd]);
  }
  return out;
}

/**
 * The Python verifier's HTML check (`check_html_outputs`) on each [page, notebook] pair, one process
 * for all: its one finding line per pair.
 */
export function pyHtmlCheck(pairs: Array<[string, Notebook]>): string[] {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "py-html-"));
  try {
    const dirs = pairs.map(([page, nb], i) => {
      const d = path.join(base, String(i));
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, "payment-e2e.html"), page);
      writeNotebook(path.join(d, "payment-e2e.ipynb"), nb);
      return d;
    });
    const py = spawnSync(
      "python3",
      [
        "-c",
        "import sys; sys.path.insert(0, sys.argv[1]); import verify_session as v\nfor d in sys.argv[2:]:\n o = v.Findings(); v.check_html_outputs(d, o); print(' | '.join('%s %s: %s' % i for i in o.items))",
        path.join(root, "verifier"),
        ...dirs,
      ],
      { encoding: "utf8" },
    );
    assert.equal(py.status, 0, py.stderr);
    return py.stdout.trimEnd().split("\n");
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** The page with `from` replaced by `to` once, at or after the last code cell (the hostile one) unless `whole`; `last`: its last occurrence. */
export function editPage(
  page: string,
  from: RegExp | string,
  to: string,
  o: { whole?: boolean; last?: boolean } = {},
): string {
  const at = o.whole ? 0 : page.lastIndexOf("jp-CodeCell");
  const head = page.slice(0, at);
  const tail = page.slice(at);
  const re =
    typeof from === "string"
      ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "g")
      : new RegExp(from.source, "g");
  const hits = [...tail.matchAll(re)];
  assert.ok(hits.length, `the page holds ${from}`);
  const m = o.last ? hits[hits.length - 1] : hits[0];
  const i = m.index ?? 0;
  return head + tail.slice(0, i) + to + tail.slice(i + m[0].length);
}
