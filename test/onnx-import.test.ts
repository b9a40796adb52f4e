import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../src/errors.js';
import type { ConvNode, DenseNode, Graph } from '../src/graph/ir.js';
import { optimize } from '../src/graph/optimize.js';
import { elementCount, inferShapes } from '../src/graph/shapes.js';
import { importOnnx, importOnnxRaw } from '../src/onnx/import.js';
import { DataType, encodeModel } from '../src/onnx/schema.js';
import { loadModel } from '../src/runtime/load.js';
import { GOOGLENET_FIXTURES, readFixture } from './support/fixtures.js';
import {
  buildOnnxModel, float, graphToOnnx, tensorAttribute,
  type AttributeValue, type ModelSpec, type NodeSpec, type TensorInit, type ValueSpec,
} from './support/onnx-builder.js';

type Attributes = Record<string, AttributeValue>;
type Tensor = { data: Float32Array; dims: number[] };

/** Deterministic values in [-1, 1). */
function seededFloats(count: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

/** An initializer with values seeded by its name, so that building a model twice gives the same weights. */
function weight(name: string, dims: number[], options: Partial<TensorInit> = {}): TensorInit {
  const seed = [...name].reduce((hash, char) => Math.imul(hash, 31) + char.charCodeAt(0), 7);
  return { name, dims, data: seededFloats(elementCount(dims), seed), ...options };
}

function node(op: string, inputs: string[], outputs: string[], attributes: Attributes = {}, name?: string): NodeSpec {
  return { op, inputs, outputs, attributes, name };
}

/** A model with input "x" of shape `input`, whose output is the last node's first output. */
function model(input: ValueSpec['dims'], nodes: NodeSpec[], initializers: TensorInit[] = [], extra: Partial<ModelSpec> = {}) {
  const output = nodes[nodes.length - 1].outputs[0];
  return buildOnnxModel({ inputs: [{ name: 'x', dims: input }], outputs: [{ name: output }], initializers, nodes, ...extra });
}

const ops = (graph: Graph) => graph.nodes.map((n) => n.op);

async function runOrt(bytes: Uint8Array, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  // Errors only: onnxruntime's ONNX shape inference warns about ceil-mode pools whose last window its kernel drops.
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const feeds = Object.fromEntries(
      Object.entries(inputs).map(([name, { data, dims }]) => [name, new ort.Tensor('float32', data, dims)]),
    );
    const results = await session.run(feeds);
    return Object.fromEntries(
      Object.entries(results).map(([name, tensor]) => [name, { data: tensor.data as Float32Array, dims: [...tensor.dims] }]),
    );
  } finally {
    await session.release();
  }
}

/** Runs the original model and the imported (optimised) graph written back as ONNX; their outputs must agree. */
async function expectSameOutputs(bytes: Uint8Array, tolerance = 1e-5): Promise<void> {
  const graph = importOnnx(bytes);
  const inputs = Object.fromEntries(
    graph.inputs.map(({ name, dims }, i) => [name, { data: seededFloats(elementCount(dims), 1000 + i), dims }]),
  );
  const expected = await runOrt(bytes, inputs);
  const actual = await runOrt(graphToOnnx(graph), inputs);
  for (const name of graph.outputs) {
    expect(actual[name].dims).toEqual(expected[name].dims);
    const scale = Math.max(...expected[name].data.map(Math.abs), 1e-6);
    const worst = Math.max(...actual[name].data.map((value, i) => Math.abs(value - expected[name].data[i])));
    expect(worst / scale).toBeLessThan(tolerance);
  }
}

/** importOnnx(bytes) throws a ModelFormatError whose message contains every fragment. */
function expectImportError(bytes: Uint8Array, ...fragments: string[]): void {
  let error: unknown;
  try {
    importOnnx(bytes);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ModelFormatError);
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
}

/** toEqual, with weights compared byte for byte: toEqual takes seconds per million typed-array elements. */
function expectSameGraph(actual: Graph, expected: Graph): void {
  const { weights: actualWeights, ...actualStructure } = actual;
  const { weights: expectedWeights, ...expectedStructure } = expected;
  expect(actualStructure).toEqual(expectedStructure);
  expect([...actualWeights.keys()].sort()).toEqual([...expectedWeights.keys()].sort());
  const bytes = ({ buffer, byteOffset, byteLength }: Float32Array) => Buffer.from(buffer, byteOffset, byteLength);
  for (const [name, { dims, data }] of expectedWeights) {
    expect(actualWeights.get(name)!.dims, name).toEqual(dims);
    expect(bytes(actualWeights.get(name)!.data).equals(bytes(data)), name).toBe(true);
  }
}

function expectArrayClose(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 5));
}

function transpose(data: Float32Array, rows: number, columns: number): Float32Array {
  return Float32Array.from({ length: data.length }, (_, i) => data[(i % rows) * columns + Math.floor(i / rows)]);
}

/** A miniature GoogLeNet: stem, LRN, an inception block with a pool branch, classifier. */
function miniInception(opset = 13): Uint8Array {
  const relu = (input: string) => node('Relu', [input], [`${input}_relu`]);
  return buildOnnxModel({
    opset,
    inputs: [{ name: 'x', dims: ['batch', 3, 15, 15] }],
    outputs: [{ name: 'prob' }],
    initializers: [
      weight('conv1.w', [8, 3, 3, 3]), weight('conv1.b', [8]),
      weight('a.w', [4, 8, 1, 1]), weight('b.w', [6, 8, 3, 3]), weight('b.b', [6]), weight('c.w', [2, 8, 1, 1]),
      weight('fc.w', [5, 48]), weight('fc.b', [5]),
    ],
    nodes: [
      node('Conv', ['x', 'conv1.w', 'conv1.b'], ['c1'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 'conv1'),
      relu('c1'),
      node('MaxPool', ['c1_relu'], ['p1'], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, 'pool1'),
      node('LRN', ['p1'], ['n1'], { size: 5, alpha: float(1e-4), beta: float(0.75), bias: float(1) }, 'norm1'),
      node('Conv', ['n1', 'a.w'], ['a'], {}, 'branch_a'),
      relu('a'),
      node('Conv', ['n1', 'b.w', 'b.b'], ['b'], { pads: [1, 1, 1, 1] }, 'branch_b'),
      relu('b'),
      node('MaxPool', ['n1'], ['cp'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'branch_c_pool'),
      node('Conv', ['cp', 'c.w'], ['c'], {}, 'branch_c'),
      relu('c'),
      node('Concat', ['a_relu', 'b_relu', 'c_relu'], ['cat'], { axis: 1 }, 'concat'),
      node('AveragePool', ['cat'], ['avg'], { kernel_shape: [2, 2], strides: [2, 2] }, 'avg'),
      node('Flatten', ['avg'], ['flat'], { axis: 1 }, 'flatten'),
      node('Gemm', ['flat', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc'),
      node('Softmax', ['logits'], ['prob'], {}, 'softmax'),
    ],
  });
}

/** Conv → BatchNormalization → Relu → Flatten → MatMul → Add. */
function convBatchNormClassifier(): Uint8Array {
  const initializers = [
    weight('w', [3, 2, 3, 3]),
    ...['scale', 'shift', 'mean'].map((name) => weight(name, [3])),
    { name: 'var', dims: [3], data: [0.5, 1.5, 2] },
    weight('fc', [75, 4]),
    weight('fc.b', [4]),
  ];
  return model([1, 2, 5, 5], [
    node('Conv', ['x', 'w'], ['c'], { pads: [1, 1, 1, 1] }, 'conv'),
    node('BatchNormalization', ['c', 'scale', 'shift', 'mean', 'var'], ['n'], { epsilon: float(1e-3) }, 'bn'),
    node('Relu', ['n'], ['r']),
    node('Flatten', ['r'], ['f']),
    node('MatMul', ['f', 'fc'], ['m'], {}, 'fc'),
    node('Add', ['m', 'fc.b'], ['y']),
  ], initializers);
}

describe('importOnnx', () => {
  it('maps each operator to the IR with its attributes and weights, Relu fused', () => {
    const graph = importOnnx(miniInception());
    expect(graph.inputs).toEqual([{ name: 'x', dims: [1, 3, 15, 15] }]);
    expect(graph.outputs).toEqual(['prob']);
    expect(ops(graph)).toEqual([
      'Conv', 'MaxPool', 'LRN', 'Conv', 'Conv', 'MaxPool', 'Conv', 'Concat', 'AveragePool', 'Reshape', 'Dense', 'Softmax',
    ]);
    const [conv1, pool1, lrn] = graph.nodes;
    expect(conv1).toMatchObject({
      name: 'conv1', inputs: ['x'], output: 'c1_relu', weight: 'conv1.w', bias: 'conv1.b',
      kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], relu: true,
    });
    expect(pool1).toMatchObject({
      name: 'pool1', kernel: [3, 3], stride: [2, 2], pads: [0, 0, 0, 0], ceilMode: true, countIncludePad: false,
    });
    expect(lrn).toMatchObject({ op: 'LRN', size: 5, alpha: Math.fround(1e-4), beta: 0.75, bias: 1 });
    expect(graph.nodes[7]).toMatchObject({ op: 'Concat', inputs: ['a_relu', 'b_relu', 'c_relu'] });
    expect(graph.nodes[9]).toMatchObject({ op: 'Reshape', dims: [1, 48] });
    expect(graph.nodes[10]).toMatchObject({ op: 'Dense', weight: 'fc.w', bias: 'fc.b', relu: false });
    expect(graph.weights.get('conv1.w')).toEqual({ dims: [8, 3, 3, 3], data: weight('conv1.w', [8, 3, 3, 3]).data });
    expect(inferShapes(graph).get('prob')).toEqual([1, 5]);
  });

  it('computes what onnxruntime computes for the original model', async () => {
    await expectSameOutputs(miniInception());
  });

  it('names unnamed nodes <op>_<index> and keeps node names unique', () => {
    const relus = [node('Relu', ['x'], ['r']), node('Relu', ['r'], ['s'], {}, 'Relu_0'), node('Relu', ['s'], ['t'])];
    expect(importOnnxRaw(model([1, 2, 3, 3], relus)).nodes.map((n) => n.name)).toEqual(['Relu_0', 'Relu_0_1', 'Relu_2']);
  });

  it('folds BatchNormalization into the convolution: W·s, (b − mean)·s + shift with s = scale/√(var + ε)', async () => {
    const inits = [
      weight('w', [3, 2, 3, 3]), weight('b', [3]), weight('scale', [3]), weight('shift', [3]), weight('mean', [3]),
      { name: 'var', dims: [3], data: [0.5, 1.5, 2] },
    ];
    const bytes = model([1, 2, 5, 5], [
      node('Conv', ['x', 'w', 'b'], ['c'], { pads: [1, 1, 1, 1] }, 'conv'),
      node('BatchNormalization', ['c', 'scale', 'shift', 'mean', 'var'], ['n'], { epsilon: float(1e-3) }, 'bn'),
      node('Relu', ['n'], ['y'], {}, 'relu'),
    ], inits);
    const raw = importOnnxRaw(bytes);
    const rawWeight = raw.weights.get('w')!.data.slice();
    const graph = optimize(raw);
    expect(ops(raw)).toEqual(['Conv', 'BatchNormalization', 'Relu']);
    expect(raw.weights.get('w')!.data).toEqual(rawWeight); // weight arrays may be shared: never written
    expect(ops(graph)).toEqual(['Conv']);

    const conv = graph.nodes[0] as ConvNode;
    expect(conv).toMatchObject({ name: 'conv', inputs: ['x'], output: 'y', relu: true });
    const [w, b, scale, shift, mean, variance] = inits.map((init) => Array.from(init.data, Number));
    const s = scale.map((value, i) => value / Math.sqrt(variance[i] + Math.fround(1e-3)));
    expectArrayClose(graph.weights.get(conv.weight)!.data, w.map((value, i) => value * s[Math.floor(i / 18)]));
    expectArrayClose(graph.weights.get(conv.bias!)!.data, b.map((value, i) => (value - mean[i]) * s[i] + shift[i]));
    expect(graph.weights.get(conv.weight)!.dims).toEqual([3, 2, 3, 3]);
    expect([...graph.weights.keys()].sort()).toEqual([conv.bias, conv.weight].sort());
    await expectSameOutputs(bytes);
  });

  it('fuses Relu only into a layer no one else reads, and drops nodes no output needs', () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: 'x', dims: [1, 2, 3, 3] }],
      outputs: [{ name: 'y' }, { name: 'c' }],
      initializers: [weight('w', [4, 2, 1, 1])],
      nodes: [node('Conv', ['x', 'w'], ['c']), node('Relu', ['c'], ['y']), node('Relu', ['x'], ['unused'])],
    });
    const graph = importOnnx(bytes);
    expect(graph.nodes).toEqual([
      expect.objectContaining({ op: 'Conv', output: 'c', relu: false }),
      { op: 'Relu', name: 'Relu_1', inputs: ['c'], output: 'y' },
    ]);
    expect(graph.outputs).toEqual(['y', 'c']);
  });

  it('refuses a BatchNormalization that cannot be folded', () => {
    const inits = ['scale', 'shift', 'mean', 'var'].map((name) => weight(name, [2]));
    const bn = node('BatchNormalization', ['r', 'scale', 'shift', 'mean', 'var'], ['y'], {}, 'bn');
    const bytes = model([1, 2, 3, 3], [node('Relu', ['x'], ['r']), bn], inits);
    expectImportError(bytes, 'node "bn" (BatchNormalization)', 'cannot be folded');
  });

  it('turns MatMul + Add of constants into a Dense layer with bias, weight transposed to [out, in]', async () => {
    const b = weight('B', [6, 4]);
    const c = weight('C', [4]);
    for (const addInputs of [['m', 'C'], ['C', 'm']]) {
      const nodes = [node('MatMul', ['x', 'B'], ['m'], {}, 'matmul'), node('Add', addInputs, ['y'], {}, 'add')];
      const bytes = model([1, 6], nodes, [b, c]);
      expect(ops(importOnnxRaw(bytes))).toEqual(['Dense', 'BiasAdd']);
      const graph = importOnnx(bytes);
      const dense = graph.nodes[0] as DenseNode;
      expect(ops(graph)).toEqual(['Dense']);
      expect(graph.weights.get(dense.weight)).toEqual({ dims: [4, 6], data: transpose(b.data as Float32Array, 6, 4) });
      expect(graph.weights.get(dense.bias!)!.data).toEqual(c.data);
      await expectSameOutputs(bytes);
    }
  });

  it('folds Gemm alpha, beta and transB=0 into the Dense weight and bias', async () => {
    const b = weight('B', [6, 4]);
    const c = weight('C', [1, 4]);
    const bytes = model([1, 6], [node('Gemm', ['x', 'B', 'C'], ['y'], { alpha: float(2), beta: float(0.5) })], [b, c]);
    const graph = importOnnx(bytes);
    const dense = graph.nodes[0] as DenseNode;
    const expectedWeight = transpose(b.data as Float32Array, 6, 4).map((v) => v * 2);
    expect(graph.weights.get(dense.weight)).toEqual({ dims: [4, 6], data: expectedWeight });
    expect(graph.weights.get(dense.bias!)).toEqual({ dims: [4], data: (c.data as Float32Array).map((v) => v * 0.5) });
    await expectSameOutputs(bytes);
  });

  it('adds a per-channel constant as a bias folded into the convolution', async () => {
    const conv = node('Conv', ['x', 'w'], ['c']);
    const bytes = model([1, 2, 4, 4], [conv, node('Add', ['c', 'b'], ['y'])], [weight('w', [3, 2, 1, 1]), weight('b', [1, 3, 1, 1])]);
    const graph = importOnnx(bytes);
    expect(graph.weights.get((graph.nodes[0] as ConvNode).bias!)!.dims).toEqual([3]);
    await expectSameOutputs(bytes);

    const alongWidth = model([1, 2, 4, 4], [conv, node('Add', ['c', 'b'], ['y'], {}, 'add')], [weight('w', [3, 2, 1, 1]), weight('b', [4])]);
    expectImportError(alongWidth, 'node 1 "add" (Add)', 'not a per-channel bias');
  });

  it('removes Identity and Dropout; a graph output keeps its name', () => {
    const bytes = model([1, 4, 3, 3], [
      node('Identity', ['x'], ['i']),
      node('Relu', ['i'], ['r'], {}, 'relu'),
      node('Dropout', ['r'], ['d']),
      node('Identity', ['d'], ['out']),
    ]);
    const graph = importOnnx(bytes);
    expect(graph.nodes).toEqual([{ op: 'Relu', name: 'relu', inputs: ['x'], output: 'out' }]);
    expect(graph.outputs).toEqual(['out']);
  });

  it('reads weights passed through Identity, as torch exports shared weights', () => {
    const nodes = [node('Identity', ['w'], ['w_copy']), node('Conv', ['x', 'w_copy'], ['y'])];
    expect(importOnnx(model([1, 2, 3, 3], nodes, [weight('w', [4, 2, 1, 1])])).nodes[0]).toMatchObject({ weight: 'w' });
  });

  it('refuses a Dropout whose mask is used', () => {
    const bytes = model([1, 4], [node('Dropout', ['x'], ['d', 'mask'], {}, 'drop'), node('Relu', ['mask'], ['y'])]);
    expectImportError(bytes, 'node 0 "drop" (Dropout)', 'output 1 "mask" is used');
  });

  it('refuses an LRN whose bias is not positive, so that the base it raises to the power beta is', async () => {
    for (const bias of [0, -1]) {
      const bytes = model([1, 4, 3, 3], [node('LRN', ['x'], ['y'], { size: 3, bias: float(bias) }, 'norm')]);
      await expect(loadModel(bytes)).rejects.toThrow(new ModelFormatError(`node "norm" (LRN): bias must be positive, got ${bias}`));
    }
  });

  it('removes the all-zero Pad torch puts before AveragePool (opset 10 attribute and opset 13 input)', () => {
    const pool = node('AveragePool', ['p'], ['y'], { kernel_shape: [2, 2], count_include_pad: 1 });
    const zeros = { name: 'pads', dims: [8], data: new BigInt64Array(8) };
    for (const bytes of [
      model([1, 2, 4, 4], [node('Pad', ['x'], ['p'], { pads: [0, 0, 0, 0, 0, 0, 0, 0] }), pool], [], { opset: 10 }),
      model([1, 2, 4, 4], [node('Pad', ['x', 'pads'], ['p']), pool], [zeros]),
    ]) {
      const expected = expect.objectContaining({ op: 'AveragePool', inputs: ['x'], pads: [0, 0, 0, 0] });
      expect(importOnnx(bytes).nodes).toEqual([expected]);
    }
  });

  it('folds a non-zero Pad into the Conv or counting AveragePool it feeds', async () => {
    const pads = { name: 'pads', dims: [8], data: BigInt64Array.from([0, 0, 1, 2, 0, 0, 2, 0], BigInt) };
    const pad = node('Pad', ['x', 'pads'], ['p'], {}, 'pad');

    const conv = model([1, 2, 5, 5], [pad, node('Conv', ['p', 'w'], ['y'], { pads: [1, 1, 1, 1] })], [pads, weight('w', [3, 2, 3, 3])]);
    expect(importOnnx(conv).nodes[0]).toMatchObject({ op: 'Conv', inputs: ['x'], pads: [2, 3, 3, 1] });
    await expectSameOutputs(conv);

    const pool = model([1, 2, 5, 5], [pad, node('AveragePool', ['p'], ['y'], { kernel_shape: [3, 3] })], [pads]);
    expect(importOnnx(pool).nodes[0]).toMatchObject({ op: 'AveragePool', inputs: ['x'], pads: [1, 2, 2, 0], countIncludePad: true });
    await expectSameOutputs(pool);

    const maxPool = model([1, 2, 5, 5], [pad, node('MaxPool', ['p'], ['y'], { kernel_shape: [3, 3] })], [pads]);
    expectImportError(maxPool, 'node 0 "pad" (Pad)', 'only supported');
  });

  it('resolves 0 and -1 in Reshape shapes, from raw or typed int64 data or a Constant node', () => {
    const reshape = (shape: number[], asRawData = true) => {
      const shapeTensor = { name: 'shape', dims: [shape.length], data: BigInt64Array.from(shape, BigInt), asRawData };
      return model([1, 8, 2, 2], [node('Reshape', ['x', 'shape'], ['y'], {}, 'reshape')], [shapeTensor]);
    };
    expect(importOnnx(reshape([0, -1])).nodes[0]).toMatchObject({ op: 'Reshape', dims: [1, 32] });
    expect(importOnnx(reshape([1, -1, 4], false)).nodes[0]).toMatchObject({ dims: [1, 8, 4] });
    expect(importOnnx(reshape([-1, 0, 4])).nodes[0]).toMatchObject({ dims: [1, 8, 4] });
    expectImportError(reshape([2, -1]), 'node "reshape" (Reshape)', 'batch');
    expectImportError(reshape([-1, -1]), 'node 0 "reshape" (Reshape)', 'single -1');
    expectImportError(reshape([1, 5, -1]), 'cannot reshape [1, 8, 2, 2]');

    const shape = tensorAttribute({ name: 'unused', dims: [2], data: BigInt64Array.from([1n, -1n]) });
    const fromConstant = model([1, 8, 2, 2], [node('Constant', [], ['shape'], { value: shape }), node('Reshape', ['x', 'shape'], ['y'])]);
    expect(importOnnx(fromConstant).nodes).toEqual([expect.objectContaining({ op: 'Reshape', dims: [1, 32] })]);
  });

  it('reads float weights from raw_data (at any byte offset) and float_data alike', () => {
    const build = (asRawData: boolean) => {
      const initializers = [weight('w', [4, 2, 3, 3], { asRawData }), weight('b', [4], { asRawData })];
      return model([1, 2, 3, 3], [node('Conv', ['x', 'w', 'b'], ['y'])], initializers);
    };
    const raw = build(true);
    expectSameGraph(importOnnx(build(false)), importOnnx(raw));
    const misaligned = new Uint8Array(raw.length + 1).subarray(1);
    misaligned.set(raw);
    expectSameGraph(importOnnx(misaligned), importOnnx(raw));
  });

  it('with viewWeights, leaves raw float data in the file, copied only when read; loadModel copies it before returning', async () => {
    const file = readFixture(GOOGLENET_FIXTURES.seed);
    const copied = importOnnx(file);
    const viewed = importOnnx(file, { viewWeights: true });
    for (const [name, weight] of viewed.weights) {
      expect(weight.float32Bytes?.buffer, name).toBe(file.buffer);
      expect(copied.weights.get(name)?.float32Bytes).toBeUndefined();
      expect(weight.data, name).toEqual(copied.weights.get(name)!.data);
    }

    const bytes = file.slice();
    const model = await loadModel(bytes, { variant: 'scalar' });
    const dims = model.info.inputs[0].dims;
    const input = Float32Array.from({ length: elementCount(dims) }, (_, i) => Math.sin(i));
    const before = model.run(input, dims).data;
    bytes.fill(0x3f);
    expect(model.run(input, dims).data).toEqual(before);

    // A Node Buffer inside a larger allocation, as fs.readFileSync gives small files: the importer's views of it
    // are Buffers too, whose slice() shares memory. f32 reads the biases as data, int8 every weight.
    for (const precision of ['f32', 'int8'] as const) {
      const pool = Buffer.alloc(file.length + 3, 0x55);
      pool.set(file, 3);
      const fromBuffer = await loadModel(pool.subarray(3), { variant: 'scalar', precision });
      const fromCopy = await loadModel(file.slice(), { variant: 'scalar', precision });
      expect(fromBuffer.run(input, dims).data, precision).toEqual(fromCopy.run(input, dims).data);
    }
  });

  it('takes Constant node tensors as weights', () => {
    const w = weight('ignored name', [4, 2, 1, 1]);
    const bytes = model([1, 2, 3, 3], [node('Constant', [], ['w'], { value: tensorAttribute(w) }), node('Conv', ['x', 'w'], ['y'])]);
    const graph = importOnnx(bytes);
    expect(graph.nodes).toEqual([expect.objectContaining({ op: 'Conv', weight: 'w' })]);
    expect(graph.weights.get('w')).toEqual({ dims: [4, 2, 1, 1], data: w.data });
  });

  it('does not count initializers listed as graph inputs as model inputs', () => {
    const conv = [node('Conv', ['x', 'w'], ['y'])];
    const bytes = model([1, 2, 3, 3], conv, [weight('w', [4, 2, 1, 1])], { initializersAsInputs: true });
    expect(importOnnx(bytes).inputs).toEqual([{ name: 'x', dims: [1, 2, 3, 3] }]);
  });

  it('takes a symbolic, unknown or 0 batch as 1 and refuses other batch sizes and symbolic dimensions', () => {
    const relu = [node('Relu', ['x'], ['y'])];
    for (const batch of ['N', null, 0, 1]) {
      expect(importOnnx(model([batch, 3, 2, 2], relu)).inputs[0].dims).toEqual([1, 3, 2, 2]);
    }
    expectImportError(model([4, 3, 2, 2], relu), 'graph input "x"', 'batch dimension 4');
    expectImportError(model([1, 'C', 2, 2], relu), 'graph input "x"', 'dimension 1 is symbolic ("C")');
  });

  it('accepts Softmax only over the last axis, per opset', () => {
    const softmax = (input: number[], opset: number, attributes: Attributes = {}) =>
      model(input, [node('Softmax', ['x'], ['y'], attributes, 'sm')], [], { opset });
    expect(ops(importOnnx(softmax([1, 10], 11)))).toEqual(['Softmax']);
    expect(ops(importOnnx(softmax([1, 3, 2, 5], 13)))).toEqual(['Softmax']);
    expect(ops(importOnnx(softmax([1, 3, 2, 5], 13, { axis: 3 })))).toEqual(['Softmax']);
    expectImportError(softmax([1, 3, 1, 1], 11), 'node 0 "sm" (Softmax)', 'attribute axis=1 is not supported');
    expectImportError(softmax([1, 10], 13, { axis: 0 }), 'attribute axis=0');
  });
});

describe('pooling output shapes', () => {
  interface PoolCase {
    op: 'MaxPool' | 'AveragePool';
    size: number;
    kernel: number;
    stride: number;
    pads: number[];
    ceil: number;
    countIncludePad?: number;
  }
  const cases: PoolCase[] = [
    { op: 'MaxPool', size: 112, kernel: 3, stride: 2, pads: [0, 0, 0, 0], ceil: 1 },
    { op: 'MaxPool', size: 5, kernel: 2, stride: 2, pads: [1, 1, 1, 1], ceil: 1 },
    { op: 'MaxPool', size: 6, kernel: 3, stride: 2, pads: [1, 1, 1, 1], ceil: 1 },
    { op: 'MaxPool', size: 14, kernel: 3, stride: 2, pads: [0, 0, 1, 1], ceil: 0 },
    { op: 'MaxPool', size: 7, kernel: 3, stride: 3, pads: [2, 1, 0, 2], ceil: 1 },
    { op: 'AveragePool', size: 7, kernel: 3, stride: 2, pads: [1, 1, 1, 1], ceil: 1, countIncludePad: 1 },
    { op: 'AveragePool', size: 8, kernel: 5, stride: 3, pads: [0, 0, 0, 0], ceil: 1 },
    { op: 'AveragePool', size: 9, kernel: 2, stride: 4, pads: [1, 0, 1, 0], ceil: 0 },
  ];
  for (const { op, size, kernel, stride, pads, ceil, countIncludePad } of cases) {
    it(`${op} ${size}x${size} kernel ${kernel} stride ${stride} pads [${pads}] ceil_mode ${ceil} matches onnxruntime`, async () => {
      const attributes: Attributes = { kernel_shape: [kernel, kernel], strides: [stride, stride], pads, ceil_mode: ceil };
      if (countIncludePad !== undefined) attributes.count_include_pad = countIncludePad;
      const dims = [1, 2, size, size];
      const bytes = model(dims, [node(op, ['x'], ['y'], attributes)]);
      const { y } = await runOrt(bytes, { x: { data: seededFloats(elementCount(dims), 7), dims } });
      expect(inferShapes(importOnnx(bytes)).get('y')).toEqual(y.dims);
      await expectSameOutputs(bytes);
    });
  }
});

describe('model errors', () => {
  it('turns truncated bytes into ModelFormatError', () => {
    const bytes = miniInception();
    for (const length of [0, 1, 2, 5, 17, 100, 1000, bytes.length >> 2, bytes.length >> 1, bytes.length - 40, bytes.length - 1]) {
      expectImportError(bytes.subarray(0, length));
    }
  });

  it('turns random bytes into ModelFormatError', () => {
    for (const [length, seed] of [[1, 1], [16, 2], [64, 3], [1000, 4], [100_000, 5]]) {
      expectImportError(Uint8Array.from(seededFloats(length, seed), (value) => Math.floor((value + 1) * 128)));
    }
    expectImportError(new Uint8Array(64).fill(0xff), 'not a valid ONNX model');
  });

  it('reports a missing graph, nodes or outputs', () => {
    expectImportError(encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }] }), 'no graph');
    const inputs = [{ name: 'x', dims: [1, 2] }];
    expectImportError(buildOnnxModel({ inputs, outputs: [{ name: 'x' }], nodes: [] }), 'no nodes');
    expectImportError(buildOnnxModel({ inputs, outputs: [], nodes: [node('Relu', ['x'], ['y'])] }), 'no outputs');
  });

  it('names an unsupported operator', () => {
    const bytes = model([1, 4], [node('Relu', ['x'], ['r']), node('Sigmoid', ['r'], ['y'], {}, 'foo')]);
    expectImportError(bytes, 'node 1 "foo" (Sigmoid): operator Sigmoid is not supported');
  });

  it('names an operator of another domain', () => {
    const bytes = model([1, 4], [{ op: 'FusedGemm', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'], name: 'fused' }]);
    expectImportError(bytes, 'node 0 "fused" (FusedGemm): operator com.microsoft.FusedGemm is not supported');
  });

  it('names the attribute of an unsupported Conv', () => {
    const conv = (attributes: Attributes) =>
      model([1, 4, 5, 5], [node('Conv', ['x', 'w'], ['y'], attributes, 'conv2/3x3')], [weight('w', [4, 2, 3, 3])]);
    expectImportError(conv({ group: 2 }), 'node 0 "conv2/3x3" (Conv): attribute group=2 is not supported');
    expectImportError(conv({ dilations: [2, 2] }), 'attribute dilations=[2, 2] is not supported');
    expectImportError(conv({ auto_pad: 'SAME_UPPER' }), 'attribute auto_pad=SAME_UPPER is not supported');
    expectImportError(conv({ kernel_shape: [5, 5] }), 'kernel_shape=[5, 5] does not match');
    expectImportError(conv({ frobnicate: 1 }), 'attribute frobnicate is not supported');
    expectImportError(conv({ strides: float(2) }), 'attribute strides must be INTS, got FLOAT');
  });

  it('names the tensor of an unusable weight', () => {
    const conv = (w: TensorInit) => model([1, 2, 5, 5], [node('Conv', ['x', 'w'], ['y'], {}, 'conv')], [w]);
    const int64Weight = { name: 'w', dims: [4, 2, 3, 3], data: new BigInt64Array(72) };
    expectImportError(conv(weight('w', [4, 2, 3, 3], { external: true })), 'node 0 "conv" (Conv)', 'tensor "w"', 'external');
    expectImportError(conv(weight('w', [4, 18])), 'node 0 "conv" (Conv)', 'weight "w" must be 4-D');
    expectImportError(conv(int64Weight), 'node 0 "conv" (Conv)', 'tensor "w" has data type INT64');
    expectImportError(conv(weight('w', [4, 3, 3, 3])), 'node "conv" (Conv)', 'expects 3 input channels, the input has 2');
    expectImportError(conv({ ...weight('w', [4, 2, 3, 3]), dims: [4, 2, 3, 4] }), 'tensor "w" holds 72 values');
    const missing = model([1, 2, 5, 5], [node('Conv', ['x', 'W'], ['y'], {}, 'conv')]);
    expectImportError(missing, 'node 0 "conv" (Conv)', 'input 1 "W" is missing');
  });

  it('names the opset outside 7–17', () => {
    for (const opset of [6, 18]) {
      expectImportError(model([1, 4], [node('Relu', ['x'], ['y'])], [], { opset }), `opset ${opset} is not supported`);
    }
  });

  it('refuses non-float inputs', () => {
    const inputs = [{ name: 'x', dims: [1, 4], elemType: DataType.INT64 }];
    const bytes = buildOnnxModel({ inputs, outputs: [{ name: 'y' }], nodes: [node('Relu', ['x'], ['y'])] });
    expectImportError(bytes, 'graph input "x"', 'element type INT64');
  });
});

describe('graphToOnnx', () => {
  it('writes a graph that imports back to an equal graph', () => {
    for (const bytes of [miniInception(), miniInception(10), convBatchNormClassifier()]) {
      const graph = importOnnx(bytes);
      expectSameGraph(importOnnx(graphToOnnx(graph)), graph);
    }
  });

  it('writes folded layers that compute what the original nodes compute', async () => {
    await expectSameOutputs(convBatchNormClassifier());
  });

  for (const [layout, file] of Object.entries(GOOGLENET_FIXTURES)) {
    it(`round-trips the ${layout} GoogLeNet, still computing the same`, async () => {
      const bytes = readFixture(file);
      const graph = importOnnx(bytes);
      expectSameGraph(importOnnx(graphToOnnx(graph)), graph);
      await expectSameOutputs(bytes, 1e-4);
    });
  }
});
