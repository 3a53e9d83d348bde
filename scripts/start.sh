#!/usr/bin/env bash
# The README's main command: set up, then run a PyTorch-trained model on the engines.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node packages/cpu/examples/pytorch-model.mjs
