// `protoserve export`: turns a training run into a model artifact (models/<name>/), after the
// exported graph has proven, in onnxruntime, to compute what the trainer computes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MANIFEST_SCHEMA_VERSION, type ManifestDraft } from '../artifact/manifest.js';
import { writeArtifact } from '../artifact/write-artifact.js';
import { resolveTrainingBackend } from '../train/backends/index.js';
import { buildModels, buildRunModels, inferenceNet } from '../train/build-net.js';
import { faceInputFormat, readRunIdentities } from '../train/train-embedder.js';
import { exportGallerySeed } from './export-gallery-seed.js';
import { buildBackbone } from '../train/nets/registry.js';
import { readCheckpoint } from '../train/checkpoint.js';
import { loadDataset } from '../train/data/datasets.js';
import type { RunState } from '../train/loop.js';
import { exportToOnnx } from './export-onnx.js';
import { ExportError } from './export-error.js';
import { NetError } from '../train/nets/net-error.js';

const FACE_BACKBONES = ['mobilefacenet', 'iresnet18', 'iresnet34', 'iresnet50'];

const HELP = `Usage: protoserve export --run <dir> [options]
       protoserve export --backbone <name> --name <name> [options]

Exports the run's last checkpoint as an ONNX model artifact: <models>/<name>/model.onnx and
manifest.json (preprocessing, labels, provenance, sha256). The graph is run in onnxruntime on
random inputs against the trainer; an export that differs by more than 1e-4 (relative to the
output's scale) is refused with a report.

With --backbone instead of --run, exports a freshly initialized (untrained) face embedder
(${FACE_BACKBONES.join(', ')}; 112x112 RGB, InsightFace preprocessing (x - 127.5) / 127.5,
input "input.1", L2-normalized output): for testing the serving and evaluation pipelines and
measuring their speed, not for recognizing anyone.

Options:
  --run DIR          training run folder (holds checkpoint.ckpt)
  --backbone NAME    an untrained embedder instead: ${FACE_BACKBONES.join(' | ')}
  --embedding-dim N  with --backbone: embedding size (default: the backbone's)
  --seed N           with --backbone: initialization seed (default 1)
  --name NAME        artifact name (default: the run folder's name)
  --models DIR       models folder (default models)
  --version V        artifact version (default 1.0.0)
  --backend NAME     training backend for the reference forward pass (default: best available)
  --gallery-seed FILE  embedders: also write the training identities' prototypes (EPL's empirical
                     prototypes; a margin head's normalized class weights) as a gallery seed:
                     FILE.json as JSON, any other name as binary ("PSGS", version, JSON header,
                     float32 rows; src/export/gallery-seed.ts)
  -h, --help`;

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      run: { type: 'string' },
      backbone: { type: 'string' },
      'embedding-dim': { type: 'string' },
      seed: { type: 'string', default: '1' },
      name: { type: 'string' },
      models: { type: 'string', default: 'models' },
      version: { type: 'string', default: '1.0.0' },
      backend: { type: 'string' },
      'gallery-seed': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.backbone !== undefined) {
    if (values.run) throw new ExportError('EXPORT_OPTIONS_INVALID', '--run and --backbone exclude each other');
    if (!values.name) throw new ExportError('EXPORT_OPTIONS_INVALID', '--backbone needs --name');
    return exportUntrainedEmbedder({ ...values, backbone: values.backbone, name: values.name });
  }
  if (!values.run) throw new ExportError('EXPORT_OPTIONS_INVALID', '--run is required (a folder written by `protoserve train`), or --backbone');
  const checkpointPath = join(values.run, 'checkpoint.ckpt');
  if (!existsSync(checkpointPath)) throw new ExportError('EXPORT_RUN_NOT_FOUND', `${checkpointPath} not found: train first, or point --run at a run folder`);
  const name = values.name ?? values.run.replace(/\/+$/, '').split('/').pop()!;

  const backend = await resolveTrainingBackend({ backend: values.backend });
  const checkpoint = readCheckpoint<RunState>(checkpointPath);
  const { config, history, stepInEpoch, epoch } = checkpoint.state;
  if (stepInEpoch > 0) {
    console.error(
      `warning: the checkpoint is ${stepInEpoch} steps into epoch ${epoch + 1}; the metrics recorded in the manifest ` +
        `are from the end of the last complete epoch${history.length === 0 ? ' (none yet)' : ''}, not of these weights`,
    );
  }
  // Face-set runs: the input conventions of the face data; the identities from the run folder.
  const face = config.faceData;
  const identities = readRunIdentities(values.run);
  if (face && !identities) throw new ExportError('EXPORT_RUN_INCOMPLETE', `${join(values.run, 'identities.json')} not found: the run folder is incomplete`);
  const dataset = face ? undefined : loadDataset(config.dataset);
  const format = face ? faceInputFormat(face) : dataset!;
  const { backbone, objective } = face
    ? buildModels(config, { inputShape: [face.height, face.width, 3], classCounts: identities!.counts })
    : buildRunModels(config, dataset!);
  backbone.setWeights(checkpoint.weights);
  objective.setWeights(checkpoint.objective);
  const { net, append } = inferenceNet(backbone, objective.inferenceHead());
  const task = objective.task;
  const objectiveName = objective.name;
  const prototypes = values['gallery-seed'] === undefined ? undefined : objective.prototypes?.();
  if (values['gallery-seed'] !== undefined && !prototypes) throw new ExportError('EXPORT_OPTIONS_INVALID', `--gallery-seed: objective ${objectiveName} has no identity prototypes (epl and margin do)`);
  objective.dispose();
  const exported = await exportToOnnx(net, { append });
  net.dispose();
  backbone.dispose();
  console.error(
    `parity: max abs diff ${exported.parity.maxAbsDiff.toExponential(2)} (relative ${exported.parity.relative.toExponential(2)}) ` +
      `over ${exported.parity.samples} random inputs, reference on ${exported.parity.backend}`,
  );

  const last = history.at(-1);
  const manifest: ManifestDraft = {
    schema: MANIFEST_SCHEMA_VERSION,
    name,
    version: values.version,
    task,
    input: {
      tensor: exported.inputName,
      layout: 'NCHW',
      height: format.height,
      width: format.width,
      channels: format.channels,
      color: format.channels === 1 ? 'gray' : 'rgb',
      scale: 1 / 255,
      mean: format.mean,
      std: format.std,
      resize: 'stretch',
    },
    output:
      task === 'classifier'
        ? { tensor: exported.outputName, kind: 'probabilities', dimension: exported.outputDim, normalized: false }
        : { tensor: exported.outputName, kind: 'embedding', dimension: exported.outputDim, normalized: true },
    ...(task === 'classifier' ? { labels: dataset!.classNames } : {}),
    provenance: {
      dataset: face ? `face set ${face.dir} (${face.format}, ${face.identities} identities, ${face.images} images)` : `${dataset!.name}: ${dataset!.source}`,
      objective: objectiveName,
      backbone: config.net,
      hyperparameters: { ...config },
      metrics: {
        ...(last ? { ...last.metrics, train_loss: last.loss } : {}),
        ...(dataset ? { test_images: config.testLimit ?? dataset.test.count } : {}),
        epochs: checkpoint.state.history.length,
        steps: checkpoint.state.globalStep,
      },
      backend: checkpoint.state.backend,
      commit: gitCommit(),
      date: new Date().toISOString(),
      parity: { maxAbsDiff: exported.parity.maxAbsDiff, relative: exported.parity.relative, samples: exported.parity.samples },
    },
  };
  const written = await writeArtifact(join(values.models, name), { manifest, onnxBytes: exported.model });
  console.error(`wrote ${written.modelPath} (sha256 ${written.manifest.sha256.slice(0, 12)}...) and ${written.manifestPath}; exported with ${backend.name}`);
  if (prototypes) {
    const seed = await exportGallerySeed(values['gallery-seed']!, { prototypes, identities, history, run: values.run, model: written.manifest });
    console.error(`wrote ${values['gallery-seed']}: ${seed.identities} identities, ${seed.kind} prototypes (${prototypes.dimension}-d)${seed.skipped ? `; ${seed.skipped} identities without training images left out` : ''}`);
  }
  return 0;
}

/** A freshly initialized face backbone as an embedder artifact (pipeline tests, speed). */
async function exportUntrainedEmbedder(o: {
  backbone: string;
  name: string;
  models: string;
  version: string;
  seed: string;
  'embedding-dim'?: string;
  backend?: string;
}): Promise<number> {
  if (!FACE_BACKBONES.includes(o.backbone)) {
    throw new NetError('UNKNOWN_BACKBONE', `Unsupported backbone: "${o.backbone}". Should be one of: ${FACE_BACKBONES.join(', ')}`);
  }
  const seed = Number(o.seed);
  const embeddingDim = o['embedding-dim'] === undefined ? undefined : Number(o['embedding-dim']);
  if (!Number.isInteger(seed)) throw new ExportError('EXPORT_OPTIONS_INVALID', `--seed: expected an integer, got "${o.seed}"`);
  if (embeddingDim !== undefined && !(Number.isInteger(embeddingDim) && embeddingDim > 0)) {
    throw new ExportError('EXPORT_OPTIONS_INVALID', `--embedding-dim: expected a positive integer, got "${o['embedding-dim']}"`);
  }
  const backend = await resolveTrainingBackend({ backend: o.backend });
  const net = buildBackbone(o.backbone, { seed, embeddingDim });
  const exported = await exportToOnnx(net, { inputName: 'input.1', outputName: 'embedding', append: 'l2norm' });
  net.dispose();
  console.error(`parity: max abs diff ${exported.parity.maxAbsDiff.toExponential(2)} (relative ${exported.parity.relative.toExponential(2)})`);
  const [, channels, height, width] = exported.inputShape;
  const manifest: ManifestDraft = {
    schema: MANIFEST_SCHEMA_VERSION,
    name: o.name,
    version: o.version,
    task: 'embedder',
    input: { tensor: exported.inputName, layout: 'NCHW', height, width, channels, color: 'rgb', scale: 1, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5], resize: 'stretch' },
    output: { tensor: exported.outputName, kind: 'embedding', dimension: exported.outputDim, normalized: true },
    provenance: {
      dataset: 'none: untrained (random initialization), for pipeline tests only',
      backbone: o.backbone,
      hyperparameters: { seed, embeddingDim: exported.outputDim },
      backend: backend.name,
      commit: gitCommit(),
      date: new Date().toISOString(),
      parity: { maxAbsDiff: exported.parity.maxAbsDiff, relative: exported.parity.relative, samples: exported.parity.samples },
    },
  };
  const written = await writeArtifact(join(o.models, o.name), { manifest, onnxBytes: exported.model });
  console.error(`wrote ${written.modelPath} and ${written.manifestPath} (untrained ${o.backbone}, ${exported.outputDim}-d)`);
  return 0;
}
