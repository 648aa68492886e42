// Readers for the IJB-B/C meta files as InsightFace's IJB release lays them out (<data>/meta/):
//   ijbc_face_tid_mid.txt          "image template_id media_id"                 (469,375 lines)
//   ijbc_name_5pts_score.txt       "image x1 y1 ... x5 y5 det_score"            (loose_crop pixels)
//   ijbc_template_pair_label.txt   "tid1 tid2 label"                            (15,658,489 lines)
//   ijbc_1N_gallery_G1.csv, _G2.csv, ijbc_1N_probe_mixed.csv   TEMPLATE_ID,SUBJECT_ID,... + header
// The pair list is parsed from the byte stream into typed arrays: no per-line string is made.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';

import { hasCode } from '../errors.js';
import { readDatasetText } from './dataset-file.js';
import { EvalError } from './eval-error.js';

export type IjbTarget = 'ijbc' | 'ijbb';

export function ijbMetaPaths(dataDir: string, target: IjbTarget = 'ijbc') {
  const meta = join(dataDir, 'meta');
  const g = target === 'ijbc' ? ['G1', 'G2'] : ['S1', 'S2'];
  return {
    faceTidMid: join(meta, `${target}_face_tid_mid.txt`),
    nameLandmarksScore: join(meta, `${target}_name_5pts_score.txt`),
    templatePairLabel: join(meta, `${target}_template_pair_label.txt`),
    gallery: [join(meta, `${target}_1N_gallery_${g[0]}.csv`), join(meta, `${target}_1N_gallery_${g[1]}.csv`)],
    probe: join(meta, `${target}_1N_probe_mixed.csv`),
    /** Images, relative to the dataset root. */
    imageDir: 'loose_crop',
  };
}

function lines(text: string): string[] {
  const out = text.split('\n');
  for (let i = 0; i < out.length; i++) if (out[i].endsWith('\r')) out[i] = out[i].slice(0, -1);
  while (out.length > 0 && out[out.length - 1].trim() === '') out.pop();
  return out;
}

function toInt(s: string, where: string): number {
  if (!/^-?\d+$/.test(s)) throw new EvalError('DATASET_FORMAT', `${where}: "${s}" is not an integer`);
  return Number(s);
}

export interface FaceTidMid {
  names: string[];
  templates: Int32Array;
  medias: Int32Array;
}

export async function readFaceTidMid(path: string): Promise<FaceTidMid> {
  const rows = lines(await readDatasetText(path, 'IJB meta: "image template_id media_id" per line'));
  const names: string[] = new Array(rows.length);
  const templates = new Int32Array(rows.length);
  const medias = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const f = rows[i].trim().split(/\s+/);
    if (f.length < 3) throw new EvalError('DATASET_FORMAT', `${path}:${i + 1}: expected "image template_id media_id", got "${rows[i]}"`, { details: { file: path, line: i + 1 } });
    names[i] = f[0];
    templates[i] = toInt(f[1], `${path}:${i + 1}`);
    medias[i] = toInt(f[2], `${path}:${i + 1}`);
  }
  return { names, templates, medias };
}

export interface NameLandmarksScore {
  names: string[];
  /** n x 10: x1 y1 ... x5 y5 as float32, as np.float32 parses them. */
  landmarks: Float32Array;
  /** Detector scores as float32 (np.array(strings).astype(np.float32)). */
  scores: Float32Array;
}

export async function readNameLandmarksScore(path: string): Promise<NameLandmarksScore> {
  const rows = lines(await readDatasetText(path, 'IJB meta: "image x1 y1 ... x5 y5 det_score" per line'));
  const names: string[] = new Array(rows.length);
  const landmarks = new Float32Array(rows.length * 10);
  const scores = new Float32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    // ijb_11.py: line.strip().split(' ')
    const f = rows[i].trim().split(' ');
    if (f.length !== 12) {
      throw new EvalError('DATASET_FORMAT', `${path}:${i + 1}: expected "image" + 10 landmark coordinates + detector score (12 fields), got ${f.length}`, { details: { file: path, line: i + 1 } });
    }
    names[i] = f[0];
    for (let k = 0; k < 10; k++) landmarks[i * 10 + k] = toFloat(f[k + 1], `${path}:${i + 1}`);
    scores[i] = toFloat(f[11], `${path}:${i + 1}`);
  }
  return { names, landmarks, scores };
}

function toFloat(s: string, where: string): number {
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) throw new EvalError('DATASET_FORMAT', `${where}: "${s}" is not a number`);
  return v;
}

export interface TemplateSubjects {
  templates: Int32Array;
  subjects: Int32Array;
}

/** A 1:N csv: header row, then TEMPLATE_ID,SUBJECT_ID,... per image (ijb_1n.py). */
export async function readTemplateSubjects(path: string): Promise<TemplateSubjects> {
  const rows = lines(await readDatasetText(path, 'IJB 1:N meta: csv with a header, TEMPLATE_ID,SUBJECT_ID,... per row')).slice(1);
  const templates = new Int32Array(rows.length);
  const subjects = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const f = rows[i].split(',');
    if (f.length < 2) throw new EvalError('DATASET_FORMAT', `${path}:${i + 2}: expected TEMPLATE_ID,SUBJECT_ID,..., got "${rows[i]}"`, { details: { file: path, line: i + 2 } });
    templates[i] = toInt(f[0].trim(), `${path}:${i + 2}`);
    subjects[i] = toInt(f[1].trim(), `${path}:${i + 2}`);
  }
  return { templates, subjects };
}

/** A chunk of parsed pairs; the arrays are reused between chunks (copy what you keep). */
export interface PairChunk {
  t1: Int32Array;
  t2: Int32Array;
  label: Uint8Array;
  length: number;
}

const PAIR_CHUNK = 65536;

/**
 * Streams "tid1 tid2 label" lines (any whitespace between fields, \n or \r\n line ends),
 * calling onChunk with up to 65,536 pairs at a time. Integers are parsed from the bytes.
 * Returns the number of pairs.
 */
export async function streamTemplatePairs(path: string, onChunk: (chunk: PairChunk) => void): Promise<number> {
  const chunk: PairChunk = { t1: new Int32Array(PAIR_CHUNK), t2: new Int32Array(PAIR_CHUNK), label: new Uint8Array(PAIR_CHUNK), length: 0 };
  const fields = [0, 0, 0];
  let field = 0;
  let value = 0;
  let inNumber = false;
  let line = 1;
  let total = 0;
  const bad = (why: string): never => {
    throw new EvalError('DATASET_FORMAT', `${path}:${line}: ${why}; expected "tid1 tid2 label" with integers`, { details: { file: path, line } });
  };
  const endLine = (): void => {
    if (inNumber) {
      if (field >= 3) bad('more than 3 fields');
      fields[field++] = value;
      inNumber = false;
      value = 0;
    }
    if (field === 0) return; // blank line
    if (field !== 3) bad(`${field} field${field === 1 ? '' : 's'}`);
    if (fields[2] !== 0 && fields[2] !== 1) bad(`label ${fields[2]} is not 0 or 1`);
    const n = chunk.length;
    chunk.t1[n] = fields[0];
    chunk.t2[n] = fields[1];
    chunk.label[n] = fields[2];
    chunk.length = n + 1;
    total++;
    field = 0;
    if (chunk.length === PAIR_CHUNK) {
      onChunk(chunk);
      chunk.length = 0;
    }
  };
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    for await (const buf of stream as AsyncIterable<Buffer>) {
      for (let i = 0; i < buf.length; i++) {
        const c = buf[i];
        if (c >= 48 && c <= 57) {
          value = value * 10 + (c - 48);
          inNumber = true;
          if (value > 0x7fffffff) bad('integer out of range');
        } else if (c === 10) {
          endLine();
          line++;
        } else if (c === 32 || c === 9 || c === 13 || c === 44) {
          if (inNumber) {
            if (field >= 3) bad('more than 3 fields');
            fields[field++] = value;
            inNumber = false;
            value = 0;
          }
        } else {
          bad(`unexpected character "${String.fromCharCode(c)}"`);
        }
      }
    }
  } catch (err) {
    if (hasCode(err) && err.code === 'ENOENT') {
      throw new EvalError('DATASET_FILE_MISSING', `${path} not found (IJB meta: "tid1 tid2 label" per line)`, { cause: err });
    }
    throw err;
  }
  endLine();
  if (chunk.length > 0) onChunk(chunk);
  return total;
}
