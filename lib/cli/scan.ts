/**
 * `npm run scan [-- paths…]`: exit 0 clean, 1 on any hit, 2 on usage error.
 * Default paths are archive/, docs/ and notebooks/ (those that exist).
 */
import * as fs from "node:fs";
import { EvidenceError } from "../errors";
import { DEFAULT_SCAN_PATHS, SCANNED_EXTENSIONS, formatHit, scanPaths } from "../evidence/scan";

const USAGE = `usage: scan [--all-files] [paths…]
  default paths: archive docs notebooks; directories are walked for ${SCANNED_EXTENSIONS.join(" ")}
  --all-files  walk every file in directories, editor and checkpoint files included (the pre-commit hook)`;

function main(argv: string[]): number {
  const allFiles = argv.includes("--all-files");
  const args = argv.filter((a) => a !== "--" && a !== "--all-files");
  if (args.includes("-h") || args.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  const bad = args.find((a) => a.startsWith("-"));
  if (bad) {
    console.error(`scan: unknown option ${bad}\n${USAGE}`);
    return 2;
  }
  const paths = args.length > 0 ? args : DEFAULT_SCAN_PATHS.filter((p) => fs.existsSync(p));
  let files = 0;
  try {
    const hits = scanPaths(paths, {
      extensions: allFiles ? "all" : undefined,
      leftovers: allFiles,
      onFile: () => files++,
    });
    for (const h of hits) console.log(formatHit(h));
    console.log(`scan: ${files} file(s), ${hits.length} hit(s)${hits.length ? " - secret or card number found" : ""}`);
    return hits.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof EvidenceError && err.code === "EVIDENCE_SCAN_PATH") {
      console.error(`${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = main(process.argv.slice(2));
