// The root/<class>/<image> layout (torchvision's ImageFolder; InsightFace's identity folders):
// classes are the sub-folders in sorted order (label = position), images their .png/.jpg/.jpeg
// files in sorted order. Sorting is by UTF-16 code units, the same on every machine and locale.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TrainError } from '../train-error.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

export interface ClassFolders {
  classNames: string[];
  /** Per class, its image paths. */
  files: string[][];
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function isImage(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

export function listClassFolders(root: string): ClassFolders {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch (error) {
    throw new TrainError('TRAINING_DATA_MISSING', `${root}: cannot read the image folder (${(error as Error).message})`);
  }
  const classNames = entries.filter((e) => !e.startsWith('.') && statSync(join(root, e)).isDirectory()).sort(byCodeUnits);
  if (classNames.length === 0) throw new TrainError('TRAINING_DATA_INVALID', `${root}: no class folders; expected ${root}/<class>/*.png|jpg`);
  const files = classNames.map((c) => readdirSync(join(root, c)).filter(isImage).sort(byCodeUnits).map((f) => join(root, c, f)));
  const empty = files.findIndex((f) => f.length === 0);
  if (empty >= 0) throw new TrainError('TRAINING_DATA_INVALID', `${join(root, classNames[empty])}: no .png or .jpg images`);
  return { classNames, files };
}
