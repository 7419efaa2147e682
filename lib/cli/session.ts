/**
 * `npm run session -- --mode staging|live [--base-url URL] [--email ADDR] [--refund] [--no-jupyter]`
 * Prepares a fresh session (explicitly: a new id, folder and journal) from the runbook template,
 * then starts Jupyter on it: JupyterLab when installed, otherwise the classic Notebook server.
 */
import { spawn, spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { oneLine } from "../errors";
import { jupyterCommand, jupyterEnv } from "../notebook/jupyter";
import { prepareSession } from "../notebook/prepare";
import type { Mode } from "../types";
import { SESSION_FLAGS } from "./args";

export function jupyterUi(): { cmd: string; args: string[]; name: string } | null {
  const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
  if (has("jupyter-lab", ["--version"])) return { cmd: "jupyter-lab", args: [], name: "JupyterLab" };
  if (has(jupyterCommand(), ["notebook", "--version"]))
    return { cmd: jupyterCommand(), args: ["notebook"], name: "classic Notebook" };
  return null;
}

async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      ...SESSION_FLAGS,
      refund: { type: "boolean" },
      "no-jupyter": { type: "boolean" },
      "hyperswitch-url": { type: "string" },
      port: { type: "string" },
    },
  });
  const mode = a.mode as Mode | undefined;
  if (!mode || !["sandbox", "staging", "live"].includes(mode)) {
    console.error(
      "session: --mode is required; use --mode staging for the dry run or --mode live for the real-money run",
    );
    return 2;
  }
  const params: Record<string, string | boolean> = { REFUND: a.refund ?? mode === "live" };
  if (a["base-url"]) params.BASE_URL = a["base-url"];
  if (a.email) params.OPERATOR_EMAIL = a.email;
  if (a["hyperswitch-url"]) params.HYPERSWITCH_URL = a["hyperswitch-url"];
  if (a["archive-dir"]) params.ARCHIVE_DIR = a["archive-dir"];
  const prep = prepareSession(mode, params);
  console.log(`Session ${prep.sessionId} prepared.`);
  console.log(`  notebook: ${prep.notebook}`);
  console.log(`  SESSION_ID = "${prep.sessionId}" (already injected into the notebook)`);
  if (!process.env.OPERATOR_PASSWORD)
    console.log(
      "  note: OPERATOR_PASSWORD is not exported; step 1 will refuse until it is (read -s OPERATOR_PASSWORD; export OPERATOR_PASSWORD)",
    );
  if (a["no-jupyter"]) return 0;
  const ui = jupyterUi();
  if (!ui) {
    console.error(
      "session: no Jupyter UI found; `pip install jupyterlab` on your workstation, or apt-get install jupyter-notebook",
    );
    return 3;
  }
  console.log(`Starting ${ui.name} on 127.0.0.1 …`);
  const child = spawn(ui.cmd, [...ui.args, "--ip=127.0.0.1", ...(a.port ? [`--port=${a.port}`] : []), prep.notebook], {
    env: jupyterEnv(),
    stdio: "inherit",
  });
  return new Promise((resolve) => child.on("close", (code) => resolve(code ?? 0)));
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`session: ${oneLine(err)}`);
      process.exit(1);
    },
  );
}
