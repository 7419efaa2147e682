#!/usr/bin/env bash
# Runs a command (npm test's node --test) with a temporary folder of its own: TMPDIR is a fresh
# folder under the usual one, removed when the command passes. The tests' scratch folders, Python's
# kernel connection files and Chromium's profiles go there, instead of tens of thousands of folders
# left in /tmp over a few runs. A failed or interrupted run keeps the folder and names it, with what
# the failing tests left in it (test/.artifacts is in the repository and stays either way).
# tsx's compile cache and Node's stay in the usual temporary folder (links to them), so a run does
# not compile again what the run before compiled. npm turns Node's on for itself only; NODE_COMPILE_CACHE
# turns it on for every Node process of the run (the test files, the CLIs, the sandbox, the kernels):
# each loads the same modules, and a module compiled once is read back, checked against its source.
#   bash scripts/dev/own-tmp.sh <command> [args…]
set -uo pipefail
if [ $# -eq 0 ] || [ "$1" = "--help" ]; then
  echo "usage: bash scripts/dev/own-tmp.sh <command> [args…]   (npm test runs node --test through it)"
  exit 0
fi
base=${TMPDIR:-/tmp}
run=$(mktemp -d "$base/npm-test.XXXXXX") || exit 1
for cache in "tsx-$(id -u)" node-compile-cache; do
  mkdir -p "$base/$cache" && ln -s "$base/$cache" "$run/$cache"
done
# In the background so that a SIGTERM or SIGHUP to this script (npm passes them on) reaches the command;
# Ctrl-C reaches it from the terminal directly (Node resets the SIGINT a background job ignores).
TMPDIR=$run NODE_COMPILE_CACHE=${NODE_COMPILE_CACHE:-$base/node-compile-cache} "$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM HUP
trap ':' INT
wait "$child"
rc=$?
# A trapped signal ends the first wait early: wait again for the command's own exit status.
while [ $rc -gt 128 ] && kill -0 "$child" 2>/dev/null; do
  wait "$child"
  rc=$?
done
if [ $rc -eq 0 ]; then
  rm -rf "$run"
else
  echo "own-tmp: exit $rc; the run's temporary folder is kept: $run" >&2
fi
exit $rc
