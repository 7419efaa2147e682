/**
 * P6 (issue 15 §5): in JupyterLab, opening the notebook → the pre-flight result on screen, run
 * `runs` times through the same flow as the operator UI test (test/ui/p6.ts: headless Chromium,
 * real JupyterLab from the project venv, the tslab kernel, the bench's sandbox). Each run is a
 * fresh session notebook and a fresh browser context (nothing cached from the run before), on one
 * JupyterLab server whose start is not counted; the kernel is shut down after each run.
 * Two ways to open, interleaved round by round so that load hits both alike (issue 26 item 1):
 * "kernel started ahead" (`npm run session`'s path, lib/host/prestart.ts: the notebook's Jupyter
 * session is created and its kernel warmed before the URL is printed, and the browser is sent to the
 * URL the moment it is, as an operator who clicks at once), and "kernel started by the browser"
 * (before issue 26: opening the notebook starts its kernel).
 * The UI test's own last figure (test/.artifacts/ui/p6.json), if any, is reported beside it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "../lib/clients/payer";
import { prepareSession } from "../lib/host/prepare";
import { kernelNameOf, type Prestarted, prestartKernel } from "../lib/host/prestart";
import type { Sandbox } from "../sandbox/index";
import { scratchDocs } from "../scripts/rehearse";
import { JUPYTER_BIN, type Lab, REPO, startJupyterLab } from "../test/ui/jupyterlab";
import { LabNotebook } from "../test/ui/lab-page";
import { lastRecordedP6, openToPreflight, type P6Sample } from "../test/ui/p6";
import { median } from "./stats";

export interface P6Result {
  /** The kernel started ahead by the session (today's path). */
  runs: P6Sample[];
  /** Passing runs' median, ms (NaN when none passed). */
  medianMs: number;
  /** Each run's kernel start and warm-up, as the session reports them (or why it failed). */
  prestarts: (Prestarted | { error: string })[];
  /** The kernel started by the browser opening the notebook (before issue 26), interleaved. */
  cold: P6Sample[];
  coldMedianMs: number;
  /** JupyterLab server start, not counted in P6. */
  labStartMs: number;
  /** The UI test's last recorded sample (npm run test:ui), for comparison. */
  uiTest: P6Sample | null;
}

/** Why P6 cannot be measured on this machine, or null. */
export function p6Unavailable(): string | null {
  if (!findChromium()) return "Chromium is not installed (apt-get install chromium)";
  if (!fs.existsSync(JUPYTER_BIN)) return ".venv/bin/jupyter is missing (scripts/setup.sh)";
  return null;
}

export async function runP6(o: {
  runs: number;
  sandbox: Sandbox;
  workDir: string;
  log: (l: string) => void;
}): Promise<P6Result> {
  const work = path.join(o.workDir, "p6");
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const sb = o.sandbox;
  const l0 = performance.now();
  const lab: Lab = await startJupyterLab({
    root: REPO,
    home: path.join(work, "lab"),
    env: { OPERATOR_PASSWORD: sb.operator.password, DATABASE_URL: sb.readonlyDsn, HYPERSWITCH_API_KEY: sb.apiKey },
  });
  const labStartMs = performance.now() - l0;
  o.log(`P6 JupyterLab started in ${Math.round(labStartMs)} ms (not counted)`);
  let browser: Browser | undefined;
  const runs: P6Sample[] = [];
  const cold: P6Sample[] = [];
  const prestarts: P6Result["prestarts"] = [];
  try {
    browser = await chromium.launch({ executablePath: findChromium()!, headless: true, args: CHROMIUM_ARGS });
    for (let i = 1; i <= o.runs; i++) {
      // Alternate which goes first, so neither always follows the other's kernel shutdown.
      const order: ("ahead" | "cold")[] = i % 2 ? ["ahead", "cold"] : ["cold", "ahead"];
      for (const way of order) {
        const prep = prepareSession(
          "sandbox",
          {
            BASE_URL: sb.marketplaceUrl,
            HYPERSWITCH_URL: sb.hyperswitchUrl,
            OPERATOR_EMAIL: sb.operator.email,
            REFUND: true,
            DOCS_DIR: scratchDocs(path.join(work, "docs")),
          },
          { archiveDir: path.join(work, "archive") },
        );
        const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
        try {
          const rel = path.relative(REPO, prep.notebook).split(path.sep).map(encodeURIComponent).join("/");
          // Awaited: npm run session prints the URL once the kernel is warm, and P6 starts there.
          if (way === "ahead")
            prestarts.push(
              await prestartKernel({
                origin: lab.origin,
                token: lab.token,
                rel,
                kernelName: kernelNameOf(prep.notebook),
              }).catch((err: Error) => ({ error: err.message })),
            );
          const nb = new LabNotebook(await ctx.newPage(), path.join(work, "shots"));
          const s = await openToPreflight(nb, lab, prep.notebook, `npm run bench (P6, ${way})`);
          (way === "ahead" ? runs : cold).push(s);
          o.log(
            `P6 run ${i}/${o.runs} (${way === "ahead" ? "kernel started ahead" : "kernel started by the browser"}): ${s.ms} ms, pre-flight ${s.passed ? "PASS" : "not PASS"}`,
          );
        } finally {
          await ctx.close().catch(() => undefined);
          // Each run starts its own kernel, as opening a notebook does; the last one is let go.
          const kernels = await lab.api("GET", "/api/kernels").catch(() => ({ body: [] }));
          if (Array.isArray(kernels.body))
            await Promise.all(kernels.body.map((k: { id: string }) => lab.api("DELETE", `/api/kernels/${k.id}`)));
        }
      }
    }
  } finally {
    await browser?.close().catch(() => undefined);
    await lab.stop().catch(() => undefined);
  }
  const med = (xs: P6Sample[]) => {
    const good = xs.filter((r) => r.passed);
    return good.length ? median(good.map((r) => r.ms)) : NaN;
  };
  return {
    runs,
    medianMs: med(runs),
    prestarts,
    cold,
    coldMedianMs: med(cold),
    labStartMs,
    uiTest: lastRecordedP6(),
  };
}
