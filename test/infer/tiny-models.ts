// Tiny real ONNX models whose outputs can be computed by hand, shared by the artifact, infer
// and server tests. Built with the project's OnnxGraphBuilder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

import type { ManifestDraft } from '../../src/artifact/manifest.js';
import { writeArtifact } from '../../src/artifact/write-artifact.js';
import { servedPipeline } from '../../src/infer/served-pipeline.js';
import { OnnxGraphBuilder, type Dim } from '../../src/onnx/onnx-builder.js';

export const MEAN_LABELS = ['dark', 'mid', 'bright'];
/** logits = A * m + B, m = mean pixel intensity in [0, 1]. */
const A = [-10, 0, 10];
const B = [5, 0, -5];

/** Expected logits of the mean-intensity classifier for an image of mean intensity m in [0, 1]. */
export function meanLogits(m: number): number[] {
  return A.map((a, j) => a * m + B[j]);
}

/** softmax, computed independently of src/. */
export function refSoftmax(x: number[]): number[] {
  const e = x.map((v) => Math.exp(v - Math.max(...x)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/**
 * A 28x28x1 classifier: Flatten -> Gemm (each weight a_j/784, so the product is a_j * mean)
 * -> Softmax (unless logits). Three classes: dark, mid, bright.
 */
export function meanIntensityClassifier(opts: { logits?: boolean } = {}): { bytes: Uint8Array; manifest: ManifestDraft } {
  const g = new OnnxGraphBuilder('mean-intensity');
  g.addInput('input', ['batch', 1, 28, 28]);
  const flat = g.op('Flatten', ['input'], { axis: 1 });
  const w = new Float32Array(784 * 3);
  for (let i = 0; i < 784; i++) for (let j = 0; j < 3; j++) w[i * 3 + j] = A[j] / 784;
  g.addFloat('W', [784, 3], w);
  g.addFloat('B', [3], B);
  const out = opts.logits ? 'logits' : 'probs';
  if (opts.logits) g.op('Gemm', [flat, 'W', 'B'], {}, 'logits');
  else g.op('Softmax', [g.op('Gemm', [flat, 'W', 'B'])], { axis: 1 }, 'probs');
  g.addOutput(out, ['batch', 3]);
  return {
    bytes: g.toBytes(),
    manifest: {
      schema: 1,
      name: opts.logits ? 'mean-logits' : 'mean-probs',
      version: '1.0.0',
      task: 'classifier',
      input: { tensor: 'input', layout: 'NCHW', height: 28, width: 28, channels: 1, color: 'gray', scale: 1 / 255, mean: [0], std: [1], resize: 'stretch' },
      output: { tensor: out, kind: opts.logits ? 'logits' : 'probabilities', dimension: 3, normalized: false },
      labels: [...MEAN_LABELS],
      provenance: { dataset: 'none', objective: 'hand-set weights' },
    },
  };
}

/**
 * An InsightFace-style embedder: input "input.1" [batch, 3, size, width ?? size], output
 * "embedding" = per-channel mean of (pixel - 127.5) / 127.5 (GlobalAveragePool), L2-normalized
 * unless `normalize` is false.
 */
export function colorEmbedder(opts: { normalize?: boolean; size?: number; width?: number; batch?: Dim; name?: string } = {}): { bytes: Uint8Array; manifest: ManifestDraft } {
  const size = opts.size ?? 112;
  const width = opts.width ?? size;
  const normalize = opts.normalize ?? true;
  const g = new OnnxGraphBuilder('color-embedder');
  g.addInput('input.1', [opts.batch ?? 'batch', 3, size, width]);
  const pooled = g.op('GlobalAveragePool', ['input.1']);
  if (normalize) g.op('LpNormalization', [g.op('Flatten', [pooled], { axis: 1 })], { axis: 1, p: 2 }, 'embedding');
  else g.op('Flatten', [pooled], { axis: 1 }, 'embedding');
  g.addOutput('embedding', [opts.batch ?? 'batch', 3]);
  const manifest: ManifestDraft = {
    schema: 1,
    name: opts.name ?? (normalize ? 'color-embedder' : 'color-embedder-raw'),
    version: '2',
    task: 'embedder',
    input: { tensor: 'input.1', layout: 'NCHW', height: size, width, channels: 3, color: 'rgb', scale: 1, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5], resize: 'stretch' },
    output: { tensor: 'embedding', kind: 'embedding', dimension: 3, normalized: normalize },
    provenance: { imported: true, licence: 'MIT' },
  };
  // Calibrated as the server serves it (image pairs, no flip test, this preprocessing).
  const pipeline = servedPipeline(manifest);
  manifest.operatingPoints = [
    { far: 1e-4, threshold: 0.6, pipeline },
    { far: 1e-3, threshold: 0.5, pipeline },
  ];
  return { bytes: g.toBytes(), manifest };
}

/** Expected embedding of a solid (r, g, b) image through colorEmbedder. */
export function colorEmbedding(rgb: [number, number, number], normalize = true): number[] {
  const v = rgb.map((c) => (c - 127.5) / 127.5);
  if (!normalize) return v;
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

export async function solidPng(width: number, height: number, rgb: [number, number, number] | number): Promise<Buffer> {
  const channels = typeof rgb === 'number' ? 1 : 3;
  const px = typeof rgb === 'number' ? [rgb] : rgb;
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < channels; c++) data[i * channels + c] = px[c];
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
}

/** A temp folder removed by the returned cleanup. */
export async function tempDir(prefix = 'protoserve-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** models/<name>/ artifacts for the given models, written with writeArtifact. */
export async function writeModels(modelsDir: string, models: { bytes: Uint8Array; manifest: ManifestDraft }[]): Promise<void> {
  for (const m of models) await writeArtifact(join(modelsDir, m.manifest.name), { manifest: m.manifest, onnxBytes: m.bytes });
}

/** Rows of the lookup model's table: the value of a 1x1 gray pixel p picks row p. */
export const LOOKUP_TABLE = [
  [1, 10],
  [2, 20],
  [3, 30],
];

/**
 * A 1x1 gray "image" -> a row of LOOKUP_TABLE (Gather with the pixel value as index). A pixel
 * value past the table makes onnxruntime's Gather fail, and with it the whole batch the input
 * runs in: the model for "one bad input in a batch".
 */
export function lookupModel(): { bytes: Uint8Array; manifest: ManifestDraft } {
  const g = new OnnxGraphBuilder('lookup');
  g.addInput('input', ['batch', 1, 1, 1]);
  g.addFloat('table', [3, 2], LOOKUP_TABLE.flat());
  const index = g.op('Cast', [g.op('Flatten', ['input'], { axis: 1 })], { to: 7 });
  const rows = g.op('Gather', ['table', index], { axis: 0 });
  g.op('Flatten', [rows], { axis: 1 }, 'row');
  g.addOutput('row', ['batch', 2]);
  return {
    bytes: g.toBytes(),
    manifest: {
      schema: 1,
      name: 'lookup',
      version: '1',
      task: 'classifier',
      // Scale 1/128: the warm-up's mid-grey pixel (128) is index 1.
      input: { tensor: 'input', layout: 'NCHW', height: 1, width: 1, channels: 1, color: 'gray', scale: 1 / 128, mean: [0], std: [1], resize: 'stretch' },
      output: { tensor: 'row', kind: 'logits', dimension: 2, normalized: false },
      labels: ['a', 'b'],
      provenance: { dataset: 'none', objective: 'hand-set table' },
    },
  };
}

/** A classifier whose every output is NaN (Sqrt of -1): it fails its warm-up. */
export function nanClassifier(name = 'nan-model'): { bytes: Uint8Array; manifest: ManifestDraft } {
  const { manifest } = meanIntensityClassifier();
  const g = new OnnxGraphBuilder('nan');
  g.addInput('input', ['batch', 1, 28, 28]);
  g.addFloat('W', [784, 3], new Float32Array(784 * 3));
  g.addFloat('minus', [3], [-1, -1, -1]);
  const logits = g.op('Gemm', [g.op('Flatten', ['input'], { axis: 1 }), 'W', 'minus']);
  g.op('Sqrt', [logits], {}, 'probs');
  g.addOutput('probs', ['batch', 3]);
  return { bytes: g.toBytes(), manifest: { ...manifest, name } };
}
