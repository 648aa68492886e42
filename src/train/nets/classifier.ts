// Classifier = backbone + dense head (logits). The head is one more node of the same graph, so
// the exporter lowers it like any other layer; softmax is appended at export time, not here
// (training losses want logits).
import { GraphNet } from './graph-net.js';
import { GraphBuilder, type NetGraph } from './net-graph.js';
import { backboneGraph, type BackboneOptions } from './registry.js';

export interface HeadOptions {
  /** Node id of the head; its parameters are `<id>.weight` [features, classes] and `<id>.bias`. Default 'head'. */
  id?: string;
  /** Dropout on the features before the head, in training only (default none). */
  dropout?: number;
  bias?: boolean;
}

/** The graph of `backbone` followed by a dense layer to `numClasses` logits; named e.g. 'resnet8+linear10'. */
export function withClassifierHead(backbone: NetGraph, numClasses: number, opts: HeadOptions = {}): NetGraph {
  const id = opts.id ?? 'head';
  const b = GraphBuilder.from(backbone, `${backbone.name}+linear${numClasses}`);
  let x = backbone.output;
  if (opts.dropout) x = b.dropout(x, opts.dropout, `${id}.dropout`);
  return b.build(b.dense(x, numClasses, { bias: opts.bias ?? true }, id));
}

/**
 * A classifier on an existing backbone net, sharing its variables: training the classifier
 * trains the backbone, which can then be exported alone as an embedder. Dispose the classifier
 * (its head) and the backbone separately.
 */
export function classifierOn(backbone: GraphNet, numClasses: number, opts: HeadOptions & { seed?: number } = {}): GraphNet {
  return new GraphNet(withClassifierHead(backbone.graph, numClasses, opts), { seed: opts.seed, shareFrom: backbone });
}

/** A fresh backbone + head, e.g. buildClassifierNet('resnet8', 10, { inputShape: [28, 28, 1] }). */
export function buildClassifierNet(backbone: string, numClasses: number, opts: BackboneOptions & HeadOptions = {}): GraphNet {
  const { id, dropout, bias, seed, ...backboneOpts } = opts;
  return new GraphNet(withClassifierHead(backboneGraph(backbone, backboneOpts), numClasses, { id, dropout, bias }), { seed });
}
