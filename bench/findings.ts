/**
 * "Findings and proposed lib changes" in RESULTS.md, written from this run's numbers. The bench
 * never edits lib/: it measures, and these paragraphs say what to change and what it should buy.
 */
import { cellMedians, passing } from "./p1-overhead";
import { TARGETS, type AllResults } from "./results";
import { fmt, median, sec } from "./stats";

const ms = (n: number, d = 0) => `${fmt(n, d)} ms`;

export function findings(r: AllResults): string[] {
  const out: string[] = [];
  const good = r.p1 ? passing(r.p1, 0) : [];
  const other = r.p1 ? passing(r.p1, 1) : [];
  const todayPrecompiled = r.p1?.variants[0].precompiled ?? false;
  const a = r.anatomy;
  const total = median(good.map((x) => x.totalMs));
  const totalOther = median(other.map((x) => x.totalMs));
  if (good.length) {
    const open = cellMedians(good).find((c) => c.label.startsWith("open session"));
    const openOther = cellMedians(other).find((c) => c.label.startsWith("open session"));
    const floor = a ? `; Node's own loading of the compiled modules is ~${ms(a.runtimeRequireMs)}` : "";
    if (todayPrecompiled) {
      out.push(
        `1. **Applied: the notebook imports lib precompiled (\`npm run build\`).** ` +
          (other.length
            ? `Measured in this run against the same notebook importing lib's sources, interleaved: the session cell takes ${sec(open?.ms ?? NaN)} instead of ${sec(openOther?.ms ?? NaN)}, the whole run ${sec(total)} instead of ${sec(totalOther)}${floor}. `
            : `The session cell takes ${sec(open?.ms ?? NaN)}${floor}. `) +
          `Keep it: any lib edit is rebuilt before a session notebook runs, and the kernel no longer watches lib/*.ts.`,
      );
    } else {
      out.push(
        `1. **Import lib precompiled in the notebook (P1; the biggest cost).** The session cell's \`import { openNotebook } from "./lib/notebook"\` makes tslab's TypeScript 5.0.4 type-check and emit every lib file it reaches, inside the kernel, on every run: ${sec(open?.ms ?? NaN)} of a ${sec(total)} run. ` +
          (other.length
            ? `Measured in this run, interleaved: with the import pointed at lib compiled to JS + .d.ts, that cell takes ${sec(openOther?.ms ?? NaN)} and the whole run ${sec(totalOther)}${floor}. `
            : "The full bench measures the gain. ") +
          `Change: a build script (\`tsc -p tsconfig.tslab.json --noEmit false --module commonjs --declaration --outDir <build dir>\`${r.build ? `, ${sec(r.build.ms)} here` : ""}); the template's open cell imports \`<build dir>/notebook\`; code that finds the repo through \`__dirname/..\` walks up to package.json instead; sessions refuse (or rebuild) a build older than lib's sources, because stale kernel code is worse than slow code. Side effect: the kernel stops watching lib/*.ts, so editing lib during a run no longer trips tslab's "Unexpected pending rebuildTimer".`,
      );
    }
  }
  if (r.p3) {
    const fsync = r.p3.parts.find((p) => p.part.startsWith("open + write + fsync"));
    const noSync = r.p3.parts.find((p) => p.part.startsWith("open + write + close, no fsync"));
    const diff = r.p3.traced.p50 - r.p3.raw.p50;
    const share = `inside real calls \`Trace.append\` took ${ms(r.p3.appendInCall.p50, 2)} p50 (${ms(r.p3.appendInCall.p95, 2)} p95) of the ${ms(diff, 2)} p50 difference; two appends with fsync, sampled between the same calls, take ${ms(fsync?.p50 ?? NaN, 2)} p50 / ${ms(fsync?.p95 ?? NaN, 2)} p95, without fsync ${ms(noSync?.p50 ?? NaN, 3)}`;
    if (diff <= TARGETS.p3DiffP50Ms) {
      out.push(
        `2. **Evidence cost is within target (P3):** ${share}. What is left of the difference is the client itself (headers, JSON, zod, the clock-skew check): ${ms(r.p3.tracedWithoutAppend.p50 - r.p3.raw.p50, 2)}. If it creeps up, the disk's sync latency is the first suspect.`,
      );
    } else {
      out.push(
        `2. **Take the trace's fsync off the per-call path (P3).** ${share}. The journal (state.jsonl) already fsyncs every intent before money can move, so the trace can batch its durability: write each line synchronously (a killed kernel loses nothing, the bytes are in the page cache) and sync at step boundaries, operator acknowledgements and anomalies, on close, and at most every 250 ms otherwise. If that is already so, the disk's sync latency was high during this run: compare the fsync row with a quiet machine.`,
      );
    }
  }
  if (r.p1 && r.p1.htmlExportMs !== null) {
    out.push(
      `3. **Smaller (P1): one Python process per session instead of two.** nbconvert starts twice, once to execute and once for the HTML export (${sec(r.p1.htmlExportMs)} alone${a ? `; Python importing nbconvert/nbclient is ${ms(a.pythonImportMs)} of each start` : ""}). A short Python driver (nbclient to execute, then HTMLExporter on the result, both in one interpreter) in lib/jupyter.ts saves one interpreter start and template load per rehearsal; the archive keeps its own export for sessions archived later.`,
    );
  }
  const pay = good.length ? cellMedians(good).find((c) => c.label.startsWith("step 4 pay")) : undefined;
  if (pay) {
    out.push(
      `4. **No change, but read P1 with it in mind:** the rehearsal's step 4 cell launches headless Chromium to pay the sandbox checkout (${sec(pay.ms)}); in a live run a person pays, so that time is not runbook overhead. Without it the median run is ${sec(total - pay.ms)}. Keeping the browser keeps the proof that the checkout works in a real browser.`,
    );
  }
  if (a) {
    out.push(
      `5. **Kernel start is tslab's own (no lib change):** before it answers, the tslab process loads TypeScript (${ms(a.tslab.typescriptRequireMs)}) and builds its compiler host over lib.es2020 and @types/node (${ms(a.tslab.createConverterMs)}); Python's imports add ${ms(a.pythonImportMs)}. Nothing in lib/ shortens that; an operator running cells interactively pays it once per kernel.`,
    );
  }
  const plotPkgs = a?.packages.filter((p) => /observablehq\/plot|linkedom|resvg/.test(p.name)) ?? [];
  if (a && plotPkgs.length) {
    const plotMs = plotPkgs.reduce((x, p) => x + p.ms, 0);
    out.push(
      `6. **Optional, small (P1, imports):** of the ${ms(a.runtimeRequireMs)} Node spends loading the compiled lib, ${ms(plotMs)} is ${plotPkgs.map((p) => `\`${p.name}\` (${ms(p.ms)})`).join(", ")}, loaded only for lib/plot.ts. A lazy \`require\` inside lib/plot.ts's render functions would move that from the session cell to the first plot: the same total, but step 0 starts sooner. Worth it only if the session cell's wait bothers operators.`,
    );
  }
  return out;
}
