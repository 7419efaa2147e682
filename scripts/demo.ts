/**
 * `npm run demo -- [--stuck] [--deadline-s N] [--fault name=value …]`
 * The README's main job on the embedded default: starts the sandbox (PGlite on 127.0.0.1),
 * executes the runbook notebook headless with real Jupyter, exports HTML, archives the session,
 * stops the sandbox. Exit 0 only when pre-flight and all 9 steps passed; the executed notebook is
 * kept either way.
 */
import { parseArgs } from "node:util";
import type { Faults } from "../sandbox/index";
import type { Rehearsal } from "./rehearse";
import { terminalLine, wantsHelp } from "../lib/cli/args";
import { watchAncestors } from "../lib/host/lifecycle";
import { alive, descendants } from "../lib/procs";
import { oneLine } from "../lib/errors";

const USAGE = `usage: npm run demo -- [--stuck] [--deadline-s N] [--fault name=value …] [--archive-dir DIR]
  a full headless rehearsal against the local sandbox (127.0.0.1); exit 0 only when pre-flight and all 9 steps passed
  --stuck              the sandbox's stuck-order fault: step 5 FAILs at its deadline, the refund still runs
  --deadline-s N       poll deadline of steps 5 and 9 (default 300, 20 with --stuck)
  --fault name=value   any sandbox fault, e.g. --fault errorRate=0.3 (npm run sandbox -- --help lists them)
  --archive-dir DIR    where the session folder goes (default archive/payment-e2e)`;

function parseFault(kv: string): [string, unknown] {
  const [k, v] = kv.split("=");
  if (!k || v === undefined) throw new Error(`--fault ${kv}: use name=value, e.g. --fault errorRate=0.3`);
  return [k, v === "true" ? true : v === "false" ? false : Number.isFinite(Number(v)) ? Number(v) : v];
}

/**
 * Ctrl-C, SIGTERM, or the npm process that started the demo gone (its shell dies without passing a
 * signal on): SIGTERM to the executor, its kernel and the checkout browser (the executor shuts its
 * kernel down on it), SIGKILL after 15 s, then exit; the in-process sandbox goes with this process.
 */
function stopOnSignals(): void {
  let stopping = false;
  const stop = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    console.error(`demo: ${why}; stopping the headless run and the sandbox`);
    // Also any child started after the signal (the executor, when it came during the set-up).
    const kids = new Set<number>();
    const term = () => {
      for (const p of descendants(process.pid)) {
        if (kids.has(p)) continue;
        kids.add(p);
        try {
          process.kill(p, "SIGTERM");
        } catch {
          // already gone
        }
      }
    };
    term();
    const deadline = Date.now() + 15_000;
    const timer = setInterval(() => {
      term();
      const left = [...kids].filter(alive);
      if (left.length > 0 && Date.now() < deadline) return;
      clearInterval(timer);
      for (const p of left) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
      process.exit(code);
    }, 200);
  };
  process.on("SIGINT", () => stop("SIGINT", 130));
  process.on("SIGTERM", () => stop("SIGTERM", 143));
  process.on("SIGHUP", () => stop("SIGHUP", 129));
  watchAncestors(() => stop("the command that started the demo exited", 143));
}

/**
 * What the demo prints: each line through terminalLine, for a line may carry the file system's bytes
 * (a path under --archive-dir), an error's (the archive's refusal quoting a file) or a backend's (a
 * rehearsal line): shown, never obeyed by the terminal.
 */
const say = (s: string) => console.log(terminalLine(s));

/** The summary after the run, as printed (each line through terminalLine): each step's status, where the evidence is, the verdict. */
export function summaryLines(
  r: Pick<Rehearsal, "statuses" | "notebook" | "archive" | "dir" | "archiveError" | "timings" | "allPassed">,
): string[] {
  const lines = [""];
  for (let n = 0; n <= 9; n++) lines.push(`  step ${n}: ${r.statuses.get(n) ?? "not run"}`);
  lines.push("", `  notebook: ${r.notebook}`);
  if (r.archive)
    lines.push(
      `  html:     ${r.archive.html}`,
      `  manifest: ${r.dir}/manifest.json (sha256 ${r.archive.manifestSha256})`,
      `  chain head: ${r.archive.manifest.chain_head} (${r.archive.manifest.trace_lines} lines)`,
    );
  else lines.push(`  archive FAILED: ${r.archiveError}`);
  lines.push(`  timings (ms): ${JSON.stringify(r.timings)}`);
  const ok = r.allPassed && r.archive !== null;
  lines.push("", ok ? "PASS: every step passed" : "FAIL: see the executed notebook and its report");
  return lines.map(terminalLine);
}

async function main(): Promise<number> {
  if (wantsHelp(process.argv.slice(2))) {
    console.log(USAGE);
    return 0;
  }
  stopOnSignals();
  const { values: a } = parseArgs({
    options: {
      stuck: { type: "boolean" },
      "deadline-s": { type: "string" },
      fault: { type: "string", multiple: true },
      "archive-dir": { type: "string" },
    },
  });
  const faults: Partial<Faults> = { completionDelayMs: 1500, refundDelayMs: 1500 };
  for (const kv of a.fault ?? []) Object.assign(faults, Object.fromEntries([parseFault(kv)]));
  if (a.stuck) faults.stuckProcessing = true;
  const deadline = Number(a["deadline-s"] ?? (a.stuck ? 20 : 300));
  say(`demo: sandbox rehearsal${a.stuck ? " with the stuck-order fault" : ""} (poll deadline ${deadline} s)`);
  // Loaded only now: --help answers without the sandbox and the host stack.
  const { rehearse } = await import("./rehearse");
  const r = await rehearse({
    faults,
    archiveDir: a["archive-dir"],
    params: { POLL_DEADLINE_S: deadline, REFUND_DEADLINE_S: deadline },
    log: (l) => say(`demo: ${l}`),
  });
  for (const l of summaryLines(r)) console.log(l);
  const ok = r.allPassed && r.archive !== null;
  return ok ? 0 : 1;
}

// Run as the command only: test/cli/hostile-lines.test.ts imports summaryLines.
if (require.main === module)
  main().then(
    (code) => process.exit(code),
    (err) => {
      // Its message may quote an operator's flag or a file's name: shown, never obeyed.
      console.error(`demo: ${terminalLine(oneLine(err))}`);
      process.exit(2);
    },
  );
