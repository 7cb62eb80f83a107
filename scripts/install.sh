#!/usr/bin/env bash
# Install everything gen_core needs on a fresh Debian machine: apt packages, then the pip requirements.
# Usage: bash scripts/install.sh [dev]   ("dev" adds the test tools and Chromium for the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
APT=(dataset-fashion-mnist)
[ "${1:-}" = "dev" ] && APT+=(chromium g++)   # g++: torch.compile's CPU code generator (TrainConfig(compile=True) test)
missing=()
for p in "${APT[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
REQ=requirements.txt; [ "${1:-}" = "dev" ] && REQ=requirements-dev.txt
python3 -m pip install -q --disable-pip-version-check torch==2.13.0   # first and alone: the local CPU wheel
python3 -m pip install -q --disable-pip-version-check -r "$REQ"
