/**
 * lib/ is layered: a folder imports only from folders at or below it, so that, for example, the
 * evidence layer never depends on how a run is driven, and the code that runs inside the tslab kernel
 * (notebook) never reaches the host's processes (host: Jupyter, build, export, archive, the session's
 * life), which may use the kernel's modules but not the commands above them (cli).
 * No file is exempt: lib/ has no barrel that re-exports every layer (such a file would let a lower
 * layer reach a higher one through it).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import ts from "typescript";

const LIB = path.resolve(__dirname, "../../lib");

/** Bottom to top; "" is the root files (lib/*.ts), which may import only each other. */
const ORDER = ["", "evidence", "clients", "run", "plot", "report", "notebook", "host", "cli"];

/**
 * Known violations, left for lib/'s owners to remove (issue 10). An entry that no longer occurs
 * fails the test, so the list only ever shrinks.
 */
const KNOWN: string[] = [];

function libFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return libFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/**
 * The module specifiers a file loads: its `import … from` and `export … from` statements, and every
 * `import("…")` and `require("…")` call with a literal argument anywhere in it (a lazy load is a
 * dependency too; one built from a variable cannot be followed, and lib/ has none).
 */
function specifiers(file: string): string[] {
  const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      out.push(node.moduleSpecifier.text);
    else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === "require")) &&
      node.arguments.length > 0 &&
      ts.isStringLiteralLike(node.arguments[0])
    )
      out.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out;
}

/** The lib file a relative specifier names, or null when it points outside lib/ or is a package. */
function resolve(lib: string, from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const base = path.resolve(path.dirname(from), spec);
  const hit = [`${base}.ts`, path.join(base, "index.ts"), base].find(
    (p) => fs.existsSync(p) && fs.statSync(p).isFile(),
  );
  const target = hit ?? `${base}.ts`;
  return path.relative(lib, target).startsWith("..") ? null : target;
}

/** "" for lib/*.ts, else the first folder under lib/. */
function folderOf(lib: string, file: string): string {
  const parts = path.relative(lib, file).split(path.sep);
  return parts.length === 1 ? "" : parts[0];
}

const show = (lib: string, file: string) => `lib/${path.relative(lib, file).split(path.sep).join("/")}`;
const name = (folder: string) => folder || "root";

/** Every import of a folder above the importer's, as "lib/x/a.ts imports lib/y/b.ts (y is above x)". */
function violations(lib: string): string[] {
  const out: string[] = [];
  for (const file of libFiles(lib)) {
    const from = folderOf(lib, file);
    for (const spec of specifiers(file)) {
      const target = resolve(lib, file, spec);
      if (!target) continue;
      const to = folderOf(lib, target);
      if (ORDER.indexOf(to) > ORDER.indexOf(from)) {
        out.push(`${show(lib, file)} imports ${show(lib, target)} (${name(to)} is above ${name(from)})`);
      }
    }
  }
  return out.sort();
}

test("every lib folder has a place in the layer order", () => {
  const folders = fs
    .readdirSync(LIB, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  assert.deepEqual(
    folders.filter((f) => !ORDER.includes(f)),
    [],
    "add the new folder to ORDER here and to docs/architecture.md",
  );
  assert.ok(libFiles(LIB).length > 20, "the walk found lib's files");
});

/** Writes `files` into a fresh temporary lib/, runs the check on it, and removes it. */
function violationsIn(files: Record<string, string>): string[] {
  const lib = fs.mkdtempSync(path.join(os.tmpdir(), "layers-"));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(lib, rel)), { recursive: true });
    fs.writeFileSync(path.join(lib, rel), text);
  }
  try {
    return violations(lib);
  } finally {
    fs.rmSync(lib, { recursive: true, force: true });
  }
}

test("the check finds upward imports and nothing else", () => {
  assert.deepEqual(
    violationsIn({
      "index.ts": 'export * from "./cli/main";', // a root barrel is a root file like any other
      "types.ts": 'import type { Trace } from "./evidence/trace";\nexport type T = Trace;',
      "evidence/trace.ts": 'import { z } from "zod";\nimport type { T } from "../types";\nexport type Trace = 1;',
      "run/steps.ts": 'export { poll } from "../run/poll";\nimport { Trace } from "../evidence/trace";',
      "run/poll.ts": `import { render } from "../report";\nconst s = \`import x from "../cli/main"\`;`,
      "report/index.ts": "export const render = 1;",
      "cli/main.ts": 'import { render } from "../report";',
    }),
    [
      "lib/index.ts imports lib/cli/main.ts (cli is above root)",
      "lib/run/poll.ts imports lib/report/index.ts (report is above run)",
      "lib/types.ts imports lib/evidence/trace.ts (evidence is above root)",
    ],
  );
});

test("the check also reads dynamic import() and require() calls, wherever they are", () => {
  assert.deepEqual(
    violationsIn({
      "evidence/lazy.ts": 'export async function f() {\n  return (await import("../report/render")).render;\n}',
      "run/req.ts": 'export const g = () => require("../cli/main").main;',
      "notebook/cell.ts": 'const { archive } = require("../host/archive");\nexport const a = archive;',
      "host/archive.ts": 'export const archive = () => import("../notebook/cell");', // down: allowed
      "report/render.ts": "export const render = 1;\nconst s = \"require('../cli/main')\";", // text, not a call
      "cli/main.ts": 'export const main = () => import("./" + "x");', // not a literal: not followed
    }),
    [
      "lib/evidence/lazy.ts imports lib/report/render.ts (report is above evidence)",
      "lib/notebook/cell.ts imports lib/host/archive.ts (host is above notebook)",
      "lib/run/req.ts imports lib/cli/main.ts (cli is above run)",
    ],
  );
});

test("lib folders import only from folders at or below them", () => {
  const found = violations(LIB);
  const unexpected = found.filter((v) => !KNOWN.includes(v));
  const fixed = KNOWN.filter((v) => !found.includes(v));
  assert.deepEqual(unexpected, [], `layering violations:\n${unexpected.join("\n")}`);
  assert.deepEqual(fixed, [], `no longer violations, remove them from KNOWN:\n${fixed.join("\n")}`);
});
