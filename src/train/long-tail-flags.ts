// The `protoserve train` flags of long-tailed classification runs (issue 7), in one place: the
// data (CIFAR, image folders), the long-tailed subset, augmentation, evaluation, the partner
// sampler of mixed views, the second stage's optimizer, and each objective's own options. The
// train command spreads LONG_TAIL_OPTIONS into its parseArgs options, prints LONG_TAIL_HELP and
// merges what longTailFlags() returns into the run configuration.
import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_GROUP_THRESHOLDS, type GroupThresholds } from './metrics/long-tail.js';
import { describeObjectives, objectiveFlags } from './objectives/registry.js';
import type { RunConfig, StageConfig } from './run-config.js';
import { SCHEDULE_NAMES } from './schedule.js';
import { TrainError } from './train-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const STAGE2_FLAGS = {
  'stage2-epochs': 'epochs',
  'stage2-optimizer': 'optimizer',
  'stage2-lr': 'learningRate',
  'stage2-momentum': 'momentum',
  'stage2-weight-decay': 'weightDecay',
  'stage2-schedule': 'schedule',
  'stage2-warmup-epochs': 'warmupEpochs',
  'stage2-clip-grad-norm': 'clipGradNorm',
} as const satisfies Record<string, keyof StageConfig>;

export const LONG_TAIL_OPTIONS: Options = {
  data: { type: 'string' },
  'image-size': { type: 'string' },
  channels: { type: 'string' },
  imbalance: { type: 'string' },
  profile: { type: 'string' },
  'class-order': { type: 'string' },
  'max-per-class': { type: 'string' },
  'crop-padding': { type: 'string' },
  flip: { type: 'boolean' },
  'eval-flip': { type: 'boolean' },
  'eval-every': { type: 'string' },
  'group-thresholds': { type: 'string' },
  'partner-power': { type: 'string' },
  'rebalance-partners': { type: 'boolean' },
  ...Object.fromEntries(Object.keys(STAGE2_FLAGS).map((f) => [f, { type: 'string' as const }])),
  ...Object.fromEntries(objectiveFlags().map((f) => [f, { type: 'string' as const }])),
};

const objectiveHelp = describeObjectives()
  .filter((o) => o.options.length > 0)
  .map((o) => [
    `  ${o.name} (stages: ${o.stages.join(', ')}):`,
    ...o.options.map((x) => `    --${`${x.flag} X`.padEnd(19)}${x.help} (default ${x.default})`),
  ].join('\n'))
  .join('\n');

export const LONG_TAIL_HELP = `Data and long tail:
  --data DIR             with --dataset cifar10, cifar100: the folder of the extracted archive
                         (binary or python version; users bring the files); with --dataset folder:
                         root/<class>/*.png|jpg, or root/train/<class>/... with root/test (or
                         val)/<class>/...; without --dataset, a face training set (above)
  --image-size N         folder: decode every image to N x N (required for folder)
  --channels 1|3         folder: grey or RGB (default 3)
  --imbalance N          train on the long-tailed subset with n_max / n_min = N (LDAM-DRW
                         convention: n_i = int(n_max * (1/N)^(i/(C-1))), the first n_i images
                         of class i; the test split stays whole)
  --profile exp|step     long-tail profile (default exp; step: half the classes n_max, half n_max/N)
  --class-order index|reversed
                         which classes are large (default index: class 0 largest)
  --max-per-class N      n_max, images of the largest class (default: the split's count / C)
  --crop-padding N       random crop after N pixels of zero padding (default: 2 for mnist and
                         fashion-mnist, 4 for cifar, image size / 8 for folders; 0: off)
  --flip, --no-flip      random horizontal flips (default on, except mnist: digits do not mirror)
  --eval-flip, --no-eval-flip
                         evaluate on logits averaged over each image and its mirror image
                         (default: on where training flips)
  --eval-every N         evaluate every N epochs and after each stage's last (default 1)
  --group-thresholds M,F Many: more than M training images, Few: fewer than F (default
                         ${DEFAULT_GROUP_THRESHOLDS.many},${DEFAULT_GROUP_THRESHOLDS.few})
  --partner-power Q      mixed views (bce3s): partner images drawn with weight 1/n_c^Q
                         (default 0: uniform over images, the reference's default)
  --rebalance-partners   the same as --partner-power 1 (each class equally likely)

Second stage (objectives with two stages, e.g. bce3s's rebalance; defaults: the objective's reference):
  --stage2-epochs N  --stage2-lr X  --stage2-optimizer adam|sgd  --stage2-momentum X
  --stage2-weight-decay X  --stage2-schedule ${SCHEDULE_NAMES.join('|')}  --stage2-warmup-epochs N
  --stage2-clip-grad-norm X

Objective options (recorded in the run's configuration):
${objectiveHelp}`;

export interface LongTailFlags {
  /** Run-level settings given on the command line. */
  given: Partial<RunConfig>;
  /** The second stage's optimizer settings given. */
  stage2: Partial<StageConfig>;
  /** Objective options given, by flag (registry.ts optionsFromFlags maps them to the objective's keys). */
  objectiveFlags: Record<string, number>;
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What the long-tail flags of one command line set (nothing for flags not given). */
export function longTailFlags(values: Values): LongTailFlags {
  const str = (flag: string) => values[flag] as string | undefined;
  const num = (flag: string): number | undefined => {
    const v = str(flag);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new TrainError('TRAIN_USAGE', `--${flag}: expected a number, got "${v}"`);
    return n;
  };
  const given: Partial<RunConfig> = {};
  if (str('data') !== undefined) given.data = str('data');
  if (str('image-size') !== undefined) given.imageSize = num('image-size');
  if (str('channels') !== undefined) given.channels = num('channels') as 1 | 3;
  const imbalance = num('imbalance');
  if (imbalance !== undefined) {
    // Only what was given: a resumed run compares these with its own; a new one fills in exp / index.
    given.longTail = {
      imbalance,
      ...(str('profile') !== undefined && { profile: str('profile') }),
      ...(str('class-order') !== undefined && { order: str('class-order') }),
      ...(str('max-per-class') !== undefined && { maxPerClass: num('max-per-class') }),
    } as RunConfig['longTail'];
  } else if (['profile', 'class-order', 'max-per-class'].some((f) => str(f) !== undefined)) {
    throw new TrainError('TRAIN_USAGE', '--profile, --class-order and --max-per-class shape a long-tailed subset: give --imbalance N too');
  }
  const padding = num('crop-padding');
  const flip = values.flip as boolean | undefined;
  if (padding !== undefined || flip !== undefined) given.augment = { ...(padding !== undefined && { padding }), ...(flip !== undefined && { flip }) } as RunConfig['augment'];
  if (values['eval-flip'] !== undefined) given.evalFlip = values['eval-flip'] as boolean;
  if (str('eval-every') !== undefined) given.evalEvery = num('eval-every');
  const groups = str('group-thresholds');
  if (groups !== undefined) given.groupThresholds = parseGroups(groups);
  const power = num('partner-power');
  if (values['rebalance-partners'] && power !== undefined && power !== 1) {
    throw new TrainError('TRAIN_USAGE', `--rebalance-partners means --partner-power 1; it contradicts --partner-power ${power}`);
  }
  if (values['rebalance-partners'] || power !== undefined) given.partnerPower = power ?? 1;

  const stage2: Partial<StageConfig> = {};
  for (const [flag, key] of Object.entries(STAGE2_FLAGS)) {
    if (str(flag) === undefined) continue;
    (stage2 as Record<string, unknown>)[key] = key === 'optimizer' || key === 'schedule' ? str(flag) : num(flag);
  }
  const byFlag: Record<string, number> = {};
  for (const flag of objectiveFlags()) {
    const v = num(flag);
    if (v !== undefined) byFlag[flag] = v;
  }
  return { given, stage2, objectiveFlags: byFlag };
}

function parseGroups(text: string): GroupThresholds {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 2 || parts.some((n) => !Number.isFinite(n))) throw new TrainError('TRAIN_USAGE', `--group-thresholds: expected MANY,FEW (e.g. 100,20), got "${text}"`);
  return { many: parts[0], few: parts[1] };
}
