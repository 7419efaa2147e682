/**
 * The notebook imports lib/ precompiled (build/lib, CommonJS + .d.ts): tslab would otherwise
 * type-check every lib file inside the kernel on each run (8 s of an 18 s run, bench P1).
 * A stale build is worse than a slow one, so the build is keyed by a hash of the sources and
 * rebuilt whenever they change, before any session notebook runs.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ToolError } from "../errors";
import { inRepo } from "../paths";

export const BUILD_DIR = "build/lib";
const STAMP = ".source-sha256";

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
    )
    .sort();
}

/** Hash of every lib/**\/*.ts plus the compiler settings. */
export function sourceHash(): string {
  const h = createHash("sha256");
  for (const f of [...sources(inRepo("lib")), inRepo("tsconfig.tslab.json"), inRepo("tsconfig.build.json")]) {
    h.update(path.relative(inRepo(), f)).update("\0").update(fs.readFileSync(f)).update("\0");
  }
  return h.digest("hex");
}

export function buildIsFresh(): boolean {
  const stamp = inRepo(BUILD_DIR, STAMP);
  return fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8").trim() === sourceHash();
}

/** Rebuilds build/lib when the sources changed. Returns true when it had to build. */
export function ensureBuilt(): boolean {
  if (buildIsFresh()) return false;
  const hash = sourceHash();
  const tsc = inRepo("node_modules", "@tslab", "typescript-for-tslab", "bin", "tsc");
  fs.rmSync(inRepo(BUILD_DIR), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [tsc, "-p", inRepo("tsconfig.build.json")], {
    cwd: inRepo(),
    encoding: "utf8",
  });
  if (r.status !== 0)
    throw new ToolError(
      "E2E_BUILD",
      `building lib for the notebook failed: ${(r.stdout + r.stderr).split("\n").find(Boolean) ?? `tsc exited ${r.status}`} — run npm run typecheck`,
    );
  fs.writeFileSync(inRepo(BUILD_DIR, STAMP), `${hash}\n`);
  return true;
}

if (require.main === module) {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    console.log(`usage: npm run build   (compiles lib/ into ${BUILD_DIR} for the kernel when the sources changed)`);
    process.exit(0);
  }
  const built = ensureBuilt();
  console.log(built ? `built ${BUILD_DIR}` : `${BUILD_DIR} is up to date`);
}
