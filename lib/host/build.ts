/**
 * The notebook imports lib/ precompiled (build/lib, CommonJS + .d.ts): tslab would otherwise
 * type-check every lib file inside the kernel on each run (8 s of an 18 s run, bench P1).
 * A stale build is worse than a slow one, so the build is keyed by a hash of the sources and
 * rebuilt whenever they change, before any session notebook runs.
 * Two processes may find it stale at once (a session and a demo after a pull; test files run side
 * by side): one builds under a lock while the other waits, and the build is written to a folder of
 * its own and renamed into place, so nobody ever reads a half-written or half-deleted build/lib.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ToolError } from "../errors";
import { inRepo } from "../paths";

export const BUILD_DIR = "build/lib";
const STAMP = ".source-sha256";
const LOCK = "build/.lock";
/** A lock older than this whose owner cannot be asked is taken over: no build takes that long. */
const LOCK_STALE_MS = 10 * 60_000;
const LOCK_WAIT_MS = 15 * 60_000;

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
    )
    .sort();
}

/** Hash of every lib/**\/*.ts plus the compiler settings. `root`: the repository (tests use a copy). */
export function sourceHash(root = inRepo()): string {
  const h = createHash("sha256");
  const files = [
    ...sources(path.join(root, "lib")),
    ...["tsconfig.tslab.json", "tsconfig.build.json"].map((f) => path.join(root, f)),
  ];
  for (const f of files) h.update(path.relative(root, f)).update("\0").update(fs.readFileSync(f)).update("\0");
  return h.digest("hex");
}

export function buildIsFresh(root = inRepo()): boolean {
  const stamp = path.join(root, BUILD_DIR, STAMP);
  return fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8").trim() === sourceHash(root);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether the process that wrote `lock`/pid is gone (or the lock is too old to belong to a build). */
function lockIsStale(lock: string): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(lock, "pid"), "utf8"));
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === "ESRCH";
      }
    }
  } catch {
    // no pid yet: its owner is between mkdir and writing it, unless the lock is old
  }
  try {
    return Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS;
  } catch {
    return false; // gone already: the next mkdir decides
  }
}

/** Runs `fn` holding build/.lock (a folder: mkdir is atomic), waiting for another holder. */
function withBuildLock<T>(root: string, fn: () => T): T {
  const lock = path.join(root, LOCK);
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (lockIsStale(lock)) {
      fs.rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > until)
      throw new ToolError(
        "E2E_BUILD",
        `building lib for the notebook: ${LOCK} has been held for ${LOCK_WAIT_MS / 60_000} min — if no build is running, remove ${LOCK}`,
      );
    sleep(100);
  }
  try {
    fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Rebuilds build/lib when the sources changed. Returns true when it had to build (false: fresh, or built by another process meanwhile). */
export function ensureBuilt(root = inRepo()): boolean {
  if (buildIsFresh(root)) return false;
  return withBuildLock(root, () => {
    if (buildIsFresh(root)) return false;
    const hash = sourceHash(root);
    const out = path.join(root, BUILD_DIR);
    // What a killed build left beside it (we hold the lock: no other build is writing these).
    for (const e of fs.readdirSync(path.dirname(out)))
      if (/^lib\.(new|old)-/.test(e)) fs.rmSync(path.join(path.dirname(out), e), { recursive: true, force: true });
    const fresh = `${out}.new-${process.pid}-${randomBytes(4).toString("hex")}`;
    const old = `${out}.old-${process.pid}-${randomBytes(4).toString("hex")}`;
    const tsc = inRepo("node_modules", "@tslab", "typescript-for-tslab", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json"), "--outDir", fresh], {
      cwd: root,
      encoding: "utf8",
    });
    if (r.status !== 0) {
      fs.rmSync(fresh, { recursive: true, force: true });
      throw new ToolError(
        "E2E_BUILD",
        `building lib for the notebook failed: ${(r.stdout + r.stderr).split("\n").find(Boolean) ?? `tsc exited ${r.status}`} — run npm run typecheck`,
      );
    }
    fs.writeFileSync(path.join(fresh, STAMP), `${hash}\n`);
    // Swapped by two renames: build/lib is whole before and after, and absent only between them.
    if (fs.existsSync(out)) fs.renameSync(out, old);
    fs.renameSync(fresh, out);
    fs.rmSync(old, { recursive: true, force: true });
    return true;
  });
}

if (require.main === module) {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    console.log(`usage: npm run build   (compiles lib/ into ${BUILD_DIR} for the kernel when the sources changed)`);
    process.exit(0);
  }
  const built = ensureBuilt();
  console.log(built ? `built ${BUILD_DIR}` : `${BUILD_DIR} is up to date`);
}
