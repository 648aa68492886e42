// Landmarks stored next to an image as JSON (MegaFace ships <image>.json per image). Accepted
// shapes: {"landmarks": {"0": {"x": .., "y": ..}, ...}}, {"landmarks": [[x, y], ...]},
// {"landmarks": [{"x": .., "y": ..}, ...]} or a flat [x1, y1, ...]; 5 or 68 points.
import { parseDatasetJson, readOptionalText } from './dataset-file.js';
import { EvalError } from './eval-error.js';

export function parseLandmarksJson(value: unknown, where: string): Float64Array {
  const root = value && typeof value === 'object' && !Array.isArray(value) && 'landmarks' in value ? (value as { landmarks: unknown }).landmarks : value;
  let points: unknown[];
  if (Array.isArray(root)) points = root;
  else if (root && typeof root === 'object') {
    const entries = Object.entries(root as Record<string, unknown>).filter(([k]) => /^\d+$/.test(k));
    points = entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => v);
  } else points = [];
  const flat: number[] = [];
  for (const p of points) {
    if (typeof p === 'number') flat.push(p);
    else if (Array.isArray(p) && p.length >= 2) flat.push(Number(p[0]), Number(p[1]));
    else if (p && typeof p === 'object' && 'x' in p && 'y' in p) flat.push(Number((p as { x: unknown }).x), Number((p as { y: unknown }).y));
    else flat.push(NaN);
  }
  if ((flat.length !== 10 && flat.length !== 136) || flat.some((v) => !Number.isFinite(v))) {
    throw new EvalError('DATASET_FORMAT', `${where}: expected 5 or 68 landmarks ({"landmarks": {"0": {"x", "y"}, ...}} or [[x, y], ...]), got ${flat.length / 2} points`);
  }
  return Float64Array.from(flat);
}

/** Landmarks from a JSON file, or undefined when the file does not exist (aligned image). */
export async function readLandmarksJson(path: string): Promise<Float64Array | undefined> {
  const text = await readOptionalText(path);
  return text === undefined ? undefined : parseLandmarksJson(parseDatasetJson(text, path), path);
}
