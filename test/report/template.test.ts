import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ReportError, TemplateError } from "../../lib/report/evidence";
import { RunbookError } from "../../lib/errors";
import { fillTemplate, parseTemplate, renderTemplate } from "../../lib/report/template";

describe("renderTemplate", () => {
  const rows: Array<[string, string, object, string]> = [
    ["variable", "Hello {{name}}!", { name: "Ada" }, "Hello Ada!"],
    ["number and boolean", "{{n}} {{b}}", { n: 3, b: false }, "3 false"],
    ["null renders empty", "[{{x}}]", { x: null }, "[]"],
    ["dotted path", "{{a.b.c}}", { a: { b: { c: "deep" } } }, "deep"],
    ["spaces inside tags", "{{ name }}", { name: "x" }, "x"],
    ["list", "{{#xs}}<{{.}}>{{/xs}}", { xs: [1, 2, 3] }, "<1><2><3>"],
    ["list of objects", "{{#xs}}{{k}};{{/xs}}", { xs: [{ k: "a" }, { k: "b" }] }, "a;b;"],
    [
      "outer context from inside a list",
      "{{#xs}}{{k}}{{sep}}{{/xs}}",
      { sep: ",", xs: [{ k: "a" }, { k: "b" }] },
      "a,b,",
    ],
    ["empty list skips", "a{{#xs}}x{{/xs}}b", { xs: [] }, "ab"],
    ["false skips", "a{{#f}}x{{/f}}b", { f: false }, "ab"],
    ["true renders once", "a{{#t}}x{{/t}}b", { t: true }, "axb"],
    ["string section pushes the value", "{{#s}}({{.}}){{/s}}", { s: "v" }, "(v)"],
    ["object section pushes context", "{{#o}}{{k}}{{/o}}", { o: { k: 1 } }, "1"],
    ["inverted on empty list", "{{^xs}}none{{/xs}}", { xs: [] }, "none"],
    ["inverted on null", "{{^x}}none{{/x}}", { x: null }, "none"],
    ["inverted on non-empty", "{{^xs}}none{{/xs}}", { xs: [1] }, ""],
    ["comment dropped", "a{{! why }}b", {}, "ab"],
    [
      "standalone section lines vanish",
      "top\n{{#xs}}\n- {{.}}\n{{/xs}}\nend\n",
      { xs: ["a", "b"] },
      "top\n- a\n- b\nend\n",
    ],
    ["standalone comment line vanishes", "{{! header }}\nbody\n", {}, "body\n"],
    ["inline section keeps its line", "x {{#t}}y{{/t}} z\n", { t: true }, "x y z\n"],
    ["a value is text: raw HTML escaped, shown literally", "{{v}}", { v: "<b>&</b>" }, "\\<b\\>\\&\\</b\\>"],
    [
      "a value's javascript: link cannot form (brackets escaped)",
      "{{v}}",
      { v: "[x](javascript:alert(1))" },
      "\\[x\\](javascript:alert(1))",
    ],
    ["a value's code span cannot form", "{{v}}", { v: "`<b>`" }, "\\`\\<b\\>\\`"],
    ["a word's underscore stays as it is", "{{v}}", { v: "ord_123 _x_" }, "ord_123 \\_x\\_"],
    ["mid-line: line breaks become spaces", "a {{v}}", { v: "x\n\n# y" }, "a x # y"],
    [
      "a value opening a list item keeps its lines and cannot open a block",
      "- {{v}}\n",
      { v: "first\n\n# not a heading\n  1. not a list" },
      "- first\\\n\\# not a heading\\\n1\\. not a list\n",
    ],
    ["the runbook's own anchor written raw", '<a id="{{{v}}}"></a>', { v: "s-1" }, '<a id="s-1"></a>'],
    ["{{{raw}}} is written as is (the report's markers)", "{{{v}}}", { v: "<!-- m -->" }, "<!-- m -->"],
  ];
  for (const [name, src, view, want] of rows) it(name, () => assert.equal(renderTemplate(src, view), want));
});

describe("TemplateError", () => {
  const bad: Array<[string, string, object, RegExp]> = [
    ["unknown variable", "a\n{{nope}}", {}, /^template t:2: unknown variable \{\{nope\}\}$/],
    ["unbalanced raw braces", "{{{v}}", { v: "x" }, /malformed tag \{\{\{v\}\}: a raw value is \{\{\{name\}\}\}/],
    ["a raw section", "{{{#v}}}{{/v}}", { v: "x" }, /malformed tag/],
    ["unknown nested key", "{{a.b}}", { a: {} }, /unknown variable \{\{a\.b\}\} \(no `b`\)/],
    ["unclosed section", "{{#xs}}x", { xs: [] }, /\{\{#xs\}\} is never closed/],
    ["mismatched close", "{{#a}}{{/b}}", { a: 1 }, /\{\{\/b\}\} closes \{\{#a\}\} opened on line 1/],
    ["close without open", "{{/a}}", {}, /closes nothing/],
    ["invalid tag", "{{a b}}", {}, /invalid tag/],
    ["object as a value", "{{o}}", { o: {} }, /not a scalar/],
  ];
  for (const [name, src, view, msg] of bad) {
    it(name, () => {
      assert.throws(
        () => renderTemplate(src, view, "t"),
        (e: unknown) => {
          assert.ok(e instanceof TemplateError && e instanceof ReportError && e instanceof RunbookError);
          assert.equal(e.code, "E2E_REPORT_TEMPLATE");
          assert.equal(e.name, "TemplateError");
          assert.equal(e.template, "t");
          assert.match(e.message, msg);
          return true;
        },
      );
    });
  }
  it("parses without rendering (balance check)", () => assert.equal(parseTemplate("{{#a}}{{/a}}").length, 1));
  it("a missing template file names it", () =>
    assert.throws(
      () => fillTemplate("no-such.md", {}),
      /template templates\/no-such\.md: cannot read the template; restore it from git/,
    ));
});
