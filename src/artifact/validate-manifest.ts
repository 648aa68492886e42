// Checks a parsed manifest.json against the contract in manifest.ts, field by field.
// Every problem names its field ("manifest.input.height: expected a positive integer, got "abc"")
// so the person who wrote the file can fix it without reading this code. All problems are
// collected, not just the first, so one edit-and-retry fixes them all.
import { ManifestError, type ManifestIssue } from './artifact-error.js';
import {
  COLOR_ORDERS,
  DETECTOR_DECODERS,
  FACE_INPUTS,
  LAYOUTS,
  MANIFEST_SCHEMA_VERSION,
  OUTPUT_KINDS,
  RESIZE_MODES,
  TASKS,
  type Manifest,
} from './manifest.js';

/** Model names appear in URLs (/v1/models/{name}) and folder names: keep them path-safe. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Larger inputs than this are almost certainly a typo (and would exhaust memory per request). */
export const MAX_INPUT_SIDE = 8192;

const TOP_KEYS = ['schema', 'name', 'version', 'task', 'file', 'sha256', 'input', 'output', 'labels', 'operatingPoints', 'detector', 'face', 'provenance'];
const DETECTOR_KEYS = ['decoder', 'anchors', 'keypoints', 'scoreThreshold', 'iouThreshold'];
const FACE_KEYS = ['input', 'detector', 'templateScale'];
const INPUT_KEYS = ['tensor', 'layout', 'height', 'width', 'channels', 'color', 'scale', 'mean', 'std', 'resize'];
const OUTPUT_KEYS = ['tensor', 'kind', 'dimension', 'normalized'];
const POINT_KEYS = ['far', 'threshold', 'source', 'pipeline'];
const PIPELINE_KEYS = ['pairs', 'flip', 'preprocessing'];

/** Returns the manifest typed, or throws ManifestError listing every bad field. */
export function validateManifest(value: unknown, options: { dir?: string } = {}): Manifest {
  const issues = manifestIssues(value);
  if (issues.length > 0) throw new ManifestError(issues, options);
  return value as Manifest;
}

/** Every problem with a candidate manifest; empty when it is valid. */
export function manifestIssues(value: unknown): ManifestIssue[] {
  const c = new Checker();
  if (!isObject(value)) {
    c.fail('manifest', 'a JSON object', value);
    return c.issues;
  }
  c.unknownKeys('manifest', value, TOP_KEYS);

  if (value.schema === undefined) c.fail('manifest.schema', `the schema version ${MANIFEST_SCHEMA_VERSION}`, undefined);
  else if (value.schema !== MANIFEST_SCHEMA_VERSION) {
    c.issue(
      'manifest.schema',
      `expected ${MANIFEST_SCHEMA_VERSION} (the manifest schema this protoserve reads), got ${show(value.schema)}`,
    );
  }
  if (c.string('manifest.name', value.name) && !MODEL_NAME_PATTERN.test(value.name as string)) {
    c.issue(
      'manifest.name',
      `expected letters, digits, ".", "_" or "-" (starting with a letter or digit, at most 128), got ${show(value.name)}`,
    );
  }
  c.string('manifest.version', value.version);
  const task = c.oneOf('manifest.task', value.task, TASKS);
  if (c.string('manifest.file', value.file)) {
    const file = value.file as string;
    if (file.startsWith('/') || file.includes('\\') || /^[A-Za-z]:/.test(file) || file.split('/').some((p) => p === '..' || p === '')) {
      c.issue('manifest.file', `expected a path inside the artifact folder (e.g. "model.onnx"), got ${show(file)}`);
    }
  }
  if (value.sha256 === undefined || typeof value.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(value.sha256)) {
    c.fail('manifest.sha256', '64 lowercase hex digits (the sha256 of the model file)', value.sha256);
  }

  // input
  let channels: number | undefined;
  let inputSize: [number, number] | undefined;
  if (!isObject(value.input)) c.fail('manifest.input', 'an object', value.input);
  else {
    const input = value.input;
    c.unknownKeys('manifest.input', input, INPUT_KEYS);
    c.string('manifest.input.tensor', input.tensor);
    c.oneOf('manifest.input.layout', input.layout, LAYOUTS);
    if (c.positiveInt('manifest.input.height', input.height, MAX_INPUT_SIDE) && c.positiveInt('manifest.input.width', input.width, MAX_INPUT_SIDE)) {
      inputSize = [input.height as number, input.width as number];
    }
    const color = c.oneOf('manifest.input.color', input.color, COLOR_ORDERS);
    if (input.channels !== 1 && input.channels !== 3) c.fail('manifest.input.channels', '1 or 3', input.channels);
    else {
      channels = input.channels;
      const want = color === 'gray' ? 1 : color === undefined ? channels : 3;
      if (channels !== want) {
        c.issue('manifest.input.channels', `expected ${want} for color "${color}", got ${channels}`);
      }
    }
    if (typeof input.scale !== 'number' || !Number.isFinite(input.scale) || input.scale <= 0) {
      c.fail('manifest.input.scale', 'a positive number (e.g. 1 or 0.00392156862745098 = 1/255)', input.scale);
    }
    c.perChannel('manifest.input.mean', input.mean, channels, false);
    c.perChannel('manifest.input.std', input.std, channels, true);
    c.oneOf('manifest.input.resize', input.resize, RESIZE_MODES);
  }

  // output
  let dimension: number | undefined;
  if (!isObject(value.output)) c.fail('manifest.output', 'an object', value.output);
  else {
    const output = value.output;
    c.unknownKeys('manifest.output', output, OUTPUT_KEYS);
    c.string('manifest.output.tensor', output.tensor);
    const kind = c.oneOf('manifest.output.kind', output.kind, OUTPUT_KINDS);
    if (kind && task === 'classifier' && kind === 'embedding') {
      c.issue('manifest.output.kind', `expected "probabilities" or "logits" for a classifier, got "embedding"`);
    }
    if (kind && task === 'embedder' && kind !== 'embedding') {
      c.issue('manifest.output.kind', `expected "embedding" for an embedder, got ${show(kind)}`);
    }
    if (kind && (task === 'detector') !== (kind === 'detections')) {
      c.issue('manifest.output.kind', task === 'detector' ? `expected "detections" for a detector, got ${show(kind)}` : `"detections" is the output of a detector, not of ${task === undefined ? 'this task' : `a ${task}`}`);
    }
    if (c.positiveInt('manifest.output.dimension', output.dimension, Number.MAX_SAFE_INTEGER)) {
      dimension = output.dimension as number;
    }
    if (typeof output.normalized !== 'boolean') c.fail('manifest.output.normalized', 'true or false', output.normalized);
  }

  // task-specific
  if (task === 'classifier') {
    const labels = value.labels;
    const wanted = dimension !== undefined ? `${dimension} labels (one per output)` : 'one label per output';
    if (!Array.isArray(labels)) c.fail('manifest.labels', `an array of ${wanted} for a classifier`, labels);
    else {
      if (dimension !== undefined && labels.length !== dimension) {
        c.issue('manifest.labels', `expected ${wanted} to match manifest.output.dimension, got ${labels.length}`);
      }
      const seen = new Map<string, number>();
      labels.forEach((label, i) => {
        if (typeof label !== 'string' || label.length === 0) c.fail(`manifest.labels[${i}]`, 'a non-empty string', label);
        else if (seen.has(label)) c.issue(`manifest.labels[${i}]`, `duplicate label ${show(label)} (also at index ${seen.get(label)})`);
        else seen.set(label, i);
      });
    }
    if (value.operatingPoints !== undefined) {
      c.issue('manifest.operatingPoints', 'only embedders have operating points; remove it for a classifier');
    }
  } else if (task === 'embedder') {
    if (value.labels !== undefined) c.issue('manifest.labels', 'only classifiers have labels; remove it for an embedder');
    if (value.operatingPoints !== undefined) c.operatingPoints(value.operatingPoints);
    if (value.face !== undefined) c.face(value.face);
  } else if (task === 'detector') {
    for (const key of ['labels', 'operatingPoints'] as const) {
      if (value[key] !== undefined) c.issue(`manifest.${key}`, `a detector has no ${key}; remove it`);
    }
    if (value.detector === undefined) c.fail('manifest.detector', 'an object {decoder, anchors, keypoints, scoreThreshold, iouThreshold} for a detector', undefined);
    else c.detector(value.detector, inputSize, dimension);
  }
  if (task !== 'detector' && value.detector !== undefined) c.issue('manifest.detector', 'only detectors have a decoding; remove it');
  if (task !== 'embedder' && value.face !== undefined) c.issue('manifest.face', 'only face embedders take whole photos; remove it');

  // provenance
  if (!isObject(value.provenance)) c.fail('manifest.provenance', 'an object (may be empty: {})', value.provenance);
  else {
    const p = value.provenance;
    if (p.imported !== undefined && typeof p.imported !== 'boolean') c.fail('manifest.provenance.imported', 'true or false', p.imported);
    if (p.licence !== undefined && (typeof p.licence !== 'string' || p.licence.trim() === '')) {
      c.fail('manifest.provenance.licence', 'a non-empty string', p.licence);
    }
    if (p.imported === true && p.licence === undefined) {
      c.issue('manifest.provenance.licence', 'required for imported weights (provenance.imported is true): name the licence, e.g. "MIT"');
    }
    for (const key of ['dataset', 'objective', 'backbone', 'backend', 'commit', 'date'] as const) {
      if (p[key] !== undefined && typeof p[key] !== 'string') c.fail(`manifest.provenance.${key}`, 'a string', p[key]);
    }
    if (p.metrics !== undefined) {
      if (!isObject(p.metrics)) c.fail('manifest.provenance.metrics', 'an object of numbers', p.metrics);
      else {
        for (const [k, v] of Object.entries(p.metrics)) {
          if (typeof v !== 'number' || !Number.isFinite(v)) c.fail(`manifest.provenance.metrics.${k}`, 'a finite number', v);
        }
      }
    }
    if (p.parity !== undefined) {
      if (!isObject(p.parity)) c.fail('manifest.provenance.parity', 'an object {maxAbsDiff, relative, samples}', p.parity);
      else {
        for (const k of ['maxAbsDiff', 'relative'] as const) {
          const v = p.parity[k];
          if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) c.fail(`manifest.provenance.parity.${k}`, 'a non-negative number', v);
        }
        c.positiveInt('manifest.provenance.parity.samples', p.parity.samples, Number.MAX_SAFE_INTEGER);
      }
    }
  }
  return c.issues;
}

class Checker {
  readonly issues: ManifestIssue[] = [];

  issue(field: string, text: string): void {
    this.issues.push({ field, message: `${field}: ${text}` });
  }

  /** "expected <what>, got <value>" (or "but it is missing"). */
  fail(field: string, what: string, value: unknown): void {
    this.issue(field, value === undefined ? `expected ${what}, but it is missing` : `expected ${what}, got ${show(value)}`);
  }

  unknownKeys(field: string, obj: Record<string, unknown>, known: string[]): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.issue(`${field}.${key}`, `unknown field (known: ${known.join(', ')})`);
    }
  }

  string(field: string, value: unknown): boolean {
    if (typeof value === 'string' && value.length > 0) return true;
    this.fail(field, 'a non-empty string', value);
    return false;
  }

  oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T | undefined {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.fail(field, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
    return undefined;
  }

  positiveInt(field: string, value: unknown, max: number): boolean {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= max) return true;
    this.fail(field, max < Number.MAX_SAFE_INTEGER ? `a positive integer (at most ${max})` : 'a positive integer', value);
    return false;
  }

  /** mean/std: one finite number per channel (std strictly positive). */
  perChannel(field: string, value: unknown, channels: number | undefined, positive: boolean): void {
    const what = `${positive ? 'positive numbers' : 'numbers'}, one per channel${channels ? ` (${channels})` : ''}`;
    if (!Array.isArray(value)) return this.fail(field, `an array of ${what}`, value);
    if (channels !== undefined && value.length !== channels) {
      return this.issue(field, `expected ${channels} value${channels === 1 ? '' : 's'} (one per channel, manifest.input.channels is ${channels}), got ${value.length}`);
    }
    value.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) {
        this.fail(`${field}[${i}]`, positive ? 'a positive number' : 'a finite number', v);
      }
    });
  }

  /** A detector's decoding; the output must hold every anchor's score, box and keypoints. */
  detector(value: unknown, inputSize: [number, number] | undefined, dimension: number | undefined): void {
    const field = 'manifest.detector';
    if (!isObject(value)) return this.fail(field, 'an object {decoder, anchors, keypoints, scoreThreshold, iouThreshold}', value);
    this.unknownKeys(field, value, DETECTOR_KEYS);
    this.oneOf(`${field}.decoder`, value.decoder, DETECTOR_DECODERS);
    let anchorCount: number | undefined = 0;
    if (!Array.isArray(value.anchors) || value.anchors.length === 0) this.fail(`${field}.anchors`, 'a non-empty array of {stride, perCell}', value.anchors);
    else {
      value.anchors.forEach((layer, i) => {
        const at = `${field}.anchors[${i}]`;
        if (!isObject(layer)) return this.fail(at, 'an object {stride, perCell}', layer);
        this.unknownKeys(at, layer, ['stride', 'perCell']);
        const ok = this.positiveInt(`${at}.stride`, layer.stride, MAX_INPUT_SIDE) && this.positiveInt(`${at}.perCell`, layer.perCell, 1024);
        if (ok && inputSize && anchorCount !== undefined) {
          anchorCount += Math.ceil(inputSize[0] / (layer.stride as number)) * Math.ceil(inputSize[1] / (layer.stride as number)) * (layer.perCell as number);
        } else anchorCount = undefined;
      });
    }
    const keypoints = value.keypoints;
    if (!Array.isArray(keypoints) || !keypoints.every((k) => typeof k === 'string' && k.length > 0)) this.fail(`${field}.keypoints`, 'an array of keypoint names', keypoints);
    else if (anchorCount !== undefined && dimension !== undefined) {
      const want = anchorCount * (5 + 2 * keypoints.length);
      if (want !== dimension) {
        this.issue('manifest.output.dimension', `expected ${want} for ${anchorCount} anchors x (score + 4 box + 2 x ${keypoints.length} keypoints), got ${dimension}`);
      }
    }
    for (const key of ['scoreThreshold', 'iouThreshold'] as const) {
      const v = value[key];
      if (typeof v !== 'number' || !(v > 0 && v < 1)) this.fail(`${field}.${key}`, 'a number in (0, 1)', v);
    }
  }

  face(value: unknown): void {
    const field = 'manifest.face';
    if (!isObject(value)) return this.fail(field, 'an object {input, detector?, templateScale?}', value);
    this.unknownKeys(field, value, FACE_KEYS);
    this.oneOf(`${field}.input`, value.input, FACE_INPUTS);
    if (value.detector !== undefined && (typeof value.detector !== 'string' || !MODEL_NAME_PATTERN.test(value.detector))) this.fail(`${field}.detector`, 'a model name', value.detector);
    const s = value.templateScale;
    if (s !== undefined && (typeof s !== 'number' || !(s > 0.25 && s <= 2))) this.fail(`${field}.templateScale`, 'a number in (0.25, 2]', s);
  }

  operatingPoints(value: unknown): void {
    const field = 'manifest.operatingPoints';
    if (!Array.isArray(value)) return this.fail(field, 'an array of {far, threshold, source?, pipeline?} sorted by far', value);
    let previous: number | undefined;
    /** FARs seen per pipeline (JSON of the pipeline, "" for none). */
    const seen = new Map<string, Set<number>>();
    value.forEach((point, i) => {
      const at = `${field}[${i}]`;
      if (!isObject(point)) return this.fail(at, 'an object {far, threshold, source?, pipeline?}', point);
      this.unknownKeys(at, point, POINT_KEYS);
      const pipeline = point.pipeline === undefined ? '' : this.pipeline(`${at}.pipeline`, point.pipeline);
      const far = point.far;
      if (typeof far !== 'number' || !Number.isFinite(far) || far <= 0 || far > 1) this.fail(`${at}.far`, 'a number in (0, 1]', far);
      else {
        if (previous !== undefined && far < previous) {
          this.issue(`${at}.far`, `operating points must be sorted by far: ${far} follows ${previous}`);
        }
        const fars = seen.get(pipeline ?? '') ?? new Set<number>();
        if (fars.has(far)) this.issue(`${at}.far`, `a second operating point at far ${far} for the same pipeline`);
        fars.add(far);
        seen.set(pipeline ?? '', fars);
        previous = far;
      }
      const t = point.threshold;
      if (typeof t !== 'number' || !Number.isFinite(t) || t < -1 || t > 1) this.fail(`${at}.threshold`, 'a cosine similarity in [-1, 1]', t);
      if (point.source !== undefined && typeof point.source !== 'string') this.fail(`${at}.source`, 'a string', point.source);
    });
  }

  /** {pairs: "image"|"template", flip, preprocessing}; returns a key for it (undefined if bad). */
  pipeline(field: string, value: unknown): string | undefined {
    if (!isObject(value)) {
      this.fail(field, 'an object {pairs, flip, preprocessing}', value);
      return undefined;
    }
    this.unknownKeys(field, value, PIPELINE_KEYS);
    const pairs = this.oneOf(`${field}.pairs`, value.pairs, ['image', 'template'] as const);
    if (typeof value.flip !== 'boolean') this.fail(`${field}.flip`, 'true or false', value.flip);
    if (typeof value.preprocessing !== 'string' || !/^[0-9a-f]{64}$/.test(value.preprocessing)) {
      this.fail(`${field}.preprocessing`, '64 lowercase hex digits (the preprocessing hash)', value.preprocessing);
    }
    return JSON.stringify([pairs, value.flip, value.preprocessing]);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as it would look in the JSON file, cut short when long. */
function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
