// A face detector artifact (task "detector", manifest.detector) on decoded pixels: fit the photo
// to the input as the manifest says, run the model, decode every anchor, merge overlaps
// (weighted NMS), and report each face in the photo's own pixel coordinates.
import type { DetectorSpec, Manifest } from '../../artifact/manifest.js';
import { fitToInput } from '../fit-to-input.js';
import { InferError } from '../infer-error.js';
import { imageToTensor, type RgbImage } from '../preprocess.js';
import type { RunOptions } from '../scheduled-model.js';
import { decodeBlazeface } from './decode-blazeface.js';
import { ssdAnchors } from './ssd-anchors.js';
import { weightedNms } from './weighted-nms.js';

/** A box in pixels of the photo: left, top, width, height (continuous coordinates). */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Keypoint {
  name: string;
  x: number;
  y: number;
}

export interface DetectedFace {
  box: FaceBox;
  /** Detection probability. */
  score: number;
  keypoints: Keypoint[];
}

export interface DetectOptions {
  /** Default: the manifest's. */
  scoreThreshold?: number;
  /** At most this many faces, best scoring kept (default all). */
  maxFaces?: number;
}

/** What the detector needs of a model: its manifest and a run (a ModelSession, or a served model's scheduler). */
export interface DetectorModel {
  readonly name: string;
  readonly manifest: Manifest;
  run(batch: Float32Array, n: number, options?: RunOptions): Promise<Float32Array[]>;
}

export class FaceDetector<M extends DetectorModel = DetectorModel> {
  readonly spec: DetectorSpec;
  private readonly anchors: Float32Array;

  constructor(readonly session: M) {
    const m: Manifest = session.manifest;
    if (m.task !== 'detector' || !m.detector) {
      throw new InferError('WRONG_TASK', `Model "${m.name}" is ${m.task === 'embedder' ? 'an' : 'a'} ${m.task}; face detection needs a detector`);
    }
    this.spec = m.detector;
    this.anchors = ssdAnchors(m.input.height, m.input.width, m.detector.anchors);
  }

  get name(): string {
    return this.session.name;
  }

  /** Faces in `image` (upright pixels), largest box first; `run` passes a request's deadline and timing to the model. */
  async detect(image: RgbImage, options: DetectOptions = {}, run?: RunOptions): Promise<DetectedFace[]> {
    const { input } = this.session.manifest;
    const fitted = await fitToInput(image, input.width, input.height, input.resize);
    const [raw] = await this.session.run(imageToTensor(fitted.pixels, input), 1, run);
    const found = decodeBlazeface(raw, this.anchors, { inputWidth: input.width, inputHeight: input.height, keypoints: this.spec.keypoints.length }, options.scoreThreshold ?? this.spec.scoreThreshold);
    const merged = weightedNms(found, this.spec.iouThreshold, options.maxFaces);
    const px = (x: number) => (x * input.width - fitted.offsetX) / fitted.scaleX;
    const py = (y: number) => (y * input.height - fitted.offsetY) / fitted.scaleY;
    const faces = merged.map((d): DetectedFace => {
      const x0 = clamp(px(d.xMin), image.width);
      const y0 = clamp(py(d.yMin), image.height);
      const x1 = clamp(px(d.xMax), image.width);
      const y1 = clamp(py(d.yMax), image.height);
      return {
        box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 },
        score: d.score,
        keypoints: this.spec.keypoints.map((name, k) => ({ name, x: px(d.keypoints[2 * k]), y: py(d.keypoints[2 * k + 1]) })),
      };
    });
    return faces.filter((f) => f.box.width > 0 && f.box.height > 0).sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
  }
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}
