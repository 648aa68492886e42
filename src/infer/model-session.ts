// One artifact loaded into an onnxruntime session on a device: raw batched runs, plus the two
// task helpers (classifier -> top-k {label, score}; embedder -> unit-length vectors).
// On load the graph is checked against the manifest (tensor names, input size, output
// dimension) so a wrong manifest fails at start, not on the first request.
import ort from 'onnxruntime-node';

import { ArtifactError } from '../artifact/artifact-error.js';
import type { Manifest } from '../artifact/manifest.js';
import { messageOf } from '../errors.js';
import { createSessionOnDevice, type CreateSessionOptions, type ProviderAttempt } from './create-session.js';
import type { Device, ExecutionProvider } from './devices.js';
import { InferError } from './infer-error.js';
import { embeddingsOf, predictionsOf, type Prediction } from './postprocess.js';
import { imageToTensor, inputDims, inputSize, type RgbImage } from './preprocess.js';
import { withArticle } from './task-words.js';

/** What ModelSession.create needs of an artifact (readArtifact's LoadedArtifact fits). */
export interface SessionSource {
  manifest: Manifest;
  modelPath: string;
  /** When present, the session is created from these bytes instead of reading modelPath. */
  bytes?: Uint8Array;
}

export interface ModelSessionOptions extends CreateSessionOptions {
  /** auto | cpu | cuda | webgpu (default auto). */
  device?: Device | string;
}

export const DEFAULT_TOP_K = 5;

export class ModelSession {
  readonly manifest: Manifest;
  /** The device asked for, and the execution provider that actually runs this model. */
  readonly device: Device;
  readonly provider: ExecutionProvider;
  /** Providers tried before `provider`, with why they failed. */
  readonly attempts: ProviderAttempt[];
  /** Largest batch one run accepts: 1 when the graph's batch dimension is fixed to 1. */
  readonly maxBatch: number;
  private readonly session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession, manifest: Manifest, device: Device, provider: ExecutionProvider, attempts: ProviderAttempt[], maxBatch: number) {
    this.session = session;
    this.manifest = manifest;
    this.device = device;
    this.provider = provider;
    this.attempts = attempts;
    this.maxBatch = maxBatch;
  }

  /**
   * Loads the artifact on the device (see createSessionOnDevice for the rules) and checks the
   * graph against its manifest (MODEL_MANIFEST_MISMATCH).
   */
  static async create(source: SessionSource, options: ModelSessionOptions = {}): Promise<ModelSession> {
    const ds = await createSessionOnDevice(source.bytes ?? source.modelPath, options.device ?? 'auto', options);
    try {
      const maxBatch = checkGraph(ds.session, source.manifest, source.modelPath);
      return new ModelSession(ds.session, source.manifest, ds.device, ds.provider, ds.attempts, maxBatch);
    } catch (err) {
      await ds.session.release().catch(() => undefined);
      throw err;
    }
  }

  get name(): string {
    return this.manifest.name;
  }

  /** Floats per item in a batch (height * width * channels). */
  get itemSize(): number {
    return inputSize(this.manifest.input);
  }

  /**
   * Runs n items laid out back to back in `batch` (n * itemSize floats, the manifest's layout);
   * returns one row of output.dimension floats per item.
   */
  async run(batch: Float32Array, n: number): Promise<Float32Array[]> {
    const size = this.itemSize;
    if (!Number.isInteger(n) || n < 1) throw new InferError('INPUT_INVALID', `Batch size must be a positive integer, got ${n}`);
    if (batch.length !== n * size) {
      throw new InferError('INPUT_INVALID', `Batch of ${batch.length} floats is not ${n} x ${size} (${this.manifest.input.layout} ${inputDims(this.manifest.input, 1).slice(1).join('x')})`);
    }
    const rows: Float32Array[] = [];
    for (let start = 0; start < n; start += this.maxBatch) {
      const count = Math.min(this.maxBatch, n - start);
      rows.push(...(await this.runChunk(batch.subarray(start * size, (start + count) * size), count)));
    }
    return rows;
  }

  /** Classifier: top-k {label, score} per item, scores as probabilities (softmax of logits). */
  async classify(batch: Float32Array, n: number, options: { topK?: number } = {}): Promise<Prediction[][]> {
    this.expectTask('classifier', 'classify');
    const rows = await this.run(batch, n);
    return rows.map((row) => this.predictions(row, options.topK ?? DEFAULT_TOP_K));
  }

  /** Embedder: one L2-normalized vector per item. */
  async embed(batch: Float32Array, n: number): Promise<Float32Array[]> {
    this.expectTask('embedder', 'embed');
    return embeddingsOf(this.manifest, await this.run(batch, n));
  }

  /** Scores as probabilities, best k first. */
  predictions(row: Float32Array, k: number): Prediction[] {
    return predictionsOf(this.manifest, row, k);
  }

  /**
   * One real inference on a mid-grey image, checking the output is finite: a model that passes
   * is ready to serve (the first real run also pays onnxruntime's lazy initialisation).
   */
  async warmup(): Promise<void> {
    const { width, height } = this.manifest.input;
    const grey: RgbImage = { data: new Uint8Array(width * height * 3).fill(128), width, height, channels: 3 };
    const [row] = await this.run(imageToTensor(grey, this.manifest.input), 1);
    const bad = row.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InferError('INFERENCE_FAILED', `${this.name}: warm-up output[${bad}] is ${row[bad]}, not a finite number`);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private expectTask(task: Manifest['task'], what: string): void {
    if (this.manifest.task !== task) {
      throw new InferError('WRONG_TASK', `Model "${this.name}" is ${withArticle(this.manifest.task)}; ${what} needs ${withArticle(task)}`);
    }
  }

  private async runChunk(data: Float32Array, n: number): Promise<Float32Array[]> {
    const { input, output } = this.manifest;
    let result: ort.InferenceSession.ReturnType;
    try {
      const tensor = new ort.Tensor('float32', data, inputDims(input, n));
      result = await this.session.run({ [input.tensor]: tensor }, [output.tensor]);
    } catch (err) {
      throw new InferError('INFERENCE_FAILED', `${this.name}: onnxruntime run failed: ${messageOf(err)}`, { cause: err });
    }
    const value = result[output.tensor];
    const d = output.dimension;
    if (!value || value.type !== 'float32' || !(value.data instanceof Float32Array) || value.data.length !== n * d) {
      throw new InferError(
        'INFERENCE_FAILED',
        `${this.name}: output "${output.tensor}" is ${value ? `${value.type} [${value.dims.join(', ')}]` : 'missing'}, expected float32 with ${n} x ${d} values`,
      );
    }
    const data32 = value.data;
    return Array.from({ length: n }, (_, i) => data32.slice(i * d, (i + 1) * d));
  }
}

/** Checks names and fixed dims of the graph against the manifest; returns the max batch. */
function checkGraph(session: ort.InferenceSession, manifest: Manifest, modelPath: string): number {
  const { input, output } = manifest;
  const problems: string[] = [];
  if (!session.inputNames.includes(input.tensor)) {
    problems.push(`manifest.input.tensor is "${input.tensor}" but the graph's inputs are ${list(session.inputNames)}`);
  }
  if (!session.outputNames.includes(output.tensor)) {
    problems.push(`manifest.output.tensor is "${output.tensor}" but the graph's outputs are ${list(session.outputNames)}`);
  }
  let maxBatch = Infinity;
  const inMeta = metadataOf(session.inputMetadata, input.tensor);
  if (inMeta && inMeta.shape.length > 0) {
    const want = inputDims(input, 1);
    if (inMeta.shape.length !== 4) {
      problems.push(`input "${input.tensor}" has rank ${inMeta.shape.length} [${inMeta.shape.join(', ')}], expected 4 (${input.layout})`);
    } else {
      const names = input.layout === 'NCHW' ? ['batch', 'channels', 'height', 'width'] : ['batch', 'height', 'width', 'channels'];
      for (let i = 1; i < 4; i++) {
        const dim = inMeta.shape[i];
        if (typeof dim === 'number' && dim > 0 && dim !== want[i]) {
          problems.push(`input "${input.tensor}" ${names[i]} is ${dim} in the graph but ${want[i]} in the manifest (${input.layout} [${inMeta.shape.join(', ')}])`);
        }
      }
      const batch = inMeta.shape[0];
      if (typeof batch === 'number' && batch > 0) maxBatch = batch;
    }
    if (inMeta.type !== 'float32') problems.push(`input "${input.tensor}" is ${inMeta.type}, protoserve feeds float32`);
  }
  const outMeta = metadataOf(session.outputMetadata, output.tensor);
  if (outMeta && outMeta.shape.length > 0) {
    const last = outMeta.shape[outMeta.shape.length - 1];
    if (typeof last === 'number' && last > 0 && last !== output.dimension) {
      problems.push(`output "${output.tensor}" has ${last} values per item in the graph but manifest.output.dimension is ${output.dimension}`);
    }
  }
  if (problems.length > 0) {
    throw new ArtifactError('MODEL_MANIFEST_MISMATCH', `${modelPath} does not match its manifest: ${problems.join('; ')}`);
  }
  return maxBatch;
}

function metadataOf(meta: readonly ort.InferenceSession.ValueMetadata[] | undefined, name: string): ort.InferenceSession.TensorValueMetadata | undefined {
  const m = meta?.find((v) => v.name === name);
  return m && m.isTensor ? m : undefined;
}

function list(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}
