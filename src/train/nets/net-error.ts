// Typed errors for building networks and moving their weights.
import { defineErrorCodes, type ErrorCodeSpec } from '../../error-registry.js';
import { ProtoserveError } from '../../errors.js';

export type NetErrorCode =
  /** A backbone name that the registry does not know. */
  | 'UNKNOWN_BACKBONE'
  /** Options a backbone cannot use (e.g. an input too small for its strides). */
  | 'BACKBONE_OPTIONS_INVALID'
  /** A layer graph that is not well formed (shapes, ids, parameters). */
  | 'NET_GRAPH_INVALID'
  /** apply() was given an input of the wrong shape. */
  | 'NET_INPUT_SHAPE'
  /** setWeights() got missing, unknown or wrongly shaped weights. */
  | 'WEIGHTS_MISMATCH';

export class NetError extends ProtoserveError {
  declare readonly code: NetErrorCode;

  constructor(code: NetErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

// Registered with their classes (the CLI's exit statuses): see src/error-registry.ts.
defineErrorCodes('nets', {
  UNKNOWN_BACKBONE: { class: 'usage', description: 'a backbone name that the registry does not know' },
  BACKBONE_OPTIONS_INVALID: { class: 'usage', description: 'options a backbone cannot use (e.g. an input too small for its strides)' },
  NET_GRAPH_INVALID: { class: 'internal', description: 'a layer graph that is not well formed (shapes, ids, parameters)' },
  NET_INPUT_SHAPE: { class: 'invalid-input', description: 'a net was given an input of the wrong shape' },
  WEIGHTS_MISMATCH: { class: 'invalid-input', description: 'weights (e.g. from a checkpoint) are missing, unknown or wrongly shaped' },
} satisfies Record<NetErrorCode, ErrorCodeSpec>);
