/**
 * A module over 300 lines says why at its top (issue 21): a long file is a choice someone can
 * read, not an accident that grows. The reason is a line of its header comment starting
 * "Over 300 lines:".
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const LIB = path.resolve(__dirname, "../../lib");
const LIMIT = 300;

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** The file's first block comment, or "" when it does not start with one. */
function header(text: string): string {
  const m = /^\s*\/\*\*?([\s\S]*?)\*\//.exec(text);
  return m ? m[1] : "";
}

test(`every lib module over ${LIMIT} lines says why in its header`, () => {
  const unexplained = tsFiles(LIB).flatMap((f) => {
    const text = fs.readFileSync(f, "utf8");
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines <= LIMIT) return [];
    return /Over 300 lines/i.test(header(text)) ? [] : [`lib/${path.relative(LIB, f)} (${lines} lines)`];
  });
  assert.deepEqual(unexplained, [], `say why at the top ("Over 300 lines: …"), or split the module`);
});

test("the header check finds a reason only in the header comment", () => {
  assert.equal(/Over 300 lines/i.test(header("/**\n * Over 300 lines: one catalogue.\n */\nx")), true);
  assert.equal(/Over 300 lines/i.test(header("import x;\n// Over 300 lines: too late\n")), false);
});
