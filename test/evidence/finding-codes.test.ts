/**
 * One list of finding codes (issue 24 §6): lib/evidence/finding-codes.ts, `CODES` in
 * verifier/verify_session.py and the table of docs/evidence-format.md name the same codes.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { FINDING_CODES } from "../../lib/evidence/finding-codes";

const ROOT = path.resolve(__dirname, "../..");

test("the TypeScript codes, Python's CODES and the docs table are the same list", () => {
  const ts = Object.keys(FINDING_CODES).sort();
  const py = fs.readFileSync(path.join(ROOT, "verifier", "verify_session.py"), "utf8");
  const tuple = /^CODES = \(([^)]*)\)/m.exec(py);
  assert.ok(tuple, "verify_session.py defines CODES = (...)");
  const pyCodes = [...tuple[1].matchAll(/"([A-Z0-9_]+)"/g)].map((m) => m[1]).sort();
  const doc = fs.readFileSync(path.join(ROOT, "docs", "evidence-format.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Finding codes"), doc.indexOf("\n## ", doc.indexOf("## Finding codes") + 1));
  const docCodes = [...section.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(pyCodes, ts, "verifier/verify_session.py CODES");
  assert.deepEqual(docCodes, ts, "docs/evidence-format.md, Finding codes");
});
