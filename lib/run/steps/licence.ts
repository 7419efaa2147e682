/** The licence step: the order's licence is attributed and visible in `/licenses/mine`. */
import { StepCheckError } from "../../errors";
import type { StepContext } from "../step-context";
import { licenses, requireOrder } from "./orders";

export async function runLicence(ctx: StepContext): Promise<void> {
  const o = requireOrder(ctx.journal, ctx.table);
  const lic = (await licenses(ctx.api)).find((l) => l.order_id === o.id);
  if (!lic) throw new StepCheckError("E2E_NO_LICENSE", `no licence for order ${o.id} in /licenses/mine`);
  ctx.facts.license_id = lic.id;
  ctx.facts.type = lic.license_type;
  ctx.facts.rights = JSON.stringify(lic.rights);
}
