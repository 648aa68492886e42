// `protoserve train`'s embedder flags (task, margin head, face data, fine-tuning, validation),
// kept together so that the train command only spreads them in.
import type { parseArgs } from 'node:util';
import { MARGIN_HEADS } from './objectives/margin-heads.js';
import { objectiveTask } from './objectives/registry.js';
import type { RunConfig } from './run-config.js';
import { TrainError } from './train-error.js';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

export const EMBEDDER_FLAGS = {
  task: { type: 'string' },
  head: { type: 'string' },
  scale: { type: 'string' },
  margin: { type: 'string' },
  'epl-k': { type: 'string' },
  'epl-start-epoch': { type: 'string' },
  'embedding-dim': { type: 'string' },
  data: { type: 'string' },
  'input-size': { type: 'string' },
  'no-flip': { type: 'boolean' },
  'init-from': { type: 'string' },
  val: { type: 'string' },
  'val-far': { type: 'string' },
} as const satisfies Options;

export const DEFAULT_VAL_FAR = 1e-3;

export const EMBEDDER_HELP = `Embedders (face recognition; --task embedder, or an embedder objective):
  --task NAME            classifier | embedder; embedder (or --data) defaults the objective to
                         epl, and an objective of the other task is an error
  --head NAME            margin head of epl / margin: ${MARGIN_HEADS.join(' | ')} (default arcface)
  --scale S              logit scale s (default 64)
  --margin M             margin m (default cosface 0.4, arcface 0.5, uniface 0.4)
  --epl-k K              EPL's adaptive margin factor k (default 0.7)
  --epl-start-epoch N    first epoch of EPL's second block against the empirical prototypes (default 4)
  --embedding-dim N      embedding size: mobilefacenet (128), iresnet* (512); on resnet* an
                         embedding layer after the pooling (default 128 for embedders)
  --data DIR             a face training set, streamed: identity folders DIR/<identity>/*.jpg, or
                         InsightFace's DIR/train.rec + train.idx (+ property), as CASIA-WebFace,
                         MS1MV3 and Glint360K ship; replaces --dataset. Images are RGB, normalized
                         (x / 255 - 0.5) / 0.5 as InsightFace's, and so is the exported model's input
  --input-size N|HxW     decode the face images at this size (default: the set's property file, else 112)
  --no-flip              no random horizontal flip (default: each image mirrored with probability 1/2)
  --init-from PATH       fine-tune: the backbone's initial weights from a run folder or a .ckpt file
                         (same --net); the heads start fresh
  --val PATH             verification pairs held out from training, scored after every epoch: an
                         LFW folder (pairs.txt + name/name_0001.jpg) or an InsightFace .bin
                         (lfw.bin, cfp_fp.bin, agedb_30.bin); records val_accuracy (LFW 10-fold)
                         and TAR at --val-far, with the evaluator's metric code
  --val-far X            the FAR of the recorded TAR (default ${DEFAULT_VAL_FAR})`;

type Values = { [K in keyof typeof EMBEDDER_FLAGS]?: (typeof EMBEDDER_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

function parseSize(v: string): { height: number; width: number } {
  const m = /^(\d+)(?:x(\d+))?$/.exec(v.trim());
  if (!m) throw new TrainError('TRAIN_USAGE', `--input-size: expected N or HxW, got "${v}"`);
  return { height: Number(m[1]), width: Number(m[2] ?? m[1]) };
}

/** What the embedder flags say; the face set itself is opened by the caller. */
export interface EmbedderFlags {
  given: Partial<RunConfig>;
  /** --data and --input-size, to open the face set. */
  faceSet?: { dir: string; size?: { height: number; width: number }; flip: boolean };
  initFrom?: string;
}

/** `resuming`: the objective comes from the checkpoint (a contradicting flag is refused there). */
export function embedderFlags(values: Values, objective: string | undefined, resuming: boolean, num: (v: string | undefined, field: string) => number | undefined): EmbedderFlags {
  const task = values.task;
  if (task !== undefined && task !== 'classifier' && task !== 'embedder') throw new TrainError('TRAIN_USAGE', `--task: "${task}" is not one of classifier, embedder`);
  // A face set (--data) trains an embedder: EPL unless told otherwise.
  const chosen = objective ?? (task === 'embedder' || values.data !== undefined ? 'epl' : undefined);
  if (task !== undefined && chosen !== undefined && objectiveTask(chosen) !== task) {
    throw new TrainError('TRAIN_USAGE', `--task ${task}: objective ${chosen} trains a ${objectiveTask(chosen)}; embedder objectives are epl and margin`);
  }
  const objectiveOptions: Record<string, number | string> = {};
  if (values.head !== undefined) objectiveOptions.head = values.head;
  for (const [flag, key] of [['scale', 'scale'], ['margin', 'margin'], ['epl-k', 'k'], ['epl-start-epoch', 'startEpoch']] as const) {
    const v = num(values[flag], flag);
    if (v !== undefined) objectiveOptions[key] = v;
  }
  if (Object.keys(objectiveOptions).length > 0 && (chosen === undefined ? !resuming : objectiveTask(chosen) !== 'embedder')) {
    throw new TrainError('TRAIN_USAGE', `--head, --scale, --margin and --epl-* belong to the embedder objectives (--objective epl | margin)`);
  }
  const far = num(values['val-far'], 'val-far');
  if (values.val === undefined && far !== undefined) throw new TrainError('TRAIN_USAGE', '--val-far needs --val');
  if (values.val !== undefined && values.data === undefined) throw new TrainError('TRAIN_USAGE', '--val needs a face training set (--data): its pairs are RGB images at the run\'s input size');
  const given: Partial<RunConfig> = {
    objective: chosen,
    embeddingDim: num(values['embedding-dim'], 'embedding-dim'),
    ...(Object.keys(objectiveOptions).length > 0 ? { objectiveOptions } : {}),
    ...(values.val !== undefined ? { validation: { path: values.val, far: far ?? DEFAULT_VAL_FAR } } : {}),
    ...(values['init-from'] !== undefined ? { initFrom: values['init-from'] } : {}),
  };
  if (values['input-size'] !== undefined && values.data === undefined) throw new TrainError('TRAIN_USAGE', '--input-size needs --data');
  if (values['no-flip'] && values.data === undefined) throw new TrainError('TRAIN_USAGE', '--no-flip needs --data (packaged datasets have their own augmentation)');
  const faceSet = values.data === undefined ? undefined : { dir: values.data, size: values['input-size'] ? parseSize(values['input-size']) : undefined, flip: !values['no-flip'] };
  return { given, faceSet, initFrom: values['init-from'] };
}
