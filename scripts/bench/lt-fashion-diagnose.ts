// Why a long-tailed run's tail is weak: the logit scale a checkpoint's classifier can reach.
// BCE3S's logits are hat(w_c) . x + b_c (unit classifier rows, raw features), so a class's logit
// can only be as large as the feature norm; softmax CE's rows are free to grow. For each class
// this prints the bias, the raw row norm, the mean test-feature norm, the mean logit of the
// true class and of the best other class, and the share of its test images whose true-class
// sigmoid exceeds 1/2 (what a BCE classifier needs to say "this class").
//
//   npx tsx scripts/bench/lt-fashion-diagnose.ts <run>/checkpoint.joint.ckpt [--test-limit 2000]
import { parseArgs } from 'node:util';
import { resolveTrainingBackend } from '../../src/train/backends/index.js';
import { buildRunModels, classCounts } from '../../src/train/build-net.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { loadRunDataset } from '../../src/train/data/run-dataset.js';
import { pixelsPerImage, takeSplit } from '../../src/train/data/image-dataset.js';
import { classifierOutputs } from '../../src/train/evaluate-classifier.js';
import type { RunState } from '../../src/train/loop.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'test-limit': { type: 'string', default: '2000' }, backend: { type: 'string' } } });
if (positionals.length !== 1) throw new Error('usage: lt-fashion-diagnose.ts <checkpoint.ckpt> [--test-limit N] [--backend NAME]');
await resolveTrainingBackend({ backend: values.backend });
const checkpoint = readCheckpoint<RunState>(positionals[0]);
const config = checkpoint.state.config;
const dataset = await loadRunDataset(config);
const { backbone, objective } = buildRunModels(config, dataset);
backbone.setWeights(checkpoint.weights);
objective.setWeights(checkpoint.objective);
const test = takeSplit(dataset.test, Number(values['test-limit']), pixelsPerImage(dataset));
const head = objective.inferenceHead();
const out = classifierOutputs(backbone, head, dataset, test);
const C = out.classes;
const counts = classCounts(config, dataset);
const raw = objective.getWeights()['classifier.weight'];
const rowNorm = (c: number) => (raw ? Math.hypot(...raw.values.slice(c * out.dim, (c + 1) * out.dim)) : NaN);
const bias = head.kind === 'linear' ? head.bias : new Float32Array(C);

console.log(`${positionals[0]}: ${config.objective}, stage ${config.stages[checkpoint.state.stage]?.name ?? 'done'}, ${test.count} test images`);
console.log('class              n_train   bias  |w|raw  |x|mean  z_true  z_other  P(sigmoid(z_true) > 1/2)  top-1');
for (let c = 0; c < C; c++) {
  let n = 0, norm = 0, zTrue = 0, zOther = 0, positive = 0, right = 0;
  for (let i = 0; i < test.count; i++) {
    if (test.labels[i] !== c) continue;
    n++;
    norm += Math.hypot(...out.features.slice(i * out.dim, (i + 1) * out.dim));
    const z = out.logits.slice(i * C, (i + 1) * C);
    zTrue += z[c];
    const other = Math.max(...Array.from(z).filter((_, j) => j !== c));
    zOther += other;
    if (z[c] > 0) positive++;
    if (z[c] > other) right++;
  }
  const f = (v: number, d = 2) => v.toFixed(d).padStart(7);
  console.log(`${dataset.classNames[c].padEnd(18)} ${String(counts[c]).padStart(6)} ${f(bias[c])} ${f(rowNorm(c))} ${f(norm / n)} ${f(zTrue / n)} ${f(zOther / n)}  ${f(positive / n, 3).padStart(24)}  ${f(right / n, 3)}`);
}
objective.dispose();
backbone.dispose();
