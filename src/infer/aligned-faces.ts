// The faces of a request's images, aligned and ready for an embedder: the one place where the
// images of gallery requests (enrolment, identification, verification against an identity)
// become face tensors. Each image is
//   - a photo with client-given five-point landmarks per face: each face aligned onto the ArcFace
//     template with face-align.ts, as the evaluator aligns benchmark images;
//   - a whole photo, when a face detector is given (finder.detect: photo-faces.ts, the same path
//     as /embed and /verify with ?input=photo): every face detected, aligned from its keypoints;
//   - else an aligned face crop, used whole (resized to the model's input); an image that is not
//     crop-shaped is NO_FACE_FOUND rather than a stretched photo posing as a face.
import type { InputSpec } from '../artifact/manifest.js';
import { ARCFACE_TEMPLATE_112, alignFace, alignmentTemplate, estimateSimilarity, invertAffine } from './face-align.js';
import type { PhotoFaces } from './photo-faces.js';
import { InferError } from './infer-error.js';
import { imageToTensor, preprocessPixels, type RgbImage } from './preprocess.js';

/** One image of a request, with the landmarks of its faces when the client gives them. */
export interface FaceImage {
  bytes: Uint8Array;
  /**
   * Five points per face (left eye, right eye, nose tip, left and right mouth corner, as the
   * person's left/right appear in the image: x1 y1 ... x5 y5), in the pixel coordinates of the
   * upright photo (EXIF orientation applied).
   */
  landmarks?: number[][];
}

export interface AlignedFace {
  /** Index of the request image, and of the face in it (detected faces: largest first). */
  image: number;
  face: number;
  /** One item of the model's input tensor. */
  tensor: Float32Array;
  /** The face in the photo: the detector's box, or the square its aligned crop came from. */
  box: { x: number; y: number; width: number; height: number };
  landmarks?: number[];
  /** Detected faces: the detector's score. */
  score?: number;
}

/** How images become pixels and faces (the server decodes in its worker pool). */
export interface FaceFinder {
  decode(bytes: Uint8Array): Promise<RgbImage>;
  /** Detects and aligns every face of a photo at the model's input size; absent: images are crops. */
  detect?: (bytes: Uint8Array) => Promise<PhotoFaces & { detector: string }>;
  /** Detected photos: only the largest face (enrolment takes one face per photo). */
  largestOnly?: boolean;
}

/** Crops whose aspect ratio is this close to the model input's are taken as aligned faces. */
const CROP_ASPECT_TOLERANCE = 0.1;
/** Landmarks that fit the template worse than this (RMS, in eye distances) are not a face. */
const MAX_SHAPE_RESIDUAL = 0.3;
/** Eyes closer than this (pixels) are too small a face to align. */
const MIN_EYE_DISTANCE = 4;
const POINT_NAMES = ['left eye', 'right eye', 'nose tip', 'left mouth corner', 'right mouth corner'];
/** The template's eye distance, for the shape residual. */
const TEMPLATE_EYES = Math.hypot(ARCFACE_TEMPLATE_112[2] - ARCFACE_TEMPLATE_112[0], ARCFACE_TEMPLATE_112[3] - ARCFACE_TEMPLATE_112[1]);

/** Every face of every image, in order, as input tensors of `input`. */
export async function alignedFaces(images: readonly FaceImage[], input: InputSpec, finder: FaceFinder): Promise<AlignedFace[]> {
  const perImage = await Promise.all(images.map((img, i) => facesOfImage(img, i, input, finder)));
  return perImage.flat();
}

async function facesOfImage(img: FaceImage, index: number, input: InputSpec, finder: FaceFinder): Promise<AlignedFace[]> {
  if (img.landmarks !== undefined) {
    if (img.landmarks.length === 0) throw new InferError('BAD_LANDMARKS', `image ${index}: an empty list of faces; give one list of five [x, y] points per face`);
    if (input.width !== input.height) {
      throw new InferError('BAD_LANDMARKS', `image ${index}: landmarks align faces onto a square template, but the model takes ${input.width}x${input.height}; send aligned crops`);
    }
    const pixels = await finder.decode(img.bytes);
    return img.landmarks.map((points, face) => {
      checkLandmarks(points, pixels, `image ${index}, face ${face}`);
      const crop = alignFace(pixels, points, input.width) as RgbImage;
      return { image: index, face, tensor: imageToTensor(crop, input), box: cropBox(points, input.width), landmarks: [...points] };
    });
  }
  if (finder.detect) {
    const photo = await finder.detect(img.bytes);
    if (photo.faces.length === 0) throw new InferError('NO_FACE_FOUND', `No face found in image ${index} (${photo.width}x${photo.height}) by the detector "${photo.detector}"`);
    const faces = finder.largestOnly ? photo.faces.slice(0, 1) : photo.faces;
    return faces.map((f, face) => ({ image: index, face, tensor: imageToTensor(f.aligned, input), box: f.box, score: f.score }));
  }
  const pixels = await finder.decode(img.bytes);
  const aspect = pixels.width / pixels.height;
  if (Math.abs(aspect / (input.width / input.height) - 1) > CROP_ASPECT_TOLERANCE) {
    throw new InferError(
      'NO_FACE_FOUND',
      `No face found in image ${index}: it is ${pixels.width}x${pixels.height}, not an aligned ${input.width}x${input.height} face crop, ` +
        'and no landmarks were given (send an aligned crop, the photo with five landmarks per face in the "landmarks" field, or ?input=photo to detect faces)',
    );
  }
  const tensor = await preprocessPixels(pixels, input);
  return [{ image: index, face: 0, tensor, box: { x: 0, y: 0, width: pixels.width, height: pixels.height } }];
}

/**
 * Refuses landmarks that cannot be a face: not 10 finite numbers, outside the image, eyes too
 * close together, or a layout the template cannot be fitted to by rotation, scale and shift
 * (points in another order, mirrored, collinear). The residual is the RMS distance between the
 * fitted points and the template, in template eye distances: about 0.06 for landmarks off by
 * 2 px, 0.5 and more for swapped eyes or mouth corners.
 */
export function checkLandmarks(points: readonly number[], image: { width: number; height: number }, where: string): void {
  if (!Array.isArray(points) || points.length !== 10 || points.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new InferError('BAD_LANDMARKS', `${where}: expected five [x, y] points (${POINT_NAMES.join(', ')}), got ${JSON.stringify(points)?.slice(0, 80)}`);
  }
  for (let i = 0; i < 5; i++) {
    const [x, y] = [points[2 * i], points[2 * i + 1]];
    if (x < 0 || y < 0 || x > image.width || y > image.height) {
      throw new InferError('BAD_LANDMARKS', `${where}: the ${POINT_NAMES[i]} (${x}, ${y}) is outside the ${image.width}x${image.height} image`);
    }
  }
  const eyes = Math.hypot(points[2] - points[0], points[3] - points[1]);
  if (eyes < MIN_EYE_DISTANCE) throw new InferError('BAD_LANDMARKS', `${where}: the eyes are ${eyes.toFixed(1)} px apart; a face needs at least ${MIN_EYE_DISTANCE}`);
  const m = estimateSimilarity(points, ARCFACE_TEMPLATE_112);
  let sum = 0;
  for (let i = 0; i < 5; i++) {
    const [x, y] = [points[2 * i], points[2 * i + 1]];
    const dx = m[0] * x + m[1] * y + m[2] - ARCFACE_TEMPLATE_112[2 * i];
    const dy = m[3] * x + m[4] * y + m[5] - ARCFACE_TEMPLATE_112[2 * i + 1];
    sum += dx * dx + dy * dy;
  }
  const residual = Math.sqrt(sum / 5) / TEMPLATE_EYES;
  if (residual > MAX_SHAPE_RESIDUAL) {
    throw new InferError(
      'BAD_LANDMARKS',
      `${where}: the points do not form a face (they miss the template by ${residual.toFixed(2)} eye distances); ` +
        `give them in the order ${POINT_NAMES.join(', ')}`,
    );
  }
}

/** The photo region that alignFace maps onto the size x size crop (its bounding box). */
function cropBox(points: readonly number[], size: number): AlignedFace['box'] {
  const inv = invertAffine(estimateSimilarity(Array.from(points, (v) => Math.fround(v)), alignmentTemplate(size, size)));
  const corners = [[0, 0], [size, 0], [0, size], [size, size]].map(([u, v]) => [inv[0] * u + inv[1] * v + inv[2], inv[3] * u + inv[4] * v + inv[5]]);
  const xs = corners.map((c) => c[0]);
  const ys = corners.map((c) => c[1]);
  const round = (v: number) => Math.round(v * 10) / 10;
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x: round(x), y: round(y), width: round(Math.max(...xs) - x), height: round(Math.max(...ys) - y) };
}
