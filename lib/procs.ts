/**
 * Processes of this machine, for the lock, the UI launcher, the demo and their tests: whether one is
 * alive, its parent and everything below it. Linux reads /proc; elsewhere parent and descendants are
 * unknown (null, none) and only `alive` answers.
 */
import * as fs from "node:fs";

/** Whether a process is alive (signal 0 checks without sending anything; EPERM: alive, not ours). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** `pid`'s parent, from /proc (Linux); null when the process is gone or /proc is absent. */
export function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** Every process below `pid`, children first (Linux /proc; none where there is no /proc). */
export function descendants(pid: number): number[] {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const d of entries) {
    const ppid = parentOf(Number(d));
    if (ppid !== null) children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
  }
  const out: number[] = [];
  for (let todo = [pid]; todo.length > 0; ) {
    const next = children.get(todo.pop() as number) ?? [];
    out.push(...next);
    todo.push(...next);
  }
  return out;
}
