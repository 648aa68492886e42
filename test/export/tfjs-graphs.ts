// Tiny TensorFlow.js graph models written to disk (model.json + one weight shard), as the
// TensorFlow.js converter lays them out, for the importer's tests.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { TfAttr } from '../../src/export/tfjs/read-graph-model.js';
import { uniformArray } from '../../src/seeded-random.js';

export interface ConstSpec {
  name: string;
  shape: number[];
  /** Float values (default: seeded uniform in [-1, 1)); int32 when `int` is set. */
  values?: number[];
  int?: boolean;
  /** Stored as uint8 with TensorFlow.js's affine quantization (value = q * scale + min). */
  uint8?: boolean;
}

export interface NodeSpec {
  name: string;
  op: string;
  inputs?: string[];
  attr?: Record<string, TfAttr>;
}

export interface GraphSpec {
  input: { name: string; shape: number[] };
  consts?: ConstSpec[];
  nodes: NodeSpec[];
  outputs: string[];
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
export const attr = {
  ints: (v: number[]): TfAttr => ({ list: { i: v.map(String) } }),
  str: (s: string): TfAttr => ({ s: b64(s) }),
  strs: (v: string[]): TfAttr => ({ list: { s: v.map(b64) } }),
  int: (v: number): TfAttr => ({ i: String(v) }),
  float: (v: number): TfAttr => ({ f: v }),
  bool: (v: boolean): TfAttr => ({ b: v }),
};

/** Writes `<dir>/<name>.json` and `<name>.bin`; returns the model.json path. */
export async function writeGraphModel(dir: string, name: string, spec: GraphSpec): Promise<string> {
  await mkdir(dir, { recursive: true });
  const consts = spec.consts ?? [];
  const chunks: Buffer[] = [];
  const weights = consts.map((c, i) => {
    const n = c.shape.reduce((a, d) => a * d, 1);
    const values = c.values ?? Array.from(uniformArray(n, -1, 1, 100 + i));
    if (values.length !== n) throw new Error(`const ${c.name}: ${values.length} values for [${c.shape.join(', ')}]`);
    if (c.uint8) {
      const min = Math.min(...values);
      const scale = (Math.max(...values) - min) / 255;
      chunks.push(Buffer.from(Uint8Array.from(values, (v) => Math.round((v - min) / scale))));
      return { name: c.name, shape: c.shape, dtype: 'float32', quantization: { dtype: 'uint8', scale, min } };
    }
    const typed = c.int ? Int32Array.from(values) : Float32Array.from(values);
    chunks.push(Buffer.from(typed.buffer));
    return { name: c.name, shape: c.shape, dtype: c.int ? 'int32' : 'float32' };
  });
  const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });
  const nodes = [
    { name: spec.input.name, op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims(spec.input.shape) } } },
    ...consts.map((c) => ({
      name: c.name,
      op: 'Const',
      attr: { dtype: { type: c.int ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: c.int ? 'DT_INT32' : 'DT_FLOAT', tensorShape: dims(c.shape) } } },
    })),
    ...spec.nodes.map((n) => ({ name: n.name, op: n.op, input: n.inputs ?? [], attr: { T: { type: 'DT_FLOAT' }, ...n.attr } })),
  ];
  const model = {
    format: 'graph-model',
    generatedBy: 'protoserve tests',
    convertedBy: 'hand',
    modelTopology: { node: nodes, library: {}, versions: {} },
    weightsManifest: [{ paths: [`${name}.bin`], weights }],
    signature: {
      inputs: { [`${spec.input.name}:0`]: { name: `${spec.input.name}:0`, dtype: 'DT_FLOAT', tensorShape: dims(spec.input.shape) } },
      outputs: Object.fromEntries(spec.outputs.map((o) => [`${o}:0`, { name: `${o}:0`, dtype: 'DT_FLOAT' }])),
    },
  };
  await writeFile(join(dir, `${name}.bin`), Buffer.concat(chunks));
  const path = join(dir, `${name}.json`);
  await writeFile(path, JSON.stringify(model));
  return path;
}
