// Face alignment from a detector's keypoints: the least-squares similarity transform
// (estimateSimilarity, Umeyama) from the keypoints the ArcFace 112x112 template also knows onto
// those template points, then the same bilinear warp as InsightFace's alignment (warpAffine).
// BlazeFace gives both eye centres, the nose tip and the mouth centre (plus two ear tragions,
// which the template has no place for): four points, where InsightFace fits five (the eyes, the
// nose and the two mouth corners). The mouth centre is matched to the midpoint of the template's
// mouth corners. See the README ("Face alignment from detector keypoints").
import { ARCFACE_TEMPLATE_112, estimateSimilarity, warpAffine, type Affine, type Pixels } from './face-align.js';
import type { Keypoint } from './face-detection/face-detector.js';
import { InferError } from './infer-error.js';

const T = ARCFACE_TEMPLATE_112;

/**
 * Template positions (112x112, pixel centres at integers) of the keypoints a detector may name.
 * "right_eye" is the subject's right eye, on the image's left: the template's first point.
 */
export const KEYPOINT_TEMPLATE_112: Readonly<Record<string, readonly [number, number]>> = {
  right_eye: [T[0], T[1]],
  left_eye: [T[2], T[3]],
  nose_tip: [T[4], T[5]],
  mouth_centre: [(T[6] + T[8]) / 2, (T[7] + T[9]) / 2],
};

export interface KeypointAlignOptions {
  /** Side of the square crop (default 112; the template scales with it). */
  size?: number;
  /** Template scaled about the crop centre (default 1: ArcFace's crop; below 1: more of the head). */
  templateScale?: number;
}

/**
 * The similarity transform taking photo coordinates (continuous: pixel i spans [i, i+1), as the
 * detector reports them) to the crop's pixel-centred coordinates, fitted over every keypoint the
 * template knows (at least two are needed).
 */
export function keypointAlignment(keypoints: readonly Keypoint[], options: KeypointAlignOptions = {}): Affine {
  const size = options.size ?? 112;
  const s = options.templateScale ?? 1;
  const k = size / 112;
  const centre = size / 2;
  const src: number[] = [];
  const dst: number[] = [];
  for (const p of keypoints) {
    const t = KEYPOINT_TEMPLATE_112[p.name];
    if (!t) continue;
    // warpAffine puts pixel centres at integer coordinates; the detector, at i + 0.5.
    src.push(p.x - 0.5, p.y - 0.5);
    dst.push(centre + (t[0] * k - centre) * s, centre + (t[1] * k - centre) * s);
  }
  if (src.length < 4) {
    throw new InferError('BAD_LANDMARKS', `keypointAlignment: need two or more of ${Object.keys(KEYPOINT_TEMPLATE_112).join(', ')}; got ${keypoints.map((p) => p.name).join(', ') || 'none'}`);
  }
  return estimateSimilarity(src, dst);
}

/** The aligned size x size crop of the face whose keypoints are given. */
export function alignFromKeypoints(image: Pixels, keypoints: readonly Keypoint[], options: KeypointAlignOptions = {}): Pixels {
  const size = options.size ?? 112;
  return { data: warpAffine(image, keypointAlignment(keypoints, options), size, size, 0), width: size, height: size, channels: image.channels };
}
