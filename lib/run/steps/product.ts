/** Picking the test product: listed, chosen by PRODUCT under MAX_PRICE, journaled for the order step. */
import { Products, paths, priceInclVat } from "../../contract";
import { priceUnderCap } from "../guards";
import { chooseProduct, shownTitle } from "../preflight";
import { money } from "../../money";
import type { StepContext } from "../step-context";

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
  ctx.journal.append("product_selected", { product: p, total_minor: total });
}
