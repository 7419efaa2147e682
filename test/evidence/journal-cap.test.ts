/**
 * Issue 25: backend text in the journal is capped like the trace's bodies. A 5 MB product title
 * made `state.jsonl` 6.45 MB; now every string an entry keeps is cut after redaction to
 * JOURNAL_TEXT_MAX characters and the entry's `truncated_from` says what was cut and how long it
 * was. Driven through steps 1–2 against the sandbox, whose product gets the 5 MB title in its
 * database, and directly on a journal for a card number that straddles the cut.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { Client } from "pg";
import { type Sandbox, startSandbox } from "../../sandbox";
import { uniqueReadonlyRole } from "../../sandbox/db";
import { JOURNAL_FILE } from "../../lib/evidence/files";
import { chainBreakText } from "../../lib/evidence/finding-text";
import { JOURNAL_TEXT_MAX, Journal, lastOf, readJournalFile } from "../../lib/evidence/journal";
import { Session } from "../../lib/run/session";
import type { Runbook } from "../../lib/run/runbook";
import { openStaging } from "../run/fixtures";
import { faultyProxy } from "../faults/harness";
import { PAN } from "./fixtures";

const FIVE_MB = 5 * 1024 * 1024;
let sb: Sandbox;
const archive = fs.mkdtempSync(path.join(os.tmpdir(), "journal-cap-"));

before(async () => {
  sb = await startSandbox({ quiet: true, databaseUrl: process.env.TEST_PG_URL, readonlyRole: uniqueReadonlyRole() });
});
after(async () => {
  await sb?.stop();
  fs.rmSync(archive, { recursive: true, force: true });
});

/**
 * Steps 0–2 pass (the last one journals the product), then the journal is small, whole, and holds
 * the product: returns that entry.
 */
async function productSelected(rb: Runbook, dir: string, cleanup?: () => Promise<void>) {
  try {
    for (const id of ["preflight", "login", "product"]) {
      const r = await rb.run(id);
      assert.equal(r.status, "PASS", `${r.name}: ${r.reason}`);
    }
  } finally {
    await rb.close();
    await cleanup?.();
  }
  const file = path.join(dir, JOURNAL_FILE);
  const size = fs.statSync(file).size;
  assert.ok(size < 200 * 1000, `state.jsonl is ${(size / 1e6).toFixed(2)} MB`);
  const read = readJournalFile(file);
  assert.equal(read.ok, true, read.firstBroken && chainBreakText(read.firstBroken));
  const sel = lastOf(read.entries, "product_selected");
  assert.ok(sel);
  return { sel, entries: read.entries };
}

test("a 5 MB product title leaves the journal small, cut after redaction, the cut recorded", async () => {
  const db = new Client({ connectionString: sb.adminDsn });
  await db.connect();
  try {
    await db.query("UPDATE products SET title = repeat('T', $1)", [FIVE_MB]);
  } finally {
    await db.end();
  }
  const id = Session.create("staging", archive);
  const rb = openStaging(sb, archive, id);
  const { sel, entries } = await productSelected(rb, path.join(archive, id));
  const title = sel.data.product.title;
  assert.equal(title, `${"T".repeat(JOURNAL_TEXT_MAX)}…`);
  assert.deepEqual(sel.data.truncated_from, { "product.title": FIVE_MB });
  // The step's facts show a short title that says it was cut.
  const step2 = lastOf(entries, "step_result", (e) => e.data.step === 2);
  assert.ok(step2);
  assert.match(String(step2.data.observed.title), /^T{200}… \(cut from 5242880 characters\)$/);
});

test("a card number straddling the cut is masked before the cut, never kept in part", () => {
  const dir = path.join(archive, "direct");
  const j = Journal.create(dir, { sessionId: "20261126T154400Z-staging", mode: "staging" });
  const text = `${"a".repeat(JOURNAL_TEXT_MAX - 7)} ${PAN} ${"b".repeat(100_000)}`;
  const e = j.append("product_selected", {
    // Fields the marketplace adds beyond its contract are kept too, and capped (tags).
    product: {
      id: "p1",
      title: text,
      tags: [text],
      price_cents: 417,
      currency: "EUR",
      vat_rate: 0.2,
      seller_id: "s1",
      license_type: "personal",
    },
    total_minor: 500,
  });
  const written = fs.readFileSync(path.join(dir, JOURNAL_FILE), "utf8");
  assert.ok(!written.includes(PAN.slice(0, 6)), "no part of the card number");
  assert.deepEqual(e.data.truncated_from, { "product.title": text.length, "product.tags[0]": text.length });
  assert.equal(readJournalFile(path.join(dir, JOURNAL_FILE)).ok, true);
});

// A cap per string still let the backend fill the journal: a product's fields beyond its contract
// (which the marketplace may add) were kept whole, so many strings under the cap, or one field name
// a megabyte long, made state.jsonl megabytes. Capped like the trace's body: the whole of them.
test("a product whose fields beyond the contract hold megabytes leaves the journal small, the cut recorded", async () => {
  const real = (await (await fetch(`${sb.marketplaceUrl}/api/v1/marketplace/products`)).json()) as {
    data: { products: Array<Record<string, unknown>> };
  };
  const extras = {
    tags: Array.from({ length: 60 }, (_, i) => String(i).padEnd(19_000, "t")),
    ["k".repeat(500_000)]: 1,
  };
  // Short titles (the test above left 5 MB ones in the database): here the extras alone are large.
  const body = {
    ...real,
    data: { products: real.data.products.map((p) => ({ ...p, title: `E2E ${p.id}`, ...extras })) },
  };
  const proxy = await faultyProxy(sb.marketplaceUrl, (m, u) =>
    m === "GET" && u.split("?")[0] === "/api/v1/marketplace/products" ? { answer: 200, json: body } : "pass",
  );
  const id = Session.create("staging", archive, {}, new Date(Date.UTC(2026, 0, 2)));
  const rb = openStaging(sb, archive, id, { BASE_URL: proxy.url });
  const { sel } = await productSelected(rb, path.join(archive, id), () => proxy.close());
  // The contract's fields are kept (the order step reads them); the others are left out, and said so.
  const p = real.data.products.find((x) => x.id === sel.data.product.id);
  assert.ok(p, "the product picked is one the marketplace listed");
  assert.deepEqual(Object.keys(sel.data.product).sort(), [
    "currency",
    "id",
    "license_type",
    "price_cents",
    "seller_id",
    "title",
    "vat_rate",
  ]);
  const dropped = JSON.stringify({ description: p.description, ...extras }).length;
  assert.deepEqual(sel.data.truncated_from, { "product.(fields beyond the contract)": dropped });
});
