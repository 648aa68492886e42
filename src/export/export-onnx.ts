// Export = lower + check: the bytes are only handed back once onnxruntime reproduces the trainer.
import type { Net } from '../train/nets/net.js';
import { DEFAULT_INPUT_NAME, DEFAULT_OUTPUT_NAME, lowerToOnnx, type LowerOptions } from './lower.js';
import { checkParity, type ParityOptions, type ParityReport } from './parity.js';

export interface ExportOptions extends LowerOptions {
  /** How the parity check runs (samples, seed, tolerance, threads); it always runs. */
  parity?: Pick<ParityOptions, 'samples' | 'seed' | 'tolerance' | 'threads'>;
}

export interface ExportResult {
  /** Serialized ONNX model. */
  model: Uint8Array;
  /** Parity of the net's own outputs (before any appended softmax / L2 normalization). */
  parity: ParityReport;
  inputName: string;
  outputName: string;
  /** [batch, channels, height, width]; batch is the symbolic dimension 'batch'. */
  inputShape: ['batch', number, number, number];
  outputDim: number;
}

/**
 * Lowers `net` to ONNX (opset 17, NCHW input with a dynamic batch) and verifies it against
 * net.apply(x, false). Throws ExportError EXPORT_PARITY_FAILED (with `report`) when they differ.
 */
export async function exportToOnnx(net: Net, opts: ExportOptions = {}): Promise<ExportResult> {
  const inputName = opts.inputName ?? DEFAULT_INPUT_NAME;
  const outputName = opts.outputName ?? DEFAULT_OUTPUT_NAME;
  const model = lowerToOnnx(net, opts);
  const checkOpts = { ...opts.parity, inputName, outputName, l2Epsilon: opts.l2Epsilon };
  // A softmax saturates on random inputs and hides differences in the logits, so the graph
  // without the appended op is checked first, and its report is the one returned.
  const parity = opts.append ? await checkParity(net, lowerToOnnx(net, { ...opts, append: undefined }), checkOpts) : undefined;
  const final = await checkParity(net, model, { ...checkOpts, append: opts.append });
  const [h, w, c] = net.inputShape;
  return { model, parity: parity ?? final, inputName, outputName, inputShape: ['batch', c, h, w], outputDim: net.outputDim };
}
