#!/usr/bin/env bash
# `pnpm bench [options]`: every engine beside ONNX Runtime, TensorFlow.js and a naive loop.
# Builds what is stale, then runs apps/bench (`pnpm bench --help` lists the options;
# `pnpm bench --report` regenerates docs/benchmarks.md and docs/benchmarks.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
# WebGPU in Node: SwiftShader from Debian's chromium (Debian 12's own Mesa is too old for Dawn), unless
# the caller points VK_ICD_FILENAMES at another driver (a real GPU's, or a newer lavapipe).
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
  export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
fi
# Dawn prints an error for every adapter request without a runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="/tmp/recurrent-xdg-$(id -u)"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
pnpm exec turbo run build --output-logs=errors-only >&2
# Relaxed SIMD lets @recurrent/wasm use its fastest kernels (Chromium has it on; Node 20 needs the flag).
exec node --expose-gc --experimental-wasm-relaxed-simd apps/bench/dist/cli.js "$@"
