# protoserve server image.
#   CPU (default):  docker build -t protoserve .
#   CUDA 12:        docker build -t protoserve:cuda \
#                     --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#                     --build-arg ORT_INSTALL=cuda12 .
#                   docker run --gpus all -p 8080:8080 protoserve:cuda serve --device cuda
# ORT_INSTALL=cuda12 lets onnxruntime-node's install script fetch its CUDA 12 provider files
# (needs network access at build time); the default "skip" uses the CPU runtime in the package.
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
ARG ORT_INSTALL=skip
# CUDA base images have no Node.js: install Node 20 from the distribution's or NodeSource's packages.
RUN if ! command -v node >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg && \
      curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && \
      apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL}
COPY package.json package-lock.json .npmrc tsconfig.json ./
# npm ci runs scripts/setup: Debian packages (as root: apt-get), then faiss-node's addon build.
COPY scripts/setup ./scripts/setup
COPY src ./src
RUN npm ci && npm prune --omit=dev
COPY models ./models
ENV PORT=8080 NODE_ENV=production
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
