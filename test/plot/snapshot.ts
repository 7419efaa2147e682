/**
 * Snapshot comparison for rendered SVG, after Observable Plot's own tests: the SVG goes
 * through a sanitiser (rounded decimals, renumbered generated ids, one tag per line) and is
 * compared with test/plot/__snapshots__/<name>.svg. On a mismatch the new output is written
 * to <name>-changed.svg for review and the test fails; UPDATE_SNAPSHOTS=1 rewrites goldens.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const DIR = path.join(__dirname, "__snapshots__");

/** Makes an SVG comparable across Plot versions and floating-point noise. */
export function sanitizeSvg(svg: string): string {
  const ids = new Map<string, string>();
  const renumber = (prefix: string) => (id: string) => {
    if (!ids.has(id)) ids.set(id, `${prefix}-${[...ids.keys()].filter((k) => k.startsWith(prefix)).length + 1}`);
    return ids.get(id)!;
  };
  return svg
    .replace(/\bplot-(?:clip|marker|pattern)-\d+\b/g, (id) => renumber(id.replace(/-\d+$/, ""))(id))
    .replace(/\bplot-[0-9a-f]{6}\b/g, renumber("plot"))
    .replace(/-?\d+\.\d+(?:e[-+]?\d+)?/gi, (d) => String(+(+d).toFixed(2)))
    .replace(/></g, ">\n<")
    .trimEnd()
    .concat("\n");
}

export function assertSnapshot(name: string, svg: string): void {
  const actual = sanitizeSvg(svg);
  const golden = path.join(DIR, `${name}.svg`);
  const changed = path.join(DIR, `${name}-changed.svg`);
  if (process.env.UPDATE_SNAPSHOTS === "1") {
    fs.mkdirSync(DIR, { recursive: true });
    fs.writeFileSync(golden, actual);
    fs.rmSync(changed, { force: true });
    return;
  }
  if (!fs.existsSync(golden)) {
    fs.writeFileSync(changed, actual);
    assert.fail(
      `snapshot ${name}: no golden file; review ${path.relative(process.cwd(), changed)} and rerun with UPDATE_SNAPSHOTS=1`,
    );
  }
  if (fs.readFileSync(golden, "utf8") === actual) {
    fs.rmSync(changed, { force: true });
    return;
  }
  fs.writeFileSync(changed, actual);
  assert.fail(
    `snapshot ${name} differs: compare ${path.relative(process.cwd(), golden)} with ${path.relative(process.cwd(), changed)}, or rerun with UPDATE_SNAPSHOTS=1`,
  );
}
