// IResNet, the "improved" ResNet of ArcFace (Deng et al. 2019, §3.2 and the InsightFace
// arcface_torch backbones/iresnet.py layout): 112x112x3 -> 512-d feature.
//   conv3x3 64 + BN + PReLU; 4 stages of IBasicBlock with widths 64, 128, 256, 512, each stage
//   starting with stride 2; BN2d -> dropout -> flatten -> FC -> BN1d (`features`, its scale
//   frozen at 1 as in arcface_torch, so it has no gamma here).
//   IBasicBlock: BN -> conv3x3 -> BN -> PReLU -> conv3x3 stride s -> BN, plus the input (or a
//   1x1 stride-s conv + BN where the shape changes); no activation after the sum.
// Node ids follow the PyTorch module names (layer1.0.conv1, layer1.0.downsample.0, fc, features),
// so parameter names match its state_dict. Layouts differ: kernels are HWIO, and the flatten
// before `fc` is in NHWC order (h, w, c), not PyTorch's (c, h, w).
import { NetError } from './net-error.js';
import { GraphBuilder, type NetGraph } from './net-graph.js';

export const IRESNET_LAYERS: Readonly<Record<18 | 34 | 50 | 100, readonly number[]>> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 14, 3],
  100: [3, 13, 30, 3],
};

export interface IResNetOptions {
  depth: 18 | 34 | 50 | 100;
  /** Feature size; default 512. */
  embeddingDim?: number;
  /** Dropout before the FC layer (arcface_torch default 0). */
  dropout?: number;
  /** Default [112, 112, 3]. */
  inputShape?: [number, number, number];
  name?: string;
}

export function iresnetGraph(opts: IResNetOptions): NetGraph {
  const layers = IRESNET_LAYERS[opts.depth];
  if (!layers) throw new NetError('BACKBONE_OPTIONS_INVALID', `IResNet depth must be one of 18, 34, 50, 100, got ${opts.depth}`);
  const d = opts.embeddingDim ?? 512;
  if (!Number.isInteger(d) || d < 1) throw new NetError('BACKBONE_OPTIONS_INVALID', `IResNet embedding size must be a positive integer, got ${d}`);
  const inputShape = opts.inputShape ?? [112, 112, 3];
  if (inputShape[0] < 16 || inputShape[1] < 16) {
    throw new NetError('BACKBONE_OPTIONS_INVALID', `IResNet needs an input of at least 16x16 (it downsamples 16x), got ${inputShape[0]}x${inputShape[1]}`);
  }
  const b = new GraphBuilder(opts.name ?? `iresnet${opts.depth}`, inputShape);
  let x = b.conv2d(b.input, { filters: 64, kernel: 3, padding: 1 }, 'conv1');
  x = b.prelu(b.batchNorm(x, {}, 'bn1'), 'prelu');
  [64, 128, 256, 512].forEach((planes, stage) => {
    for (let i = 0; i < layers[stage]; i++) {
      const p = `layer${stage + 1}.${i}`;
      const stride = i === 0 ? 2 : 1;
      let y = b.batchNorm(x, {}, `${p}.bn1`);
      y = b.conv2d(y, { filters: planes, kernel: 3, padding: 1 }, `${p}.conv1`);
      y = b.prelu(b.batchNorm(y, {}, `${p}.bn2`), `${p}.prelu`);
      y = b.conv2d(y, { filters: planes, kernel: 3, strides: stride, padding: 1 }, `${p}.conv2`);
      y = b.batchNorm(y, {}, `${p}.bn3`);
      let identity = x;
      if (stride !== 1 || b.channels(x) !== planes) {
        identity = b.conv2d(x, { filters: planes, kernel: 1, strides: stride, padding: 'valid' }, `${p}.downsample.0`);
        identity = b.batchNorm(identity, {}, `${p}.downsample.1`);
      }
      x = b.add(y, identity, `${p}.add`);
    }
  });
  x = b.batchNorm(x, {}, 'bn2');
  x = b.dropout(x, opts.dropout ?? 0, 'dropout');
  x = b.flatten(x, 'flatten');
  x = b.dense(x, d, { bias: true }, 'fc');
  return b.build(b.batchNorm(x, { scale: false }, 'features'));
}
