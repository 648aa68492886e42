// The margin heads EPL is combined with (LOSSES.md, "How the two blocks are stacked"), applied to
// cosines c [R, C] with one-hot labels Y [R, C]:
//   CosFace (Wang et al. 2018):  z = s (c - m Y), then the EPL criterion.
//   ArcFace (Deng et al. 2019):  at the label column the value of cos(theta + m), computed as
//     c cos m - sqrt(clamp(1 - c^2, 0, 1)) sin m, with the gradient of plain c:
//     phi = c - detach(c) + detach(cos(theta + m)); z = s phi; then the EPL criterion. The
//     learned block's cosines are clamped to [-1 + 1e-7, 1 - 1e-7] before (by the caller).
//   UniFace (Zhou et al. 2023):  per class, p = softplus(-clamp(s (c - m) - b, -s, s)) at the
//     label, n = l softplus(clamp(s c - b, -s, s)) elsewhere; loss = mean over rows of the sum;
//     b a learned scalar initialized to log(10 C), l = 1.
import * as tf from '@tensorflow/tfjs';
import { detach } from './detach.js';
import { eplCriterion } from './epl-criterion.js';
import { TrainError } from '../train-error.js';
import { InvariantError } from '../../errors.js';

export type MarginHead = 'cosface' | 'arcface' | 'uniface';

export const MARGIN_HEADS: readonly MarginHead[] = ['cosface', 'arcface', 'uniface'];

/** Usual margins: CosFace 0.4, ArcFace 0.5 (0.4 in the EPL reference's defaults), UniFace 0.4. */
export const DEFAULT_MARGIN: Readonly<Record<MarginHead, number>> = { cosface: 0.4, arcface: 0.5, uniface: 0.4 };

/** ArcFace's clamp of the learned block's cosines. */
export const ARCFACE_COS_LIMIT = 1 - 1e-7;

/** UniFace's bias initialization: log(10 C). */
export function uniFaceBiasInit(numClasses: number): number {
  return Math.log(10 * numClasses);
}

export interface MarginHeadOptions {
  head: MarginHead;
  /** Scale s (64). */
  scale: number;
  /** Margin m. */
  margin: number;
  /** UniFace's learned bias b (required for 'uniface'). */
  uniFaceBias?: tf.Scalar;
  /** UniFace's weight of the negative term, l = 1. */
  negativeWeight?: number;
}

/** The head's loss over cosines c [R, C] and one-hot labels [R, C]: mean over the R rows. */
export function marginHeadLoss(cosines: tf.Tensor2D, onehot: tf.Tensor2D, o: MarginHeadOptions): tf.Scalar {
  const s = o.scale;
  const m = o.margin;
  return tf.tidy(() => {
    switch (o.head) {
      case 'cosface':
        return eplCriterion(tf.mul(tf.sub(cosines, tf.mul(onehot, m)), s) as tf.Tensor2D, onehot);
      case 'arcface': {
        const c = detach(cosines);
        const sine = tf.sqrt(tf.clipByValue(tf.sub(1, tf.square(c)), 0, 1));
        const cosPlusMargin = tf.sub(tf.mul(c, Math.cos(m)), tf.mul(sine, Math.sin(m)));
        const phi = tf.add(cosines, tf.mul(onehot, tf.sub(cosPlusMargin, c)));
        return eplCriterion(tf.mul(phi, s) as tf.Tensor2D, onehot);
      }
      case 'uniface': {
        if (!o.uniFaceBias) throw new InvariantError('the uniface head needs its learned bias (uniFaceBias)');
        const b = o.uniFaceBias;
        const l = o.negativeWeight ?? 1;
        const p = tf.softplus(tf.neg(tf.clipByValue(tf.sub(tf.mul(tf.sub(cosines, m), s), b), -s, s)));
        const n = tf.mul(tf.softplus(tf.clipByValue(tf.sub(tf.mul(cosines, s), b), -s, s)), l);
        const perClass = tf.add(tf.mul(onehot, p), tf.mul(tf.sub(1, onehot), n));
        return tf.mean(tf.sum(perClass, 1)) as tf.Scalar;
      }
      default:
        throw new TrainError('TRAIN_CONFIG_INVALID', `Unsupported head: "${String(o.head)}". Should be one of: ${MARGIN_HEADS.join(', ')}`);
    }
  });
}
