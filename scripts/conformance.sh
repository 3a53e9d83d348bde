#!/usr/bin/env bash
# `pnpm conformance`: every engine available in Node over every PyTorch golden vector, as a table.
# Arguments go to the CLI: --json, or engine package directories; --runtime NAME picks another runtime.
# Run scripts/setup.sh once first.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
pnpm exec turbo run build --output-logs=errors-only >&2
# `--runtime NAME[,NAME]`: the same suite in Node 20/22/24, Deno, Bun, Chromium or Firefox (tests/runtimes).
case " $* " in
  *" --runtime"*) exec node tests/runtimes/src/cli.mjs "$@" ;;
esac
# No GPU here: WebGPU in Node (Dawn) runs on the software Vulkan driver unless the caller chose one.
exec node --import ./conformance/dist/use-software-gpu.js conformance/dist/cli.js "$@"
