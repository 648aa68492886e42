# syntax=docker/dockerfile:1
# protoserve images, two targets (models and galleries are volumes; the container runs as uid 10001):
#
#   docker build --target server  -t protoserve:server  .   CUDA 12 runtime + cuDNN 9, onnxruntime-node
#                                                            with its CUDA 12 provider, faiss (gallery index)
#   docker run --gpus all -p 8080:8080 -v $PWD/models:/app/models -v protoserve-galleries:/app/galleries \
#     -v $PWD/keys:/app/keys:ro protoserve:server --device cuda
#
#   docker build --target trainer -t protoserve:trainer .   CUDA 11.8 + cuDNN 8, @tensorflow/tfjs-node-gpu
#   docker run --gpus all -v $PWD/runs:/app/runs protoserve:trainer train --backend tfjs-node-gpu ...
#
# The server listens on 0.0.0.0 inside the container, so it requires API keys: the key file at
# /app/keys/api-keys.json (protoserve keys create --file keys/api-keys.json --scopes infer), or
# hashed records in PROTOSERVE_API_KEYS (protoserve keys create --record). README "Docker and GPUs".
#
# Every RUN is a script under scripts/docker/, so that scripts/docker/check-outside-docker.mjs
# runs the same scripts in the same order without Docker (CI does, through .ci/run).
ARG NODE_IMAGE=node:20-bookworm
ARG SERVER_BASE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04
ARG TRAINER_BASE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

# Node.js for the CUDA images (which have none): the official binaries, copied.
FROM ${NODE_IMAGE} AS node

# Install and build on Debian bookworm, as on the development machines: npm ci installs the Debian
# packages (scripts/setup/system-packages.json), builds faiss-node's addon against libfaiss and
# compiles dist/. ORT_INSTALL=cuda12 makes onnxruntime-node fetch its CUDA 12 provider files.
FROM ${NODE_IMAGE} AS build
ARG ORT_INSTALL=cuda12
ENV ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL}
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN scripts/docker/build-server.sh

# The trainer's packages: the build plus @tensorflow/tfjs-node-gpu (libtensorflow for CUDA 11/cuDNN 8).
FROM build AS trainer-build
ARG TFJS_NODE_GPU=install
RUN scripts/docker/build-trainer.sh

FROM ${SERVER_BASE} AS server
COPY --from=node /usr/local/bin/ /usr/local/bin/
COPY --from=node /usr/local/lib/node_modules/ /usr/local/lib/node_modules/
WORKDIR /app
COPY --from=build /app /app
COPY models ./models
RUN scripts/docker/runtime-libs.sh
RUN scripts/docker/runtime-user.sh
USER protoserve
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 PROTOSERVE_SERVER_API_KEY_FILE=/app/keys/api-keys.json
VOLUME ["/app/models", "/app/galleries"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "scripts/docker/healthcheck.mjs"]
ENTRYPOINT ["node", "dist/cli.js", "serve"]
CMD []

FROM ${TRAINER_BASE} AS trainer
COPY --from=node /usr/local/bin/ /usr/local/bin/
COPY --from=node /usr/local/lib/node_modules/ /usr/local/lib/node_modules/
WORKDIR /app
COPY --from=trainer-build /app /app
COPY models ./models
RUN scripts/docker/runtime-libs.sh
RUN scripts/docker/runtime-user.sh
USER protoserve
ENV NODE_ENV=production
VOLUME ["/app/models", "/app/runs"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["train", "--help"]
