// Regenerates the committed template notebook from the step table (lib/notebook/template.ts):
//   npm run template
// Edit the step table or lib/notebook/template.ts, never the notebook by hand.
import * as fs from "node:fs";
import { inRepo } from "../../lib/paths";
import { TEMPLATE } from "../../lib/notebook/nbfile";
import { serializeNotebook, templateNotebook } from "../../lib/notebook/template";

fs.writeFileSync(inRepo(TEMPLATE), serializeNotebook(templateNotebook()));
console.log(`wrote ${TEMPLATE}`);
