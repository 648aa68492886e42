// Training-mode batch norm (Ioffe & Szegedy 2015, Alg. 1 and its backward pass) for the tfjs
// 'cpu' backend, as plain loops over the backend's arrays: there every broadcasting binary op
// (x*scale, x-mean over [..., C]) computes an index per element and dominated a resnet8 step.
// Other backends use the op formulation in graph-net.ts. Channels are the last axis (NHWC / NC).
import * as tf from '@tensorflow/tfjs';
import { withCustomGrad } from './custom-grad.js';

export interface BatchStats {
  mean: Float32Array;
  /** Biased (1/M) batch variance, the one used to normalize. */
  variance: Float32Array;
}

/**
 * y = (x - mean) / sqrt(var + eps) * gamma + beta with batch statistics; differentiable in x,
 * gamma and beta. `onStats` receives the batch statistics (for the moving averages).
 */
export function batchNormTrainCpu(
  x: tf.Tensor,
  gamma: tf.Tensor1D | undefined,
  beta: tf.Tensor1D | undefined,
  epsilon: number,
  onStats: (stats: BatchStats) => void,
): tf.Tensor {
  const c = x.shape[x.rank - 1];
  // customGrad needs every differentiable input as a tensor: absent gamma/beta are constants.
  const g = gamma ?? tf.ones([c]);
  const b = beta ?? tf.zeros([c]);
  const f = withCustomGrad(([xIn, gIn, bIn], save) => {
    const xv = xIn.dataSync<'float32'>();
    const gv = gIn.dataSync<'float32'>();
    const bv = bIn.dataSync<'float32'>();
    const m = xv.length / c;
    const mean = new Float64Array(c);
    const sq = new Float64Array(c);
    for (let i = 0; i < xv.length; i += c) for (let k = 0; k < c; k++) mean[k] += xv[i + k];
    for (let k = 0; k < c; k++) mean[k] /= m;
    for (let i = 0; i < xv.length; i += c) {
      for (let k = 0; k < c; k++) {
        const d = xv[i + k] - mean[k];
        sq[k] += d * d;
      }
    }
    const rstd = new Float64Array(c);
    const variance = new Float32Array(c);
    for (let k = 0; k < c; k++) {
      variance[k] = sq[k] / m;
      rstd[k] = 1 / Math.sqrt(sq[k] / m + epsilon);
    }
    const y = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i += c) {
      for (let k = 0; k < c; k++) y[i + k] = (xv[i + k] - mean[k]) * rstd[k] * gv[k] + bv[k];
    }
    onStats({ mean: Float32Array.from(mean), variance });
    save([xIn, gIn]);
    const value = tf.tensor(y, xIn.shape, 'float32');
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sg] = saved;
      const xs = sx.dataSync<'float32'>();
      const gs = sg.dataSync<'float32'>();
      const dyv = dy.dataSync<'float32'>();
      const sumDy = new Float64Array(c);
      const sumDyXhat = new Float64Array(c);
      for (let i = 0; i < xs.length; i += c) {
        for (let k = 0; k < c; k++) {
          const d = dyv[i + k];
          sumDy[k] += d;
          sumDyXhat[k] += d * (xs[i + k] - mean[k]) * rstd[k];
        }
      }
      // dx = gamma*rstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat))
      const dx = new Float32Array(xs.length);
      for (let i = 0; i < xs.length; i += c) {
        for (let k = 0; k < c; k++) {
          const xhat = (xs[i + k] - mean[k]) * rstd[k];
          dx[i + k] = (gs[k] * rstd[k] / m) * (m * dyv[i + k] - sumDy[k] - xhat * sumDyXhat[k]);
        }
      }
      return [tf.tensor(dx, sx.shape, 'float32'), tf.tensor1d(Float32Array.from(sumDyXhat)), tf.tensor1d(Float32Array.from(sumDy))];
    };
    return { value, gradFunc };
  });
  // (the stand-in constants are freed by the caller's tf.tidy; the tape may still refer to them)
  return f(x, g, b);
}
