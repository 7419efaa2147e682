/**
 * "Findings and proposed lib changes" in RESULTS.md, written from this run's numbers. The bench
 * never edits lib/: it measures, and these paragraphs say what to change and what it should buy.
 */
import { afterCellsMs, cellMedians, passing, type P1Run } from "./p1-overhead";
import { TARGETS, beforeVariants, importVariant, type AllResults } from "./results";
import { fmt, median, sec } from "./stats";

const ms = (n: number, d = 0) => `${fmt(n, d)} ms`;

export function findings(r: AllResults): string[] {
  const out: string[] = [];
  const good = r.p1 ? passing(r.p1, 0) : [];
  const other = r.p1 ? passing(r.p1, importVariant(r.p1)) : [];
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
  const before = (name: string): P1Run[] => {
    const i = r.p1 ? beforeVariants(r.p1).find((j) => r.p1!.variants[j].name.startsWith(name)) : undefined;
    return i === undefined || !r.p1 ? [] : passing(r.p1, i);
  };
  const med = (runs: P1Run[], f: (x: P1Run) => number) => median(runs.map(f));
  const cellOf = (runs: P1Run[], label: string) => cellMedians(runs).find((c) => c.label.startsWith(label))?.ms ?? NaN;
  const twoPy = before("HTML export by a second Python");
  if (r.p1 && good.length) {
    const via = [...new Set(good.map((x) => x.htmlVia ?? "none"))].join(", ");
    out.push(
      `3. **Applied (issue 15): one Python process for execute and HTML export.** The executor (jupyter/execute.py --serve-export) imports nbconvert and loads the audit template in a thread while the kernel runs the cells, then exports the audit copy that lib/host/html.ts prepared; the page is byte-identical to nbconvert's command line and passes the same checks (test/host/one-process-export.test.ts); nbconvert's command line stays for sessions archived later and as the fallback (this run's pages were written by: ${via}). ` +
        (twoPy.length
          ? `Measured in this run, interleaved with a second Python for the export (as before): archive ${sec(med(good, (x) => x.archiveMs))} instead of ${sec(med(twoPy, (x) => x.archiveMs))}, executor until its last cell is saved ${sec(med(good, (x) => x.executeMs))} instead of ${sec(med(twoPy, (x) => x.executeMs))} (the warm-up shares the machine with the kernel), whole run ${sec(total)} instead of ${sec(med(twoPy, (x) => x.totalMs))}.`
          : "The full bench measures the gain against a second Python for the export.") +
        (r.p1.htmlExportMs !== null
          ? ` For reference, one export by nbconvert's command line alone: ${sec(r.p1.htmlExportMs)}${a ? ` (Python importing nbconvert/nbclient: ${ms(a.pythonImportMs)})` : ""}.`
          : ""),
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
      `5. **Kernel start is tslab's own (investigated for issue 15, not changed):** before it answers, the tslab process loads TypeScript (${ms(a.tslab.typescriptRequireMs)}) and builds its compiler host (${ms(a.tslab.createConverterMs)}): a TypeScript program over lib.es2022 (Node ≥ 18) and every package under the type roots it finds from the kernel's folder (node, pg, estree, resolve: 165 files, of which the three besides node add 9). tslab 1.0.22 reads no tsconfig: its compiler options, type roots included, are fixed in its converter, so fewer type roots would need a patched node_modules or another kernel folder (the notebook's relative import of build/lib needs the repo root), and would save those 9 small files at most. Node's compile cache (NODE_COMPILE_CACHE) does not shorten it: the tslab process took the same CPU with a warm cache (ratio 1.01, 8 runs side by side, issue 26); what the notebook's import loads after it (lib, Plot) does gain, and lib/notebook/compile-cache.ts enables the cache in the kernel for that. Python's imports add ${ms(a.pythonImportMs)}; in the executor, 1.3 s of them was jsonschema importing rfc3987_syntax (a Lark grammar built at import), which jupyter/execute.py now blocks (issue 26: a bare notebook's run took 0.56× the time, side by side). The rest of the gap between the kernel start inside the executor and the tslab process alone is nbclient's launch and its wait for the kernel's first answer. An operator no longer waits for it: \`npm run session\` starts the notebook's kernel and imports lib in it before it prints the URL (issue 26, P6; a stop during that start waits for Jupyter to have started the kernel, docs/platform.md).`,
    );
  }
  const eager = before("plot packages loaded with lib");
  if (r.p1 && good.length) {
    const floor = a
      ? ` Node alone now loads the compiled lib in ${ms(a.runtimeRequireMs)}, none of the three packages among what it loads.`
      : "";
    out.push(
      `6. **Applied (issue 15): Plot, linkedom and resvg load on the first chart** (lib/plot: \`plotLib()\`, a \`require\` inside the render functions), not when lib is imported.` +
        (eager.length
          ? ` Measured in this run, interleaved with a session cell that imports the three packages right after lib (as lib/plot's static imports did): session cell ${sec(cellOf(good, "open session"))} instead of ${sec(cellOf(eager, "open session"))}, plot cell ${sec(cellOf(good, "plot"))} instead of ${sec(cellOf(eager, "plot"))}, whole run ${sec(total)} instead of ${sec(med(eager, (x) => x.totalMs))}: the load moves from before step 0 to the plot; the total is not meant to change.`
          : " The full bench measures what moves, against the session cell importing them eagerly.") +
        floor,
    );
  }
  const whole = before("cells checked against lib's whole declarations");
  if (r.p1 && good.length) {
    out.push(
      `7. **Applied (issue 26): the notebook's entry point declares the cells' API on its own** (lib/notebook/index.ts: \`openNotebook\` returning \`NotebookCells\`, with dependency-free types; the implementation is lib/notebook/ui.ts, checked to implement it when lib is built). tslab type-checks every cell against the declarations its imports reach: through the implementation's that was 344 files (zod 108, undici 45, lib's own 25, playwright's and pg's), now 165, the ones every notebook has; tslab's compile of the session cell fell from about 0.38 s to about 0.06 s (its converter alone, outside the kernel). The cells stay fully typed.` +
        (whole.length
          ? ` Measured in this run, interleaved with a session cell importing openNotebook from lib/notebook/ui (as before): session cell ${sec(cellOf(good, "open session"))} instead of ${sec(cellOf(whole, "open session"))}, whole run ${sec(total)} instead of ${sec(med(whole, (x) => x.totalMs))}.`
          : " The full bench measures it against the session cell importing the implementation's declarations."),
    );
  }
  const serial = before("archive after the kernel's shutdown");
  if (r.p1 && good.length) {
    const floorRuns = (r.p1.floor ?? []).filter((x) => x.ok);
    const floorMs = median(floorRuns.map((x) => x.totalMs));
    const vsFloor = (t: number) => (floorRuns.length ? ` (${fmt(t / floorMs, 2)}× the floor)` : "");
    out.push(
      `8. **Applied: the archive overlaps the kernel's shutdown.** The executor's save after the last code cell is its last write of the notebook; it then says so and takes export requests while the kernel shuts down (the kernel's exit, which writes Node's compile cache, and jupyter_client's 100 ms polling of it, leave the executor idle). \`executeNotebook\` has it make the audit page then, from the copy the archive will ask for (taken only if the notebook, title and note are unchanged; the page is byte-identical), and \`rehearse\` starts the archive as soon as the kernel has given the session's lock up as it exits. The manifest's \`git rev-parse HEAD\` runs while the seal's checks do. The bare notebook has no archive: all of this is time only the full run paid.` +
        (serial.length
          ? ` Measured in this run, interleaved with the archive started after the shutdown and the page made then (as before): from the last cell's idle to the rehearsal's end ${ms(med(good, afterCellsMs))} instead of ${ms(med(serial, afterCellsMs))}; whole run ${sec(total)}${vsFloor(total)} instead of ${sec(med(serial, (x) => x.totalMs))}${vsFloor(med(serial, (x) => x.totalMs))}.`
          : " The full bench measures it against the archive started after the shutdown."),
    );
  }
  return out;
}
