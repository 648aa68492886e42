// Backbones by name. Each entry states its defaults; buildBackbone returns a GraphNet whose
// outputDim is the feature dimension.
import { GraphNet } from './graph-net.js';
import { iresnetGraph } from './iresnet.js';
import { mobileFaceNetGraph } from './mobilefacenet.js';
import { NetError } from './net-error.js';
import type { NetGraph } from './net-graph.js';
import { cifarResNetGraph } from './resnet-cifar.js';

export const BACKBONE_NAMES = ['resnet8', 'resnet20', 'resnet32', 'mobilefacenet', 'iresnet18', 'iresnet34', 'iresnet50'] as const;
export type BackboneName = (typeof BACKBONE_NAMES)[number];

export interface BackboneOptions {
  /** [height, width, channels]; defaults: resnet* 32x32x3, mobilefacenet and iresnet* 112x112x3. */
  inputShape?: [number, number, number];
  /** CIFAR ResNets only: width of the first stage (default 16); features are 4x this. */
  width?: number;
  /** mobilefacenet (default 128) and iresnet* (default 512): embedding size; resnet*: an optional embedding layer. */
  embeddingDim?: number;
  /** iresnet* only: dropout before the FC layer (default 0). */
  dropout?: number;
  /** Seed of the initial weights (buildBackbone only). */
  seed?: number;
}

interface Family {
  summary: string;
  options: ReadonlyArray<keyof BackboneOptions>;
  graph: (o: BackboneOptions) => NetGraph;
}

const FAMILIES: Record<BackboneName, Family> = {
  resnet8: cifar(8),
  resnet20: cifar(20),
  resnet32: cifar(32),
  mobilefacenet: {
    summary: 'MobileFaceNet (Chen et al. 2018), 112x112x3 -> 128 (embeddingDim), ~1M parameters',
    options: ['inputShape', 'embeddingDim', 'seed'],
    graph: (o) => mobileFaceNetGraph({ inputShape: o.inputShape, embeddingDim: o.embeddingDim }),
  },
  iresnet18: iresnet(18),
  iresnet34: iresnet(34),
  iresnet50: iresnet(50),
};

function cifar(depth: 8 | 20 | 32): Family {
  return {
    summary: `CIFAR ResNet-${depth} (He et al. 2016 §4.2), any HxWxC -> 4*width (64 at width 16), or embeddingDim`,
    options: ['inputShape', 'width', 'embeddingDim', 'seed'],
    graph: (o) => cifarResNetGraph({ depth, width: o.width, inputShape: o.inputShape, embeddingDim: o.embeddingDim }),
  };
}

function iresnet(depth: 18 | 34 | 50): Family {
  return {
    summary: `IResNet-${depth} (ArcFace / arcface_torch), 112x112x3 -> 512 (embeddingDim)`,
    options: ['inputShape', 'embeddingDim', 'dropout', 'seed'],
    graph: (o) => iresnetGraph({ depth, inputShape: o.inputShape, embeddingDim: o.embeddingDim, dropout: o.dropout }),
  };
}

export function isBackboneName(name: string): name is BackboneName {
  return (BACKBONE_NAMES as readonly string[]).includes(name);
}

/** Whether the backbone takes `option` (e.g. 'width' for the CIFAR ResNets only). */
export function backboneTakes(name: string, option: keyof BackboneOptions): boolean {
  return isBackboneName(name) && FAMILIES[name].options.includes(option);
}

/** One line per backbone, for help texts. */
export function describeBackbones(): Array<{ name: BackboneName; summary: string }> {
  return BACKBONE_NAMES.map((name) => ({ name, summary: FAMILIES[name].summary }));
}

/** The layer graph of a backbone (no variables). */
export function backboneGraph(name: string, opts: BackboneOptions = {}): NetGraph {
  if (!isBackboneName(name)) {
    throw new NetError('UNKNOWN_BACKBONE', `Unsupported backbone: "${name}". Should be one of: ${BACKBONE_NAMES.join(', ')}`);
  }
  const family = FAMILIES[name];
  const unused = (Object.keys(opts) as Array<keyof BackboneOptions>).filter((k) => opts[k] !== undefined && !family.options.includes(k));
  if (unused.length > 0) {
    throw new NetError('BACKBONE_OPTIONS_INVALID', `${name} does not take option(s) ${unused.join(', ')}; it takes ${family.options.join(', ')}`);
  }
  return family.graph(opts);
}

/** A freshly initialized backbone: outputDim is its feature dimension. */
export function buildBackbone(name: string, opts: BackboneOptions = {}): GraphNet {
  return new GraphNet(backboneGraph(name, opts), { seed: opts.seed });
}
