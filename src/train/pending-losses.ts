// The loss values of training steps, left on the backend until a number is needed. Reading a
// value (dataSync) waits for the step to finish: on tfjs-node-gpu that stalls the CPU, which could
// be queueing the next step, once per step. The loop reads them together instead (one transfer)
// when it prints progress, writes a checkpoint or ends an epoch, and adds them up in step order,
// so the totals are the same numbers as reading every step.
import * as tf from '@tensorflow/tfjs';

/** One step's loss and named terms, as the [1 + terms] tensor TrainStep returns. */
export interface StepValues {
  values: tf.Tensor1D;
  terms: readonly string[];
}

export class PendingLosses {
  private pending: StepValues[] = [];
  private lastRead = performance.now();

  get size(): number {
    return this.pending.length;
  }

  /** Takes ownership of the step's tensor. */
  push(step: StepValues): void {
    this.pending.push(step);
  }

  /** Whether to read now: enough steps wait, or `intervalMs` passed since the last read. */
  due(maxSteps: number, intervalMs: number): boolean {
    return this.pending.length >= maxSteps || (this.pending.length > 0 && performance.now() - this.lastRead >= intervalMs);
  }

  /** Reads every pending step in one transfer and hands each to `each`, in step order. */
  read(each: (loss: number, terms: Record<string, number>) => void): void {
    this.lastRead = performance.now();
    if (this.pending.length === 0) return;
    const steps = this.pending;
    this.pending = [];
    const all = tf.concat(steps.map((s) => s.values));
    const data = all.dataSync();
    tf.dispose([all, ...steps.map((s) => s.values)]);
    let at = 0;
    for (const s of steps) {
      each(data[at], Object.fromEntries(s.terms.map((name, i) => [name, data[at + 1 + i]])));
      at += 1 + s.terms.length;
    }
  }

  /** Frees what is pending without reading it. */
  dispose(): void {
    tf.dispose(this.pending.map((s) => s.values));
    this.pending = [];
  }
}
