// A stand-in kernel for the kill scenario (§7.3), run as its own process: opens the session given in
// FAULTS_KERNEL (JSON: params + secrets) exactly as the notebook does, runs pre-flight to step 4,
// then polls step 5, printing one line per attempt so the parent knows when to SIGKILL it.
// Not a test file: test/faults/scenarios/kill.ts spawns it.
import { open, upToPaid, type OpenSpec } from "./drive";

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.FAULTS_KERNEL ?? "null") as OpenSpec | null;
  if (!spec) throw new Error("FAULTS_KERNEL is not set: this script is spawned by the kill scenario");
  const rb = open(spec);
  rb.hooks.onPoll = (s) => process.stdout.write(`poll ${s.attempt} ${s.orderStatus ?? s.httpStatus ?? "error"}\n`);
  await upToPaid(rb, { log: (r) => process.stdout.write(`step ${r.step} ${r.status}\n`) });
  process.stdout.write(`order ${rb.order?.id}\n`);
  const r = await rb.run("completed");
  process.stdout.write(`step 5 ${r.status} (the parent should have killed this process before)\n`);
  await rb.close();
}

main().catch((err) => {
  process.stderr.write(`kernel: ${(err as Error).message}\n`);
  process.exit(3);
});
