// Regenerates the committed template notebook from the step table (lib/host/template.ts):
//   npm run template
// Edit the step table or lib/host/template.ts, never the notebook by hand.
import * as fs from "node:fs";
import { inRepo } from "../../lib/paths";
import { TEMPLATE } from "../../lib/host/nbfile";
import { serializeNotebook, templateNotebook } from "../../lib/host/template";

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    `usage: npm run template [-- --check]   (writes ${TEMPLATE}; --check only says whether it is current, exit 1 if not)`,
  );
} else if (args.includes("--check")) {
  const current = fs.readFileSync(inRepo(TEMPLATE), "utf8") === serializeNotebook(templateNotebook());
  console.log(current ? `${TEMPLATE} is current` : `${TEMPLATE} is stale: run npm run template`);
  process.exitCode = current ? 0 : 1;
} else {
  fs.writeFileSync(inRepo(TEMPLATE), serializeNotebook(templateNotebook()));
  console.log(`wrote ${TEMPLATE}`);
}
