/**
 * The HTML an auditor reads (issue 11): a fixture notebook with outputs like the kernel's (step rows
 * with a table, a banner, the report as Markdown with headings, quotes and a long Trace column, one
 * PNG) and hostile backend text, exported by the real nbconvert — each installed one, the project
 * venv's 7.x and Debian's 6.x — then opened in headless Chromium with every request recorded. The
 * fixture is in html-fixture.ts.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { AUDIT_CSP, auditCopy, renderMarkdownSafe, normalisedHref, selfContainedProblems } from "../../lib/host/html";
import { htmlDisagreement } from "../../lib/evidence/html-agreement";
import { KNOWN_STYLESHEETS } from "../../lib/evidence/html-page";
import * as crypto from "node:crypto";
import { exportHtml } from "../../lib/host/jupyter";
import { writeNotebook, type Notebook } from "../../lib/host/nbfile";
import { ARTIFACTS, chromiumMissing, openAuditPage } from "./audit-page";
import { IMG, JS_LINK, REPORT_HEADING, SCRIPT, editPage, fixtureNotebook, jupyters, pyHtmlCheck } from "./html-fixture";
import { frameEdits, layoutEdits } from "./html-edits";

// ------------------------------------------------------------------------------ units

describe("renderMarkdownSafe", () => {
  test("raw HTML from the Markdown is shown as text, never as markup", () => {
    const html = renderMarkdownSafe(
      `${SCRIPT}\n\n| a | b |\n| - | - |\n| ${IMG} | ok |\n\ninline ${SCRIPT} and ${IMG}`,
    );
    assert.doesNotMatch(html, /<script|<img/i);
    assert.match(html, /&lt;script&gt;document\.title=&#39;pwned&#39;&lt;\/script&gt;/);
    assert.match(html, /&lt;img src=x onerror=&quot;document\.title=&#39;pwned&#39;&quot;&gt;/);
    assert.match(html, /<table>/);
  });

  test("links go only to http(s) or #anchors; images only from data: URLs", () => {
    const html = renderMarkdownSafe(
      `${JS_LINK} [d](data:text/html,x) [f](file:///etc/passwd) [ok](https://example.org/a?b=1&c=2) [in](#session-x) ops@example.com ![p](http://example.org/p.png) ![d](data:image/png;base64,iVBORw0KGgo=)`,
    );
    assert.doesNotMatch(html, /href="(?:javascript|data|file)/i);
    assert.match(html, /x <span class="neutralised">\(link not followed: javascript:alert\(1\)\)<\/span>/);
    assert.match(html, /<a href="https:\/\/example\.org\/a\?b=1&amp;c=2" rel="noopener noreferrer nofollow">ok<\/a>/);
    assert.match(html, /<a href="#session-x"/);
    assert.doesNotMatch(html, /mailto/, "an address stays text");
    assert.match(html, /\[image not loaded: p — http:\/\/example\.org\/p\.png\]/);
    assert.match(html, /<img src="data:image\/png;base64,iVBORw0KGgo=" alt="d">/);
    assert.equal(normalisedHref(" javascript:alert(1)"), null);
    assert.equal(normalisedHref("jav&#x61;script:alert(1)"), null);
    assert.equal(normalisedHref("https://example.org/a b"), "https://example.org/a%20b");
  });

  test("the runbook's own anchor, markers and <sub> survive; any other comment is shown", () => {
    const html = renderMarkdownSafe(
      '<!-- session:s1 -->\n<a id="session-s1"></a>\n\n### T\n\n<sub>small</sub>\n\n<!-- hide the next line -->\n',
    );
    assert.match(html, /<a id="session-s1"><\/a>/);
    assert.doesNotMatch(html, /session:s1/);
    assert.match(html, /<sub>small<\/sub>/);
    assert.match(html, /&lt;!-- hide the next line --&gt;/);
  });

  test("long runs (hashes, JSON) may break anywhere; words and ids keep their width", () => {
    const html = renderMarkdownSafe(
      `id ord_96d29430857018f44318 and \`${"ab".repeat(32)}\` {"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}`,
    );
    assert.match(html, /id ord_96d29430857018f44318 and/);
    assert.match(html, /<code class="brk">(ab){32}<\/code>/);
    assert.match(html, /<span class="brk">\{&quot;a&quot;:&quot;b+&quot;\}<\/span>/);
  });
});

describe("auditCopy", () => {
  test("one HTML rendering per output, Markdown cells rendered, the notebook itself untouched", () => {
    const nb = fixtureNotebook();
    const before = JSON.stringify(nb);
    const copy = auditCopy(nb, { title: "t" });
    assert.equal(JSON.stringify(nb), before);
    for (const c of copy.cells) {
      if (c.cell_type === "markdown") assert.equal(c.metadata.payment_e2e_audit, true);
      for (const o of c.outputs ?? [])
        if (o.output_type === "display_data" || o.output_type === "execute_result") {
          assert.deepEqual(Object.keys(o.data ?? {}), ["text/html"]);
          assert.deepEqual(o.metadata, { payment_e2e_audit: true });
        }
    }
    const kernelHtml = copy.cells[5].outputs?.[1].data?.["text/html"] as string;
    assert.match(kernelHtml, /shown as source/);
    assert.doesNotMatch(kernelHtml, /<img/);
  });
});

test("the audit stylesheet is one the page check knows (a change of audit.css adds its SHA-256 there and in the Python verifier)", () => {
  const css = fs.readFileSync(path.resolve(__dirname, "../../templates/nbconvert/audit/audit.css"), "utf8").trim();
  const sha = crypto.createHash("sha256").update(css).digest("hex");
  assert.ok(KNOWN_STYLESHEETS.has(sha), sha);
  assert.ok(fs.readFileSync(path.resolve(__dirname, "../../verifier/verify_session.py"), "utf8").includes(sha), sha);
});

describe("selfContainedProblems", () => {
  const page = (body: string, head = "") =>
    `<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${AUDIT_CSP}">${head}</head><body>${body}</body></html>`;
  test("a page of text, tables and data: images passes", () => {
    assert.deepEqual(
      selfContainedProblems(
        page(
          `<p>&lt;script&gt; text</p><img alt="a" src="data:image/png;base64,AAAA"><a href="https://example.org">x</a>`,
        ),
      ),
      [],
    );
  });
  const bad: Array<[string, string, RegExp]> = [
    ["a script file", page('<script src="file:///usr/share/javascript/x.js"></script>'), /<script> element/],
    ["an inline script", page("<script>1</script>"), /<script> element/],
    ["a stylesheet link", page("", '<link rel="stylesheet" href="https://cdn.example.org/x.css">'), /<link> element/],
    ["a CSS import", page("", "<style>@import 'x.css';</style>"), /@import/],
    ["a CSS url()", page('<div style="background:url(/abs/bg.png)">x</div>'), /CSS url\(\/abs\/bg\.png/],
    ["an image file", page('<img src="/home/op/plot.png">'), /loads a file or the network/],
    ["a network image", page("<img src='https://example.org/p.png'>"), /loads a file or the network/],
    ["an event handler", page('<img src="data:image/png;base64,AA" onerror="x()">'), /event handler onerror=/],
    ["a javascript: link", page('<a href="javascript:alert(1)">x</a>'), /<a href="javascript/],
    ["no CSP", "<html><head></head><body>x</body></html>", /Content-Security-Policy/],
  ];
  for (const [name, html, problem] of bad)
    test(`names ${name}`, () => assert.match(selfContainedProblems(html).join("\n"), problem));
});

// ------------------------------------------------------------------------------ nbconvert + Chromium

for (const [label, jupyter] of jupyters()) {
  describe(`audit HTML exported by nbconvert (${label} Jupyter)`, { timeout: 5 * 60 * 1000 }, () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `audit-html-${label}-`)), "fixture-session");
    const nbFile = path.join(dir, "fixture.ipynb");
    let html = "";
    let exported: Promise<string> | null = null;
    const exportOnce = () => {
      exported ??= (async () => {
        fs.mkdirSync(dir, { recursive: true });
        writeNotebook(nbFile, fixtureNotebook());
        const r = await exportHtml(nbFile, { jupyter });
        html = fs.readFileSync(r.html, "utf8");
        return r.html;
      })();
      return exported;
    };

    test("the page is self-contained, shows the report once and leaves the notebook as it was", async () => {
      await exportOnce();
      const written = path.join(os.tmpdir(), `fixture-${process.pid}-${label}.ipynb`);
      writeNotebook(written, fixtureNotebook());
      assert.ok(fs.readFileSync(written).equals(fs.readFileSync(nbFile)), "the notebook's bytes are unchanged");
      assert.deepEqual(fs.readdirSync(dir).sort(), ["fixture.html", "fixture.ipynb"], "no scratch file left");
      assert.deepEqual(selfContainedProblems(html), []);
      assert.equal(html.split(REPORT_HEADING).length - 1, 1, "the report heading occurs once");
      assert.equal((html.match(/<img[^>]*src="data:image\/png/g) ?? []).length, 1, "the plot once");
      assert.doesNotMatch(html, /<script/i);
      assert.doesNotMatch(html, /(?:src|href)\s*=\s*["']?(?:file:|\/)/i, "no file or absolute-path resource");
      assert.doesNotMatch(html, /(?:src|srcset)\s*=\s*["']?https?:/i, "no network resource");
      assert.doesNotMatch(html, /url\(\s*['"]?(?!data:)/i);
      assert.doesNotMatch(html, /mathjax|require\.js|requirejs/i);
      assert.ok(html.includes(`content="${AUDIT_CSP}"`), "CSP meta in place");
      // Rendered, not raw: no Markdown table rule or heading marks left in the page.
      assert.doesNotMatch(html, /\|\s*---\s*\|/);
      assert.doesNotMatch(html, /^\s*#{1,3} /m);
      // Code inputs still show (highlighted: split into spans).
      const text = html.replace(/<[^>]+>/g, "");
      assert.ok(text.includes("nb.show(await nb.rb.login());"));
      assert.ok(text.includes("await nb.report();"));
    });

    test("headless Chromium: nothing loads or runs, hostile text shows as text, Trace fits 1000 px", {
      skip: chromiumMissing(),
    }, async () => {
      const file = await exportOnce();
      const shot = path.join(ARTIFACTS, `audit-fixture-${label}.png`);
      const p = await openAuditPage(file, { width: 1000, screenshot: shot });
      assert.deepEqual(p.requests, [], "no request but the page itself and data: URLs");
      assert.deepEqual(p.cspViolations, [], "nothing even tried to load or run");
      assert.deepEqual(p.dialogs, []);
      assert.deepEqual(p.pageErrors, []);
      assert.equal(p.title, "fixture.ipynb — session fixture-session");
      assert.equal(p.scripts, 0);
      assert.equal(p.javascriptLinks, 0);
      assert.equal(p.foreignImages, 0);
      assert.ok(p.text.includes(SCRIPT), "the script tag shows as text");
      assert.ok(p.text.includes(IMG), "the img tag shows as text");
      assert.ok(p.text.includes("(link not followed: javascript:alert(1))"));
      assert.ok(p.text.includes("await nb.report();"), "the code that ran shows");
      assert.equal(p.text.split(REPORT_HEADING).length - 1, 1);
      assert.equal(p.pngs.length, 1);
      assert.ok(p.pngs[0][0] >= 640 && p.pngs[0][1] >= 240, `plot decoded at ${p.pngs[0]}`);
      assert.ok(p.traceColumnRights.length >= 3, "the step rows' and the report's tables");
      for (const right of p.traceColumnRights)
        assert.ok(right <= p.innerWidth, `Trace column ends at ${right} px, viewport ${p.innerWidth}`);
      assert.ok(p.scrollWidth <= p.innerWidth, `no horizontal scroll (${p.scrollWidth} > ${p.innerWidth})`);
      assert.ok(fs.statSync(shot).size > 10000);
    });

    test("the page shows what the notebook shows, hostile outputs included; each edit of an output is named by both verifiers", async () => {
      await exportOnce();
      const nb = fixtureNotebook();
      // One base64 character of the PNG swapped for another (still valid base64).
      const png = /data:image\/png;base64,([A-Za-z0-9+/]{100})([A-Za-z0-9+/])/.exec(html);
      assert.ok(png, "the page holds the plot");
      const plotEdited = html.replace(png[0], `data:image/png;base64,${png[1]}${png[2] === "A" ? "B" : "A"}`);
      const script = /&lt;script&gt;document\.title=(?:'|&#39;|&#x27;)pwned(?:'|&#39;|&#x27;)&lt;\/script&gt;/;
      const edits: Array<[string, string, RegExp]> = [
        [
          "a stream's escaped markup made markup",
          editPage(html, /&lt;b&gt;bold\?&lt;\/b&gt;/, "<b>bold?</b>"),
          /code cell 6\b/,
        ],
        [
          "the ANSI-red FAIL of a stream turned PASS",
          editPage(html, /(>)FAIL(<\/span>)/, ">PASS</span>"),
          /code cell 6\b/,
        ],
        [
          "a forged output's escaped markup made markup",
          editPage(html, /&lt;\/pre&gt;&lt;\/div&gt;&lt;\/div&gt;/, "</pre></div></div>"),
          /code cell 6\b/,
        ],
        ["a stderr stream's escaped script made a script", editPage(html, script, SCRIPT), /code cell 6\b/],
        [
          "one character of an 8,000-character text/plain line",
          editPage(html, "cdef end</pre>", "cdef End</pre>"),
          /code cell 6\b/,
        ],
        [
          "a Markdown output's word",
          editPage(html, "<strong>Observed</strong>", "<strong>Expected</strong>"),
          /code cell 6\b/,
        ],
        [
          "a Markdown output's escaped script made a script",
          editPage(html, script, SCRIPT, { last: true }),
          /code cell 6\b/,
        ],
        ["the plot's bytes", plotEdited, /code cell 3 \(plot\)/],
      ];
      // No false mismatch: the page as exported agrees, for both verifiers.
      assert.equal(htmlDisagreement(html, nb), null);
      const py = pyHtmlCheck([[html, nb], ...edits.map(([, page]): [string, Notebook] => [page, nb])]);
      assert.match(py[0], /^ok payment-e2e\.html: shows every code cell's outputs/, py[0]);
      // No false match: every edit is a disagreement, named by cell, in one line.
      edits.forEach(([what, page, cell], i) => {
        assert.notEqual(page, html, `${what}: the edit changed the page`);
        const ts = htmlDisagreement(page, nb) ?? "";
        assert.match(ts, cell, `${what} (TypeScript): ${ts}`);
        assert.doesNotMatch(ts, /\n/);
        assert.match(py[i + 1], /^ERROR payment-e2e\.html: .*\[HTML_DISAGREES\]$/, `${what} (Python): ${py[i + 1]}`);
        assert.match(py[i + 1], cell, `${what} (Python): ${py[i + 1]}`);
      });
    });

    test("the page agrees in everything it shows: inputs, Markdown cells, cell order, nothing hidden or added; each edit is named by both verifiers", async () => {
      await exportOnce();
      const nb = fixtureNotebook();
      const edits: Array<[string, string]> = [
        ...frameEdits(html),
        [
          "a stream's FAIL coloured as the background (nbconvert's own ANSI style form)",
          editPage(html, '<span class="ansi-red-fg">', '<span class="ansi-red-fg" style="color: rgb(255,255,255)">'),
        ],
      ];
      const py = pyHtmlCheck(edits.map(([, page]): [string, Notebook] => [page, nb]));
      for (const [what, page] of layoutEdits(html)) {
        assert.notEqual(page, html, `${what}: the edit changed the page`);
        assert.match(htmlDisagreement(page, nb) ?? "", /lays the same text out in other elements/, what);
      }
      edits.forEach(([what, page], i) => {
        assert.notEqual(page, html, `${what}: the edit changed the page`);
        const ts = htmlDisagreement(page, nb) ?? "";
        assert.match(ts, /^payment-e2e\.html /, `${what} (TypeScript): ${ts}`);
        assert.doesNotMatch(ts, /\n/);
        assert.match(py[i], /^ERROR payment-e2e\.html: .*\[HTML_DISAGREES\]$/, `${what} (Python): ${py[i]}`);
      });
    });
  });
}
