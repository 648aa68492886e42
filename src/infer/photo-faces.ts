// Photo in, faces out: the one path from an uploaded photo to aligned, embeddable faces, shared
// by the HTTP routes and by anything else that enrols or searches faces (galleries).
//   decode (EXIF orientation applied) -> detect (boxes, scores, keypoints in photo pixels)
//   -> align each face from its keypoints onto the 112x112 template -> (optionally) embed.
import type { DetectedFace, DetectOptions, FaceDetector } from './face-detection/face-detector.js';
import { InferError } from './infer-error.js';
import { alignFromKeypoints } from './keypoint-align.js';
import { decodeImage, type DecodeOptions, type RgbImage } from './preprocess.js';
import type { RunOptions, ScheduledModel } from './scheduled-model.js';

export interface PhotoFace extends DetectedFace {
  /** The aligned crop (size x size, the photo's channels), ready for embedder.embedPixels. */
  aligned: RgbImage;
}

export interface PhotoFaces {
  /** The upright photo's size in pixels (the frame of every box and keypoint). */
  width: number;
  height: number;
  /** Largest box first. */
  faces: PhotoFace[];
}

export interface PhotoFacesOptions extends DetectOptions, DecodeOptions {
  /** Crop side (default 112). */
  size?: number;
  /** See FaceSpec.templateScale (default 1). */
  templateScale?: number;
  /** How the photo is decoded (default decodeImage here; the server decodes in its worker pool). */
  decode?: (bytes: Uint8Array) => Promise<RgbImage>;
  /** A request's deadline and timing, passed to the models' runs. */
  run?: RunOptions;
}

/** Detects and aligns every face of an encoded photo. */
export async function detectPhotoFaces(bytes: Uint8Array, detector: FaceDetector, options: PhotoFacesOptions = {}): Promise<PhotoFaces> {
  const image = await (options.decode ? options.decode(bytes) : decodeImage(bytes, options));
  const detected = await detector.detect(image, options, options.run);
  const faces = detected.map((face) => ({
    ...face,
    aligned: alignFromKeypoints(image, face.keypoints, { size: options.size, templateScale: options.templateScale }) as RgbImage,
  }));
  return { width: image.width, height: image.height, faces };
}

export interface EmbeddedFace extends PhotoFace {
  /** L2-normalized. */
  embedding: Float32Array;
}

/**
 * Detects, aligns (at the embedder's input size, with its manifest's template scale) and embeds
 * every face of an encoded photo.
 */
export async function embedPhotoFaces(
  bytes: Uint8Array,
  detector: FaceDetector,
  embedder: Pick<ScheduledModel, 'name' | 'manifest' | 'embedPixels'>,
  options: Omit<PhotoFacesOptions, 'size' | 'templateScale'> = {},
): Promise<{ width: number; height: number; faces: EmbeddedFace[] }> {
  const { input, face } = embedder.manifest;
  if (input.width !== input.height) throw new InferError('INPUT_INVALID', `Model "${embedder.name}" takes ${input.width}x${input.height}; aligned face crops are square`);
  const photo = await detectPhotoFaces(bytes, detector, { ...options, size: input.width, templateScale: face?.templateScale });
  const embeddings = await embedder.embedPixels(photo.faces.map((f) => f.aligned), options.run);
  return { ...photo, faces: photo.faces.map((f, i) => ({ ...f, embedding: embeddings[i] })) };
}
