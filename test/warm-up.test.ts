/**
 * The kernel warm-up at load (src/runtime/warm-up.ts) runs the kernels on a small network of its own in the memory
 * a model then lays out: it must leave no trace in the model's results, run once per compiled module, and run on
 * every build in both precisions.
 */

import { describe, expect, it } from 'vitest';
import { buildGoogLeNet } from '../src/graph/googlenet.js';
import type { ConvNode, Graph, Node, Weight } from '../src/graph/ir.js';
import { describeKernels, KERNEL_VARIANTS, type KernelExports, type Kernels } from '../src/runtime/kernels.js';
import { Model, type Precision } from '../src/runtime/model.js';
import { warmUpKernels } from '../src/runtime/warm-up.js';
import { randomFloats, unverifiedKernels } from './support/raw-kernels.js';

/**
 * A network small enough that its whole memory lies where the warm-up ran: a pointwise group, a 3×3 convolution on
 * a 12×12 map (Winograd in both precisions), a concat.
 */
function miniature(): Graph {
  const weights = new Map<string, Weight>();
  const weight = (name: string, dims: number[]) => {
    const data = randomFloats(dims.reduce((a, b) => a * b, 1), weights.size + 1);
    weights.set(name, { dims, data });
    return name;
  };
  const conv = (name: string, input: string, C: number, M: number, k: number, stride: number, pad: number): ConvNode => ({
    op: 'Conv', name, inputs: [input], output: name, weight: weight(`${name}.w`, [M, C, k, k]), bias: weight(`${name}.b`, [M]),
    kernel: [k, k], stride: [stride, stride], pads: [pad, pad, pad, pad], relu: true,
  });
  const nodes: Node[] = [
    conv('stem', 'x', 3, 8, 3, 2, 1),
    { op: 'MaxPool', name: 'pool', inputs: ['stem'], output: 'pool', kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], ceilMode: false, countIncludePad: false },
    conv('a', 'pool', 8, 4, 1, 1, 0), conv('b', 'pool', 8, 4, 1, 1, 0), conv('b3', 'b', 4, 6, 3, 1, 1),
    { op: 'Concat', name: 'cat', inputs: ['a', 'b3'], output: 'cat' },
    { op: 'GlobalAveragePool', name: 'gap', inputs: ['cat'], output: 'gap' },
    { op: 'Reshape', name: 'flat', inputs: ['gap'], output: 'flat', dims: [1, 10] },
    { op: 'Dense', name: 'fc', inputs: ['flat'], output: 'fc', weight: weight('fc.w', [5, 10]), bias: weight('fc.b', [5]), relu: false },
  ];
  return { inputs: [{ name: 'x', dims: [1, 3, 24, 24] }], outputs: ['fc'], nodes, weights };
}

const NETWORKS = [
  { name: 'seed GoogLeNet', graph: buildGoogLeNet('seed'), dims: [1, 1, 96, 96] },
  { name: 'a miniature', graph: miniature(), dims: [1, 3, 24, 24] },
];

describe('warmUpKernels', () => {
  const cases = NETWORKS.flatMap((network) => KERNEL_VARIANTS.flatMap((variant) =>
    (['f32', 'int8'] as Precision[]).map((precision) => [network.name, variant, precision, network] as const)));
  it.each(cases)('leaves %s loaded after it (%s, %s) with the bits of one on fresh kernels', async (_, variant, precision, { graph, dims }) => {
    const warmed = await unverifiedKernels(variant);
    warmUpKernels(warmed, precision);
    const heap = new Uint8Array(warmed.exports.memory.buffer, warmed.heapBase, 4096);
    expect(heap.some((byte) => byte !== 0), 'the warm-up ran, in the memory the model takes next').toBe(true);
    const input = randomFloats(dims.reduce((a, b) => a * b, 1), 41).map((v) => v + 0.5);
    const expected = new Model(graph, await unverifiedKernels(variant), { precision }).run(input, dims).data;
    const actual = new Model(graph, warmed, { precision }).run(input, dims).data;
    expect(new Set(expected).size).toBeGreaterThan(4); // not degenerate
    expect(actual).toEqual(expected);
  });

  it('runs once per compiled module and precision, however many instances of it load', async () => {
    const first = await unverifiedKernels('simd');
    warmUpKernels(first, 'int8');
    const another = () => describeKernels('simd', first.module, new WebAssembly.Instance(first.module).exports as unknown as KernelExports);
    const ran = (kernels: Kernels) => new Uint8Array(kernels.exports.memory.buffer, kernels.heapBase, 4096).some((byte) => byte !== 0);
    const second = another();
    warmUpKernels(second, 'int8');
    expect(ran(second)).toBe(false);
    const third = another();
    warmUpKernels(third, 'f32');
    expect(ran(third)).toBe(true);
    const fourth = await unverifiedKernels('simd'); // another compilation of the build
    warmUpKernels(fourth, 'int8');
    expect(ran(fourth)).toBe(true);
  });
});
