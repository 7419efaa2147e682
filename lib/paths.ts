/**
 * Where the repository is, whether lib/ runs from source (tsx, tslab) or precompiled under
 * build/lib/ (the notebook's fast path): walk up from this file to the project's package.json.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const PACKAGE_NAME = "payment-e2e-runbook";

let cached: string | null = null;

export function repoRoot(): string {
  cached ??= findRoot(fs.realpathSync(__dirname));
  return cached;
}

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, "utf8")).name === PACKAGE_NAME) return dir;
      } catch {
        // an unreadable package.json is not ours; keep walking
      }
    }
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/** A path inside the repository. */
export const inRepo = (...parts: string[]) => path.join(repoRoot(), ...parts);
