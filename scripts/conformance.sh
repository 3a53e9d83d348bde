#!/usr/bin/env bash
# `pnpm conformance`: every engine available in Node over every PyTorch golden vector, as a table.
# Arguments go to the CLI: --json, or engine package directories. Run scripts/setup.sh once first.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
# No GPU here: WebGPU in Node (Dawn) runs on the software Vulkan driver of Debian's chromium unless the
# caller chose a driver already.
SWIFTSHADER=/usr/lib/chromium/vk_swiftshader_icd.json
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$SWIFTSHADER" ]; then export VK_ICD_FILENAMES="$SWIFTSHADER"; fi
pnpm exec turbo run build --output-logs=errors-only >&2
exec node conformance/dist/cli.js "$@"
