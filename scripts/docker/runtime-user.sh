#!/usr/bin/env bash
# Docker step (both images): the non-root user the container runs as (uid 10001), owning the
# volumes' mount points. Outside Docker (PROTOSERVE_DOCKER_CHECK=1) it creates no user and
# checks instead that the folders exist and that this user may write them.
set -euo pipefail
app=$(pwd)
if [ "${PROTOSERVE_DOCKER_CHECK:-0}" = 1 ]; then
  mkdir -p "$app/models" "$app/galleries"
  test -w "$app/galleries" && test -r "$app/models"
  echo "runtime-user: check mode, no user created; models/ and galleries/ are in place"
  exit 0
fi
groupadd --system --gid 10001 protoserve
useradd --system --uid 10001 --gid protoserve --home-dir "$app" --shell /usr/sbin/nologin protoserve
mkdir -p "$app/models" "$app/galleries" "$app/runs"
chown -R protoserve:protoserve "$app/galleries" "$app/runs"
