/**
 * Randomised single-operator ONNX graphs — shapes, strides, asymmetric pads, ceil mode, count_include_pad, LRN
 * parameters — run by onnxruntime-node and by every kernel build; the outputs must agree to 1e-5 relative L2.
 */

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/graph/googlenet.js';
import { importOnnx } from '../src/onnx/import.js';
import type { KernelVariant } from '../src/runtime/kernels.js';
import { loadModel } from '../src/runtime/load.js';
import { Model } from '../src/runtime/model.js';
import { buildOnnxModel, float, type ModelSpec, type NodeSpec, type TensorInit } from './support/onnx-builder.js';
import { randomFloats, relativeL2, unverifiedKernels } from './support/raw-kernels.js';

const VARIANTS: KernelVariant[] = ['scalar', 'simd', 'relaxed-simd'];
const CASES_PER_OP = 12;

interface Case {
  title: string;
  spec: ModelSpec;
  inputDims: number[];
}

const random = seededRandom(2024);
const integer = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)];

let weightSeed = 100;
function weight(name: string, dims: number[], scale = 1): TensorInit {
  return { name, dims, data: randomFloats(dims.reduce((a, b) => a * b, 1), weightSeed++).map((v) => v * scale) };
}

function singleOp(title: string, inputDims: number[], nodes: NodeSpec[], initializers: TensorInit[] = []): Case {
  const output = nodes[nodes.length - 1].outputs[0];
  return { title, inputDims, spec: { inputs: [{ name: 'x', dims: inputDims }], outputs: [{ name: output }], nodes, initializers } };
}

function convCase(): Case {
  const [C, M, KH, KW, SH, SW] = [integer(1, 9), integer(1, 13), integer(1, 5), integer(1, 5), integer(1, 3), integer(1, 3)];
  const pads = [integer(0, 3), integer(0, 3), integer(0, 3), integer(0, 3)];
  const [H, W] = [integer(Math.max(1, KH - pads[0] - pads[2]), 14), integer(Math.max(1, KW - pads[1] - pads[3]), 14)];
  const withBias = random() < 0.7, relu = random() < 0.5;
  const attributes = { kernel_shape: [KH, KW], strides: [SH, SW], pads };
  const nodes: NodeSpec[] = [{ op: 'Conv', inputs: ['x', 'w', ...(withBias ? ['b'] : [])], outputs: [relu ? 'conv' : 'y'], attributes }];
  if (relu) nodes.push({ op: 'Relu', inputs: ['conv'], outputs: ['y'] });
  const initializers = [weight('w', [M, C, KH, KW]), ...(withBias ? [weight('b', [M])] : [])];
  return singleOp(`Conv ${C}→${M} ${H}×${W} k${KH}×${KW} s${SH}×${SW} pads [${pads}]${withBias ? ' +bias' : ''}${relu ? ' +relu' : ''}`,
    [1, C, H, W], nodes, initializers);
}

function poolCase(op: 'MaxPool' | 'AveragePool'): Case {
  const [KH, KW, SH, SW] = [integer(1, 4), integer(1, 4), integer(1, 3), integer(1, 3)];
  const pads = [integer(0, KH - 1), integer(0, KW - 1), integer(0, KH - 1), integer(0, KW - 1)];
  const [C, H, W] = [integer(1, 6), integer(KH, 15), integer(KW, 15)];
  const ceil = pick([0, 1]), includePad = pick([0, 1]);
  const attributes = { kernel_shape: [KH, KW], strides: [SH, SW], pads, ceil_mode: ceil, ...(op === 'AveragePool' ? { count_include_pad: includePad } : {}) };
  return singleOp(`${op} ${C}×${H}×${W} k${KH}×${KW} s${SH}×${SW} pads [${pads}] ceil ${ceil}${op === 'AveragePool' ? ` include_pad ${includePad}` : ''}`,
    [1, C, H, W], [{ op, inputs: ['x'], outputs: ['y'], attributes }]);
}

function lrnCase(): Case {
  // onnxruntime accepts odd sizes only; even sizes are checked against the JavaScript reference in kernels.test.ts.
  const [C, H, W, size] = [integer(1, 12), integer(1, 6), integer(1, 6), pick([1, 3, 5, 7])];
  const [alpha, beta, bias] = [1e-4 + random() * 0.5, 0.5 + random() * 0.5, 1 + random() * 2];
  const attributes = { size, alpha: float(alpha), beta: float(beta), bias: float(bias) };
  return singleOp(`LRN ${C}×${H}×${W} size ${size} alpha ${alpha.toFixed(3)} beta ${beta.toFixed(2)} bias ${bias.toFixed(2)}`,
    [1, C, H, W], [{ op: 'LRN', inputs: ['x'], outputs: ['y'], attributes }]);
}

function denseCase(): Case {
  const [C, H, W, out] = [integer(1, 8), integer(1, 4), integer(1, 4), integer(1, 40)];
  const features = C * H * W, transB = pick([0, 1]), softmax = random() < 0.5;
  const nodes: NodeSpec[] = [
    { op: 'Flatten', inputs: ['x'], outputs: ['flat'], attributes: { axis: 1 } },
    { op: 'Gemm', inputs: ['flat', 'w', 'b'], outputs: [softmax ? 'logits' : 'y'], attributes: { transB } },
  ];
  if (softmax) nodes.push({ op: 'Softmax', inputs: ['logits'], outputs: ['y'], attributes: { axis: -1 } });
  const initializers = [weight('w', transB ? [out, features] : [features, out]), weight('b', [out])];
  return singleOp(`Flatten + Gemm ${features}→${out} transB ${transB}${softmax ? ' + Softmax' : ''}`, [1, C, H, W], nodes, initializers);
}

function concatCase(): Case {
  const [C, H, W] = [integer(1, 6), integer(1, 9), integer(1, 9)];
  const widths = [integer(1, 7), integer(1, 7), integer(1, 7)];
  const nodes: NodeSpec[] = [
    { op: 'Conv', inputs: ['x', 'w0'], outputs: ['a'], attributes: { kernel_shape: [1, 1] } },
    { op: 'Conv', inputs: ['x', 'w1'], outputs: ['b'], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
    { op: 'MaxPool', inputs: ['x'], outputs: ['p'], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] } },
    { op: 'Conv', inputs: ['p', 'w2'], outputs: ['c'], attributes: { kernel_shape: [1, 1] } },
    { op: 'Concat', inputs: ['a', 'b', 'c', 'x'], outputs: ['y'], attributes: { axis: 1 } },
  ];
  const initializers = [weight('w0', [widths[0], C, 1, 1]), weight('w1', [widths[1], C, 3, 3]), weight('w2', [widths[2], C, 1, 1])];
  return singleOp(`Inception-like Concat of [${widths}] + input ${C}×${H}×${W}`, [1, C, H, W], nodes, initializers);
}

/** Concat inputs that cannot live in their slice: one tensor twice, and the graph input. */
function concatCopiesCase(): Case {
  const [C, H, W] = [3, 5, 6];
  const nodes: NodeSpec[] = [
    { op: 'Conv', inputs: ['x', 'w'], outputs: ['a'], attributes: { kernel_shape: [1, 1] } },
    { op: 'Concat', inputs: ['a', 'x', 'a'], outputs: ['y'], attributes: { axis: 1 } },
  ];
  return singleOp('Concat of [a, input, a] (copies)', [1, C, H, W], nodes, [weight('w', [4, C, 1, 1])]);
}

function globalPoolCase(): Case {
  const [C, H, W] = [integer(1, 20), integer(1, 12), integer(1, 12)];
  return singleOp(`GlobalAveragePool ${C}×${H}×${W}`, [1, C, H, W], [{ op: 'GlobalAveragePool', inputs: ['x'], outputs: ['y'] }]);
}

const CASES: Case[] = [
  ...Array.from({ length: CASES_PER_OP }, convCase),
  ...Array.from({ length: CASES_PER_OP }, () => poolCase('MaxPool')),
  ...Array.from({ length: CASES_PER_OP }, () => poolCase('AveragePool')),
  ...Array.from({ length: CASES_PER_OP }, lrnCase),
  ...Array.from({ length: CASES_PER_OP }, denseCase),
  ...Array.from({ length: 4 }, concatCase),
  ...Array.from({ length: 4 }, globalPoolCase),
  concatCopiesCase(),
];

async function modelFor(bytes: Uint8Array, variant: KernelVariant): Promise<Model> {
  // relaxed-simd fails its int8 self-test on Node 20, so its f32 kernels are tested without the selection gate.
  return variant === 'relaxed-simd' ? new Model(importOnnx(bytes), await unverifiedKernels(variant)) : loadModel(bytes, { variant });
}

describe.each(CASES.map((c, i) => [i, c.title, c] as const))('case %i: %s', (i, _title, { spec, inputDims }) => {
  it('matches onnxruntime with every kernel build', async () => {
    const bytes = buildOnnxModel(spec);
    const input = randomFloats(inputDims.reduce((a, b) => a * b, 1), 5000 + i).map((v) => 2 * v + 0.3);
    const session = await ort.InferenceSession.create(bytes);
    const reference = await session.run({ x: new ort.Tensor('float32', input, inputDims) });
    const expected = reference[session.outputNames[0]];
    await session.release();
    expect(expected.data.length).toBeGreaterThan(0);
    for (const variant of VARIANTS) {
      const model = await modelFor(bytes, variant);
      const actual = model.run(input, inputDims);
      expect(actual.dims, variant).toEqual(expected.dims);
      expect(relativeL2(actual.data, expected.data as Float32Array), variant).toBeLessThan(1e-5);
    }
  });
});
