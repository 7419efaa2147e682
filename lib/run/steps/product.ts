/** Picking the test product: listed, chosen by PRODUCT under MAX_PRICE, journaled for the order step. */
import { Product, type ProductT, Products, paths, priceInclVat } from "../../contract";
import { JOURNAL_TEXT_MAX } from "../../evidence/journal";
import { priceUnderCap } from "../guards";
import { chooseProduct, shownTitle } from "../preflight";
import { money } from "../../money";
import type { StepContext } from "../step-context";

/** How the fields the marketplace adds beyond the contract are named in the entry's `truncated_from`. */
export const PRODUCT_EXTRAS_PATH = "product.(fields beyond the contract)";

/**
 * The product as the journal keeps it: the contract's fields (the journal cuts a long title), and
 * the fields the marketplace adds beyond them only while, as JSON, they fit JOURNAL_TEXT_MAX
 * characters, like a body in the trace. A cap per string let many strings, or one field name a
 * megabyte long, make state.jsonl megabytes (issue 25); larger extras are left out and their
 * length is recorded under PRODUCT_EXTRAS_PATH.
 */
export function journaledProduct(p: ProductT): { product: ProductT; truncated_from?: Record<string, number> } {
  const contract: Record<string, unknown> = {};
  const extras: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) (k in Product.shape ? contract : extras)[k] = v;
  const length = JSON.stringify(extras).length;
  if (length <= JOURNAL_TEXT_MAX) return { product: p };
  return { product: contract as ProductT, truncated_from: { [PRODUCT_EXTRAS_PATH]: length } };
}

export async function runProduct(ctx: StepContext): Promise<void> {
  const obs = ctx.facts;
  const products = (
    await ctx.api.call({
      method: "GET",
      path: paths.products(),
      endpoint: "GET /marketplace/products",
      schema: Products,
    })
  ).data.products;
  const p = chooseProduct(products, ctx.cfg.product, ctx.cfg.maxPriceMinor);
  const total = priceInclVat(p);
  obs.product_id = p.id;
  obs.title = shownTitle(p.title);
  obs.price = money(total, p.currency);
  obs.net_price = money(p.price_cents, p.currency);
  obs.vat = Math.round(p.vat_rate * 100);
  const g = priceUnderCap(total, p.currency, ctx.cfg.maxPriceMinor);
  if (g.refusals.length) throw g.refusals[0];
  ctx.journal.append("product_selected", { ...journaledProduct(p), total_minor: total });
}
