#!/usr/bin/env bash
# Docker step (both images): the shared libraries the native addons load at run time on the CUDA
# base image (faiss-node's addon: OpenBLAS and the GCC OpenMP runtime; faiss itself is linked in
# statically). Outside Docker (PROTOSERVE_DOCKER_CHECK=1) it installs nothing and checks instead
# that every native addon under node_modules resolves all of its libraries.
set -euo pipefail
if [ "${PROTOSERVE_DOCKER_CHECK:-0}" = 1 ]; then
  addons=$(find node_modules -name '*.node' -path '*linux*x64*' -o -name 'faiss-node.node' | sort)
  [ -n "$addons" ] || { echo "runtime-libs: no native addon found under node_modules"; exit 1; }
  status=0
  for addon in $addons; do
    if ldd "$addon" | grep -q 'not found'; then
      echo "runtime-libs: $addon misses libraries:"; ldd "$addon" | grep 'not found'; status=1
    fi
  done
  echo "runtime-libs: check mode, $(echo "$addons" | wc -l) native addons resolve their libraries"
  exit $status
fi
apt-get update
apt-get install -y --no-install-recommends libopenblas0 libgomp1 ca-certificates
rm -rf /var/lib/apt/lists/*
