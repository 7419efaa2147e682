/** Logging in as the buyer: the access token is kept by the API client, never in the record. */
import { logIn } from "../../clients/http";
import { HttpStatusError } from "../../errors";
import type { StepContext } from "../step-context";

export async function runLogin(ctx: StepContext): Promise<void> {
  const obs = ctx.facts;
  try {
    const me = await logIn(ctx.api, { email: ctx.cfg.operatorEmail, password: ctx.cfg.operatorPassword });
    obs.token_captured = true;
    obs.expires_in_s = me.expires_in;
    obs.user = me.user.id;
  } catch (err) {
    obs.token_captured = false;
    obs.http_status = err instanceof HttpStatusError ? err.status : null;
    throw err;
  }
}
