#!/usr/bin/env bash
# The README's test command: set everything up, then run every package's tests (Node and Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TURBO_TELEMETRY_DISABLED=1
# A package changed since the last release must carry a changeset.
node scripts/changeset-check.mjs
# One package at a time: the machine has two cores and the browser and GPU suites are heavy.
pnpm exec turbo run test --concurrency=1 --output-logs=full
# The API reference builds from the TSDoc comments (pnpm docs).
pnpm exec typedoc --logLevel Error
