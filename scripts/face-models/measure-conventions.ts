// Which input convention a face embedder expects, found by measurement: on aligned crops of the
// real faces in the sample photos, each candidate (colour order x pixel scaling x crop) is scored
// by how far the same-person similarities (a face against itself in the mirrored photo, and in
// the photo at half size: the detector and the alignment run again on each) stay above the
// different-person similarities (every pair of faces within one photo: different people).
// The best candidate has the widest margin, min(same) - max(different).
import sharp from 'sharp';

import type { ColorOrder, InputSpec } from '../../src/artifact/manifest.js';
import { flipHorizontal } from '../../src/infer/face-align.js';
import type { DetectedFace, FaceDetector } from '../../src/infer/face-detection/face-detector.js';
import { alignFromKeypoints } from '../../src/infer/keypoint-align.js';
import type { ModelSession } from '../../src/infer/model-session.js';
import { decodeImage, imageToTensor, type RgbImage } from '../../src/infer/preprocess.js';

export interface Candidate {
  color: Extract<ColorOrder, 'rgb' | 'bgr'>;
  /** pixel * scale - mean) / std, as the manifest's input. */
  scale: number;
  mean: number;
  std: number;
  /** Alignment template scale (FaceSpec.templateScale). */
  templateScale: number;
}

export interface CandidateScore extends Candidate {
  label: string;
  meanSame: number;
  minSame: number;
  meanDifferent: number;
  maxDifferent: number;
  /** min(same) - max(different): above 0, one threshold separates every pair measured. */
  margin: number;
}

export interface ConventionReport {
  /** Faces found per photo. */
  faces: Record<string, number>;
  samePairs: number;
  differentPairs: number;
  /** Best first. */
  scores: CandidateScore[];
}

export const NORMALIZATIONS = [
  { label: '[-1, 1]', scale: 1, mean: 127.5, std: 127.5 },
  { label: '[0, 1]', scale: 1 / 255, mean: 0, std: 1 },
  { label: '[0, 255]', scale: 1, mean: 0, std: 1 },
  { label: '[-127.5, 127.5]', scale: 1, mean: 127.5, std: 1 },
] as const;
export const TEMPLATE_SCALES = [1.15, 1, 0.85, 0.7];

export function allCandidates(): Candidate[] {
  return (['rgb', 'bgr'] as const).flatMap((color) =>
    NORMALIZATIONS.flatMap((n) => TEMPLATE_SCALES.map((templateScale) => ({ color, scale: n.scale, mean: n.mean, std: n.std, templateScale }))),
  );
}

interface Variant {
  faces: DetectedFace[];
  image: RgbImage;
  /** Maps a box of this variant back to the original photo's frame. */
  back: (f: DetectedFace) => { x: number; y: number; width: number; height: number };
}

export async function measureConventions(photos: { name: string; bytes: Uint8Array }[], detector: FaceDetector, embedder: ModelSession, candidates = allCandidates()): Promise<ConventionReport> {
  const faces: Record<string, number> = {};
  // Per photo: the original faces and, for each, its match in the mirrored and the half-size photo.
  const groups: { original: Variant; matches: { variant: Variant; face: DetectedFace }[][] }[] = [];
  for (const photo of photos) {
    const image = await decodeImage(photo.bytes);
    const mirrored = flipHorizontal(image) as RgbImage;
    const half = await halfSize(image);
    const original: Variant = { image, faces: await detector.detect(image), back: (f) => f.box };
    const variants: Variant[] = [
      { image: mirrored, faces: await detector.detect(mirrored), back: (f) => ({ ...f.box, x: image.width - f.box.x - f.box.width }) },
      { image: half, faces: await detector.detect(half), back: (f) => scaleBox(f.box, image.width / half.width, image.height / half.height) },
    ];
    faces[photo.name] = original.faces.length;
    const matches = original.faces.map((face) =>
      variants.flatMap((variant) => {
        const best = variant.faces.map((f) => ({ f, iou: iou(face.box, variant.back(f)) })).sort((a, b) => b.iou - a.iou)[0];
        return best && best.iou > 0.5 ? [{ variant, face: best.f }] : [];
      }),
    );
    groups.push({ original, matches });
  }

  const scores: CandidateScore[] = [];
  let samePairs = 0;
  let differentPairs = 0;
  for (const templateScale of [...new Set(candidates.map((c) => c.templateScale))]) {
    const align = (v: Variant, f: DetectedFace) => alignFromKeypoints(v.image, f.keypoints, { size: embedder.manifest.input.width, templateScale }) as RgbImage;
    const crops = groups.map((g) => ({
      originals: g.original.faces.map((f) => align(g.original, f)),
      matches: g.matches.map((list) => list.map((m) => align(m.variant, m.face))),
    }));
    for (const c of candidates.filter((x) => x.templateScale === templateScale)) {
      const input: InputSpec = { ...embedder.manifest.input, color: c.color, scale: c.scale, mean: [c.mean, c.mean, c.mean], std: [c.std, c.std, c.std] };
      const same: number[] = [];
      const different: number[] = [];
      for (const g of crops) {
        const originals = await embed(embedder, input, g.originals);
        for (let i = 0; i < originals.length; i++) {
          for (const e of await embed(embedder, input, g.matches[i])) same.push(dot(originals[i], e));
          for (let j = i + 1; j < originals.length; j++) different.push(dot(originals[i], originals[j]));
        }
      }
      samePairs = same.length;
      differentPairs = different.length;
      const minSame = Math.min(...same);
      const maxDifferent = Math.max(...different);
      scores.push({
        ...c,
        label: `${c.color} ${NORMALIZATIONS.find((n) => n.mean === c.mean && n.scale === c.scale && n.std === c.std)?.label ?? `${c.scale},${c.mean},${c.std}`} template x${c.templateScale}`,
        meanSame: mean(same),
        minSame,
        meanDifferent: mean(different),
        maxDifferent,
        margin: minSame - maxDifferent,
      });
    }
  }
  scores.sort((a, b) => b.margin - a.margin || b.meanSame - b.meanDifferent - (a.meanSame - a.meanDifferent));
  return { faces, samePairs, differentPairs, scores };
}

async function embed(embedder: ModelSession, input: InputSpec, crops: RgbImage[]): Promise<Float32Array[]> {
  if (crops.length === 0) return [];
  const size = input.height * input.width * input.channels;
  const batch = new Float32Array(crops.length * size);
  crops.forEach((crop, i) => imageToTensor(crop, input, batch, i * size));
  return embedder.embed(batch, crops.length);
}

async function halfSize(image: RgbImage): Promise<RgbImage> {
  const width = Math.round(image.width / 2);
  const height = Math.round(image.height / 2);
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  return { data, width, height, channels: image.channels };
}

function scaleBox(b: { x: number; y: number; width: number; height: number }, sx: number, sy: number) {
  return { x: b.x * sx, y: b.y * sy, width: b.width * sx, height: b.height * sy };
}

function iou(a: { x: number; y: number; width: number; height: number }, b: { x: number; y: number; width: number; height: number }): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function mean(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}
