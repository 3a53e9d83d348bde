#!/usr/bin/env bash
# `pnpm bench [options]`: every engine beside ONNX Runtime, TensorFlow.js and a naive loop.
# Builds what is stale, then runs apps/bench (`pnpm bench --help` lists the options;
# `pnpm bench --report` regenerates docs/benchmarks.md and docs/benchmarks.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
# Dawn prints an error for every adapter request without a runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="/tmp/recurrent-xdg-$(id -u)"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
pnpm exec turbo run build --output-logs=errors-only >&2
# Relaxed SIMD lets @recurrent/wasm use its fastest kernels (Chromium has it on; Node 20 needs the flag).
# WebGPU in Node: the software Vulkan driver (Debian 12's own Mesa is too old for Dawn) unless the caller
# chose one (a real GPU's, a newer lavapipe).
exec node --expose-gc --experimental-wasm-relaxed-simd --import ./conformance/dist/use-software-gpu.js apps/bench/dist/cli.js "$@"
