#!/usr/bin/env bash
# Everything the project needs on a fresh Debian 12 machine with Node 20 and npm (run as root):
# pnpm, the npm dependencies, the Debian packages the tests use, and a build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 CI="${CI:-}"

PNPM_VERSION=12.4.2
if [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi

# Debian packages: chromium (browser tests; its SwiftShader Vulkan driver gives WebGPU without a GPU),
# firefox-esr (the conformance suite in Gecko), the Vulkan loader Dawn needs in Node, and PyTorch (the
# demo's tests ask it about the files the page writes; openblas keeps torch off its slow reference BLAS).
# Node 22/24, Deno and Bun come from npm, pinned by the lockfile (tests/binaries).
need=()
for pkg in chromium firefox-esr libvulkan1 python3-torch python3-numpy python3-msgpack libopenblas0-openmp; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

pnpm install --frozen-lockfile --reporter=append-only
pnpm exec turbo run build --output-logs=errors-only
