// MediaPipe BlazeFace graphs end in four heads: per anchor layer, classificators [1, A, 1]
// (score logits) and regressors [1, A, 16] (box centre offset and size, then 6 keypoints, in
// input pixels). For serving they are gathered into one output 'detections' of
// [batch, anchors * 17], finest layer first, each anchor's score then its 16 regressors: the
// layout src/infer/face-detection decodes (manifest.detector, decoder "blazeface").
import type { DetectorSpec } from '../../artifact/manifest.js';
import type { OnnxGraphBuilder } from '../../onnx/onnx-builder.js';
import { ExportError } from '../export-error.js';

export const DETECTIONS_OUTPUT = 'detections';

/**
 * MediaPipe's face detection keypoints, in output order; "right" is the subject's right (on the
 * left of a frontal face in the image).
 */
export const BLAZEFACE_KEYPOINTS = ['right_eye', 'left_eye', 'nose_tip', 'mouth_centre', 'right_ear', 'left_ear'];

/** BlazeFace (front 128 and back/full-range 256 alike): a 16x16 grid with 2 anchors per cell, then 8x8 with 6. */
const GRIDS = [
  { cells: 16, perCell: 2 },
  { cells: 8, perCell: 6 },
];

/** The detector spec of a BlazeFace graph with a square input of `size` pixels. */
export function blazefaceSpec(size: number, thresholds: Pick<DetectorSpec, 'scoreThreshold' | 'iouThreshold'>): DetectorSpec {
  return {
    decoder: 'blazeface',
    anchors: GRIDS.map((g) => ({ stride: size / g.cells, perCell: g.perCell })),
    keypoints: BLAZEFACE_KEYPOINTS,
    ...thresholds,
  };
}

/** Appends the 'detections' output; `outputs` are the graph's own (name, TensorFlow shape). */
export function appendBlazefaceDetections(g: OnnxGraphBuilder, outputs: { name: string; shape: number[] }[], size: number): { name: string; shape: number[] }[] {
  const regressors = 4 + 2 * BLAZEFACE_KEYPOINTS.length;
  const perLayer = GRIDS.map((grid) => {
    const anchors = grid.cells * grid.cells * grid.perCell;
    const find = (depth: number) => {
      const hit = outputs.find((o) => o.shape.length === 3 && o.shape[1] === anchors && o.shape[2] === depth);
      if (!hit) {
        throw new ExportError(
          'EXPORT_UNSUPPORTED',
          `not a BlazeFace graph: no output of shape [1, ${anchors}, ${depth}] among ${outputs.map((o) => `${o.name} [${o.shape.join(', ')}]`).join(', ')}`,
        );
      }
      return hit.name;
    };
    return g.op('Concat', [find(1), find(regressors)], { axis: 2 });
  });
  if (size % 16 !== 0) throw new ExportError('EXPORT_UNSUPPORTED', `BlazeFace input ${size} is not a multiple of 16`);
  const all = g.op('Concat', perLayer, { axis: 1 });
  const total = GRIDS.reduce((n, grid) => n + grid.cells * grid.cells * grid.perCell, 0) * (1 + regressors);
  g.addNode({ op: 'Reshape', inputs: [all, g.addInt64(g.fresh('detections_shape'), [2], [-1, total])], outputs: [DETECTIONS_OUTPUT] });
  g.addOutput(DETECTIONS_OUTPUT, ['batch', total]);
  return [{ name: DETECTIONS_OUTPUT, shape: [-1, total] }];
}
