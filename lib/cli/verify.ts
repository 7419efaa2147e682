/**
 * `npm run verify -- <session-dir>`: exit 0 intact, 1 failed, 2 usage error.
 */
import * as fs from "node:fs";
import { formatVerify, verifySession } from "../evidence/verify";

const USAGE = "usage: verify <session-dir>   (e.g. archive/payment-e2e/<session-id>)";

function main(argv: string[]): number {
  const args = argv.filter((a) => a !== "--");
  if (args.includes("-h") || args.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  if (args.length !== 1 || args[0].startsWith("-")) {
    console.error(USAGE);
    return 2;
  }
  if (!fs.existsSync(args[0]) || !fs.statSync(args[0]).isDirectory()) {
    console.error(`verify: ${args[0]}: no such directory\n${USAGE}`);
    return 2;
  }
  const result = verifySession(args[0]);
  for (const line of formatVerify(result)) console.log(line);
  return result.ok ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
