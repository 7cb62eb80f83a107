#!/usr/bin/env bash
# Install what is missing (apt + pip, with test tools and Chromium) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh dev
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
python3 -m pytest -q -p no:cacheprovider --timeout=600 tests "$@"
