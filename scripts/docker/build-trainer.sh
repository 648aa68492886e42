#!/usr/bin/env bash
# Docker step (trainer image) and check step, after build-server.sh: add
# @tensorflow/tfjs-node-gpu at the version of @tensorflow/tfjs to the built, pruned app (not saved
# to package.json; training needs no development package). Its install script downloads
# libtensorflow 2.9 for CUDA 11.2+ and cuDNN 8, which the CUDA 11.8 + cuDNN 8 base image serves.
# TFJS_NODE_GPU=skip leaves it out (offline checks: `protoserve train` then says which backend
# runs, wasm here).
set -euo pipefail
version=$(node -p "require('@tensorflow/tfjs/package.json').version")
if [ "${TFJS_NODE_GPU:-install}" = skip ]; then
  echo "build-trainer: @tensorflow/tfjs-node-gpu@${version} skipped (TFJS_NODE_GPU=skip)"
else
  # Scripts off for the install (the app's own prepare would need the pruned TypeScript), then
  # the package's own install script alone: the libtensorflow GPU download and its binding.
  npm install --no-save --omit=dev --ignore-scripts --no-audit --no-fund "@tensorflow/tfjs-node-gpu@${version}"
  npm rebuild @tensorflow/tfjs-node-gpu
fi
node dist/cli.js train --help >/dev/null
