#!/usr/bin/env bash
# Docker step (server image) and check step: install and build the server from the lock file.
# npm ci runs scripts/setup (Debian packages: faiss, OpenBLAS, cmake, g++; then faiss-node's
# addon build against libfaiss) and tsc (dist/); onnxruntime-node's install script fetches its
# CUDA 12 provider files when ONNXRUNTIME_NODE_INSTALL=cuda12 (the Dockerfile's default).
# Development packages are pruned afterwards: the image runs dist/ only.
set -euo pipefail
echo "build-server: onnxruntime-node install: ${ONNXRUNTIME_NODE_INSTALL:-(.npmrc: skip)}"
npm ci --no-audit --no-fund
npm prune --omit=dev --no-audit --no-fund
node dist/cli.js --help >/dev/null
