// `--init-from`: the backbone's initial weights for fine-tuning, from something that already
// holds a trained backbone. Each kind of source is one entry below: it recognizes a path and
// returns the backbone's weights by protoserve's parameter names (src/train/nets), which
// GraphNet.setWeights checks name by name and shape by shape. The objective's heads are not
// taken: a fine-tuning run has its own identities.
//
// Today: a protoserve run folder (its checkpoint.ckpt) or a checkpoint file. An imported model
// (models/<name>/ written by `protoserve models import` from ONNX or TensorFlow.js) becomes one
// more entry once the importer can map the imported graph's tensors onto a backbone's named
// parameters (e.g. an InsightFace IResNet-50 ONNX onto iresnet50's conv/bn names, batch norms
// unfolded); such a folder is recognized and refused with that explanation until then.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ProtoserveError } from '../errors.js';
import { MANIFEST_FILE } from '../artifact/manifest.js';
import { readCheckpoint } from './checkpoint.js';
import type { RunState } from './loop.js';
import type { Net, NamedWeights } from './nets/net.js';

export class InitFromError extends ProtoserveError {
  constructor(message: string) {
    super('INIT_FROM_INVALID', message);
  }
}

export interface InitialWeights {
  weights: NamedWeights;
  /** What the weights are, for logs and provenance. */
  description: string;
  /** The backbone they were trained as, when the source says. */
  net?: string;
}

interface InitialWeightsSource {
  kind: string;
  matches(path: string): boolean;
  load(path: string): InitialWeights;
}

function fromCheckpoint(path: string): InitialWeights {
  const ckpt = readCheckpoint<RunState>(path);
  const { config, globalStep } = ckpt.state;
  return { weights: ckpt.weights, net: config?.net, description: `${path} (${config?.net ?? 'a backbone'} after ${globalStep} steps of ${config?.objective ?? '?'})` };
}

const SOURCES: InitialWeightsSource[] = [
  {
    kind: 'a protoserve run folder (holds checkpoint.ckpt)',
    matches: (p) => statSync(p).isDirectory() && existsSync(join(p, 'checkpoint.ckpt')),
    load: (p) => fromCheckpoint(join(p, 'checkpoint.ckpt')),
  },
  {
    kind: 'a checkpoint file (.ckpt)',
    matches: (p) => statSync(p).isFile() && p.endsWith('.ckpt'),
    load: fromCheckpoint,
  },
  {
    kind: 'a model artifact (models/<name>/, not yet)',
    matches: (p) => statSync(p).isDirectory() && existsSync(join(p, MANIFEST_FILE)),
    load: (p) => {
      throw new InitFromError(
        `--init-from ${p}: fine-tuning from a model artifact (an exported or imported ONNX / TensorFlow.js model) needs its graph ` +
          `mapped onto a protoserve backbone's parameters, which the importer does not do yet; use a run folder or checkpoint`,
      );
    },
  },
];

export function loadInitialWeights(path: string): InitialWeights {
  if (!existsSync(path)) throw new InitFromError(`--init-from ${path}: not found`);
  const source = SOURCES.find((s) => s.matches(path));
  if (!source) throw new InitFromError(`--init-from ${path}: not a known source of weights; it takes ${SOURCES.map((s) => s.kind).join(', ')}`);
  return source.load(path);
}

/** Loads the weights into `backbone`, with an error that names both nets when they do not fit. */
export function initializeBackbone(backbone: Net, path: string): string {
  const init = loadInitialWeights(path);
  try {
    backbone.setWeights(init.weights);
  } catch (error) {
    throw new InitFromError(
      `--init-from ${path}: its backbone${init.net ? ` (${init.net})` : ''} does not fit this run's ${backbone.name}: ${(error as Error).message}`,
    );
  }
  return init.description;
}
