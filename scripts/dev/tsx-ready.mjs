// Preloaded by `npm test` after tsx (`--import tsx --import ./scripts/dev/tsx-ready.mjs`), so every
// test process starts with tsx's WebAssembly module lexer ready. tsx lexes each `.js` file it loads
// through require (to tell ES module syntax from CommonJS) and loads its WebAssembly lexer
// asynchronously; a test file requires its whole import graph synchronously at start, before that
// load settles, so every file fell back to tsx's JavaScript lexer, which is slow under npm test's
// `--no-opt`: about 50–100 ms of CPU per test process. Waiting here for the same lexer module's init
// (require's cache hands tsx the same module and promise) costs a few milliseconds of wall time.
// Harmless if tsx renames or drops the file: nothing is awaited, and nothing else changes.
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";

const require = createRequire(import.meta.url);
const dist = path.join(path.dirname(require.resolve("tsx/package.json")), "dist");
const lexer = fs.readdirSync(dist).find((f) => /^lexer-[\w-]+\.cjs$/.test(f));
if (lexer) {
  try {
    await require(path.join(dist, lexer)).init;
  } catch {
    // tsx falls back to its JavaScript lexer; so do we.
  }
}
// tsx's own continuation (it awaited the same promise) runs before this timer does.
await new Promise((resolve) => setImmediate(resolve));
