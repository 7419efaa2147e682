/**
 * The kernel-level hooks of the notebook (once per tslab kernel): Kernel ■ (SIGINT) stops the
 * running step, and tslab's interrupt stack trace becomes one line.
 */
import { interruptAll } from "../run/session";

let processHooked = false;
const TSLAB_INTERRUPT = "Interrupted asynchronously";

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
  let interruptError: Error | null = null;
  const line = () =>
    `■ Interrupted: ${stopped.length ? `step ${stopped.join(", ")} stopped and recorded INTERRUPTED` : "no step was running"}; nothing more is recorded for it. Run the cell again to resume.`;
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
    stopped = interruptAll("interrupted by the operator (Kernel ■)");
    if (interruptError) interruptError.stack = line();
  });
}
