import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { buildGoogLeNet, seededRandom, type GoogLeNetPreset } from '../src/graph/googlenet.js';
import type { ConvNode, Graph, Node } from '../src/graph/ir.js';
import { elementCount, inferShapes } from '../src/graph/shapes.js';

/** Shapes (checked by inferShapes), multiply-accumulates of conv + dense layers, and parameter count. */
function measure(graph: Graph): { shapes: Map<string, number[]>; macs: number; params: number } {
  const shapes = inferShapes(graph);
  const weightCount = (name: string) => elementCount(graph.weights.get(name)!.dims);
  let macs = 0;
  for (const node of graph.nodes) {
    if (node.op === 'Conv') {
      const [, , height, width] = shapes.get(node.output)!;
      macs += height * width * weightCount(node.weight);
    } else if (node.op === 'Dense') {
      macs += weightCount(node.weight);
    }
  }
  let params = 0;
  for (const weight of graph.weights.values()) params += weight.data.length;
  return { shapes, macs, params };
}

/** ../shared/ANCHORS.md: MMAC and parameters of the three layouts at their default input size. */
const ANCHORS: Record<GoogLeNetPreset, { macs: number; params: number; input: number[]; output: number[] }> = {
  seed: { macs: 215e6, params: 6.0e6, input: [1, 1, 96, 96], output: [1, 10] },
  torchvision: { macs: 1498e6, params: 6.6e6, input: [1, 3, 224, 224], output: [1, 1000] },
  bvlc: { macs: 1583e6, params: 7.0e6, input: [1, 3, 224, 224], output: [1, 1000] },
};

const PRESETS = Object.keys(ANCHORS) as GoogLeNetPreset[];

/** The arguments of the seed's `Inception(...)` calls, in order: n1_1, n2_1, n2_3, n3_1, n3_5, n4_1. */
const SEED_INCEPTIONS = [
  [64, 96, 128, 16, 32, 32],
  [128, 128, 192, 32, 96, 64],
  [192, 96, 208, 16, 48, 64],
  [160, 112, 224, 24, 64, 64],
  [128, 128, 256, 24, 64, 64],
  [112, 144, 288, 32, 64, 64],
  [256, 160, 320, 32, 128, 128],
  [256, 160, 320, 32, 128, 128],
  [384, 192, 384, 48, 128, 128],
];

/** Reads each inception module's six numbers back out of the graph: its Concat and the convs feeding it. */
function inceptionParameters(graph: Graph): number[][] {
  const producers = new Map(graph.nodes.map((node) => [node.output, node]));
  const conv = (tensor: string): ConvNode => {
    const node = producers.get(tensor);
    if (node?.op !== 'Conv') throw new Error(`${tensor} is not a Conv output`);
    return node;
  };
  const outChannels = (node: ConvNode) => graph.weights.get(node.weight)!.dims[0];
  return graph.nodes
    .filter((node) => node.op === 'Concat')
    .map(({ inputs: [path1, path2, path3, path4] }) => [
      outChannels(conv(path1)),
      outChannels(conv(conv(path2).inputs[0])),
      outChannels(conv(path2)),
      outChannels(conv(conv(path3).inputs[0])),
      outChannels(conv(path3)),
      outChannels(conv(path4)),
    ]);
}

function nodesOf<Op extends Node['op']>(graph: Graph, op: Op): (Node & { op: Op })[] {
  return graph.nodes.filter((node): node is Node & { op: Op } => node.op === op);
}

describe.each(PRESETS)('the %s preset', (preset) => {
  const graph = buildGoogLeNet(preset);
  const anchor = ANCHORS[preset];
  const { shapes, macs, params } = measure(graph);

  it('matches the MACs and parameter count in ANCHORS.md within 1 %', () => {
    expect(Math.abs(macs / anchor.macs - 1)).toBeLessThan(0.01);
    expect(Math.abs(params / anchor.params - 1)).toBeLessThan(0.01);
  });

  it('maps its input to one score per class', () => {
    expect(graph.inputs.map((input) => input.dims)).toEqual([anchor.input]);
    expect(graph.outputs.map((output) => shapes.get(output))).toEqual([anchor.output]);
  });

  it('names every node uniquely and uses every weight', () => {
    // inferShapes (in measure) has already rejected out-of-order nodes, missing weights and shape mismatches.
    expect(new Set(graph.nodes.map((node) => node.name)).size).toBe(graph.nodes.length);
    const used = graph.nodes.flatMap((node) =>
      node.op === 'Conv' || node.op === 'Dense' ? [node.weight, node.bias] : [],
    );
    expect(new Set(used)).toEqual(new Set(graph.weights.keys()));
  });

  it('uses the seed code\'s inception numbers (the paper\'s)', () => {
    expect(inceptionParameters(graph)).toEqual(SEED_INCEPTIONS);
  });

  it('takes the classifier size from the classes option', () => {
    const small = buildGoogLeNet(preset, { classes: 7 });
    const [classifier] = nodesOf(small, 'Dense');
    expect(small.weights.get(classifier.weight)!.dims).toEqual([7, 1024]);
    expect(small.weights.get(classifier.bias!)!.dims).toEqual([7]);
    expect(measure(small).shapes.get(small.outputs[0])).toEqual([1, 7]);
  });

  it('builds the same seeded weights every time', () => {
    const again = buildGoogLeNet(preset);
    const bytes = (data: Float32Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (const [name, weight] of graph.weights) {
      expect(bytes(again.weights.get(name)!.data).equals(bytes(weight.data)), name).toBe(true);
    }
  });
});

describe('the seed preset', () => {
  const graph = buildGoogLeNet('seed');
  const { shapes } = measure(graph);
  const sizeAfter = (layer: string) => shapes.get(layer)![2];

  it('shrinks 96 → 48 → 23 → 11 → 5 → 2 → 1 with unpadded floor-mode pools', () => {
    expect(['b1.conv', 'b1.pool', 'b2.pool', 'b3.pool', 'b4.pool', 'b5.pool'].map(sizeAfter)).toEqual([
      48, 23, 11, 5, 2, 1,
    ]);
    for (const pool of nodesOf(graph, 'MaxPool')) expect(pool.ceilMode, pool.name).toBe(false);
  });

  it('leaves b2 without activations and every other conv with ReLU, as the seed code does', () => {
    const withoutRelu = nodesOf(graph, 'Conv').filter((node) => !node.relu);
    expect(withoutRelu.map((node) => node.name)).toEqual(['b2.conv1x1', 'b2.conv3x3']);
  });

  it('names its weights like the PyTorch module in training/googlenet_seed.py', () => {
    expect([...graph.weights.keys()].slice(0, 4)).toEqual([
      'b1.conv.weight', 'b1.conv.bias', 'b2.conv1x1.weight', 'b2.conv1x1.bias',
    ]);
    expect(graph.weights.has('b3.inception3a.p3_conv_5.weight')).toBe(true);
  });

  it('sizes the classifier from the input, as Gluon infers it', () => {
    const large = buildGoogLeNet('seed', { inputSize: 224 });
    const [classifier] = nodesOf(large, 'Dense');
    // 224 → 112 → 55 → 27 → 13 → 6 → average pool 2 → 3.
    expect(large.weights.get(classifier.weight)!.dims).toEqual([10, 1024 * 3 * 3]);
  });
});

describe('the torchvision and bvlc presets', () => {
  const torchvision = buildGoogLeNet('torchvision');
  const bvlc = buildGoogLeNet('bvlc');

  it('pool 224 down to 7×7 before the classifier', () => {
    for (const graph of [torchvision, bvlc]) {
      const { shapes } = measure(graph);
      const pools = nodesOf(graph, 'MaxPool').filter((node) => node.stride[0] === 2);
      expect(pools.map((node) => shapes.get(node.output)![2])).toEqual([56, 28, 14, 7]);
    }
  });

  it('differ where the two sources differ', () => {
    const path3Kernels = (graph: Graph) =>
      new Set(nodesOf(graph, 'Conv').filter((node) => /branch3\.1|5x5$/.test(node.name)).map((node) => node.kernel[0]));
    expect(path3Kernels(torchvision)).toEqual(new Set([3]));
    expect(path3Kernels(bvlc)).toEqual(new Set([5]));
    expect(nodesOf(torchvision, 'LRN')).toHaveLength(0);
    expect(nodesOf(bvlc, 'LRN').map((node) => node.name)).toEqual(['pool1/norm1', 'conv2/norm2']);
    expect(nodesOf(torchvision, 'GlobalAveragePool')).toHaveLength(1);
    expect(nodesOf(bvlc, 'AveragePool').map((node) => node.kernel)).toEqual([[7, 7]]);
  });

  it('use the exported graphs\' tensor names', () => {
    expect(torchvision.inputs[0].name).toBe('input');
    expect(torchvision.outputs).toEqual(['logits']);
    expect(bvlc.inputs[0].name).toBe('data_0');
    expect(bvlc.outputs).toEqual(['prob_1']);
    expect(bvlc.nodes.at(-1)!.op).toBe('Softmax');
    expect(bvlc.weights.has('inception_3a/5x5_w_0')).toBe(true);
  });
});

describe('buildGoogLeNet options', () => {
  it('asks the weights source for every tensor with its dims', () => {
    const requested = new Map<string, number[]>();
    const graph = buildGoogLeNet('seed', {
      weights: (name, dims) => {
        requested.set(name, dims);
        return new Float32Array(elementCount(dims)).fill(0.5);
      },
    });
    expect([...requested.keys()]).toEqual([...graph.weights.keys()]);
    expect(graph.weights.get('b6.dense.weight')!.dims).toEqual([10, 1024]);
    expect(graph.weights.get('b6.dense.bias')!.data.every((value) => value === 0.5)).toBe(true);
  });

  it('rejects a weight of the wrong size, naming it', () => {
    expect(() => buildGoogLeNet('seed', { weights: () => new Float32Array(3) })).toThrow(
      new InputError('weight "b1.conv.weight" [64, 1, 7, 7] needs 3136 values, got 3'),
    );
  });

  it('rejects inputs too small for the pools and nonsensical sizes', () => {
    expect(() => buildGoogLeNet('torchvision', { inputSize: 8 })).toThrow(InputError);
    expect(() => buildGoogLeNet('seed', { classes: 0 })).toThrow(InputError);
    expect(() => buildGoogLeNet('bvlc', { inputSize: 224.5 })).toThrow(InputError);
  });

  it('seeds its default weights with a reproducible uniform generator', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const draws = Array.from({ length: 1000 }, () => a());
    expect(draws).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(Math.abs(draws.reduce((sum, x) => sum + x, 0) / draws.length - 0.5)).toBeLessThan(0.05);
  });
});
