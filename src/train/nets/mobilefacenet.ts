// MobileFaceNet (Chen et al. 2018, "MobileFaceNets: Efficient CNNs for Accurate Real-Time Face
// Verification on Mobile Devices", Table 1): 112x112x3 -> d-dimensional embedding.
//   conv3x3 s2 64 -> depthwise 3x3 64 -> bottlenecks (t, c, n, s) = (2,64,5,2), (4,128,1,2),
//   (2,128,6,1), (4,128,1,2), (2,128,2,1) -> conv1x1 512 -> linear GDConv 7x7 (global
//   depthwise, no padding) -> linear conv1x1 d -> BN.
// Bottlenecks are MobileNetV2's (expand 1x1, depthwise 3x3 stride s, linear project 1x1,
// residual when stride 1 and widths agree); non-linearities are PReLU (§3.3). 3x3 convolutions
// pad 1 on every side as the PyTorch reimplementations do. The GDConv kernel is the size of the
// last feature map (7x7 at 112x112), so other input sizes also give a 1x1 map.
import { NetError } from './net-error.js';
import { GraphBuilder, type NetGraph } from './net-graph.js';

export interface MobileFaceNetOptions {
  /** Embedding size d; default 128 (the paper), 192/256/512 are common. */
  embeddingDim?: number;
  /** Default [112, 112, 3]; each side must be at least 16 (four stride-2 stages). */
  inputShape?: [number, number, number];
  name?: string;
}

/** (expansion t, output channels c, repeats n, first stride s), Table 1. */
export const MOBILEFACENET_BOTTLENECKS: ReadonlyArray<readonly [number, number, number, number]> = [
  [2, 64, 5, 2],
  [4, 128, 1, 2],
  [2, 128, 6, 1],
  [4, 128, 1, 2],
  [2, 128, 2, 1],
];

export function mobileFaceNetGraph(opts: MobileFaceNetOptions = {}): NetGraph {
  const d = opts.embeddingDim ?? 128;
  if (!Number.isInteger(d) || d < 1) throw new NetError('BACKBONE_OPTIONS_INVALID', `MobileFaceNet embedding size must be a positive integer, got ${d}`);
  const inputShape = opts.inputShape ?? [112, 112, 3];
  if (inputShape[0] < 16 || inputShape[1] < 16) {
    throw new NetError('BACKBONE_OPTIONS_INVALID', `MobileFaceNet needs an input of at least 16x16 (it downsamples 16x), got ${inputShape[0]}x${inputShape[1]}`);
  }
  const b = new GraphBuilder(opts.name ?? 'mobilefacenet', inputShape);
  const convBnPrelu = (x: string, id: string, filters: number, kernel: number, stride = 1) =>
    b.prelu(b.batchNorm(b.conv2d(x, { filters, kernel, strides: stride, padding: kernel === 3 ? 1 : 'valid' }, `${id}.conv`), {}, `${id}.bn`), `${id}.prelu`);
  const dwBnPrelu = (x: string, id: string, stride = 1) =>
    b.prelu(b.batchNorm(b.depthwiseConv2d(x, { kernel: 3, strides: stride, padding: 1 }, `${id}.conv`), {}, `${id}.bn`), `${id}.prelu`);

  let x = convBnPrelu(b.input, 'conv1', 64, 3, 2);
  x = dwBnPrelu(x, 'conv2_dw');
  MOBILEFACENET_BOTTLENECKS.forEach(([t, c, n, s], stage) => {
    for (let i = 0; i < n; i++) {
      const p = `stage${stage + 1}.${i}`;
      const stride = i === 0 ? s : 1;
      const cin = b.channels(x);
      let y = convBnPrelu(x, `${p}.expand`, cin * t, 1);
      y = dwBnPrelu(y, `${p}.dw`, stride);
      y = b.batchNorm(b.conv2d(y, { filters: c, kernel: 1, padding: 'valid' }, `${p}.project.conv`), {}, `${p}.project.bn`);
      x = stride === 1 && cin === c ? b.add(x, y, `${p}.add`) : y;
    }
  });
  x = convBnPrelu(x, 'conv_sep', 512, 1);
  const [h, w] = b.shapeOf(x) as [number, number, number];
  x = b.batchNorm(b.depthwiseConv2d(x, { kernel: [h, w], padding: 'valid' }, 'gdc.conv'), {}, 'gdc.bn');
  x = b.batchNorm(b.conv2d(x, { filters: d, kernel: 1, padding: 'valid' }, 'linear.conv'), {}, 'linear.bn');
  return b.build(b.flatten(x, 'embedding'));
}
