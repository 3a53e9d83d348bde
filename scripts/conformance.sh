#!/usr/bin/env bash
# `pnpm conformance`: every engine available in Node over every PyTorch golden vector, as a table.
# Arguments go to the CLI: --json, or engine package directories. Run scripts/setup.sh once first.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
pnpm exec turbo run build --output-logs=errors-only >&2
# No GPU here: WebGPU in Node (Dawn) runs on the software Vulkan driver unless the caller chose one.
exec node --import ./conformance/dist/use-software-gpu.js conformance/dist/cli.js "$@"
