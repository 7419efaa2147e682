/**
 * Golden-file helpers: a sanitiser that replaces volatile ids, session ids, times and hashes with
 * numbered placeholders (as Observable Plot renumbers ids), and a comparer that writes
 * `<name>-changed.<ext>` beside the golden file on a mismatch for review.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const RULES: Array<[RegExp, string]> = [
  [/\b\d{8}T\d{6}Z-(sandbox|staging|live)\b/g, "session"],
  [/\b(ord|pay|ref|lic|tr|evt)_[A-Za-z0-9]+\b/g, "$1"],
  [/\b[0-9a-f]{64}\b/g, "sha256"],
  [/\b\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z/g, "time"],
  [/\b\d{4}-\d\d-\d\d\b/g, "date"],
  [/\b\d\d:\d\d:\d\dZ/g, "clock"],
];

/** Replaces each distinct volatile value with `<kind-n>`, numbered in order of appearance. */
export function sanitise(text: string): string {
  let out = text;
  for (const [re, kind] of RULES) {
    const seen = new Map<string, string>();
    out = out.replace(re, (m: string, g1?: string) => {
      const k = kind.startsWith("$") && typeof g1 === "string" ? g1 : kind;
      if (!seen.has(m)) seen.set(m, `<${k}-${[...seen.values()].filter((v) => v.startsWith(`<${k}-`)).length + 1}>`);
      return seen.get(m)!;
    });
  }
  return out;
}

export const GOLDEN_DIR = path.join(__dirname, "golden");

/**
 * Compares with `golden/<name>`; writes it only when UPDATE_GOLDEN=1. A missing golden fails (a
 * test that writes its own expectation could never fail).
 */
export function assertGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, name);
  const changed = file.replace(/(\.\w+)$/, "-changed$1");
  if (!fs.existsSync(file) && process.env.UPDATE_GOLDEN !== "1") {
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(changed, actual);
    assert.fail(
      `${name} has no golden file; review ${path.basename(changed)} and rerun with UPDATE_GOLDEN=1 to write it`,
    );
  }
  if (process.env.UPDATE_GOLDEN === "1") {
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(file, actual);
    return;
  }
  const expected = fs.readFileSync(file, "utf8");
  if (expected !== actual) {
    fs.writeFileSync(changed, actual);
    assert.fail(
      `${name} differs from its golden file; review ${path.basename(changed)} and rerun with UPDATE_GOLDEN=1 if intended`,
    );
  }
  if (fs.existsSync(changed)) fs.rmSync(changed);
}
