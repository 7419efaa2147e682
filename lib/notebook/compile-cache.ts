/**
 * Node's compile cache for what the notebook's kernel loads after this (lib, zod, undici, pg,
 * Plot and its d3 modules): V8's compiled code is kept on disk and reused by the next
 * kernel instead of compiled again. Loading lib and playwright-core (which the payer used then) took about 0.4 s of CPU instead
 * of 0.5 s with the cache warm (bench P1: the session cell is on the run's critical path).
 * A pure cache: V8 checks each entry against the source it was made from and compiles afresh on
 * any mismatch; a cache that cannot be written only costs the time it would save. Node's own place
 * for it ($NODE_COMPILE_CACHE, else node-compile-cache in the temporary directory), not inside
 * the repository: tslab watches the folders around build/lib, and with the cache under build/ a
 * run's pay cell failed once with tslab's "Unexpected pending rebuildTimer" (its file-watch race).
 * NODE_DISABLE_COMPILE_CACHE turns it off. Imported first by ./index.ts, so that it applies to
 * everything the notebook's import loads.
 */
import * as nodeModule from "node:module";

try {
  // Node ≥ 22.1; the cache is written when the kernel exits.
  nodeModule.enableCompileCache?.();
} catch {
  // no cache: the modules compile as they always did
}
