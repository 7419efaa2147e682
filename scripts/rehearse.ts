/**
 * A full headless rehearsal: start the sandbox (or use a running one), prepare a session,
 * execute the runbook notebook with real Jupyter, export HTML, archive. Shared by `npm run demo`,
 * the end-to-end tests, the fault suite and the benchmarks. Lives outside lib/ because it starts
 * the sandbox, which the runbook itself must never import.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { startSandbox, type Faults, type Sandbox } from "../sandbox/index";
import { archiveSession, type ArchiveOptions, type ArchiveResult } from "../lib/host/archive";
import { renderReportSkeleton } from "../lib/report/report";
import { STEPS } from "../lib/run/steps";
import { executeNotebook } from "../lib/host/jupyter";
import { Journal, latestStepResults } from "../lib/evidence/journal";
import { prepareSession } from "../lib/host/prepare";
import { dsnPassword } from "../lib/run/session";
import { heldByOther, lockHolder } from "../lib/run/lock";
import type { Mode } from "../lib/types";

export interface RehearsalOptions {
  mode?: Mode;
  archiveDir?: string;
  faults?: Partial<Faults>;
  /** Reuse a running sandbox (tests share one); otherwise one is started on PGlite and stopped. */
  sandbox?: Sandbox;
  databaseUrl?: string;
  /** Living report + GO/NO-GO checklist; default: the repo's docs/ for the default archive, else a docs/ beside the archive. */
  docsDir?: string;
  params?: Record<string, string | number | boolean>;
  log?: (line: string) => void;
  /** false: export the HTML with a second Python (nbconvert's command line), as before issue 15 (the bench compares). */
  oneProcessExport?: boolean;
  /**
   * false: the archive starts, and the executor makes its HTML page, only after the executor has shut
   * the kernel down, not while it does (the bench compares).
   */
  overlapShutdown?: boolean;
  /** Seal-rule exceptions for the archive (a run that leaves money out on purpose): see lib/host/seal-rules.ts. */
  seal?: Pick<ArchiveOptions, "unrefunded" | "incomplete">;
}

export interface Rehearsal {
  sessionId: string;
  dir: string;
  notebook: string;
  statuses: Map<number, string>;
  allPassed: boolean;
  execute: Awaited<ReturnType<typeof executeNotebook>>;
  archive: ArchiveResult | null;
  archiveError: string | null;
  timings: Record<string, number>;
}

export async function rehearse(o: RehearsalOptions = {}): Promise<Rehearsal> {
  const log = o.log ?? (() => undefined);
  const timings: Record<string, number> = {};
  const t = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };
  const own = !o.sandbox;
  const sb =
    o.sandbox ??
    (await t("sandbox_start", () => startSandbox({ quiet: true, faults: o.faults, databaseUrl: o.databaseUrl })));
  if (!own && o.faults) sb.setFaults(o.faults);
  try {
    const mode = o.mode ?? "sandbox";
    const archiveDir = o.archiveDir ?? "archive/payment-e2e";
    const docsDir = o.docsDir ?? (o.archiveDir ? scratchDocs(path.join(archiveDir, "docs")) : "docs");
    const prep = prepareSession(
      mode,
      {
        BASE_URL: sb.marketplaceUrl,
        HYPERSWITCH_URL: sb.hyperswitchUrl,
        OPERATOR_EMAIL: sb.operator.email,
        REFUND: true,
        AUTO_PAY: "success",
        DOCS_DIR: docsDir,
        ...o.params,
      },
      { archiveDir },
    );
    log(`session ${prep.sessionId} → ${prep.dir}`);
    const env = {
      OPERATOR_PASSWORD: sb.operator.password,
      DATABASE_URL: sb.readonlyDsn,
      HYPERSWITCH_API_KEY: sb.apiKey,
    };
    const overlap = o.overlapShutdown !== false;
    let cellsDone: () => void = () => undefined;
    const final = new Promise<"final">((res) => {
      cellsDone = () => res("final");
    });
    const executing = t("execute", () =>
      executeNotebook(prep.notebook, env, {
        exportAfter: o.oneProcessExport !== false,
        exportAhead: overlap,
        onCellsDone: overlap ? cellsDone : undefined,
      }),
    );
    // The notebook is final after its last cell's save (the executor writes it no more): the archive
    // starts as soon as the kernel has let the session go (its lock goes as it exits), while the
    // executor still waits for the kernel's process to end (bench P1).
    if ((await Promise.race([final, executing.then(() => "executed" as const)])) === "final")
      await sessionReleased(prep.dir, executing);
    const archiving = t("archive", () =>
      archiveSession(prep.dir, {
        ...o.seal,
        docsDir,
        extraSecrets: [sb.operator.password, sb.apiKey, sb.webhookSecret, dsnPassword(sb.readonlyDsn)],
      }),
    ).then(
      (archive) => ({ archive, archiveError: null }),
      (err: unknown) => ({ archive: null, archiveError: (err as Error).message }),
    );
    const execute = await executing.catch(async (err: unknown) => {
      await archiving; // nothing is left writing when the error goes up
      throw err;
    });
    log(`notebook executed in ${execute.ms} ms (executor exit ${execute.code})`);
    if (execute.failure) log(`HEADLESS RUN STOPPED: ${execute.failure}`);
    if (execute.silent.length)
      log(
        `HEADLESS RUN INCOMPLETE: ${execute.silent.length} cell(s) produced no output (${execute.silent.join(", ")}) — the kernel skipped them; see the executed notebook`,
      );
    const { archive, archiveError }: { archive: ArchiveResult | null; archiveError: string | null } = await archiving;
    const results = latestStepResults(Journal.open(prep.dir).all());
    const statuses = new Map([...results.values()].map((r) => [r.step, r.status as string]));
    const allPassed =
      STEPS.every((d) => statuses.get(d.n) === "PASS") && execute.silent.length === 0 && execute.failure === null;
    return {
      sessionId: prep.sessionId,
      dir: prep.dir,
      notebook: prep.notebook,
      statuses,
      allPassed,
      execute,
      archive,
      archiveError,
      timings,
    };
  } finally {
    if (own) await sb.stop();
  }
}

/**
 * Resolves once no other live process holds the session's lock (the kernel gives it up as it exits,
 * lib/run/lock.ts), or once `until` settles; polled every 5 ms. An unreadable lock chain ends the wait:
 * the archive's own check then says what is wrong.
 */
async function sessionReleased(dir: string, until: Promise<unknown>): Promise<void> {
  let settled = false;
  until.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (;;) {
    try {
      if (settled || !heldByOther(lockHolder(dir))) return;
    } catch {
      return;
    }
    await new Promise((res) => setTimeout(res, 5));
  }
}

/** A docs folder for rehearsals outside the repo's archive: a fresh report and a copy of the checklist. */
export function scratchDocs(dir: string): string {
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "PAYMENT_E2E_LIVE_REPORT.md"), renderReportSkeleton());
    fs.copyFileSync(
      path.join(__dirname, "..", "docs", "GO_NO_GO_CHECKLIST.md"),
      path.join(dir, "GO_NO_GO_CHECKLIST.md"),
    );
  }
  return dir;
}
