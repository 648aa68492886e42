// A held-out verification set for validation during training: image pairs labelled same /
// different, decoded once into memory (RGB uint8, resized to the run's input). Two layouts, the
// ones face training sets ship with:
//   - an LFW folder: pairs.txt (10 folds, "name n1 n2" / "name1 n1 name2 n2") and
//     name/name_0001.jpg aligned crops (the layout `protoserve eval lfw` reads, PROTOCOLS.md);
//   - an InsightFace verification pack (lfw.bin, cfp_fp.bin, agedb_30.bin, beside train.rec in
//     MS1MV3 and friends): a pickle of (list of 2n encoded images, list of n booleans); pair k
//     is images 2k and 2k+1 (arcface_torch/eval/verification.py, load_bin).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ProtoserveError } from '../../errors.js';
import { readLfwPairs } from '../../eval/lfw.js';
import { decodeImage } from './decode-image.js';
import { isNumpyArray, unpickle, type PyValue } from './python-pickle.js';

export interface VerificationSet {
  name: string;
  /** Where it came from, for reports. */
  source: string;
  height: number;
  width: number;
  /** count x height x width x 3, RGB uint8. */
  images: Uint8Array;
  count: number;
  /** Pair k compares images first[k] and second[k]; same[k] says whether they show one identity. */
  first: Int32Array;
  second: Int32Array;
  same: boolean[];
  /** Cross-validation folds of the pair list (contiguous blocks, LFW's protocol). */
  folds: number;
}

export class VerificationSetError extends ProtoserveError {
  constructor(message: string) {
    super('VERIFICATION_SET_INVALID', message);
  }
}

export async function loadVerificationSet(path: string, size: { height: number; width: number }): Promise<VerificationSet> {
  if (!existsSync(path)) throw new VerificationSetError(`${path} not found: --val takes an LFW folder (pairs.txt + images) or an InsightFace .bin`);
  return statSync(path).isDirectory() ? loadLfwFolder(path, size) : loadInsightFaceBin(path, size);
}

async function decodeAll(inputs: Array<string | Uint8Array>, size: { height: number; width: number }, what: (i: number) => string): Promise<Uint8Array> {
  const pixels = size.height * size.width * 3;
  const images = new Uint8Array(inputs.length * pixels);
  // A few at a time: sharp decodes on its own thread pool.
  for (let start = 0; start < inputs.length; start += 64) {
    const chunk = inputs.slice(start, start + 64);
    const decoded = await Promise.all(
      chunk.map((input, j) =>
        decodeImage(input, { ...size, channels: 3 }).catch((error: Error) => {
          throw new VerificationSetError(`${what(start + j)}: cannot decode the image (${error.message})`);
        }),
      ),
    );
    decoded.forEach((d, j) => images.set(d, (start + j) * pixels));
  }
  return images;
}

async function loadLfwFolder(dir: string, size: { height: number; width: number }): Promise<VerificationSet> {
  const list = await readLfwPairs(join(dir, 'pairs.txt'));
  const index = new Map<string, number>();
  const at = (p: string) => {
    if (!index.has(p)) index.set(p, index.size);
    return index.get(p)!;
  };
  const first = Int32Array.from(list.pairs, (p) => at(p.a));
  const second = Int32Array.from(list.pairs, (p) => at(p.b));
  const paths = [...index.keys()];
  const images = await decodeAll(paths.map((p) => join(dir, p)), size, (i) => join(dir, paths[i]));
  return {
    name: basename(dir),
    source: `${dir} (LFW layout, ${list.pairs.length} pairs, ${paths.length} images)`,
    ...size,
    images,
    count: paths.length,
    first,
    second,
    same: list.pairs.map((p) => p.same),
    folds: list.folds,
  };
}

function booleans(value: PyValue, what: string): boolean[] {
  if (Array.isArray(value)) {
    return value.map((v) => {
      if (typeof v !== 'boolean' && typeof v !== 'number') throw new VerificationSetError(`${what}: expected booleans`);
      return Boolean(v);
    });
  }
  if (isNumpyArray(value) && /^[|<>=]?(b1|u1|\?)$/.test(value.dtype)) return Array.from(value.bytes, (b) => b !== 0);
  throw new VerificationSetError(`${what}: expected a list of booleans`);
}

async function loadInsightFaceBin(path: string, size: { height: number; width: number }): Promise<VerificationSet> {
  const root = unpickle(readFileSync(path), path);
  if (!Array.isArray(root) || root.length !== 2 || !Array.isArray(root[0])) {
    throw new VerificationSetError(`${path}: expected a pickled (images, issame) pair as InsightFace's verification .bin files hold`);
  }
  const bins = root[0].map((b, i) => {
    if (!(b instanceof Uint8Array)) throw new VerificationSetError(`${path}: image ${i} is not encoded bytes`);
    return b;
  });
  const same = booleans(root[1], path);
  if (bins.length !== 2 * same.length) throw new VerificationSetError(`${path}: ${bins.length} images for ${same.length} pairs (expected two per pair)`);
  const images = await decodeAll(bins, size, (i) => `${path} image ${i}`);
  return {
    name: basename(path).replace(/\.bin$/, ''),
    source: `${path} (InsightFace verification pack, ${same.length} pairs)`,
    ...size,
    images,
    count: bins.length,
    first: Int32Array.from(same, (_, k) => 2 * k),
    second: Int32Array.from(same, (_, k) => 2 * k + 1),
    same,
    folds: 10,
  };
}
