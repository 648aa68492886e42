// CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the files users download, in either distribution
// format, into an ImageDataset (32x32x3 uint8 NHWC):
//   binary: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin, one record per image:
//             <label byte><3072 pixel bytes>; batches.meta.txt holds the class names.
//           cifar-100-binary/{train,test}.bin: <coarse label byte><fine label byte><3072 bytes>;
//             {fine,coarse}_label_names.txt.
//   python: cifar-10-batches-py/{data_batch_1..5,test_batch}, pickled dicts with b'data' (uint8
//             [N, 3072]) and b'labels'; batches.meta (b'label_names').
//           cifar-100-python/{train,test} with b'fine_labels' and b'coarse_labels'; meta.
// Pixels are channel-planar in both (1024 red, 1024 green, 1024 blue, rows of 32).
// `dir` is the extracted folder itself or the folder that contains it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { channelMeanStd } from './channel-stats.js';
import type { ImageDataset, ImageSplit } from './image-dataset.js';
import { dictGet, isNumpyArray, toIntArray, toStringList, unpickle } from './python-pickle.js';

export type CifarVariant = 'cifar10' | 'cifar100';
export type CifarFormat = 'binary' | 'python';

export interface CifarOptions {
  variant: CifarVariant;
  /** CIFAR-100's label set: the 100 fine classes (default) or the 20 coarse superclasses. */
  labelSet?: 'fine' | 'coarse';
}

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;

const CIFAR10_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

interface Layout {
  folders: Record<CifarFormat, string>;
  train: Record<CifarFormat, string[]>;
  test: Record<CifarFormat, string>;
}

const BATCHES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}`);

const LAYOUTS: Record<CifarVariant, Layout> = {
  cifar10: {
    folders: { binary: 'cifar-10-batches-bin', python: 'cifar-10-batches-py' },
    train: { binary: BATCHES.map((b) => `${b}.bin`), python: BATCHES },
    test: { binary: 'test_batch.bin', python: 'test_batch' },
  },
  cifar100: {
    folders: { binary: 'cifar-100-binary', python: 'cifar-100-python' },
    train: { binary: ['train.bin'], python: ['train'] },
    test: { binary: 'test.bin', python: 'test' },
  },
};

export class CifarError extends Error {
  readonly code = 'CIFAR_FILES';
}

/** Where the files are and in which format: binary first, then python. */
export function locateCifar(dir: string, variant: CifarVariant): { dir: string; format: CifarFormat } {
  const layout = LAYOUTS[variant];
  for (const format of ['binary', 'python'] as CifarFormat[]) {
    for (const candidate of [dir, join(dir, layout.folders[format])]) {
      if (existsSync(join(candidate, layout.train[format][0]))) return { dir: candidate, format };
    }
  }
  throw new CifarError(
    `${variant}: no CIFAR files in ${dir}; expected ${layout.folders.binary}/${layout.train.binary[0]} (binary version) ` +
      `or ${layout.folders.python}/${layout.train.python[0]} (python version), in ${dir} or in the folder itself`,
  );
}

/** Channel-planar rows (N x 3072) to NHWC. */
export function planarToNhwc(planar: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(count * PIXELS);
  const plane = SIDE * SIDE;
  for (let n = 0; n < count; n++) {
    const base = n * PIXELS;
    for (let p = 0; p < plane; p++) {
      out[base + 3 * p] = planar[base + p];
      out[base + 3 * p + 1] = planar[base + plane + p];
      out[base + 3 * p + 2] = planar[base + 2 * plane + p];
    }
  }
  return out;
}

interface RawSplit {
  planar: Uint8Array[];
  labels: Int32Array[];
}

function readBinary(path: string, variant: CifarVariant, labelSet: 'fine' | 'coarse'): { planar: Uint8Array; labels: Int32Array } {
  const bytes = readFileSync(path);
  const labelBytes = variant === 'cifar10' ? 1 : 2;
  const record = labelBytes + PIXELS;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new CifarError(`${path}: ${bytes.length} bytes is not a whole number of ${record}-byte ${variant} records`);
  }
  const count = bytes.length / record;
  const planar = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  const labelAt = variant === 'cifar10' || labelSet === 'coarse' ? 0 : 1;
  for (let n = 0; n < count; n++) {
    labels[n] = bytes[n * record + labelAt];
    planar.set(bytes.subarray(n * record + labelBytes, (n + 1) * record), n * PIXELS);
  }
  return { planar, labels };
}

function readPython(path: string, variant: CifarVariant, labelSet: 'fine' | 'coarse'): { planar: Uint8Array; labels: Int32Array } {
  const dict = unpickle(readFileSync(path), path);
  const data = dictGet(dict, 'data');
  if (!isNumpyArray(data) || data.dtype !== 'u1' || data.shape.length !== 2 || data.shape[1] !== PIXELS) {
    throw new CifarError(`${path}: 'data' is not a uint8 array of shape [N, ${PIXELS}]`);
  }
  const key = variant === 'cifar10' ? 'labels' : `${labelSet}_labels`;
  const labels = toIntArray(dictGet(dict, key), `${path}: '${key}'`);
  if (labels.length !== data.shape[0]) throw new CifarError(`${path}: ${data.shape[0]} images but ${labels.length} labels`);
  return { planar: data.bytes, labels };
}

function readClassNames(dir: string, format: CifarFormat, variant: CifarVariant, labelSet: 'fine' | 'coarse'): string[] | undefined {
  if (format === 'binary') {
    const file = join(dir, variant === 'cifar10' ? 'batches.meta.txt' : `${labelSet}_label_names.txt`);
    if (!existsSync(file)) return undefined;
    return readFileSync(file, 'utf8').split('\n').map((s) => s.trim()).filter((s) => s.length > 0);
  }
  const file = join(dir, variant === 'cifar10' ? 'batches.meta' : 'meta');
  if (!existsSync(file)) return undefined;
  const key = variant === 'cifar10' ? 'label_names' : `${labelSet}_label_names`;
  return toStringList(dictGet(unpickle(readFileSync(file), file), key), `${file}: '${key}'`);
}

function toSplit(parts: RawSplit, numClasses: number, what: string): ImageSplit {
  const count = parts.labels.reduce((a, l) => a + l.length, 0);
  const planar = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  parts.planar.forEach((p, i) => {
    planar.set(p, at * PIXELS);
    labels.set(parts.labels[i], at);
    at += parts.labels[i].length;
  });
  const bad = labels.findIndex((y) => y < 0 || y >= numClasses);
  if (bad >= 0) throw new CifarError(`${what}: label ${labels[bad]} of image ${bad} is not a class of 0..${numClasses - 1}`);
  return { images: planarToNhwc(planar, count), labels, count };
}

export function loadCifar(dir: string, { variant, labelSet = 'fine' }: CifarOptions): ImageDataset {
  const found = locateCifar(dir, variant);
  const layout = LAYOUTS[variant];
  const read = found.format === 'binary' ? readBinary : readPython;
  const numClasses = variant === 'cifar10' ? 10 : labelSet === 'fine' ? 100 : 20;
  const load = (files: string[], what: string): ImageSplit => {
    const parts: RawSplit = { planar: [], labels: [] };
    for (const f of files) {
      const path = join(found.dir, f);
      if (!existsSync(path)) throw new CifarError(`${variant}: ${path} is missing (${what} split)`);
      const { planar, labels } = read(path, variant, labelSet);
      parts.planar.push(planar);
      parts.labels.push(labels);
    }
    return toSplit(parts, numClasses, `${variant} ${what}`);
  };
  const train = load(layout.train[found.format], 'train');
  const test = load([layout.test[found.format]], 'test');
  const classNames = readClassNames(found.dir, found.format, variant, labelSet)
    ?? (variant === 'cifar10' ? CIFAR10_NAMES : Array.from({ length: numClasses }, (_, i) => String(i)));
  if (classNames.length !== numClasses) throw new CifarError(`${variant}: ${classNames.length} class names for ${numClasses} classes`);
  const name = variant === 'cifar100' && labelSet === 'coarse' ? 'cifar100-coarse' : variant;
  return {
    name,
    height: SIDE,
    width: SIDE,
    channels: 3,
    classNames,
    ...channelMeanStd(train.images, 3),
    train,
    test,
    source: `${found.dir} (${variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} ${found.format} version, ${train.count}/${test.count})`,
  };
}
