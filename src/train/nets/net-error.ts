// Typed errors for building networks and moving their weights.
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
