/**
 * The real-charge reminder follows what the backend says, not only MODE (issue 12 §7): a staging
 * pre-flight refused against production must not print "no real card is charged".
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { startSandbox, type Sandbox } from "../../sandbox";
import { ApiClient } from "../../lib/clients/http";
import { Trace } from "../../lib/evidence/trace";
import { runPreflight } from "../../lib/run/preflight";
import { stagingPreflightInput } from "./fixtures";

let sb: Sandbox;
let dir: string;
before(async () => {
  sb = await startSandbox({ quiet: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "reminder-"));
});
after(async () => sb?.stop());

async function preflight(): Promise<Awaited<ReturnType<typeof runPreflight>>> {
  const api = new ApiClient(sb.marketplaceUrl, {
    trace: Trace.open(path.join(dir, `t-${Date.now()}.jsonl`)),
    onAnomaly: () => undefined,
  });
  const input = stagingPreflightInput(sb, dir);
  try {
    return await runPreflight(input, api);
  } finally {
    await api.close();
  }
}

test("staging against a staging backend: the sandbox-mode reminder", async () => {
  sb.setFaults({ statusEnvironment: "staging", hyperswitchMode: "sandbox" });
  const r = await preflight();
  assert.equal(r.ok, true, r.refusals.join("; "));
  assert.match(r.reminder, /no real card is charged/);
});

for (const [name, faults] of [
  ["a production backend", { statusEnvironment: "production" as const, hyperswitchMode: "sandbox" as const }],
  ["live processors", { statusEnvironment: "staging" as const, hyperswitchMode: "live" as const }],
] as const) {
  test(`staging against ${name}: refused, and the reminder says a real card would be charged`, async () => {
    sb.setFaults(faults);
    const r = await preflight();
    assert.equal(r.ok, false);
    assert.match(r.reminder, /REAL MONEY: a real card will be charged/);
    assert.doesNotMatch(r.reminder, /no real card is charged/);
  });
}
