// Reads a TensorFlow.js graph model from disk: model.json (the GraphDef as JSON) and the weight
// shards its weightsManifest names, decoded (and dequantized) by tf.io.decodeWeights. Without
// tfjs-node there is no file:// loader; the same bytes also feed tf.io.fromMemory for the
// reference execution of the parity check.
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { hasCode, messageOf } from '../../errors.js';
import { ExportError } from '../export-error.js';

/** One GraphDef node as model.json holds it (attributes still in their JSON encoding). */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

/** AttrValue in JSON: one of the keys is set; ints are decimal strings, strings base64. */
export interface TfAttr {
  i?: string;
  f?: number;
  b?: boolean;
  s?: string;
  type?: string;
  shape?: { dim?: { size?: string }[]; unknownRank?: boolean };
  list?: { i?: string[]; s?: string[]; f?: number[] };
  tensor?: { dtype?: string; tensorShape?: { dim?: { size?: string }[] } };
}

/** A constant of the graph, decoded. */
export interface TfConst {
  dtype: 'float32' | 'int32';
  shape: number[];
  values: Float32Array | Int32Array;
}

export interface TfGraphModel {
  /** The model.json path, absolute. */
  path: string;
  nodes: TfNode[];
  /** Constants by node name. */
  weights: Map<string, TfConst>;
  /** Graph inputs (Placeholder names), in signature order when model.json has one. */
  inputs: string[];
  /** Graph outputs as node names (a ":0" suffix dropped), in signature order when there is one. */
  outputs: string[];
  /** What model.json says about its origin (generatedBy, convertedBy, format). */
  meta: { format?: string; generatedBy?: string; convertedBy?: string };
  /** The same model for tf.io.fromMemory (the parity reference). */
  artifacts: tf.io.ModelArtifacts;
}

interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology?: { node?: TfNode[] };
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  signature?: { inputs?: Record<string, { name?: string }>; outputs?: Record<string, { name?: string }> };
  userDefinedMetadata?: { signature?: ModelJson['signature'] };
}

export async function readGraphModel(modelJsonPath: string): Promise<TfGraphModel> {
  const path = resolve(modelJsonPath);
  const json = await readJson(path);
  const nodes = json.modelTopology?.node;
  if (json.format !== undefined && json.format !== 'graph-model') {
    throw invalid(path, `format is "${json.format}"; import-tfjs reads graph models (tfjs_graph_model), not layers models`);
  }
  if (!Array.isArray(nodes) || nodes.length === 0) throw invalid(path, 'modelTopology.node is missing or empty: not a TensorFlow.js graph model');
  const manifest = json.weightsManifest ?? [];

  const specs: tf.io.WeightsManifestEntry[] = [];
  const shards: Uint8Array[] = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const shard of group.paths) {
      const shardPath = join(dirname(path), shard);
      try {
        shards.push(await readFile(shardPath));
      } catch (err) {
        throw invalid(path, `cannot read weight shard ${shardPath} (named in weightsManifest): ${hasCode(err) && err.code === 'ENOENT' ? 'no such file' : messageOf(err)}`);
      }
    }
  }
  const weightData = concat(shards);
  const weights = new Map<string, TfConst>();
  let decoded: tf.NamedTensorMap;
  try {
    decoded = tf.io.decodeWeights(weightData.buffer as ArrayBuffer, specs);
  } catch (err) {
    throw invalid(path, `the weight shards do not hold the weights the manifest lists: ${messageOf(err)}`);
  }
  for (const [name, t] of Object.entries(decoded)) {
    if (t.dtype !== 'float32' && t.dtype !== 'int32') {
      t.dispose();
      throw invalid(path, `weight "${name}" is ${t.dtype}; only float32 and int32 constants are supported`);
    }
    weights.set(name, { dtype: t.dtype, shape: t.shape, values: t.dataSync() as Float32Array | Int32Array });
    t.dispose();
  }

  const signature = json.signature ?? json.userDefinedMetadata?.signature;
  const placeholders = nodes.filter((n) => n.op === 'Placeholder').map((n) => n.name);
  const inputs = signatureNames(signature?.inputs) ?? placeholders;
  const outputs = signatureNames(signature?.outputs) ?? sinks(nodes);
  return {
    path,
    nodes,
    weights,
    inputs,
    outputs,
    meta: { format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy },
    artifacts: { modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'], weightSpecs: specs, weightData: weightData.buffer as ArrayBuffer, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature },
  };
}

/** Node names of a signature's tensors ("Identity:0" -> "Identity"). */
function signatureNames(entries: Record<string, { name?: string }> | undefined): string[] | undefined {
  if (!entries || Object.keys(entries).length === 0) return undefined;
  return Object.entries(entries).map(([key, v]) => (v.name ?? key).replace(/:0$/, ''));
}

/** Nodes no other node reads (the graph's outputs when model.json has no signature). */
function sinks(nodes: TfNode[]): string[] {
  const read = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => i.replace(/^\^/, '').replace(/:\d+$/, ''))));
  return nodes.filter((n) => !read.has(n.name) && n.op !== 'Const' && n.op !== 'Placeholder').map((n) => n.name);
}

async function readJson(path: string): Promise<ModelJson> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw invalid(path, hasCode(err) && err.code === 'ENOENT' ? 'no such file' : messageOf(err));
  }
  try {
    return JSON.parse(text) as ModelJson;
  } catch (err) {
    throw invalid(path, `not valid JSON: ${messageOf(err)}`);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function invalid(path: string, why: string): ExportError {
  return new ExportError('IMPORT_SOURCE_INVALID', `${path}: ${why}`);
}
