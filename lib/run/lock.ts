/**
 * One kernel per session (issue 14 §7). Two kernels on one session forked the trace (two lines with
 * seq 18) and the session could never be resumed. A kernel that opens a session takes its lock file
 * (`.#session.lock`: pid, host, since); a second kernel is refused, naming the holder. The same
 * process may open it again (a re-run session cell). A lock whose process is gone (a kernel killed
 * on this host) is taken over, and the caller records that in the trace.
 *
 * Admitting exactly one holder (issue 25 §5): six kernels racing on a stale lock let two in, because
 * each removed "the stale lock" and the second removed the first one's fresh lock. Now nothing a
 * live process holds is ever removed by another, and every lock file appears whole at once:
 * - a lock file is created by hard-linking a complete temporary file to its name (fails if taken);
 * - a stale lock is not removed: it is *succeeded* by `.#session.lock.after-<hash of its bytes>`,
 *   which one process alone can create. The holder is at the end of that chain; a dead holder with
 *   no successor yet is what a newcomer succeeds, so each stale lock has at most one successor;
 * - a successor checks, once created, that the chain from `.#session.lock` still leads to it (a
 *   release can unlink the chain meanwhile) and otherwise steps back and tries again;
 * - the holder releases by unlinking its chain from the start, its own link last.
 */
import * as crypto from "node:crypto";
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

/** One link of the chain: its file, its bytes, and who they name (null: unreadable or torn). */
interface Link {
  file: string;
  raw: string;
  holder: LockHolder | null;
}

const MAX_CHAIN = 1000; // links followed before giving up (one per kernel killed while holding it)
const TORN_MS = 2 * 1000; // an unreadable lock younger than this may be mid-write (no hard links)

function parseHolder(raw: string): LockHolder | null {
  try {
    const h = JSON.parse(raw) as LockHolder;
    return typeof h.pid === "number" && typeof h.host === "string" ? h : null;
  } catch {
    return null;
  }
}

function readRaw(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

const successorOf = (dir: string, raw: string) =>
  path.join(dir, `${SESSION_LOCK_FILE}.after-${crypto.createHash("sha256").update(raw).digest("hex").slice(0, 32)}`);

/** The chain from `.#session.lock` to its last link (empty when there is no lock file). */
function chain(dir: string): Link[] {
  const links: Link[] = [];
  let file = path.join(dir, SESSION_LOCK_FILE);
  for (let i = 0; i < MAX_CHAIN; i++) {
    const raw = readRaw(file);
    if (raw === null) return links;
    links.push({ file, raw, holder: parseHolder(raw) });
    file = successorOf(dir, raw);
  }
  throw new SessionError(`session lock of ${dir}: more than ${MAX_CHAIN} stale locks; remove ${dir}/.#session.lock*`);
}

/** Who holds the session's lock (the last link), or null when nobody does (no file, or unreadable). */
export function lockHolder(dir: string): LockHolder | null {
  return chain(dir).at(-1)?.holder ?? null;
}

/** A lock held by a live process, or by any process of another host (which cannot be checked). */
export function heldByOther(h: LockHolder | null): h is LockHolder {
  if (!h) return false;
  if (h.host !== os.hostname()) return true;
  return h.pid !== process.pid && alive(h.pid);
}

export const describeHolder = (h: LockHolder) => `pid ${h.pid} on ${h.host} since ${h.since}`;

const isMine = (h: LockHolder | null) => h !== null && h.pid === process.pid && h.host === os.hostname();

/** Creates `file` holding `text`, whole, or returns false when it exists (a hard link cannot half-exist). */
function createWhole(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { flag: "wx" });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  // A file system without hard links: an exclusive create (a reader may see it empty for a moment).
  try {
    fs.writeFileSync(file, text, { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/** Unlinks `file` if it still holds `raw` (only a link nobody else may remove is passed here). */
function unlinkIf(file: string, raw: string): void {
  if (readRaw(file) === raw) fs.rmSync(file, { force: true });
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** This process's holds: how many sessions hold each folder's lock, and its link's file and bytes. */
const holds = new Map<string, { n: number; file: string; raw: string }>();

/** Gives the folder's lock up: its chain is unlinked from the start, this process's own link last. */
function unlinkChain(dir: string, mine: { file: string; raw: string }): void {
  const links = chain(dir);
  const at = links.findIndex((l) => l.file === mine.file && l.raw === mine.raw);
  // Not on the chain (a release already undid it): remove our own link only.
  for (const l of at < 0 ? [] : links.slice(0, at)) unlinkIf(l.file, l.raw);
  unlinkIf(mine.file, mine.raw);
}

// A kernel shut down or restarted without closing its session gives its locks up as it exits, so the
// next kernel (Restart Kernel and Run All) does not find its predecessor still holding them.
process.once("exit", () => {
  for (const [dir, h] of holds) {
    try {
      unlinkChain(dir, h);
    } catch {
      // exiting: a lock left behind is stale, and the next kernel succeeds it
    }
  }
});

/**
 * Takes the session's lock for this process. Throws SessionError when another live kernel holds it;
 * returns the stale holder it succeeded (a killed kernel), or null.
 */
export function acquireSessionLock(dir: string, sessionId: string): LockHolder | null {
  const key = path.resolve(dir);
  const held = holds.get(key);
  if (held && readRaw(held.file) === held.raw) {
    held.n++;
    return null;
  }
  const raw = `${JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() })}\n`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const links = chain(dir);
    const last = links.at(-1);
    if (last && isMine(last.holder)) {
      holds.set(key, { n: 1, file: last.file, raw: last.raw });
      return null;
    }
    if (last && heldByOther(last.holder))
      throw new SessionError(
        `session ${sessionId} is open in another kernel (${describeHolder(last.holder)}): close that notebook or shut its kernel down (Kernel → Shut Down Kernel), then run this cell again`,
      );
    if (last && !last.holder && Date.now() - mtimeMs(last.file) < TORN_MS) {
      pause(20); // maybe a lock being written where hard links are not available
      continue;
    }
    // No lock, or its holder is gone (a killed kernel): create the first link, or succeed the last.
    const file = last ? successorOf(dir, last.raw) : path.join(dir, SESSION_LOCK_FILE);
    if (!createWhole(file, raw)) continue; // another kernel was first: look again
    // Still on the chain from the start? A release may have unlinked it between our read and now.
    if (chain(dir).at(-1)?.file === file) {
      holds.set(key, { n: 1, file, raw });
      return last?.holder ?? null;
    }
    unlinkIf(file, raw);
    pause(5 + Math.floor(Math.random() * 20));
  }
  throw new SessionError(
    `session ${sessionId}: could not take its lock ${path.join(dir, SESSION_LOCK_FILE)}; run this cell again`,
  );
}

function mtimeMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Gives one hold up; the lock goes when this process's last session on the folder closes. */
export function releaseSessionLock(dir: string): void {
  const key = path.resolve(dir);
  const h = holds.get(key);
  if (!h) return;
  if (--h.n > 0) return;
  holds.delete(key);
  unlinkChain(dir, h);
}
