// A node:test reporter that prints the ten slowest test files at the end of a run (issue 26 item 4).
// `npm test` runs it beside the spec reporter, so the spec output and the exit code stay node's own.
// A file's time is node's own for it: the runner wraps each file (run in its own process) in a test
// named by its path, whose test:complete event carries the file's duration; spec does not print it.
import * as path from "node:path";

type Event = {
  type: string;
  data?: { file?: string; name?: string; nesting?: number; details?: { duration_ms?: number; passed?: boolean } };
};

const SHOWN = 10;

/**
 * A test file's path from the working folder, named by its source: npm test runs compiled copies
 * (scripts/dev/run-tests.mjs), and the events of one file name the copy or, through its source map,
 * the source.
 */
function sourceOf(file: string): string {
  const rel = path.relative(process.cwd(), file);
  const mirror = process.env.RUN_TESTS_MIRROR;
  return mirror && rel.startsWith(mirror + path.sep) ? rel.slice(mirror.length + 1).replace(/\.js$/, ".ts") : rel;
}

export default async function* slowestFiles(source: AsyncIterable<Event>): AsyncGenerator<string> {
  const files = new Map<string, { ms: number; passed: boolean; tests: number }>();
  const tests = new Map<string, number>();
  for await (const event of source) {
    const d = event.data;
    if (!d?.file) continue;
    if (event.type === "test:complete" && d.name && path.resolve(d.name) === d.file)
      files.set(sourceOf(d.file), { ms: d.details?.duration_ms ?? 0, passed: d.details?.passed !== false, tests: 0 });
    else if ((event.type === "test:pass" || event.type === "test:fail") && d.nesting === 0)
      tests.set(sourceOf(d.file), (tests.get(sourceOf(d.file)) ?? 0) + 1);
  }
  const rows = [...files.entries()]
    .map(([file, f]) => ({ ...f, file, tests: tests.get(file) ?? 0 }))
    .sort((a, b) => b.ms - a.ms);
  if (!rows.length) return;
  const sum = rows.reduce((s, r) => s + r.ms, 0) / 1000;
  const shown = rows.slice(0, SHOWN);
  const width = Math.max(...shown.map((r) => r.file.length));
  yield `\nslowest ${shown.length} of ${rows.length} test files (each file's own time; all files together ${sum.toFixed(1)} s, run concurrently):\n`;
  for (const r of shown)
    yield `  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.file.padEnd(width)}  ${r.tests} top-level test(s)${r.passed ? "" : "  FAILED"}\n`;
}
