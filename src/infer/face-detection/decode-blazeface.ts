// BlazeFace's raw output -> scored boxes and keypoints, as MediaPipe's
// TensorsToDetectionsCalculator decodes it (face_detection_*.pbtxt: x/y/w/h_scale = the input
// size, sigmoid scores clipped at +-100, reverse_output_order false): per anchor a score logit,
// then box centre offset (x, y) and size (w, h), then (x, y) per keypoint, all in input pixels,
// offsets from the anchor centre.
import { InferError } from '../infer-error.js';

/** A detection in [0, 1] coordinates of the detector's input (x right, y down). */
export interface RawDetection {
  score: number;
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
  /** x0 y0 x1 y1 ... in the same coordinates. */
  keypoints: Float64Array;
}

export interface BlazefaceLayout {
  inputWidth: number;
  inputHeight: number;
  keypoints: number;
}

const SCORE_CLIP = 100;

/** Detections scoring at least `scoreThreshold`, in anchor order. */
export function decodeBlazeface(raw: ArrayLike<number>, anchors: ArrayLike<number>, layout: BlazefaceLayout, scoreThreshold: number): RawDetection[] {
  const n = anchors.length / 2;
  const stride = 5 + 2 * layout.keypoints;
  if (raw.length !== n * stride) {
    throw new InferError('INFERENCE_FAILED', `decodeBlazeface: ${raw.length} values for ${n} anchors x ${stride}; expected ${n * stride}`);
  }
  const { inputWidth: W, inputHeight: H } = layout;
  const out: RawDetection[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * stride;
    const logit = Math.max(-SCORE_CLIP, Math.min(SCORE_CLIP, raw[o]));
    const score = 1 / (1 + Math.exp(-logit));
    if (score < scoreThreshold) continue;
    const ax = anchors[2 * i];
    const ay = anchors[2 * i + 1];
    const cx = raw[o + 1] / W + ax;
    const cy = raw[o + 2] / H + ay;
    const w = raw[o + 3] / W;
    const h = raw[o + 4] / H;
    const keypoints = new Float64Array(2 * layout.keypoints);
    for (let k = 0; k < layout.keypoints; k++) {
      keypoints[2 * k] = raw[o + 5 + 2 * k] / W + ax;
      keypoints[2 * k + 1] = raw[o + 6 + 2 * k] / H + ay;
    }
    out.push({ score, xMin: cx - w / 2, yMin: cy - h / 2, xMax: cx + w / 2, yMax: cy + h / 2, keypoints });
  }
  return out;
}
