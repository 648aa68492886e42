// Whole photos on face routes: whether an image is a photo (detect and align faces first) or an
// aligned crop (?input= or the embedder's manifest.face.input), which served detector finds the
// faces (?detector=, manifest.face.detector, or the only one served), and faces as JSON.
import type { Request } from 'express';

import type { Manifest } from '../../artifact/manifest.js';
import { FaceDetector, type DetectedFace } from '../../infer/face-detection/face-detector.js';
import type { ScheduledModel } from '../../infer/scheduled-model.js';
import { DETECTOR_UNAVAILABLE, FACE_INDEX_OUT_OF_RANGE, INVALID_PARAMETER, WRONG_TASK } from '../error-codes.js';
import type { ModelPool } from '../model-pool.js';

export type FaceInput = 'photo' | 'aligned';

/** ?input=photo|aligned, else the manifest's face.input, else aligned (the image is the crop). */
export function faceInputParam(req: Request, manifest: Manifest): FaceInput {
  const raw = req.query.input;
  if (raw === undefined) return manifest.face?.input ?? 'aligned';
  if (raw !== 'photo' && raw !== 'aligned') throw new INVALID_PARAMETER('input', `expected "photo" (detect and align faces first) or "aligned" (the image is an aligned face crop), got ${JSON.stringify(raw)}`);
  return raw;
}

const detectors = new WeakMap<ScheduledModel, FaceDetector>();

/** The FaceDetector over a served detector session (one per session). */
export function faceDetectorOf(session: ScheduledModel): FaceDetector {
  let detector = detectors.get(session);
  if (!detector) {
    detector = new FaceDetector(session);
    detectors.set(session, detector);
  }
  return detector;
}

/** The detector that finds faces for `embedder`: ?detector=, its manifest's, or the only one served. */
export function detectorFor(pool: ModelPool, embedder: ScheduledModel, req: Request): FaceDetector {
  const raw = req.query.detector;
  if (raw !== undefined && typeof raw !== 'string') throw new INVALID_PARAMETER('detector', `expected a model name, got ${JSON.stringify(raw)}`);
  const named = raw ?? embedder.manifest.face?.detector;
  const served = pool.list().filter((m) => m.session.manifest.task === 'detector');
  if (named !== undefined) {
    const model = pool.get(named);
    if (!model) throw new DETECTOR_UNAVAILABLE(embedder.name, `the detector "${named}" it names is not served (detectors served: ${names(served)})`);
    if (model.session.manifest.task !== 'detector') throw new WRONG_TASK(named, `a ${model.session.manifest.task}, not a detector`, `name a detector (${names(served)})`);
    return faceDetectorOf(model.session);
  }
  if (served.length === 1) return faceDetectorOf(served[0].session);
  throw new DETECTOR_UNAVAILABLE(embedder.name, served.length === 0 ? 'no detector is served' : `several detectors are served (${names(served)}); choose one with ?detector=`);
}

/** ?<name>=: a face index (default 0, the largest face). */
export function faceIndexParam(req: Request, name: string): number {
  const raw = req.query[name];
  if (raw === undefined) return 0;
  if (typeof raw !== 'string' || !/^\d{1,4}$/.test(raw)) throw new INVALID_PARAMETER(name, `expected a face index (0 = the largest face), got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** The face at `index`, or FACE_INDEX_OUT_OF_RANGE naming the request's field. */
export function pickFace<T>(faces: readonly T[], index: number, param: string, image: string): T {
  if (index >= faces.length) throw new FACE_INDEX_OUT_OF_RANGE(`?${param}=${index}`, index, image, faces.length, faces.length - 1);
  return faces[index];
}

/** A face as the API answers it (box, score, keypoints in the photo's pixels). */
export function faceJson(face: DetectedFace) {
  const r = (v: number) => Math.round(v * 100) / 100;
  return {
    box: { x: r(face.box.x), y: r(face.box.y), width: r(face.box.width), height: r(face.box.height) },
    score: Math.round(face.score * 10000) / 10000,
    keypoints: face.keypoints.map((k) => ({ name: k.name, x: r(k.x), y: r(k.y) })),
  };
}

function names(models: { session: ScheduledModel }[]): string {
  return models.length ? models.map((m) => m.session.name).join(', ') : 'none';
}
