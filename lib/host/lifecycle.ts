/**
 * The host side of a session's life, for `npm run session` (lib/host/session-life.ts): which earlier
 * sessions an archive holds and which of them may be resumed (`--resume`), which leave money moved
 * without a refund (a new session then needs `--new-anyway`), the per-session JupyterLab workspace,
 * and telling the kernels that the host is stopping them (so a step records "stopped by the host",
 * not Kernel ■). Sealed folders are never offered for running: their manifest.json says so.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SessionError } from "../errors";
import { JOURNAL_FILE, MANIFEST_FILE, SESSION_NOTEBOOK } from "../evidence/files";
import { Journal, sessionDir } from "../evidence/journal";
import { moneyMoved, moneyOutstanding } from "../run/ledger";
import { alive, descendants, parentOf } from "../procs";
import { describeHolder, heldByOther, lockHolder } from "../run/lock";
import type { Mode } from "../types";
import { STEPS, refundStepNo } from "../run/steps";

/**
 * Removes a session folder nobody worked in: the journal holds only its header and nothing but
 * the journal and the notebook is there. Returns whether it was removed.
 */
export function removeIfUnused(dir: string): boolean {
  try {
    const entries = Journal.open(dir).all();
    const files = fs.readdirSync(dir).filter((f) => f !== ".ipynb_checkpoints");
    const untouched =
      entries.length === 1 &&
      entries[0].kind === "session_created" &&
      files.every((f) => f === JOURNAL_FILE || f === SESSION_NOTEBOOK);
    if (!untouched) return false;
    fs.rmSync(dir, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Calls `onLost` once when one of the processes that launched this one exits: `npm run session`
 * passes a SIGTERM to its shell, which dies without passing it on, leaving tsx and this process
 * behind. Watches up to `depth` ancestors (tsx, sh, npm) for a changed parent, read from /proc;
 * where there is no /proc (macOS), only whether the direct parent is still alive.
 */
export function watchAncestors(onLost: () => void, depth = 4, everyMs = 1000): () => void {
  const chain: Array<[pid: number, ppid: number | null]> = [];
  for (let pid = process.ppid; pid > 1 && chain.length < depth; ) {
    const ppid = parentOf(pid);
    chain.push([pid, ppid]);
    if (ppid === null) break;
    pid = ppid;
  }
  const self = parentOf(process.pid);
  const timer = setInterval(() => {
    const orphaned = self !== null && parentOf(process.pid) !== self;
    const lost = chain.some(([pid, ppid]) => (ppid === null ? !alive(pid) : parentOf(pid) !== ppid));
    if (orphaned || lost) {
      clearInterval(timer);
      onLost();
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** One session folder of an archive, as the journal and the folder say. */
export interface SessionInfo {
  id: string;
  dir: string;
  mode: Mode | null;
  createdAt: string;
  /** manifest.json is there: the folder is read-only to the tool, never run again. */
  sealed: boolean;
  moneyMoved: boolean;
  /** Money moved and no refund has succeeded (lib/evidence/journal.ts, the report's own reading). */
  moneyOutstanding: boolean;
  /** Why its journal does not read (an edit, a corruption), when it does not: it cannot say whether money moved. */
  unreadable?: string;
}

/** Every session folder under `archiveDir` whose journal reads, oldest first. */
export function listSessions(archiveDir: string): SessionInfo[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(archiveDir);
  } catch {
    return [];
  }
  const out: SessionInfo[] = [];
  for (const id of names) {
    const dir = sessionDir(archiveDir, id);
    if (!fs.existsSync(path.join(dir, JOURNAL_FILE))) continue;
    try {
      const entries = Journal.open(dir).all();
      const head = entries[0]?.kind === "session_created" ? entries[0].data : null;
      out.push({
        id,
        dir,
        mode: head?.mode ?? null,
        createdAt: head?.created_at ?? entries[0]?.at ?? "",
        sealed: fs.existsSync(path.join(dir, MANIFEST_FILE)),
        moneyMoved: moneyMoved(entries),
        moneyOutstanding: moneyOutstanding(entries),
      });
    } catch {
      // a journal that does not read is not offered for anything: verify names what is wrong with it
    }
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * Earlier sessions that hold a new `mode` session back: not sealed (they can still be resumed and
 * refunded), money moved and no refund succeeded; of the same mode, or live (real money) for any mode.
 */
export function unsettledSessions(archiveDir: string, mode: Mode): SessionInfo[] {
  const known = listSessions(archiveDir).filter(
    (s) => !s.sealed && s.moneyOutstanding && (s.mode === mode || s.mode === "live"),
  );
  // A journal that does not read cannot say no money moved: it holds a new session back too, of any mode.
  return [...known, ...unreadableSessions(archiveDir)];
}

/** Unsealed session folders whose journal does not read (listSessions leaves them out), with why. */
function unreadableSessions(archiveDir: string): SessionInfo[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(archiveDir).sort();
  } catch {
    return [];
  }
  return names.flatMap((id) => {
    const dir = sessionDir(archiveDir, id);
    if (!fs.existsSync(path.join(dir, JOURNAL_FILE)) || fs.existsSync(path.join(dir, MANIFEST_FILE))) return [];
    try {
      Journal.open(dir);
      return [];
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return [
        {
          id,
          dir,
          mode: null,
          createdAt: "",
          sealed: false,
          moneyMoved: false,
          moneyOutstanding: false,
          unreadable: why,
        },
      ];
    }
  });
}

/** The refusal of a new session while `earlier` ones have money moved and no refund. */
export function unsettledRefusal(earlier: SessionInfo[]): SessionError {
  const broken = earlier.find((s) => s.unreadable);
  if (broken)
    return new SessionError(
      `session ${broken.id}'s journal does not read (${broken.unreadable}): it cannot say whether money moved there — restore it and resume it (\`npm run session -- --resume ${broken.id}\`), check its order at the orchestrator, or start a new session anyway with --new-anyway`,
    );
  const last = earlier[earlier.length - 1];
  const named = earlier.map((s) => s.id).join(", ");
  return new SessionError(
    `${earlier.length === 1 ? "session" : "sessions"} ${named} moved money and ${earlier.length === 1 ? "has" : "have"} no refund yet: resume it with \`npm run session -- --resume ${last.id}\` and refund at ${refundStepNo(STEPS)}, or start a new session anyway with --new-anyway`,
  );
}

/**
 * The session `--resume [<id>]` reopens: `id`, or the newest unsealed one (of `mode` when given).
 * Refused, with the fix, when it does not exist, is sealed, has no notebook, or is open in a live
 * kernel of this machine (or any kernel of another host: its lock cannot be checked from here).
 */
export function resumeTarget(archiveDir: string, id: string | undefined, mode?: Mode): SessionInfo {
  const all = listSessions(archiveDir);
  let s: SessionInfo | undefined;
  if (id) {
    s = all.find((x) => x.id === id);
    if (!s) {
      const dir = sessionDir(archiveDir, id);
      throw new SessionError(
        fs.existsSync(dir)
          ? `${dir} has no readable journal (${JOURNAL_FILE}): it cannot be resumed — run npm run verify -- ${dir} to see why`
          : `no session ${id} in ${archiveDir}: check the id (ls ${archiveDir}), or give --archive-dir`,
      );
    }
  } else {
    s = all.filter((x) => !x.sealed && (!mode || x.mode === mode)).pop();
    if (!s)
      throw new SessionError(
        `no unfinished${mode ? ` ${mode}` : ""} session in ${archiveDir} to resume: start one with npm run session -- --mode ${mode ?? "<mode>"}`,
      );
  }
  if (s.sealed)
    throw new SessionError(
      `session ${s.id} is sealed (${MANIFEST_FILE}): a sealed session is never run again — read its payment-e2e.html or run npm run verify -- ${s.dir}; start a new session with npm run session -- --mode ${s.mode ?? "<mode>"}`,
    );
  if (mode && s.mode !== mode)
    throw new SessionError(
      `session ${s.id} is a ${s.mode} session, not ${mode}: leave --mode out to resume it as it is`,
    );
  if (!fs.existsSync(path.join(s.dir, SESSION_NOTEBOOK)))
    throw new SessionError(
      `session ${s.id} has no ${SESSION_NOTEBOOK}: it cannot be resumed — start a new session with npm run session -- --mode ${s.mode ?? "<mode>"}`,
    );
  const holder = lockHolder(s.dir);
  if (heldByOther(holder))
    throw new SessionError(
      `session ${s.id} is open in a kernel (${describeHolder(holder)}): stop the Jupyter that runs it (Ctrl-C in its terminal), then resume`,
    );
  return s;
}

/**
 * The browser URL of a notebook: JupyterLab opens it in a workspace of its own, named after the
 * session and started empty (`?reset`), so no earlier session's notebook reopens beside it.
 * The classic Notebook has no workspaces.
 */
export function notebookUrl(
  base: string,
  urlPrefix: "lab/tree" | "notebooks",
  rel: string,
  token: string,
  workspace: string,
): string {
  if (urlPrefix === "notebooks") return `${base}/notebooks/${rel}?token=${token}`;
  return `${base}/lab/workspaces/${encodeURIComponent(workspace)}/tree/${rel}?token=${token}&reset`;
}

/** The tslab kernels below a Jupyter server (Linux /proc; none elsewhere). */
export function kernelsOf(serverPid: number): number[] {
  return descendants(serverPid).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("tslab");
    } catch {
      return false;
    }
  });
}

/**
 * Kernels a Jupyter server left behind when it exited (Linux /proc): `pids` seen below it while it ran,
 * and the kernels whose connection file names one of `kernelIds` (a kernel Jupyter was still starting
 * when it was stopped is re-parented, so only its id finds it). Left alive, such a kernel holds
 * Jupyter's output open, and with it `npm run session`, forever. Each gets SIGTERM, then SIGKILL
 * after `killAfterMs`. Returns the pids signalled.
 */
export function reapKernels(pids: readonly number[], kernelIds: readonly string[], killAfterMs = 3000): number[] {
  const left = new Set(pids.filter(alive));
  if (kernelIds.length) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
    } catch {
      // no /proc: only the pids seen can be reaped
    }
    for (const d of entries) {
      let cmd = "";
      try {
        cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8");
      } catch {
        continue;
      }
      if (cmd.includes("tslab") && kernelIds.some((id) => cmd.includes(`kernel-${id}.json`))) left.add(Number(d));
    }
  }
  const out = [...left].filter((pid) => pid !== process.pid);
  for (const pid of out) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      continue;
    }
    setTimeout(() => {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }, killAfterMs).unref();
  }
  return out;
}

/**
 * Tells the kernels below `serverPid` that the host is stopping them, before Jupyter's own
 * shutdown interrupts them as Kernel ■ would: SIGHUP for a lost terminal, SIGUSR2 for Ctrl-C or
 * SIGTERM. The kernel records its running step as stopped by the host (lib/notebook/kernel.ts;
 * the launcher keeps both signals from killing a kernel the notebook has not hooked yet).
 * Returns how many kernels were told.
 */
export function tellKernelsHostStops(serverPid: number, why: "terminal lost" | "stopped"): number {
  let n = 0;
  for (const pid of kernelsOf(serverPid)) {
    try {
      process.kill(pid, why === "terminal lost" ? "SIGHUP" : "SIGUSR2");
      n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}
