// The embedder side of `protoserve train`: the training images (a face set streamed from disk, or
// a packaged dataset whose classes stand for identities), fine-tuning weights, the held-out
// verification after every epoch, the loop, and the run's summary and report. The run folder
// also gets identities.json ({names, counts}: the training identities by label), which export
// uses to name the rows of a gallery seed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildModels } from './build-net.js';
import type { PixelFormat } from './data/batches.js';
import { loadDataset } from './data/datasets.js';
import type { FaceImageSource } from './data/face-image-source.js';
import { FACE_NORMALIZATION, FaceTrainingSource } from './data/face-training-source.js';
import { pixelsPerImage, takeSplit } from './data/image-dataset.js';
import { faceSetFormat, openFaceSet } from './data/open-face-set.js';
import { InMemorySource, type TrainingSource } from './data/training-source.js';
import { loadVerificationSet } from './data/verification-set.js';
import { evaluateVerification, verificationMetrics } from './evaluate-verification.js';
import { initializeBackbone } from './init-from.js';
import { train } from './loop.js';
import type { FaceDataConfig, RunConfig } from './run-config.js';
import { writeRunReport } from './run-report.js';
import { TrainError } from './train-error.js';

export const IDENTITIES_FILE = 'identities.json';

/** The training identities of a run, by label. */
export interface RunIdentities {
  names: string[];
  counts: number[];
}

/** Opens the face set of --data and describes it for the run configuration. */
export async function openFaceData(o: { dir: string; size?: { height: number; width: number }; flip: boolean }): Promise<{ source: FaceImageSource; config: FaceDataConfig }> {
  const format = faceSetFormat(o.dir);
  const source = await openFaceSet(o.dir, o.size);
  return {
    source,
    config: { dir: o.dir, format, height: source.height, width: source.width, flip: o.flip, identities: source.numIdentities, images: source.count },
  };
}

export function readRunIdentities(runDir: string): RunIdentities | undefined {
  const path = join(runDir, IDENTITIES_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as RunIdentities) : undefined;
}

function countLabels(labels: Int32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const y of labels) counts[y]++;
  return counts;
}

interface EmbedderData {
  data: TrainingSource;
  format: PixelFormat;
  identities: RunIdentities;
  name: string;
  source: string;
  close(): Promise<void>;
}

async function embedderData(config: RunConfig, opened?: FaceImageSource): Promise<EmbedderData> {
  const face = config.faceData;
  if (face) {
    const faces = opened ?? (await openFaceSet(face.dir, { height: face.height, width: face.width }));
    if (faces.count !== face.images || faces.numIdentities !== face.identities) {
      await faces.close();
      throw new TrainError('RESUME_MISMATCH', `--resume: ${face.dir} now holds ${faces.count} images of ${faces.numIdentities} identities; the run was trained on ${face.images} of ${face.identities}`);
    }
    const data = new FaceTrainingSource(faces, face.flip);
    return {
      data,
      format: data.format,
      identities: { names: faces.identities, counts: countLabels(faces.labels, faces.numIdentities) },
      name: `face set ${face.dir}`,
      source: faces.source,
      close: () => faces.close(),
    };
  }
  const dataset = loadDataset(config.dataset);
  const split = config.trainLimit ? takeSplit(dataset.train, config.trainLimit, pixelsPerImage(dataset)) : dataset.train;
  return {
    data: new InMemorySource(dataset, split),
    format: dataset,
    identities: { names: dataset.classNames, counts: countLabels(split.labels, dataset.classNames.length) },
    name: dataset.name,
    source: dataset.source,
    close: async () => {},
  };
}

export interface EmbedderRunOptions {
  config: RunConfig;
  runDir: string;
  checkpointPath: string;
  /** Continue from the checkpoint (init-from is then ignored: the checkpoint holds the weights). */
  resume: boolean;
  backend: string;
  /** The face set already opened for the configuration, if any. */
  faces?: FaceImageSource;
}

export async function trainEmbedder(o: EmbedderRunOptions): Promise<number> {
  const { config, runDir } = o;
  const d = await embedderData(config, o.faces);
  try {
    writeFileSync(join(runDir, IDENTITIES_FILE), `${JSON.stringify(d.identities)}\n`);
    const [height, width, channels] = d.data.inputShape;
    const { backbone, objective } = buildModels(config, { inputShape: [height, width, channels], classCounts: d.identities.counts });
    const first = config.stages[0];
    console.error(
      `training embedder ${config.net} (${backbone.outputDim}-d) with ${config.objective} ${JSON.stringify(objective.hyperparameters)} on ${d.source}, ` +
        `${first.epochs} epochs, batch ${config.batchSize}, ${first.optimizer} lr ${first.learningRate}; run folder ${runDir}`,
    );
    if (config.initFrom && !o.resume) console.error(`initial backbone weights: ${initializeBackbone(backbone, config.initFrom)}`);
    const validation = config.validation;
    const set = validation ? await loadVerificationSet(validation.path, { height, width }) : undefined;
    if (set) console.error(`validation after every epoch: ${set.source}, TAR at FAR ${validation!.far}`);
    const evaluate = set ? () => verificationMetrics(evaluateVerification(backbone, d.format, set, validation!.far)) : undefined;
    const { state, complete, imagesPerSecond } = await train({
      config,
      data: d.data,
      net: backbone,
      objective,
      backend: o.backend,
      checkpointPath: o.checkpointPath,
      resume: o.resume,
      evaluate,
    });
    const last = state.history.at(-1);
    writeFileSync(
      join(runDir, 'summary.json'),
      `${JSON.stringify({ run: runDir, complete, backend: o.backend, epochs: state.history.length, steps: state.globalStep, metrics: last?.metrics, imagesPerSecond, workers: 1, history: state.history }, null, 2)}\n`,
    );
    const reports = writeRunReport(runDir, {
      run: runDir,
      complete,
      backend: o.backend,
      workers: 1,
      imagesPerSecond,
      config,
      // Identity names stay in identities.json: a face set has up to hundreds of thousands.
      dataset: { name: d.name, source: d.source, classNames: [], classCounts: d.identities.counts, testImages: set?.count ?? 0 },
      history: state.history,
    });
    console.error(`report: ${reports.join(', ')}`);
    const accuracy = last?.metrics.val_accuracy;
    console.error(
      complete
        ? `done: ${state.history.length} epochs${accuracy !== undefined ? `, validation accuracy ${(100 * accuracy).toFixed(2)}% on ${set!.name}` : ''}; ` +
            `next: protoserve export --run ${runDir} [--gallery-seed FILE]`
        : `paused at epoch ${state.epoch + 1}, step ${state.stepInEpoch}; continue with --resume --out ${runDir}`,
    );
    objective.dispose();
    backbone.dispose();
    return 0;
  } finally {
    await d.close();
  }
}

/** The input conventions an exported embedder of this run records (face sets: InsightFace's). */
export function faceInputFormat(face: FaceDataConfig): PixelFormat {
  return { height: face.height, width: face.width, channels: 3, mean: [...FACE_NORMALIZATION.mean], std: [...FACE_NORMALIZATION.std] };
}
