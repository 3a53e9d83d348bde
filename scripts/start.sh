#!/usr/bin/env bash
# The README's main command: set up and build everything (the demo app included), then serve the demo
# on 127.0.0.1 and print its URL. PORT picks the port (default 5180, or the next free one).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node apps/demo/scripts/serve.mjs "${PORT:-5180}"
