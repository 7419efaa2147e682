/**
 * The tslab kernel as Jupyter starts it (jupyter/kernels/tslab: launch.sh, host.cjs), driven by the
 * venv's jupyter_client: a message tslab does not know (JupyterLab's history_request, sent while a
 * cell runs) must not put "unknown msg_type" into that cell's output; and the host's stop signals
 * (SIGHUP, SIGUSR2 from `npm run session`) must not kill a kernel no notebook has hooked yet.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import { jupyterEnv, venvBin } from "../../lib/host/jupyter";

const PYTHON = venvBin("python");
const skip = fs.existsSync(PYTHON) ? false : ".venv/bin/python is missing (scripts/setup.sh)";

/** Runs a cell that waits 3 s; 1 s in, a history_request, then both signals; prints what came back. */
const DRIVER = `
import json, os, signal, time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="tslab", startup_timeout=120)
try:
    kc.execute_interactive("1 + 1", timeout=120)
    msg_id = kc.execute('await new Promise((r) => setTimeout(r, 3000)); console.log("cell done")')
    time.sleep(1)
    kc.history(hist_access_type="tail", n=10)
    time.sleep(0.5)
    pid = km.provisioner.pid
    os.kill(pid, signal.SIGHUP)
    os.kill(pid, signal.SIGUSR2)
    out, deadline = [], time.time() + 60
    while time.time() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=5)
        except Exception:
            break
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    print(json.dumps({"output": "".join(out), "alive": km.is_alive()}))
finally:
    km.shutdown_kernel(now=True)
`;

test("a history_request during a cell stays out of its output; the host's signals do not kill the kernel", {
  skip,
  timeout: 240_000,
}, () => {
  const r = spawnSync(PYTHON, ["-c", DRIVER], { env: jupyterEnv(), encoding: "utf8", timeout: 200_000 });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const got = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { output: string; alive: boolean };
  assert.match(got.output, /cell done/, `the cell did not finish: ${JSON.stringify(got)}`);
  assert.doesNotMatch(got.output, /unknown msg_type/);
  assert.equal(got.alive, true, "SIGHUP or SIGUSR2 killed the kernel");
});
