/**
 * GoogLeNet (Inception v1) as data, built straight into the graph IR without an ONNX file. Three layouts:
 * - `seed`: the MXNet/Gluon network of the seed post — 1×96×96 input, 10 classes, no padding in the pools;
 * - `torchvision`: `torchvision.models.googlenet` as `torch.onnx` exports it in eval mode (BatchNorm folded
 *   into the convolutions, ceil-mode pools, global average pool);
 * - `bvlc`: the ONNX model zoo's googlenet-12, converted from BVLC Caffe (LRN, true 5×5 convolutions,
 *   AveragePool 7×7, Softmax).
 * Without a `weights` source the weights are seeded pseudo-random, so a preset doubles as a test model.
 */

import { InputError } from '../errors.js';
import type { Graph, Node, Pads } from './ir.js';
import { elementCount, slidingOutputSize } from './shapes.js';

/**
 * The output channels of one inception module, named as in the seed post: path 1 is a 1×1 conv (n1_1); path 2 a
 * 1×1 reduction (n2_1) then a 3×3 conv (n2_3); path 3 a 1×1 reduction (n3_1) then a "5×5" conv (n3_5); path 4 a
 * 3×3 max pool then a 1×1 projection (n4_1). The module outputs n1_1 + n2_3 + n3_5 + n4_1 channels.
 */
export interface Inception {
  n1_1: number;
  n2_1: number;
  n2_3: number;
  n3_1: number;
  n3_5: number;
  n4_1: number;
}

function inception(n1_1: number, n2_1: number, n2_3: number, n3_1: number, n3_5: number, n4_1: number): Inception {
  return { n1_1, n2_1, n2_3, n3_1, n3_5, n4_1 };
}

/** Table 1 of "Going deeper with convolutions"; the seed post, torchvision and Caffe all use these numbers. */
const INCEPTIONS = {
  '3a': inception(64, 96, 128, 16, 32, 32),
  '3b': inception(128, 128, 192, 32, 96, 64),
  '4a': inception(192, 96, 208, 16, 48, 64),
  '4b': inception(160, 112, 224, 24, 64, 64),
  '4c': inception(128, 128, 256, 24, 64, 64),
  '4d': inception(112, 144, 288, 32, 64, 64),
  '4e': inception(256, 160, 320, 32, 128, 128),
  '5a': inception(256, 160, 320, 32, 128, 128),
  '5b': inception(384, 192, 384, 48, 128, 128),
} satisfies Record<string, Inception>;

type InceptionStage = keyof typeof INCEPTIONS;

interface ConvLayer {
  kind: 'conv';
  name: string;
  channels: number;
  kernel: number;
  stride: number;
  pad: number;
  relu: boolean;
}

interface MaxPoolLayer {
  kind: 'maxPool';
  name: string;
  kernel: number;
  stride: number;
  pads: Pads;
  ceil: boolean;
}

type Layer =
  | ConvLayer
  | MaxPoolLayer
  | { kind: 'averagePool'; name: string; kernel: number; stride: number; countIncludePad: boolean }
  | { kind: 'globalAveragePool'; name: string }
  | { kind: 'lrn'; name: string }
  | { kind: 'inception'; name: string; spec: Inception }
  | { kind: 'flatten'; name: string }
  | { kind: 'dense'; name: string }
  | { kind: 'softmax'; name: string };

const NO_PADS: Pads = [0, 0, 0, 0];

function conv(
  name: string,
  channels: number,
  kernel: number,
  { stride = 1, pad = 0, relu = true }: { stride?: number; pad?: number; relu?: boolean } = {},
): ConvLayer {
  return { kind: 'conv', name, channels, kernel, stride, pad, relu };
}

function maxPool(
  name: string,
  kernel: number,
  stride: number,
  { pads = NO_PADS, ceil = false }: { pads?: Pads; ceil?: boolean } = {},
): MaxPoolLayer {
  return { kind: 'maxPool', name, kernel, stride, pads, ceil };
}

function inceptionLayer(name: string, stage: InceptionStage): Layer {
  return { kind: 'inception', name, spec: INCEPTIONS[stage] };
}

/** The seven layers inside an inception module, in the order they are emitted. */
type InceptionPart = 'path1' | 'path2Reduce' | 'path2' | 'path3Reduce' | 'path3' | 'path4Pool' | 'path4Proj';

interface Naming {
  /** Name of a layer inside a module (an inception part). */
  join(module: string, part: string): string;
  tensor(layer: string): string;
  weight(layer: string): string;
  bias(layer: string): string;
}

/** PyTorch module paths; for the seed these are exactly the state_dict keys of training/googlenet_seed.py. */
const TORCH_NAMING: Naming = {
  join: (module, part) => `${module}.${part}`,
  tensor: (layer) => layer,
  weight: (layer) => `${layer}.weight`,
  bias: (layer) => `${layer}.bias`,
};

/** The Caffe2-converted zoo model's style: layer `conv1/7x7_s2`, tensor `conv1/7x7_s2_1`, weight `…_w_0`. */
const CAFFE_NAMING: Naming = {
  join: (module, part) => `${module}/${part}`,
  tensor: (layer) => `${layer}_1`,
  weight: (layer) => `${layer}_w_0`,
  bias: (layer) => `${layer}_b_0`,
};

interface Layout {
  input: { name: string; channels: number; size: number };
  /** Name of the graph output; it replaces the last layer's tensor name. */
  outputName: string;
  classes: number;
  layers: Layer[];
  naming: Naming;
  inceptionParts: Record<InceptionPart, string>;
  /** Name of an inception module's Concat, relative to the module; `null`: the module's own name. */
  inceptionOutput: string | null;
  /** Kernel of path 3: 5 in the paper; 3 in torchvision, a known slip kept for its weights (pytorch/vision#906). */
  path3Kernel: 3 | 5;
  /** torchvision's path-4 pool is ceil-mode; with stride 1 that changes nothing, but the export says so. */
  path4PoolCeil: boolean;
}

const SEED_INCEPTION_PARTS: Record<InceptionPart, string> = {
  path1: 'p1_conv_1',
  path2Reduce: 'p2_conv_1',
  path2: 'p2_conv_3',
  path3Reduce: 'p3_conv_1',
  path3: 'p3_conv_5',
  path4Pool: 'p4_pool_3',
  path4Proj: 'p4_conv_1',
};

/**
 * The seed's `GoogLeNet` blocks. Gluon pools default to stride = kernel, no padding and floor rounding, so a
 * 96×96 input shrinks 96 → 48 (conv 7/2) → 23 → 11 → 5 → 2 (max pools 3/2) → 1 (`AvgPool2D(pool_size=2)`):
 * b6 sees 1024×1×1 features. b2's two convolutions have no activation in the seed code, so none here either.
 */
const SEED_BLOCKS: Record<'b1' | 'b2' | 'b3' | 'b4' | 'b5' | 'b6', Layer[]> = {
  b1: [conv('b1.conv', 64, 7, { stride: 2, pad: 3 }), maxPool('b1.pool', 3, 2)],
  b2: [
    conv('b2.conv1x1', 64, 1, { relu: false }),
    conv('b2.conv3x3', 192, 3, { pad: 1, relu: false }),
    maxPool('b2.pool', 3, 2),
  ],
  b3: [inceptionLayer('b3.inception3a', '3a'), inceptionLayer('b3.inception3b', '3b'), maxPool('b3.pool', 3, 2)],
  b4: [
    inceptionLayer('b4.inception4a', '4a'),
    inceptionLayer('b4.inception4b', '4b'),
    inceptionLayer('b4.inception4c', '4c'),
    inceptionLayer('b4.inception4d', '4d'),
    inceptionLayer('b4.inception4e', '4e'),
    maxPool('b4.pool', 3, 2),
  ],
  b5: [
    inceptionLayer('b5.inception5a', '5a'),
    inceptionLayer('b5.inception5b', '5b'),
    { kind: 'averagePool', name: 'b5.pool', kernel: 2, stride: 2, countIncludePad: false },
  ],
  b6: [
    { kind: 'flatten', name: 'b6.flatten' },
    { kind: 'dense', name: 'b6.dense' },
  ],
};

/** torch.onnx keeps ceil_mode=1 with zero pads rather than turning ceil rounding into padding. */
const TORCH_CEIL = { ceil: true } as const;

const TORCHVISION_LAYERS: Layer[] = [
  conv('conv1', 64, 7, { stride: 2, pad: 3 }),
  maxPool('maxpool1', 3, 2, TORCH_CEIL),
  conv('conv2', 64, 1),
  conv('conv3', 192, 3, { pad: 1 }),
  maxPool('maxpool2', 3, 2, TORCH_CEIL),
  inceptionLayer('inception3a', '3a'),
  inceptionLayer('inception3b', '3b'),
  maxPool('maxpool3', 3, 2, TORCH_CEIL),
  inceptionLayer('inception4a', '4a'),
  inceptionLayer('inception4b', '4b'),
  inceptionLayer('inception4c', '4c'),
  inceptionLayer('inception4d', '4d'),
  inceptionLayer('inception4e', '4e'),
  maxPool('maxpool4', 2, 2, TORCH_CEIL),
  inceptionLayer('inception5a', '5a'),
  inceptionLayer('inception5b', '5b'),
  { kind: 'globalAveragePool', name: 'avgpool' },
  { kind: 'flatten', name: 'flatten' },
  { kind: 'dense', name: 'fc' },
];

/** Caffe rounds pooled sizes up; the zoo model emulates that with one extra row and column at the bottom right. */
const CAFFE_CEIL = { pads: [0, 0, 1, 1] } as const satisfies { pads: Pads };

const BVLC_LAYERS: Layer[] = [
  conv('conv1/7x7_s2', 64, 7, { stride: 2, pad: 3 }),
  maxPool('pool1/3x3_s2', 3, 2, CAFFE_CEIL),
  { kind: 'lrn', name: 'pool1/norm1' },
  conv('conv2/3x3_reduce', 64, 1),
  conv('conv2/3x3', 192, 3, { pad: 1 }),
  { kind: 'lrn', name: 'conv2/norm2' },
  maxPool('pool2/3x3_s2', 3, 2, CAFFE_CEIL),
  inceptionLayer('inception_3a', '3a'),
  inceptionLayer('inception_3b', '3b'),
  maxPool('pool3/3x3_s2', 3, 2, CAFFE_CEIL),
  inceptionLayer('inception_4a', '4a'),
  inceptionLayer('inception_4b', '4b'),
  inceptionLayer('inception_4c', '4c'),
  inceptionLayer('inception_4d', '4d'),
  inceptionLayer('inception_4e', '4e'),
  maxPool('pool4/3x3_s2', 3, 2, CAFFE_CEIL),
  inceptionLayer('inception_5a', '5a'),
  inceptionLayer('inception_5b', '5b'),
  { kind: 'averagePool', name: 'pool5/7x7_s1', kernel: 7, stride: 1, countIncludePad: false },
  { kind: 'flatten', name: 'pool5/flatten' },
  { kind: 'dense', name: 'loss3/classifier' },
  { kind: 'softmax', name: 'prob' },
];

/** All of Caffe's LRN layers in GoogLeNet share these settings. */
const CAFFE_LRN = { size: 5, alpha: 1e-4, beta: 0.75, bias: 1 } as const;

export type GoogLeNetPreset = 'seed' | 'torchvision' | 'bvlc';

const LAYOUTS: Record<GoogLeNetPreset, Layout> = {
  seed: {
    input: { name: 'input', channels: 1, size: 96 },
    outputName: 'logits',
    classes: 10,
    layers: Object.values(SEED_BLOCKS).flat(),
    naming: TORCH_NAMING,
    inceptionParts: SEED_INCEPTION_PARTS,
    inceptionOutput: null,
    path3Kernel: 5,
    path4PoolCeil: false,
  },
  torchvision: {
    input: { name: 'input', channels: 3, size: 224 },
    outputName: 'logits',
    classes: 1000,
    layers: TORCHVISION_LAYERS,
    naming: TORCH_NAMING,
    inceptionParts: {
      path1: 'branch1',
      path2Reduce: 'branch2.0',
      path2: 'branch2.1',
      path3Reduce: 'branch3.0',
      path3: 'branch3.1',
      path4Pool: 'branch4.0',
      path4Proj: 'branch4.1',
    },
    inceptionOutput: null,
    path3Kernel: 3,
    path4PoolCeil: true,
  },
  bvlc: {
    input: { name: 'data_0', channels: 3, size: 224 },
    outputName: 'prob_1',
    classes: 1000,
    layers: BVLC_LAYERS,
    naming: CAFFE_NAMING,
    inceptionParts: {
      path1: '1x1',
      path2Reduce: '3x3_reduce',
      path2: '3x3',
      path3Reduce: '5x5_reduce',
      path3: '5x5',
      path4Pool: 'pool',
      path4Proj: 'pool_proj',
    },
    inceptionOutput: 'output',
    path3Kernel: 5,
    path4PoolCeil: false,
  },
};

export interface GoogLeNetOptions {
  /** Size of the classifier's output; default 10 for `seed`, 1000 otherwise. */
  classes?: number;
  /** Height and width of the square input; default 96 for `seed`, 224 otherwise. */
  inputSize?: number;
  /** Supplies each weight tensor (row-major, `dims` elements); default: seeded pseudo-random weights. */
  weights?: (name: string, dims: number[]) => Float32Array;
}

export function buildGoogLeNet(preset: GoogLeNetPreset, options: GoogLeNetOptions = {}): Graph {
  const layout = LAYOUTS[preset];
  if (!layout) throw new InputError(`unknown GoogLeNet preset "${preset}"; expected seed, torchvision or bvlc`);
  const classes = positiveInteger('classes', options.classes ?? layout.classes);
  const inputSize = positiveInteger('inputSize', options.inputSize ?? layout.input.size);

  const builder = new GraphBuilder(layout, classes, options.weights ?? seededWeights);
  let features: FeatureMap = { tensor: layout.input.name, channels: layout.input.channels, size: inputSize };
  for (const layer of layout.layers) features = builder.add(layer, features);
  builder.nodes[builder.nodes.length - 1].output = layout.outputName;

  return {
    inputs: [{ name: layout.input.name, dims: [1, layout.input.channels, inputSize, inputSize] }],
    outputs: [layout.outputName],
    nodes: builder.nodes,
    weights: builder.weights,
  };
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new InputError(`${option} must be a positive integer, got ${value}`);
  return value;
}

/** A square activation tensor as it flows through the builder. */
interface FeatureMap {
  tensor: string;
  channels: number;
  size: number;
}

/** What a weight is for, so that the default source can scale it. */
interface WeightRole {
  kind: 'weight' | 'bias';
  /** Inputs feeding each output: in channels × kernel area, or in features. */
  fanIn: number;
  /** A ReLU follows, so half the signal is cut and the scale doubles its variance to make up for it. */
  relu: boolean;
}

type WeightSource = (name: string, dims: number[], role: WeightRole) => Float32Array;

class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly weights: Graph['weights'] = new Map();

  constructor(
    private readonly layout: Layout,
    private readonly classes: number,
    private readonly weightSource: WeightSource,
  ) {}

  add(layer: Layer, x: FeatureMap): FeatureMap {
    const output = this.layout.naming.tensor(layer.name);
    const inputs = [x.tensor];
    switch (layer.kind) {
      case 'conv': {
        const { channels, kernel, stride, pad, relu } = layer;
        const { weight, bias } = this.addParameters(layer.name, [channels, x.channels, kernel, kernel], relu);
        const pads: Pads = [pad, pad, pad, pad];
        this.nodes.push({
          op: 'Conv', name: layer.name, inputs, output, weight, bias,
          kernel: [kernel, kernel], stride: [stride, stride], pads, relu,
        });
        return { tensor: output, channels, size: outputSize(layer.name, x.size, kernel, stride, pads, false) };
      }
      case 'maxPool': {
        const { kernel, stride, pads, ceil } = layer;
        this.nodes.push({
          op: 'MaxPool', name: layer.name, inputs, output,
          kernel: [kernel, kernel], stride: [stride, stride], pads, ceilMode: ceil, countIncludePad: false,
        });
        return { ...x, tensor: output, size: outputSize(layer.name, x.size, kernel, stride, pads, ceil) };
      }
      case 'averagePool': {
        const { kernel, stride, countIncludePad } = layer;
        this.nodes.push({
          op: 'AveragePool', name: layer.name, inputs, output,
          kernel: [kernel, kernel], stride: [stride, stride], pads: NO_PADS, ceilMode: false, countIncludePad,
        });
        return { ...x, tensor: output, size: outputSize(layer.name, x.size, kernel, stride, NO_PADS, false) };
      }
      case 'globalAveragePool':
        this.nodes.push({ op: 'GlobalAveragePool', name: layer.name, inputs, output });
        return { ...x, tensor: output, size: 1 };
      case 'lrn':
        this.nodes.push({ op: 'LRN', name: layer.name, inputs, output, ...CAFFE_LRN });
        return { ...x, tensor: output };
      case 'inception':
        return this.addInception(layer.name, layer.spec, x);
      case 'flatten': {
        const features = x.channels * x.size * x.size;
        this.nodes.push({ op: 'Reshape', name: layer.name, inputs, output, dims: [1, features] });
        return { tensor: output, channels: features, size: 1 };
      }
      case 'dense': {
        const inFeatures = x.channels * x.size * x.size;
        const { weight, bias } = this.addParameters(layer.name, [this.classes, inFeatures], false);
        this.nodes.push({ op: 'Dense', name: layer.name, inputs, output, weight, bias, relu: false });
        return { tensor: output, channels: this.classes, size: 1 };
      }
      case 'softmax':
        this.nodes.push({ op: 'Softmax', name: layer.name, inputs, output });
        return { ...x, tensor: output };
    }
  }

  private addInception(module: string, spec: Inception, x: FeatureMap): FeatureMap {
    const { naming, inceptionParts, inceptionOutput, path3Kernel, path4PoolCeil } = this.layout;
    const part = (name: InceptionPart): string => naming.join(module, inceptionParts[name]);

    const path1 = this.add(conv(part('path1'), spec.n1_1, 1), x);
    const path2Reduced = this.add(conv(part('path2Reduce'), spec.n2_1, 1), x);
    const path2 = this.add(conv(part('path2'), spec.n2_3, 3, { pad: 1 }), path2Reduced);
    const path3Reduced = this.add(conv(part('path3Reduce'), spec.n3_1, 1), x);
    const path3 = this.add(conv(part('path3'), spec.n3_5, path3Kernel, { pad: (path3Kernel - 1) / 2 }), path3Reduced);
    const pooled = this.add(maxPool(part('path4Pool'), 3, 1, { pads: [1, 1, 1, 1], ceil: path4PoolCeil }), x);
    const path4 = this.add(conv(part('path4Proj'), spec.n4_1, 1), pooled);

    const paths = [path1, path2, path3, path4];
    const name = inceptionOutput === null ? module : naming.join(module, inceptionOutput);
    const output = naming.tensor(name);
    this.nodes.push({ op: 'Concat', name, inputs: paths.map((path) => path.tensor), output });
    return { tensor: output, channels: paths.reduce((sum, path) => sum + path.channels, 0), size: x.size };
  }

  /** Adds a layer's weight (`dims`, output channels first) and its bias. */
  private addParameters(layer: string, dims: number[], relu: boolean): { weight: string; bias: string } {
    const fanIn = elementCount(dims.slice(1));
    const { naming } = this.layout;
    return {
      weight: this.addWeight(naming.weight(layer), dims, { kind: 'weight', fanIn, relu }),
      bias: this.addWeight(naming.bias(layer), [dims[0]], { kind: 'bias', fanIn, relu }),
    };
  }

  private addWeight(name: string, dims: number[], role: WeightRole): string {
    const data = this.weightSource(name, dims, role);
    const expected = elementCount(dims);
    if (data.length !== expected) {
      throw new InputError(`weight "${name}" [${dims.join(', ')}] needs ${expected} values, got ${data.length}`);
    }
    this.weights.set(name, { dims, data });
    return name;
  }
}

/** Output height (= width) of a convolution or pool. All three layouts pad height and width alike. */
function outputSize(layer: string, size: number, kernel: number, stride: number, pads: Pads, ceil: boolean): number {
  const [padBegin, , padEnd] = pads;
  if (size + padBegin + padEnd < kernel) {
    throw new InputError(`input too small: ${layer} gets ${size}×${size}, less than its ${kernel}×${kernel} window`);
  }
  return slidingOutputSize(size, kernel, stride, padBegin, padEnd, ceil);
}

/** Bias magnitude of the default weights: small next to unit-scale activations, but nonzero so a lost bias shows. */
const DEFAULT_BIAS_SCALE = 0.05;

/**
 * Seeded He-uniform weights: variance 2 / fanIn ahead of a ReLU (1 / fanIn otherwise) keeps the activations'
 * scale roughly constant through the ~60 layers. Each tensor is seeded from its name, so it does not change
 * when another layer's size does.
 */
function seededWeights(name: string, dims: number[], role: WeightRole): Float32Array {
  const random = seededRandom(hashName(name));
  const limit = role.kind === 'bias' ? DEFAULT_BIAS_SCALE : Math.sqrt((role.relu ? 6 : 3) / role.fanIn);
  const data = new Float32Array(elementCount(dims));
  for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * limit;
  return data;
}

/** FNV-1a: a stable 32-bit seed from a tensor name. */
function hashName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** mulberry32: a small, fast PRNG; returns a function yielding uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
