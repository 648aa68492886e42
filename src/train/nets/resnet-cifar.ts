// CIFAR-style ResNet (He et al. 2016, "Deep Residual Learning", §4.2): a 3x3 stem, then three
// stages of n basic blocks with widths w, 2w, 4w (stride 2 at the start of stages 2 and 3),
// global average pooling; depth = 6n + 2 (resnet8: n=1, resnet20: n=3, resnet32: n=5).
//
// Shortcuts use option B of the paper (§3.3): identity where shapes agree, a 1x1 stride-s
// projection + BN where they change. Option A (zero-padded identity with strided subsampling)
// has no parameters but needs a strided slice whose gradient tfjs lacks; B costs a few
// thousand parameters and is what most reimplementations (torchvision-style) use.
// 3x3 convolutions pad 1 on every side as the PyTorch originals do; the 1x1 projections pad 0,
// so both branches agree on the output size for odd inputs too (floor((n-1)/2)+1).
// With `embeddingDim` (embedders), the pooled features go through a linear layer and a batch norm
// without scale, as IResNet's embedding layer (fc + features BN): the pooled features come after
// a ReLU, so without it every embedding would lie in the positive orthant.
import { NetError } from './net-error.js';
import { GraphBuilder, type NetGraph } from './net-graph.js';

export interface CifarResNetOptions {
  /** 6n + 2: 8, 20, 32, 44, 56, 110 ... */
  depth: number;
  /** Width of the first stage (w); stages are w, 2w, 4w. Default 16 as in the paper. */
  width?: number;
  /** [height, width, channels]; default [32, 32, 3]. Any size of at least 4x4 works. */
  inputShape?: [number, number, number];
  /** Embedders: a linear embedding of this size (+ BN) after the pooling; default none (features 4w). */
  embeddingDim?: number;
  name?: string;
}

export function cifarResNetGraph(opts: CifarResNetOptions): NetGraph {
  const { depth } = opts;
  const n = (depth - 2) / 6;
  if (!Number.isInteger(n) || n < 1) {
    throw new NetError('BACKBONE_OPTIONS_INVALID', `CIFAR ResNet depth must be 6n+2 (8, 20, 32, ...), got ${depth}`);
  }
  const w = opts.width ?? 16;
  if (!Number.isInteger(w) || w < 1) throw new NetError('BACKBONE_OPTIONS_INVALID', `ResNet width must be a positive integer, got ${w}`);
  const b = new GraphBuilder(opts.name ?? `resnet${depth}`, opts.inputShape ?? [32, 32, 3]);

  let x = b.conv2d(b.input, { filters: w, kernel: 3, padding: 1 }, 'conv1');
  x = b.relu(b.batchNorm(x, {}, 'bn1'));
  [w, 2 * w, 4 * w].forEach((planes, stage) => {
    for (let i = 0; i < n; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const p = `layer${stage + 1}.${i}`;
      let y = b.conv2d(x, { filters: planes, kernel: 3, strides: stride, padding: 1 }, `${p}.conv1`);
      y = b.relu(b.batchNorm(y, {}, `${p}.bn1`));
      y = b.conv2d(y, { filters: planes, kernel: 3, padding: 1 }, `${p}.conv2`);
      y = b.batchNorm(y, {}, `${p}.bn2`);
      let shortcut = x;
      if (stride !== 1 || b.channels(x) !== planes) {
        shortcut = b.conv2d(x, { filters: planes, kernel: 1, strides: stride, padding: 'valid' }, `${p}.shortcut.0`);
        shortcut = b.batchNorm(shortcut, {}, `${p}.shortcut.1`);
      }
      x = b.relu(b.add(y, shortcut, `${p}.add`));
    }
  });
  const pooled = b.globalAvgPool(x, 'pool');
  const d = opts.embeddingDim;
  if (d === undefined) return b.build(pooled);
  if (!Number.isInteger(d) || d < 1) throw new NetError('BACKBONE_OPTIONS_INVALID', `embedding size must be a positive integer, got ${d}`);
  return b.build(b.batchNorm(b.dense(pooled, d, { bias: true }, 'fc'), { scale: false }, 'features'));
}
