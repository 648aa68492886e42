// BCE3S's mixed views (LOSSES.md; the reference's GLMC_mixed and rand_bbox in utils/trainval.py):
// from a batch x and a second batch x' (ClassRebalancedSampler), with one lam ~ Beta(1, 1) =
// Uniform(0, 1) for the whole batch:
//   mixup:  lam x + (1 - lam) x'
//   cutmix: x with one box of x' pasted in, the same box for the batch. The reference's box:
//           side cut = ceil(H sqrt(1 - lam)) (and for W), centre (cy, cx) uniform over the
//           pixels, corners clip(c - cut // 2, 0, H) .. clip(c + cut // 2, 0, H), so the pasted
//           area is at most (1 - lam) of the image and is smaller where the box is clipped.
//   T = lam Y + (1 - lam) Y' for BOTH views, and N = [T == 0]: the reference does not adjust lam
//   to the pasted area (lam_cutmix = lam), unlike CutMix (Yun et al. 2019); kept as it is.
// Works on normalized float NHWC batches (mixing is linear, so mixing before or after the
// normalization is the same). Draws from `random`, in order: lam, cy, cx.
import { InvariantError } from '../../errors.js';

export interface MixedViews {
  mixup: Float32Array;
  cutmix: Float32Array;
  /** T [B, C], row-major. */
  softTargets: Float32Array;
  /** N = [T == 0], [B, C]. */
  negativeMask: Float32Array;
  lam: number;
  /** The pasted box, rows [y1, y2) and columns [x1, x2). */
  box: { y1: number; y2: number; x1: number; x2: number };
}

/** The reference's rand_bbox for one axis of length `size`. */
function boxAxis(size: number, cutRatio: number, centre: number): [number, number] {
  const cut = Math.ceil(size * cutRatio);
  const half = Math.floor(cut / 2);
  const clip = (v: number) => Math.min(Math.max(v, 0), size);
  return [clip(centre - half), clip(centre + half)];
}

export function mixedViews(
  x: Float32Array, x2: Float32Array, labels: ArrayLike<number>, labels2: ArrayLike<number>,
  numClasses: number, height: number, width: number, channels: number, random: () => number,
): MixedViews {
  const batch = labels.length;
  const size = height * width * channels;
  if (x.length !== batch * size || x2.length !== batch * size || labels2.length !== batch) {
    throw new InvariantError(`mixedViews: batches of ${x.length} and ${x2.length} values, ${batch} and ${labels2.length} labels, for ${height}x${width}x${channels} images`);
  }
  const lam = random();
  const mixup = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) mixup[i] = lam * x[i] + (1 - lam) * x2[i];
  const cutRatio = Math.sqrt(1 - lam);
  const [y1, y2] = boxAxis(height, cutRatio, Math.floor(random() * height));
  const [x1, x2c] = boxAxis(width, cutRatio, Math.floor(random() * width));
  const cutmix = Float32Array.from(x);
  for (let n = 0; n < batch; n++) {
    for (let y = y1; y < y2; y++) {
      const start = n * size + (y * width + x1) * channels;
      const end = n * size + (y * width + x2c) * channels;
      cutmix.set(x2.subarray(start, end), start);
    }
  }
  const softTargets = new Float32Array(batch * numClasses);
  const negativeMask = new Float32Array(batch * numClasses);
  for (let n = 0; n < batch; n++) {
    softTargets[n * numClasses + labels[n]] += lam;
    softTargets[n * numClasses + labels2[n]] += 1 - lam;
  }
  for (let i = 0; i < softTargets.length; i++) negativeMask[i] = softTargets[i] === 0 ? 1 : 0;
  return { mixup, cutmix, softTargets, negativeMask, lam, box: { y1, y2, x1, x2: x2c } };
}
