/**
 * `npm run bench`: --help answers here, without loading the benchmarks (the sandbox, Jupyter and every
 * module they measure: about a second of CPU); any other call runs bench/run.ts.
 */
import { USAGE, wantsHelp } from "./usage";

if (wantsHelp(process.argv.slice(2))) console.log(USAGE);
else void import("./run");
