/**
 * One kernel per session (issue 14 §7). Two kernels on one session forked the trace (two lines with
 * seq 18) and the session could never be resumed. A kernel that opens a session takes its lock file
 * (`.#session.lock`: pid, host, since), created exclusively; a second kernel is refused, naming the
 * holder. The same process may open it again (a re-run session cell). A lock whose process is gone
 * (a kernel killed on this host) is taken over, and the caller records that in the trace.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SessionError } from "../errors";
import { SESSION_LOCK_FILE } from "../evidence/files";
import { alive } from "../procs";

export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** Who holds the session's lock, or null when nobody does (no file, or unreadable: a torn write). */
export function lockHolder(dir: string): LockHolder | null {
  try {
    const h = JSON.parse(fs.readFileSync(path.join(dir, SESSION_LOCK_FILE), "utf8")) as LockHolder;
    return typeof h.pid === "number" && typeof h.host === "string" ? h : null;
  } catch {
    return null;
  }
}

/** A lock held by a live process, or by any process of another host (which cannot be checked). */
export function heldByOther(h: LockHolder | null): h is LockHolder {
  if (!h) return false;
  if (h.host !== os.hostname()) return true;
  return h.pid !== process.pid && alive(h.pid);
}

export const describeHolder = (h: LockHolder) => `pid ${h.pid} on ${h.host} since ${h.since}`;

/** How many sessions of this process hold each folder's lock: the file goes when the last closes. */
const holds = new Map<string, number>();

// A kernel shut down or restarted without closing its session gives its locks up as it exits, so the
// next kernel (Restart Kernel and Run All) does not find its predecessor still holding them.
process.once("exit", () => {
  for (const key of holds.keys()) {
    const h = lockHolder(key);
    if (h && h.pid === process.pid && h.host === os.hostname())
      fs.rmSync(path.join(key, SESSION_LOCK_FILE), { force: true });
  }
});

/**
 * Takes the session's lock for this process. Throws SessionError when another live kernel holds it;
 * returns the stale holder it replaced (a killed kernel), or null.
 */
export function acquireSessionLock(dir: string, sessionId: string): LockHolder | null {
  const file = path.join(dir, SESSION_LOCK_FILE);
  const mine: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  let stale: LockHolder | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const key = path.resolve(dir);
    try {
      fs.writeFileSync(file, `${JSON.stringify(mine)}\n`, { flag: "wx" });
      holds.set(key, (holds.get(key) ?? 0) + 1);
      return stale;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const h = lockHolder(dir);
    if (h && h.pid === process.pid && h.host === mine.host) {
      holds.set(key, (holds.get(key) ?? 0) + 1);
      return null;
    }
    if (heldByOther(h))
      throw new SessionError(
        `session ${sessionId} is open in another kernel (${describeHolder(h)}): close that notebook or shut its kernel down (Kernel → Shut Down Kernel), then run this cell again`,
      );
    // The holder is gone (a killed kernel): its lock is stale.
    fs.rmSync(file, { force: true });
    stale = h ?? stale;
  }
  throw new SessionError(`session ${sessionId}: could not take its lock ${file}; run this cell again`);
}

/** Gives one hold up; the lock file goes when this process's last session on the folder closes. */
export function releaseSessionLock(dir: string): void {
  const key = path.resolve(dir);
  const n = (holds.get(key) ?? 1) - 1;
  if (n > 0) {
    holds.set(key, n);
    return;
  }
  holds.delete(key);
  const h = lockHolder(dir);
  if (h && h.pid === process.pid && h.host === os.hostname())
    fs.rmSync(path.join(dir, SESSION_LOCK_FILE), { force: true });
}
