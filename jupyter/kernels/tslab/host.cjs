/*
 * Loaded before tslab by launch.sh (node --require), so it holds from the kernel's first moment.
 * - tslab answers a shell message it does not know (JupyterLab's history_request) with
 *   console.warn("unknown msg_type: …"); during a cell, tslab has routed stderr into that cell's
 *   output, so the line landed in a step's result. It goes to the kernel's own log instead.
 * - SIGHUP and SIGUSR2 are how `npm run session` tells a kernel that the host is stopping it
 *   (lib/host/lifecycle.ts); the notebook's hook (lib/notebook/kernel.ts) records the running
 *   step as stopped by the host. Until a notebook has hooked the kernel, they must not kill it.
 */
"use strict";
const kernelLog = process.stderr.write.bind(process.stderr);
const warn = console.warn;
console.warn = function (...args) {
  if (typeof args[0] === "string" && args[0].startsWith("unknown msg_type: ")) {
    kernelLog(`tslab: ${args[0]} (not answered; kept out of the cell's output)\n`);
    return;
  }
  return warn.apply(this, args);
};
for (const signal of ["SIGHUP", "SIGUSR2"]) process.on(signal, () => undefined);
