// npm test's runner (issue 26 item 4). It compiles the TypeScript that tests load (lib/, test/,
// sandbox/, scripts/, bench/) once per run, file by file into CommonJS as tsx would (esbuild, the
// same compiler tsx uses, with tsx's settings), into a mirror of the repository under build/test-js/,
// then runs `node --test` on the compiled test files. Before, each of the ~110 test processes loaded
// tsx: its loader thread, its resolver and its transform cache, about 0.2–0.3 s of CPU per file warm
// and more on a fresh clone, whose cache is empty (npm test was CPU-bound on 2 cores).
// - Same code: the compiled test reads `__dirname` and `__filename` as its source's (so fixtures,
//   golden files and the repository root are found where they are), and source maps make every stack
//   and failure location name the .ts line.
// - A file is written only when its compiled text changed, through a rename (a second run beside this
//   one reads whole files), and a compiled file whose source is gone is removed.
// - Arguments: a `.ts` path (a test file, or --test-reporter's) is run compiled; anything else goes to `node --test` as it is
//   (`npm test -- --test-name-pattern=…`). Processes the tests start (CLIs, the sandbox, kernels)
//   still run from the sources, through tsx or build/lib, as an operator's would.
//   node scripts/dev/run-tests.mjs [node --test options…] test/dir/*.test.ts…
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const MIRROR = path.join("build", "test-js");
const SOURCES = ["lib", "test", "sandbox", "scripts", "bench"];
const SKIP_DIRS = new Set(["node_modules", "build", ".venv", "__snapshots__", "golden", ".artifacts"]);
/** V8 flags for the test processes (README "How long"): baseline tiers only, too short-lived to optimise. */
const NODE_FLAGS = ["--liftoff-only", "--no-opt", "--enable-source-maps"];

function sourcesUnder(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return SKIP_DIRS.has(e.name) || e.name.startsWith(".") ? [] : sourcesUnder(p);
    return /\.m?ts$/.test(e.name) && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** The compiled file of a source path (absolute), under `root`'s mirror. */
export const compiledOf = (source, root = ROOT) =>
  path
    .join(root, MIRROR, path.relative(root, source))
    .replace(/\.mts$/, ".mjs")
    .replace(/\.ts$/, ".js");

function writeIfChanged(file, text) {
  try {
    if (fs.readFileSync(file, "utf8") === text) return false;
  } catch {
    // not there yet
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return true;
}

function prune(dir, keep) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) prune(p, keep);
    else if (!keep.has(p) && !e.name.endsWith(".tmp")) fs.rmSync(p, { force: true });
  }
}

/**
 * Compiles every source of `root` (the repository; tests use a folder of their own) into its mirror.
 * Returns how many compiled files changed. Throws a one-line error naming the file on a syntax error.
 */
export async function compileAll(root = ROOT) {
  // esbuild is tsx's own compiler (a dependency of tsx, and of this project for this runner).
  const esbuild = createRequire(path.join(ROOT, "package.json"))("esbuild");
  const sources = SOURCES.flatMap((d) => sourcesUnder(path.join(root, d)));
  const written = await Promise.all(
    sources.map(async (source) => {
      const esm = source.endsWith(".mts");
      let out;
      try {
        out = await esbuild.transform(fs.readFileSync(source, "utf8"), {
          loader: "ts",
          format: esm ? "esm" : "cjs",
          platform: "node",
          target: `node${process.versions.node}`,
          keepNames: true,
          minifyWhitespace: true,
          sourcemap: "inline",
          sourcefile: source,
          // CommonJS has no import(): a relative, extensionless specifier must go through require's
          // resolution, as it does under tsx.
          supported: esm ? {} : { "dynamic-import": false },
          define: esm ? {} : { __dirname: JSON.stringify(path.dirname(source)), __filename: JSON.stringify(source) },
        });
      } catch (err) {
        const e = err.errors?.[0];
        const where = e?.location
          ? `${path.relative(root, source)}:${e.location.line}:${e.location.column}`
          : path.relative(root, source);
        throw new Error(
          `run-tests: ${where}: ${e?.text ?? err.message} — fix the source (npm run typecheck names it too)`,
        );
      }
      return writeIfChanged(compiledOf(source, root), out.code);
    }),
  );
  prune(path.join(root, MIRROR), new Set(sources.map((source) => compiledOf(source, root))));
  return written.filter(Boolean).length;
}

async function main(args) {
  if (args.includes("--help")) {
    console.log("usage: node scripts/dev/run-tests.mjs [node --test options…] <test files…>   (npm test runs it)");
    return 0;
  }
  for (const a of args)
    if (/\.m?ts$/.test(a) && !a.startsWith("-") && !fs.existsSync(path.resolve(a))) {
      console.error(`run-tests: no such test file: ${a} — give a path under test/`);
      return 2;
    }
  const t0 = performance.now();
  const changed = await compileAll();
  const files = [];
  const options = [];
  for (const a of args) {
    const reporter = /^--test-reporter=(.+\.m?ts)$/.exec(a);
    if (reporter)
      options.push(`--test-reporter=./${path.relative(process.cwd(), compiledOf(path.resolve(reporter[1])))}`);
    else if (/\.m?ts$/.test(a) && !a.startsWith("-"))
      files.push(path.relative(process.cwd(), compiledOf(path.resolve(a))));
    else options.push(a);
  }
  console.log(
    `run-tests: ${files.length} test file(s), TypeScript compiled into ${MIRROR} (${changed} changed) in ${Math.round(performance.now() - t0)} ms`,
  );
  const child = spawn(process.execPath, [...NODE_FLAGS, "--test", ...options, ...files], {
    stdio: "inherit",
    env: { ...process.env, RUN_TESTS_MIRROR: MIRROR },
  });
  // npm and own-tmp.sh pass SIGTERM and SIGHUP on; Ctrl-C reaches the child from the terminal itself.
  for (const sig of ["SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  process.on("SIGINT", () => {});
  return await new Promise((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal] ?? 0))),
  );
}

if (import.meta.filename === fs.realpathSync(process.argv[1] ?? "")) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
