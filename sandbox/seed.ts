import { randomBytes } from "node:crypto";
import type { Pool } from "pg";
import { hashPassword } from "./auth";

export const OPERATOR_EMAIL = "operator@sandbox.test";

const RIGHTS: Record<string, object> = {
  personal: { commercial_use: false, max_projects: 1, attribution_required: true, territory: "worldwide" },
  commercial: { commercial_use: true, max_projects: null, attribution_required: false, territory: "worldwide" },
};

export const SEED_PRODUCTS = [
  {
    id: "prd_e2e_test_licence",
    title: "E2E test licence",
    description: "Smallest real purchase, used by the end-to-end payment check (5.00 EUR incl. VAT).",
    price_cents: 417,
    currency: "EUR",
    vat_rate: 0.2,
    seller_id: "usr_seller_aurora",
    license_type: "personal",
  },
  {
    id: "prd_sample_pack",
    title: "Sample pack",
    description: "A pack of 120 one-shot samples.",
    price_cents: 2000,
    currency: "EUR",
    vat_rate: 0.2,
    seller_id: "usr_seller_aurora",
    license_type: "personal",
  },
  {
    id: "prd_studio_licence",
    title: "Studio licence",
    description: "Commercial studio licence for the full catalogue.",
    price_cents: 49900,
    currency: "EUR",
    vat_rate: 0.2,
    seller_id: "usr_seller_boreal",
    license_type: "commercial",
  },
];

/** Seed the operator (a buyer), two sellers and three products. Returns the operator password. */
export async function seed(pool: Pool): Promise<string> {
  const password = `op-${randomBytes(9).toString("base64url")}`;
  const sellerHash = await hashPassword(randomBytes(24).toString("hex")); // sellers cannot log in
  await pool.query(
    `INSERT INTO users (id, email, password_hash, role) VALUES
       ('usr_operator', $1, $2, 'buyer'),
       ('usr_seller_aurora', 'aurora@sellers.sandbox.test', $3, 'seller'),
       ('usr_seller_boreal', 'boreal@sellers.sandbox.test', $3, 'seller')`,
    [OPERATOR_EMAIL, await hashPassword(password), sellerHash],
  );
  for (const p of SEED_PRODUCTS) {
    await pool.query(
      `INSERT INTO products (id, title, description, price_cents, currency, vat_rate, seller_id, license_type, rights)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
      [
        p.id,
        p.title,
        p.description,
        p.price_cents,
        p.currency,
        p.vat_rate,
        p.seller_id,
        p.license_type,
        JSON.stringify({ ...RIGHTS[p.license_type], license_type: p.license_type }),
      ],
    );
  }
  return password;
}
