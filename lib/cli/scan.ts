/**
 * `npm run scan [-- paths…]`: exit 0 clean, 1 on any hit, 2 on usage error.
 * Default paths are archive/, docs/ and notebooks/ (those that exist). The salted hashes of every
 * session folder scanned (SECRET_HASHES_FILE) are loaded, so a token the kernel learned is found in
 * any file; `--hashes-from <dir>` loads those under another directory too (the pre-commit hook scans
 * a copy of the staged files and takes the hashes from the working tree's archive/).
 */
import * as fs from "node:fs";
import { EvidenceError } from "../errors";
import { DEFAULT_SCAN_PATHS, findSecretHashes, formatHit, scanPaths } from "../evidence/scan";
import { terminalLine } from "./args";

const USAGE = `usage: scan [--hashes-from <dir>]… [paths…]
  default paths: archive docs notebooks; directories are walked whole: every file, hidden folders,
  .ipynb_checkpoints, .git, node_modules and editor files included; of a binary file only a PNG's text is read
  --hashes-from <dir>  also look for the secrets salted in the session folders under <dir> (skipped if absent)
  --all-files          accepted for older hooks: every file is walked anyway`;

function main(argv: string[]): number {
  const hashDirs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== "--hashes-from") rest.push(argv[i]);
    else if (i + 1 >= argv.length) {
      console.error(`scan: --hashes-from needs a directory\n${USAGE}`);
      return 2;
    } else hashDirs.push(argv[++i]);
  }
  const args = rest.filter((a) => a !== "--" && a !== "--all-files");
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
      hashes: findSecretHashes(hashDirs.filter((d) => fs.existsSync(d))),
      onFile: () => files++,
    });
    // A hit names a file and quotes its line (both anyone's bytes): shown, never obeyed by the terminal.
    for (const h of hits) console.log(terminalLine(formatHit(h)));
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
