/** The pre-flight gate's behaviour: the same checks as `npm run preflight`; a pass pins the parameters. */
import { paramChanges, pinnedParams } from "../../config";
import { runPreflight } from "../preflight";
import type { StepContext, StepOutcome } from "../step-context";
import { machineClock } from "../step-model";

export async function runPreflightStep(ctx: StepContext): Promise<StepOutcome | undefined> {
  const rep = await runPreflight({ ...ctx.cfg, judge: ctx.opts.judge }, ctx.api);
  ctx.opts.onReport?.(rep);
  Object.assign(ctx.facts, rep.observed);
  for (const w of rep.warnings) ctx.anomaly({ step: ctx.currentStep, ...w });
  // Issue 22 §4: a passed pre-flight pins the parameters; a change since the last pin is an anomaly.
  const params = pinnedParams(ctx.cfg);
  const pin = ctx.pinned;
  const changes = pin ? paramChanges(pin.params, params) : [];
  if (rep.ok && pin && changes.length)
    ctx.anomaly({
      step: ctx.currentStep,
      kind: "operator",
      message: `parameters changed since the pre-flight of ${machineClock(pin.at)}: ${changes.join(", ")} — pinned again by this pre-flight`,
    });
  ctx.journal.append("preflight", {
    ok: rep.ok,
    refusals: rep.refusals,
    warnings: rep.warnings.map((w) => w.message),
    dry_run: rep.dryRun,
    observed: rep.observed,
    // As data, not only in the `hyperswitch` fact's words: confirm-bank reads it (real money or not).
    hyperswitch_mode: rep.status?.services.hyperswitch.mode ?? null,
    ...(rep.ok ? { params } : {}),
  });
  if (rep.ok) ctx.trace.append("note", { event: "parameters pinned by pre-flight", params });
  if (!rep.ok) return { status: "FAIL", reason: rep.refusals.join(" · ") };
}
