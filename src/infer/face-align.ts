// Face alignment as InsightFace's evaluation code does it (recognition/_evaluation_/ijb/ijb_onnx.py):
// a similarity transform (rotation, uniform scale, translation) fitted by least squares
// (Umeyama 1991; skimage.transform.SimilarityTransform.estimate) from the 5 landmarks onto the
// 112x112 ArcFace template, then cv2.warpAffine(img, M, (112, 112), borderValue=0) with
// bilinear interpolation, on raw RGB(A)/gray Uint8 pixels.
//
// warpAffine reproduces OpenCV's fixed-point path (imgwarp.cpp, OpenCV <= 4.10): the inverse map
// is evaluated in units of 1/1024 pixel (cvRound), reduced to 1/32 pixel (INTER_BITS = 5), and
// the four taps are weighted by 15-bit integer coefficients ((1-fy)(1-fx)*32768 ...), rounded
// with (sum + 2^14) >> 15; taps outside the image read the border value (BORDER_CONSTANT).
// Pixel centres sit at integer coordinates, as in OpenCV and skimage.
//
// Sizes other than 112x112 get the template InsightFace gives them (alignmentTemplate): 112x96
// (height x width) the unshifted template of face_preprocess.py; square sizes that are multiples
// of 112 or of 128 the one of estimate_norm (insightface/utils/face_align.py); others are refused.
import { InferError } from './infer-error.js';

/**
 * The ArcFace 112x112 template (left eye, right eye, nose tip, left and right mouth corners:
 * (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))
 * as ijb_onnx.py holds it: float32 [[30.2946, 51.6963], ...] with 8.0 added to x in float32 (its
 * SRC array), flattened x1 y1 ... x5 y5.
 */
export const ARCFACE_TEMPLATE_112: Float64Array = Float64Array.from(
  [
    [30.2946, 51.6963],
    [65.5318, 51.5014],
    [48.0252, 71.7366],
    [33.5493, 92.3655],
    [62.7299, 92.2041],
  ].flatMap(([x, y]) => [Math.fround(Math.fround(x) + 8), Math.fround(y)]),
);

/** The ArcFace template without the 8-pixel shift, float32 (ijb_onnx.py's SRC before += 8). */
const ARCFACE_SRC_96 = [30.2946, 51.6963, 65.5318, 51.5014, 48.0252, 71.7366, 33.5493, 92.3655, 62.7299, 92.2041];
/** estimate_norm's arcface_dst (float32): the 112x112 template as written, not SRC + 8. */
const ARCFACE_DST = [38.2946, 51.6963, 73.5318, 51.5014, 56.0252, 71.7366, 41.5493, 92.3655, 70.7299, 92.2041];

/** Output size of an alignment: width x height pixels. */
export interface AlignSize {
  width: number;
  height: number;
}

/**
 * The landmark template (x1 y1 ... x5 y5, float32 values) InsightFace aligns a face onto for an
 * output of width x height:
 *   112x112: ijb_onnx.py's SRC with 8 added to x (ARCFACE_TEMPLATE_112);
 *   112 high, 96 wide: face_preprocess.py's SRC without the shift;
 *   square, a multiple of 112: estimate_norm's arcface_dst * (size / 112);
 *   square, a multiple of 128: arcface_dst * (size / 128), x shifted by 8 * size / 128.
 * Anything else: ALIGNMENT_SIZE_UNSUPPORTED (the reference asserts on it).
 */
export function alignmentTemplate(width: number, height: number): Float64Array {
  if (width === 112 && height === 112) return ARCFACE_TEMPLATE_112;
  if (width === 96 && height === 112) return Float64Array.from(ARCFACE_SRC_96, (v) => Math.fround(v));
  if (width === height && Number.isInteger(width) && width > 0 && (width % 112 === 0 || width % 128 === 0)) {
    // estimate_norm: float32 template times a Python float stays float32, and so does += diff_x.
    const by112 = width % 112 === 0;
    const ratio = by112 ? width / 112 : width / 128;
    const diffX = by112 ? 0 : 8 * ratio;
    return Float64Array.from(ARCFACE_DST, (v, i) => {
      const scaled = Math.fround(Math.fround(v) * ratio);
      return i % 2 === 0 ? Math.fround(scaled + diffX) : scaled;
    });
  }
  throw new InferError(
    'ALIGNMENT_SIZE_UNSUPPORTED',
    `Face alignment has no template for a ${width}x${height} (width x height) input: InsightFace aligns onto 112x112, 112 high by 96 wide, ` +
      'or a square multiple of 112 or 128 (estimate_norm)',
  );
}

/** A 2x3 affine matrix [a, b, c, d, e, f]: x' = a x + b y + c, y' = d x + e y + f. */
export type Affine = Float64Array;

/**
 * Least-squares similarity transform mapping `src` points onto `dst` points (flattened x, y
 * pairs), i.e. skimage's SimilarityTransform().estimate(src, dst).params[0:2]. In 2-D Umeyama's
 * solution has the closed form a = sum(x.y)/sum|x|^2, b = sum(x cross y)/sum|x|^2 over the
 * centred points (reflections excluded), which is what is computed here in float64.
 * (scikit-image computes in its inputs' precision: float32 for InsightFace's float32 landmarks and
 * template, so its matrix differs from this one by float32 rounding, ~1e-5 pixel of translation,
 * which moves the odd pixel's 1/32-pixel sampling position: 2 of 37,632 values in the fixture.)
 */
export function estimateSimilarity(src: ArrayLike<number>, dst: ArrayLike<number>): Affine {
  const n = src.length / 2;
  if (n < 2 || src.length !== dst.length || !Number.isInteger(n)) {
    throw new InferError('BAD_LANDMARKS', `estimateSimilarity: need the same number (>= 2) of source and destination points, got ${src.length / 2} and ${dst.length / 2}`);
  }
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[2 * i]; sy += src[2 * i + 1];
    dx += dst[2 * i]; dy += dst[2 * i + 1];
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  let sxx = 0, dot = 0, cross = 0;
  for (let i = 0; i < n; i++) {
    const x = src[2 * i] - sx, y = src[2 * i + 1] - sy;
    const u = dst[2 * i] - dx, v = dst[2 * i + 1] - dy;
    sxx += x * x + y * y;
    dot += x * u + y * v;
    cross += x * v - y * u;
  }
  if (sxx === 0) throw new InferError('BAD_LANDMARKS', 'estimateSimilarity: all source points coincide');
  const a = dot / sxx;
  const b = cross / sxx;
  // [[a, -b, tx], [b, a, ty]]
  return Float64Array.from([a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)]);
}

/** Inverse of an affine map, as cv::invertAffineTransform / warpAffine compute it. */
export function invertAffine(m: Affine): Affine {
  let D = m[0] * m[4] - m[1] * m[3];
  D = D !== 0 ? 1 / D : 0;
  const A11 = m[4] * D, A22 = m[0] * D;
  const A12 = -m[1] * D, A21 = -m[3] * D;
  const b1 = -A11 * m[2] - A12 * m[5];
  const b2 = -A21 * m[2] - A22 * m[5];
  return Float64Array.from([A11, A12, b1, A21, A22, b2]);
}

/**
 * 68-point landmarks (x0 y0 ... x67 y67, iBUG order) -> the 5 points: eye centres as the means
 * of the eye corners (36, 39) and (42, 45), nose tip 30, mouth corners 48 and 54.
 */
export function landmarks68To5(points: ArrayLike<number>): Float64Array {
  if (points.length !== 136) throw new InferError('BAD_LANDMARKS', `landmarks68To5: expected 136 numbers (68 points), got ${points.length}`);
  const p = (i: number, c: number): number => points[2 * i + c];
  return Float64Array.from([
    (p(36, 0) + p(39, 0)) / 2, (p(36, 1) + p(39, 1)) / 2,
    (p(42, 0) + p(45, 0)) / 2, (p(42, 1) + p(45, 1)) / 2,
    p(30, 0), p(30, 1),
    p(48, 0), p(48, 1),
    p(54, 0), p(54, 1),
  ]);
}

/** Decoded pixels: row-major, interleaved channels. */
export interface Pixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: number;
}

const AB_BITS = 10;
const AB_SCALE = 1 << AB_BITS;
const INTER_BITS = 5;
const INTER_TAB_SIZE = 1 << INTER_BITS;
const COEF_BITS = 15;
const ROUND_DELTA = AB_SCALE / INTER_TAB_SIZE / 2;

/** cvRound / saturate_cast<int>(double): round half to even. */
function cvRound(v: number): number {
  const r = Math.round(v);
  // Math.round rounds .5 up; OpenCV (lrint) rounds to even.
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * cv2.warpAffine(src, M, (outWidth, outHeight), flags=INTER_LINEAR, borderMode=BORDER_CONSTANT,
 * borderValue) where M maps source to destination coordinates.
 */
export function warpAffine(src: Pixels, m: Affine, outWidth: number, outHeight: number, borderValue = 0): Uint8Array {
  const { data, width: W, height: H, channels: C } = src;
  const inv = invertAffine(m);
  const out = new Uint8Array(outWidth * outHeight * C);
  const adelta = new Int32Array(outWidth);
  const bdelta = new Int32Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    adelta[x] = cvRound(inv[0] * x * AB_SCALE);
    bdelta[x] = cvRound(inv[3] * x * AB_SCALE);
  }
  const shift = AB_BITS - INTER_BITS;
  const mask = INTER_TAB_SIZE - 1;
  const half = 1 << (COEF_BITS - 1);
  const stride = W * C;
  const bv = Math.max(0, Math.min(255, Math.round(borderValue)));
  for (let y = 0; y < outHeight; y++) {
    const X0 = cvRound((inv[1] * y + inv[2]) * AB_SCALE) + ROUND_DELTA;
    const Y0 = cvRound((inv[4] * y + inv[5]) * AB_SCALE) + ROUND_DELTA;
    for (let x = 0; x < outWidth; x++) {
      const X = (X0 + adelta[x]) >> shift;
      const Y = (Y0 + bdelta[x]) >> shift;
      const sx = X >> INTER_BITS;
      const sy = Y >> INTER_BITS;
      const fx = X & mask;
      const fy = Y & mask;
      // BilinearTab_i: (1-fy)(1-fx), (1-fy)fx, fy(1-fx), fy fx, times 2^15 (exact: sums to 32768).
      const w0 = (INTER_TAB_SIZE - fy) * (INTER_TAB_SIZE - fx) * 32;
      const w1 = (INTER_TAB_SIZE - fy) * fx * 32;
      const w2 = fy * (INTER_TAB_SIZE - fx) * 32;
      const w3 = fy * fx * 32;
      const o = (y * outWidth + x) * C;
      if (sx >= 0 && sx < W - 1 && sy >= 0 && sy < H - 1) {
        const p = sy * stride + sx * C;
        for (let c = 0; c < C; c++) {
          const v = data[p + c] * w0 + data[p + C + c] * w1 + data[p + stride + c] * w2 + data[p + stride + C + c] * w3;
          out[o + c] = clamp255((v + half) >> COEF_BITS);
        }
      } else if (sx >= W || sx + 1 < 0 || sy >= H || sy + 1 < 0) {
        for (let c = 0; c < C; c++) out[o + c] = bv;
      } else {
        const in0 = sx >= 0 && sy >= 0 && sx < W && sy < H;
        const in1 = sx + 1 >= 0 && sy >= 0 && sx + 1 < W && sy < H;
        const in2 = sx >= 0 && sy + 1 >= 0 && sx < W && sy + 1 < H;
        const in3 = sx + 1 >= 0 && sy + 1 >= 0 && sx + 1 < W && sy + 1 < H;
        const p = sy * stride + sx * C;
        for (let c = 0; c < C; c++) {
          const v0 = in0 ? data[p + c] : bv;
          const v1 = in1 ? data[p + C + c] : bv;
          const v2 = in2 ? data[p + stride + c] : bv;
          const v3 = in3 ? data[p + stride + C + c] : bv;
          out[o + c] = clamp255((v0 * w0 + v1 * w1 + v2 * w2 + v3 * w3 + half) >> COEF_BITS);
        }
      }
    }
  }
  return out;
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Aligns a face: 5 landmarks (x1 y1 ... x5 y5; 68-point sets are reduced first) in source pixel
 * coordinates -> a crop of `size` (a number: size x size; or width x height) on the template
 * InsightFace uses for that size (alignmentTemplate; ALIGNMENT_SIZE_UNSUPPORTED for others).
 * Landmarks are rounded to float32 first, as the reference parses them (np.float32).
 */
export function alignFace(src: Pixels, landmarks: ArrayLike<number>, size: number | AlignSize = 112): Pixels {
  const { width, height } = typeof size === 'number' ? { width: size, height: size } : size;
  const dst = alignmentTemplate(width, height);
  const five = landmarks.length === 136 ? landmarks68To5(landmarks) : Float64Array.from(landmarks);
  if (five.length !== 10) throw new InferError('BAD_LANDMARKS', `alignFace: expected 5 or 68 landmarks (10 or 136 numbers), got ${landmarks.length} numbers`);
  const srcPts = five.map((v) => Math.fround(v));
  const m = estimateSimilarity(srcPts, dst);
  return { data: warpAffine(src, m, width, height, 0), width, height, channels: src.channels };
}

/** Mirror image (np.fliplr), for the flip test. */
export function flipHorizontal(src: Pixels): Pixels {
  const { data, width: W, height: H, channels: C } = src;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const a = (y * W + x) * C;
      const b = (y * W + (W - 1 - x)) * C;
      for (let c = 0; c < C; c++) out[b + c] = data[a + c];
    }
  }
  return { data: out, width: W, height: H, channels: C };
}
