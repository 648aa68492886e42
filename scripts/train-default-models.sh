#!/usr/bin/env bash
# Reproduces the bundled default model(s) in models/ from scratch.
#   bash scripts/train-default-models.sh            # train, then export
# Training resumes from runs/<name>/checkpoint.ckpt when interrupted: run the script again.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli.js ] || npm run build
cli="node dist/cli.js"

# mnist-resnet8: CIFAR-style ResNet-8 (width 16) on MNIST 60k/10k, softmax cross-entropy, Adam.
run=runs/mnist-resnet8
$cli train --dataset mnist --net resnet8 --width 16 --epochs 2 --batch-size 64 --optimizer adam --lr 0.001 \
  --seed 1 --out "$run" --resume
$cli export --run "$run" --name mnist-resnet8 --models models
