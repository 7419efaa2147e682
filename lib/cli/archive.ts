/**
 * `npm run archive -- <session-dir> [--docs-dir docs] [--reseal]` — seal a session after the operator
 * saved and closed the notebook: HTML export, the session report block, a secret/card scan that
 * refuses on a hit, the manifest, and the session's block in the living report.
 * Exit 0 sealed, or already sealed and intact (nothing written); 1 refused: a secret or card number,
 * or a sealed folder that changed since (the one line says what changed and the fix); 2 usage error.
 * `--reseal` seals a changed folder again on purpose; the trace records it.
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { archiveSession } from "../notebook/archive";
import { ArchiveRefused, oneLine } from "../errors";

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "docs-dir": { type: "string" }, reseal: { type: "boolean" } },
  });
  const dir = positionals[0];
  if (!dir || !fs.existsSync(dir)) {
    console.error(
      "archive: name a session folder, e.g. npm run archive -- archive/payment-e2e/20261126T154400Z-staging",
    );
    return 2;
  }
  try {
    const r = await archiveSession(dir, { docsDir: values["docs-dir"], reseal: values.reseal });
    if (r.status === "already-sealed") {
      console.log(
        `archive: ${dir} already sealed at ${r.sealedAt}; nothing to do (manifest sha256 ${r.manifestSha256})`,
      );
      return 0;
    }
    console.log(
      `${r.status === "resealed" ? "re-sealed (recorded in the trace)" : "archived"} ${dir}: ${r.manifest.files.length} files, ${r.scannedFiles} scanned, 0 hits`,
    );
    console.log(`  outcome: ${r.outcome}`);
    console.log(`  manifest sha256: ${r.manifestSha256}`);
    console.log(
      `  chain head: ${r.manifest.chain_head} (${r.manifest.trace_lines} lines) — anchor it in the ticket or commit message`,
    );
    console.log(`  retention until: ${r.manifest.retention_until}`);
    if (r.docsReport) console.log(`  report block: ${r.docsReport}`);
    return 0;
  } catch (err) {
    if (err instanceof ArchiveRefused) for (const h of err.hits) console.error(`  ${h}`);
    console.error(`archive: ${oneLine(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
