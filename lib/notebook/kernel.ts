/**
 * The kernel-level hooks of the notebook (once per tslab kernel): Kernel ■ (SIGINT) stops the
 * running step, and tslab's interrupt stack trace becomes one line. `npm run session` stopping
 * Jupyter under a running step (a closed terminal, Ctrl-C or SIGTERM in its terminal) tells the
 * kernel first, with SIGHUP or SIGUSR2 (lib/host/lifecycle.ts): the step is recorded as
 * stopped by the host, and Jupyter's shutdown interrupt that follows changes nothing.
 */
import { interruptAll } from "../run/session";

let processHooked = false;
const TSLAB_INTERRUPT = "Interrupted asynchronously";

/** Why a running step stopped when the host, not the operator's Kernel ■, stopped it. */
export const HOST_STOP = {
  SIGHUP: "stopped by the host: the terminal of npm run session closed (SIGHUP) and Jupyter was shut down",
  SIGUSR2: "stopped by the host: npm run session shut Jupyter down (Ctrl-C or SIGTERM in its terminal)",
} as const;

/**
 * Once per kernel: Kernel ■ (SIGINT) stops the running step, and tslab's "Interrupted
 * asynchronously" stack trace becomes one line saying what happened and what to do.
 *
 * tslab prints one Error object, made at kernel start, with the console.error it captured then, so
 * neither can be swapped. Its stack text is formatted lazily, on first print: a prepareStackTrace
 * hook gives that object one line instead, and our SIGINT listener (which runs before tslab's)
 * rewrites the line for each interrupt. Every other error keeps V8's usual format.
 */
export function hookKernel(): void {
  if (processHooked) return;
  processHooked = true;
  let stopped: number[] = [];
  let byHost = false;
  let interruptError: Error | null = null;
  const line = () =>
    `■ Interrupted: ${stopped.length ? `step ${stopped.join(", ")} stopped${byHost ? " by the host" : ""} and recorded INTERRUPTED` : "no step was running"}; nothing more is recorded for it. Run the cell again to resume.`;
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) => {
    if (error?.message === TSLAB_INTERRUPT) {
      interruptError = error;
      return line();
    }
    if (previous) return previous(error, frames);
    const head = error?.message ? `${error.name ?? "Error"}: ${error.message}` : String(error?.name ?? "Error");
    return [head, ...frames.map((f) => `    at ${f}`)].join("\n");
  };
  process.prependListener("SIGINT", () => {
    const now = interruptAll("interrupted by the operator (Kernel ■)");
    // Jupyter's shutdown interrupt right after the host's signal: the steps are already recorded.
    if (now.length || !byHost) [stopped, byHost] = [now, false];
    if (interruptError) interruptError.stack = line();
  });
  for (const signal of ["SIGHUP", "SIGUSR2"] as const)
    process.prependListener(signal, () => {
      const now = interruptAll(HOST_STOP[signal]);
      if (now.length) [stopped, byHost] = [now, true];
    });
}
