/**
 * The headless payer's browser launched ahead (issue 26): the session cell starts Chromium, the pay
 * cell takes it, and a browser nobody takes is closed (by the runbook, or by itself when idle) with
 * its throwaway profile removed. Real Chromium against the sandbox's hosted checkout.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startSandbox, type Sandbox } from "../../sandbox";
import { findChromium, findPayerBrowser, HEADLESS_SHELL_PATHS, WarmPayer } from "../../lib/clients/payer";
import { Session } from "../../lib/run/session";
import { openStaging } from "../run/fixtures";

// The payer's profiles are counted in a temporary folder of this file's own: `npm test` runs other
// files side by side, and their browsers (the e2e notebook's payer) would count as ours.
const ownTmp = fs.mkdtempSync(path.join(os.tmpdir(), "payer-test-"));
process.env.TMPDIR = ownTmp;
const skip = findChromium() ? false : "no chromium installed (CI installs Debian's chromium)";
let sb: Sandbox;
let archive: string;

/** The payer's throwaway profiles that exist now (they are removed when their browser closes). */
const profiles = () => new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("e2e-payer-")));
const newProfiles = (before: Set<string>) => [...profiles()].filter((f) => !before.has(f));

/** The command lines of the processes running with this profile (Debian's wrappers are shell scripts). */
function commandsOf(profile: string): string[][] {
  const out: string[][] = [];
  for (const pid of fs.readdirSync("/proc").filter((f) => /^\d+$/.test(f))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv.some((a) => a.includes(profile))) out.push(argv);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

before(async () => {
  sb = await startSandbox({ quiet: true });
  archive = fs.mkdtempSync(path.join(os.tmpdir(), "payer-"));
});
after(async () => {
  await sb?.stop();
  fs.rmSync(ownTmp, { recursive: true, force: true });
});

test("the pay cell pays with the browser the session cell launched, and it is gone afterwards", { skip }, async () => {
  const rb = openStaging(sb, archive, Session.create("staging", archive), { AUTO_PAY: "success" });
  const seen = profiles();
  try {
    rb.warmPayer();
    for (const id of ["preflight", "login", "product", "order"]) {
      const r = await rb.run(id);
      assert.equal(r.status, "PASS", `${id}: ${r.reason}`);
    }
    // The launch began in the session cell: its profile exists before the pay cell runs.
    assert.equal(newProfiles(seen).length, 1, "one browser launched ahead");
    // Chromium's headless shell when installed (a third of the full browser's CPU), else chromium.
    const shell = HEADLESS_SHELL_PATHS.find((p) => fs.existsSync(p));
    assert.equal(findPayerBrowser(), shell ?? findChromium());
    const launched = commandsOf(newProfiles(seen)[0]);
    assert.ok(
      launched.some((argv) => argv.slice(0, 3).includes(shell ?? findChromium()!)),
      `the browser launched ahead is ${shell ?? findChromium()}: ${launched.map((a) => a.slice(0, 3).join(" ")).join("; ")}`,
    );
    const p = await rb.pay();
    assert.equal(p.auto?.via, "chromium");
    assert.match(p.auto?.status ?? "", /^(processing|succeeded)$/, "the checkout accepted the card");
    assert.equal(p.auto?.last4, "4242");
    const paid = await rb.confirmPaid();
    assert.equal(paid.status, "PASS", paid.reason);
    // Driven over Chromium's own protocol pipe: playwright-core's import was about 0.25 s of the
    // kernel's CPU in the session cell (bench P1), so the payer does not load it.
    const loaded = Object.keys(require.cache).filter((f) => f.includes(`${path.sep}playwright-core${path.sep}`));
    assert.deepEqual(loaded, [], "the payer loaded playwright-core");
  } finally {
    await rb.close();
  }
  for (let i = 0; i < 50 && newProfiles(seen).length; i++) await sleep(100);
  assert.deepEqual(newProfiles(seen), [], "the browser closed after paying and its profile was removed");
});

test("a browser launched ahead and never taken is closed with the session, or by itself when idle", {
  skip,
}, async () => {
  const seen = profiles();
  const rb = openStaging(sb, archive, Session.create("staging", archive), { AUTO_PAY: "success" });
  rb.warmPayer();
  rb.warmPayer(); // a second call launches nothing more
  await rb.close();
  assert.deepEqual(newProfiles(seen), [], "closing the runbook closed the browser it launched ahead");

  const idle = WarmPayer.start(200);
  assert.ok(idle);
  for (let i = 0; i < 100 && newProfiles(seen).length === 0; i++) await sleep(50);
  assert.equal(newProfiles(seen).length, 1, "launched");
  for (let i = 0; i < 100 && newProfiles(seen).length; i++) await sleep(100);
  assert.deepEqual(newProfiles(seen), [], "closed by itself after 200 ms untaken");
  assert.equal(await idle.take(), null, "nothing left to take");
});

test("no headless payment due (AUTO_PAY empty): no browser is launched", { skip }, async () => {
  const seen = profiles();
  const rb = openStaging(sb, archive, Session.create("staging", archive));
  try {
    rb.warmPayer();
    await sleep(300);
    assert.deepEqual(newProfiles(seen), [], "AUTO_PAY empty: nothing launched");
  } finally {
    await rb.close();
  }
});
