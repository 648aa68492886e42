// Writes the manifest for an ONNX model protoserve did not train (e.g. an InsightFace-style
// 112x112 face embedder whose input is "input.1"). What the graph can tell is read from it
// through an onnxruntime session: tensor names, fixed input dims, the output size (from one
// real run), whether the output is already unit length. What it cannot tell (colour order,
// normalization, labels, licence) is declared by the caller; declarations the graph
// contradicts are refused with both values named.
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';

import ort from 'onnxruntime-node';

import { hasCode, messageOf } from '../errors.js';
import { ArtifactError } from './artifact-error.js';
import {
  MANIFEST_SCHEMA_VERSION,
  type ColorOrder,
  type DetectorSpec,
  type FaceSpec,
  type InputSpec,
  type Layout,
  type ManifestDraft,
  type OutputSpec,
  type Provenance,
  type Task,
} from './manifest.js';
import { validateManifest } from './validate-manifest.js';
import { writeArtifact, type WrittenArtifact } from './write-artifact.js';

/** Normalization used when none is declared: (pixel - 127.5) / 127.5, InsightFace's convention. */
export const EXTERNAL_DEFAULT_NORMALIZATION = { scale: 1, mean: 127.5, std: 127.5 } as const;

export interface ExternalInputDeclaration extends Partial<Omit<InputSpec, 'mean' | 'std'>> {
  /** One value per channel, or one value (alone or in a 1-element array) for all. */
  mean?: number | number[];
  std?: number | number[];
}

export interface DescribeExternalModelOptions {
  /** The .onnx file. */
  onnxPath: string;
  /** The model's bytes when they are already in memory (onnxPath then only names the source). */
  onnxBytes?: Uint8Array;
  task: Task;
  /** Model name (URL-safe: letters, digits, ".", "_", "-"). */
  name: string;
  /** Default "1". */
  version?: string;
  /** What you know about the input; height/width are checked against the graph's fixed dims. */
  input?: ExternalInputDeclaration;
  output?: Partial<OutputSpec>;
  /** Classifiers: one label per output (default "0", "1", ...). */
  labels?: string[];
  /** Licence of the weights; required, since protoserve did not train them. */
  licence: string;
  /** Anything else worth recording (dataset, source URL, paper). */
  provenance?: Provenance;
  /** Detectors: how the output decodes (required for task "detector"). */
  detector?: DetectorSpec;
  /** Face embedders: whole photos or aligned crops. */
  face?: FaceSpec;
}

export interface GraphValue {
  name: string;
  type?: string;
  shape?: (number | string)[];
}

export interface ExternalModelDescription {
  /** Ready for writeArtifact (which adds file and sha256). */
  manifest: ManifestDraft;
  /** The graph's inputs and outputs as onnxruntime reports them. */
  graph: { inputs: GraphValue[]; outputs: GraphValue[] };
  /** Which manifest fields were read from the graph or defaulted rather than declared. */
  notes: string[];
}

export async function describeExternalModel(options: DescribeExternalModelOptions): Promise<ExternalModelDescription> {
  const path = resolve(options.onnxPath);
  const bytes = options.onnxBytes ?? (await readModel(path));
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  } catch (err) {
    throw new ArtifactError('MODEL_UNLOADABLE', `onnxruntime cannot load ${path}: ${messageOf(err)}`, { cause: err });
  }
  try {
    return await describe(session, path, options);
  } finally {
    await session.release().catch(() => undefined);
  }
}

/** describeExternalModel, then writeArtifact into `dir` (the ONNX file is copied as model.onnx). */
export async function importExternalModel(dir: string, options: DescribeExternalModelOptions): Promise<WrittenArtifact & { notes: string[] }> {
  const description = await describeExternalModel(options);
  const written = await writeArtifact(dir, { manifest: description.manifest, onnxBytes: options.onnxBytes ?? (await readModel(resolve(options.onnxPath))) });
  return { ...written, notes: description.notes };
}

async function describe(session: ort.InferenceSession, path: string, options: DescribeExternalModelOptions): Promise<ExternalModelDescription> {
  const notes: string[] = [];
  /** EXTERNAL_MODEL_INVALID; details.field is the manifest field concerned (input.height, output.tensor, ...). */
  const fail = (field: string, message: string): never => {
    throw new ArtifactError('EXTERNAL_MODEL_INVALID', `${path}: ${message}`, { details: { field } });
  };
  const graph = {
    inputs: session.inputNames.map((n) => graphValue(session.inputMetadata, n)),
    outputs: session.outputNames.map((n) => graphValue(session.outputMetadata, n)),
  };
  const declared = options.input ?? {};

  // Input tensor
  let inputName = declared.tensor;
  if (inputName !== undefined) {
    if (!session.inputNames.includes(inputName)) fail('input.tensor', `input.tensor "${inputName}" is not an input of the graph; its inputs are ${names(session.inputNames)}`);
  } else if (session.inputNames.length === 1) {
    inputName = session.inputNames[0];
    notes.push(`input.tensor "${inputName}" read from the graph`);
  } else {
    fail('input.tensor', `the graph has ${session.inputNames.length} inputs (${names(session.inputNames)}); declare input.tensor`);
  }
  const inMeta = graph.inputs.find((g) => g.name === inputName)!;
  if (inMeta.type !== undefined && inMeta.type !== 'float32') fail('input.tensor', `input "${inputName}" is ${inMeta.type}; protoserve feeds float32 images`);
  const shape = inMeta.shape ?? [];
  if (shape.length !== 0 && shape.length !== 4) fail('input.layout', `input "${inputName}" has rank ${shape.length} [${shape.join(', ')}]; protoserve serves image models with a rank-4 input`);
  const fixed = (i: number): number | undefined => (typeof shape[i] === 'number' && (shape[i] as number) > 0 ? (shape[i] as number) : undefined);

  // Layout: declared, or where the 1/3-sized channel axis sits.
  let layout: Layout;
  if (declared.layout) layout = declared.layout;
  else {
    const c1 = fixed(1);
    const c3 = fixed(3);
    const isC = (d: number | undefined) => d === 1 || d === 3;
    layout = isC(c3) && !isC(c1) ? 'NHWC' : 'NCHW';
    notes.push(`input.layout ${layout} ${shape.length === 4 ? `inferred from the graph's input [${shape.join(', ')}]` : 'assumed (the graph does not say)'}`);
  }
  const axes = layout === 'NCHW' ? { c: 1, h: 2, w: 3 } : { c: 3, h: 1, w: 2 };

  const size = (what: 'height' | 'width', axis: number): number => {
    const graphDim = fixed(axis);
    const want = declared[what];
    if (want !== undefined) {
      if (graphDim !== undefined && graphDim !== want) fail(`input.${what}`, `input.${what} is declared ${want} but the graph's input "${inputName}" is ${graphDim} (${layout} [${shape.join(', ')}])`);
      return want;
    }
    if (graphDim === undefined) return fail(`input.${what}`, `the graph's input "${inputName}" has a dynamic ${what} ([${shape.join(', ')}]); declare input.${what}`);
    notes.push(`input.${what} ${graphDim} read from the graph`);
    return graphDim;
  };
  const height = size('height', axes.h);
  const width = size('width', axes.w);

  // Channels and colour
  const graphChannels = fixed(axes.c);
  const channels = declared.channels ?? graphChannels ?? (declared.color === 'gray' ? 1 : 3);
  if (graphChannels !== undefined && channels !== graphChannels) fail('input.channels', `input.channels is declared ${channels} but the graph's input has ${graphChannels} (${layout} [${shape.join(', ')}])`);
  const color: ColorOrder = declared.color ?? (channels === 1 ? 'gray' : 'rgb');
  if (declared.color === undefined) notes.push(`input.color "${color}" assumed: check your model's colour order (InsightFace ONNX models take RGB)`);
  else if ((color === 'gray') !== (channels === 1)) fail('input.color', `input.color "${color}" needs ${color === 'gray' ? 1 : 3} channel(s) but the input has ${channels}`);

  const perChannel = (v: number | number[] | undefined, fallback: number, field: string): number[] => {
    if (v === undefined) {
      notes.push(`input.${field} ${fallback} per channel assumed (pixel - 127.5) / 127.5, InsightFace's convention`);
      return Array(channels).fill(fallback);
    }
    if (typeof v === 'number') return Array(channels).fill(v);
    return v.length === 1 ? Array(channels).fill(v[0]) : [...v];
  };
  const input: InputSpec = {
    tensor: inputName!,
    layout,
    height,
    width,
    channels,
    color,
    scale: declared.scale ?? EXTERNAL_DEFAULT_NORMALIZATION.scale,
    mean: perChannel(declared.mean, EXTERNAL_DEFAULT_NORMALIZATION.mean, 'mean'),
    std: perChannel(declared.std, EXTERNAL_DEFAULT_NORMALIZATION.std, 'std'),
    resize: declared.resize ?? 'stretch',
  };

  // Output tensor and what one real run says about it.
  const wantOut = options.output ?? {};
  let outputName = wantOut.tensor;
  if (outputName !== undefined) {
    if (!session.outputNames.includes(outputName)) fail('output.tensor', `output.tensor "${outputName}" is not an output of the graph; its outputs are ${names(session.outputNames)}`);
  } else {
    outputName = session.outputNames[0];
    notes.push(`output.tensor "${outputName}" read from the graph${session.outputNames.length > 1 ? ` (first of ${names(session.outputNames)})` : ''}`);
  }
  const batch = fixed(0) ?? 1;
  const dims = layout === 'NCHW' ? [batch, channels, height, width] : [batch, height, width, channels];
  // A varied input (not constant: a constant can make a normalizing graph divide 0 by 0).
  const feed = Float32Array.from({ length: batch * channels * height * width }, (_, i) => Math.sin(i * 0.7));
  let row: Float32Array;
  try {
    const result = await session.run({ [input.tensor]: new ort.Tensor('float32', feed, dims) }, [outputName!]);
    const data = result[outputName!].data;
    if (!(data instanceof Float32Array)) return fail('output.tensor', `output "${outputName}" is ${result[outputName!].type}; protoserve reads float32 outputs`);
    row = data.slice(0, data.length / batch);
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    return fail('input', `a test run with input [${dims.join(', ')}] failed: ${messageOf(err)}; check input.height/width/layout`);
  }
  const dimension = row.length;
  if (wantOut.dimension !== undefined && wantOut.dimension !== dimension) fail('output.dimension', `output.dimension is declared ${wantOut.dimension} but the graph outputs ${dimension} values per item`);

  let kind = wantOut.kind;
  let normalized = wantOut.normalized;
  const norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
  if (options.task === 'embedder') {
    kind ??= 'embedding';
    if (normalized === undefined) {
      normalized = Math.abs(norm - 1) < 1e-3;
      notes.push(`output.normalized ${normalized}: a test output has L2 norm ${norm.toFixed(4)}`);
    }
  } else if (options.task === 'detector') {
    kind ??= 'detections';
    normalized ??= false;
  } else {
    const sum = row.reduce((s, v) => s + v, 0);
    const looksLikeProbabilities = row.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
    if (kind === undefined) {
      kind = looksLikeProbabilities ? 'probabilities' : 'logits';
      notes.push(`output.kind "${kind}" inferred: a test output ${looksLikeProbabilities ? 'sums to 1' : `sums to ${sum.toFixed(4)}`}`);
    }
    normalized ??= false;
  }

  let labels = options.labels;
  if (options.task === 'classifier' && labels === undefined) {
    labels = Array.from({ length: dimension }, (_, i) => String(i));
    notes.push(`labels "0".."${dimension - 1}" assumed; pass labels to name the classes`);
  }

  const manifest: ManifestDraft = {
    schema: MANIFEST_SCHEMA_VERSION,
    name: options.name,
    version: options.version ?? '1',
    task: options.task,
    input,
    output: { tensor: outputName!, kind, dimension, normalized },
    ...(labels !== undefined ? { labels } : {}),
    ...(options.detector !== undefined ? { detector: options.detector } : {}),
    ...(options.face !== undefined ? { face: options.face } : {}),
    provenance: { ...options.provenance, imported: true, licence: options.licence, source: options.provenance?.source ?? basename(path) },
  };
  // Surface manifest problems (bad name, labels count, missing licence) now, naming the field.
  validateManifest({ ...manifest, file: 'model.onnx', sha256: '0'.repeat(64) });
  return { manifest, graph, notes };
}

async function readModel(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    if (hasCode(err) && err.code === 'ENOENT') throw new ArtifactError('EXTERNAL_MODEL_NOT_FOUND', `${path} not found`, { cause: err });
    throw new ArtifactError('EXTERNAL_MODEL_INVALID', `Cannot read ${path}: ${messageOf(err)}`, { cause: err });
  }
}

function graphValue(meta: readonly ort.InferenceSession.ValueMetadata[] | undefined, name: string): GraphValue {
  const m = meta?.find((v) => v.name === name);
  return m && m.isTensor ? { name, type: m.type, shape: [...m.shape] } : { name };
}

function names(list: readonly string[]): string {
  return list.map((n) => `"${n}"`).join(', ');
}
