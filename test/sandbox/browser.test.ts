// Pays on the hosted checkout page in headless Chromium (Debian's package, driven by playwright-core).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type BrowserContext } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATHS } from "../../lib/clients/payer";
import { Api, backends, CARD_DECLINED, CARD_OK, CARD_SUCCESS, sql, useSandbox } from "./helpers";

const CHROMIUM = CHROMIUM_PATHS[0];
const ARGS = CHROMIUM_ARGS;
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

// One browser (fresh profile) for every backend: launching it is the slow part.
let browser: BrowserContext;
let profile: string | undefined;
before(async () => {
  if (skip) return;
  profile = mkdtempSync(join(tmpdir(), "sandbox-chromium-"));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
});
after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

for (const backend of backends()) {
  describe(`checkout in headless Chromium [${backend.name}]`, { skip }, () => {
    const sandbox = useSandbox(backend);

    test("a person-like payer fills the form, sees processing, the order completes", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await api.order();
      const page = await browser.newPage();
      try {
        await page.goto(order.payment_url);
        assert.match(await page.locator("#amount").innerText(), /5\.00 EUR/);
        await page.fill("#card_number", CARD_OK);
        await page.fill("#expiry", "12/39");
        await page.fill("#cvc", "123");
        await page.fill("#holder", "Ada Lovelace");
        await Promise.all([page.waitForURL(/\/checkout\//), page.click("button#pay")]);
        const result = page.locator("#result");
        assert.equal(await result.getAttribute("data-status"), "processing");
        assert.equal(await page.locator("#last4").innerText(), "4242");
        assert.equal(await page.locator("#connector").innerText(), "sandbox_card");
        const html = await page.content();
        assert.ok(!html.replace(/\s/g, "").includes(CARD_SUCCESS), "full card number must not be echoed");
        await api.waitFor(order.id, "completed");
        // The refresh link shows the settled status.
        await page.click("#refresh");
        assert.equal(await page.locator("#result").getAttribute("data-status"), "succeeded");
      } finally {
        await page.close();
      }
      const rows = await sql(sb.adminDsn, "SELECT row_to_json(p)::text AS j FROM hs_payments p WHERE payment_id = $1", [
        order.hyperswitch_payment_id,
      ]);
      assert.ok(!rows[0].j.includes(CARD_SUCCESS), "full card number must not be stored");
    });

    test("a declined card shows failed with error_code card_declined", async () => {
      const sb = sandbox();
      const api = await new Api(sb).login();
      const order = await api.order();
      const page = await browser.newPage();
      try {
        await page.goto(order.payment_url);
        await page.fill("#card_number", CARD_DECLINED);
        await page.fill("#expiry", "01/38");
        await page.fill("#cvc", "999");
        await page.fill("#holder", "Declined Payer");
        await Promise.all([page.waitForURL(/\/checkout\//), page.click("button#pay")]);
        assert.equal(await page.locator("#result").getAttribute("data-status"), "failed");
        assert.equal(await page.locator("#error_code").innerText(), "card_declined");
      } finally {
        await page.close();
      }
      const failed = await api.waitFor(order.id, "failed");
      assert.equal(failed.failure_reason, "card_declined");
    });
  });
}
