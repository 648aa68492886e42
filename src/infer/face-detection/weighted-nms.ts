// Non-maximum suppression as MediaPipe's face detection graphs run it (NonMaxSuppressionCalculator,
// algorithm WEIGHTED, overlap INTERSECTION_OVER_UNION): take the best remaining detection, gather
// every remaining one overlapping it by more than the IoU threshold (itself included), and
// replace the cluster by one detection whose box and keypoints are the score-weighted mean of
// the cluster's and whose score is the best one's. Averaging over the anchors that fire on one
// face steadies the box, which plain NMS (keep the best, drop the rest) does not.
import type { RawDetection } from './decode-blazeface.js';

export function intersectionOverUnion(a: RawDetection, b: RawDetection): number {
  const w = Math.min(a.xMax, b.xMax) - Math.max(a.xMin, b.xMin);
  const h = Math.min(a.yMax, b.yMax) - Math.max(a.yMin, b.yMin);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.xMax - a.xMin) * (a.yMax - a.yMin) + (b.xMax - b.xMin) * (b.yMax - b.yMin) - inter;
  return union > 0 ? inter / union : 0;
}

/** Best first; at most `maxDetections` (default all). */
export function weightedNms(detections: readonly RawDetection[], iouThreshold: number, maxDetections = Infinity): RawDetection[] {
  let remaining = [...detections].sort((a, b) => b.score - a.score);
  const out: RawDetection[] = [];
  while (remaining.length > 0 && out.length < maxDetections) {
    const top = remaining[0];
    const cluster: RawDetection[] = [];
    const rest: RawDetection[] = [];
    for (const d of remaining) (d === top || intersectionOverUnion(top, d) > iouThreshold ? cluster : rest).push(d);
    let total = 0;
    const box = [0, 0, 0, 0];
    const keypoints = new Float64Array(top.keypoints.length);
    for (const d of cluster) {
      total += d.score;
      box[0] += d.score * d.xMin;
      box[1] += d.score * d.yMin;
      box[2] += d.score * d.xMax;
      box[3] += d.score * d.yMax;
      for (let k = 0; k < keypoints.length; k++) keypoints[k] += d.score * d.keypoints[k];
    }
    for (let k = 0; k < keypoints.length; k++) keypoints[k] /= total;
    out.push({ score: top.score, xMin: box[0] / total, yMin: box[1] / total, xMax: box[2] / total, yMax: box[3] / total, keypoints });
    remaining = rest;
  }
  return out;
}
