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

APT_PACKAGES=(jupyter-nbconvert jupyter-notebook python3-venv chromium fonts-dejavu-core postgresql openssl)
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

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("setup: Node >= 20.19 is required (require(esm) for Plot and marked)"); process.exit(1) }'
echo "setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

# The scanner runs on every commit: no secret or card number reaches git.
if git rev-parse --git-dir >/dev/null 2>&1; then git config core.hooksPath hooks; fi

if [ "${1:-}" != "--no-demo" ]; then
  npm run demo
fi
