/**
 * A kernel Jupyter was still starting when it was stopped is re-parented and lives on, holding
 * Jupyter's output, and with it `npm run session`, open forever (seen in CI: the docs test's session
 * stopped right after its URL hung 300 s). `reapKernels` finds such a kernel by its id and stops it.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { reapKernels } from "../../lib/host/lifecycle";
import { alive } from "../../lib/procs";

/** A process whose command line looks like a tslab kernel's with this connection file. */
function fakeKernel(id: string, ignoreTerm = false) {
  const code = ignoreTerm ? "process.on('SIGTERM',()=>{});setInterval(()=>{},1000)" : "setInterval(()=>{},1000)";
  return spawn(process.execPath, ["-e", code, "tslab", "kernel", "--config-path", `/tmp/kernel-${id}.json`], {
    stdio: "ignore",
  });
}

const gone = async (pid: number, ms: number) => {
  for (const t0 = Date.now(); Date.now() - t0 < ms; ) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

test("a kernel left behind is found by its id and stopped; another kernel is not touched", async () => {
  const mine = fakeKernel("1111aaaa-0000-0000-0000-000000000000");
  const other = fakeKernel("2222bbbb-0000-0000-0000-000000000000");
  try {
    await new Promise((r) => setTimeout(r, 300));
    const reaped = reapKernels([], ["1111aaaa-0000-0000-0000-000000000000"]);
    assert.deepEqual(reaped, [mine.pid]);
    assert.ok(await gone(mine.pid as number, 5000), "the left-behind kernel still runs");
    assert.ok(alive(other.pid as number), "a kernel of another id was stopped");
  } finally {
    mine.kill("SIGKILL");
    other.kill("SIGKILL");
  }
});

test("a kernel that ignores SIGTERM gets SIGKILL after the grace; a pid seen earlier is reaped too", async () => {
  const stubborn = fakeKernel("3333cccc-0000-0000-0000-000000000000", true);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const reaped = reapKernels([stubborn.pid as number], [], 300);
    assert.deepEqual(reaped, [stubborn.pid]);
    assert.ok(await gone(stubborn.pid as number, 5000), "SIGKILL did not follow");
  } finally {
    stubborn.kill("SIGKILL");
  }
});
