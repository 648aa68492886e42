// A served model as the Open Inference Protocol describes it: its input and output tensors with
// their data types and shapes (-1 for the dynamic batch dimension), and the protocol's table of
// data types (specification/protocol/inference_rest.md, "Tensor Data Types").
//
// The served interface is the artifact's: one float32 input in the manifest's layout, and one
// output of output.dimension floats per item. The batch dimension is dynamic even when the
// graph fixes it to 1: the model's scheduler runs a request's items in batches the graph takes.
import type { Manifest } from '../../artifact/manifest.js';
import { inputDims } from '../../infer/preprocess.js';

export const KSERVE_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type KserveDatatype = (typeof KSERVE_DATATYPES)[number];

/** The protocol's $metadata_tensor. */
export interface TensorMetadata {
  name: string;
  datatype: KserveDatatype;
  /** -1 marks a dynamic dimension (the batch). */
  shape: number[];
}

export interface ModelSignature {
  input: TensorMetadata;
  output: TensorMetadata;
}

export function signatureOf(manifest: Manifest): ModelSignature {
  return {
    input: { name: manifest.input.tensor, datatype: 'FP32', shape: inputDims(manifest.input, -1) },
    output: { name: manifest.output.tensor, datatype: 'FP32', shape: [-1, manifest.output.dimension] },
  };
}
