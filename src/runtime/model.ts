/**
 * A loaded model: the graph compiled into a list of kernel calls over one wasm memory laid out once:
 *
 *   heapBase │ packed weights │ activation arena (planned) │ scratch (im2col, load-time staging) │ slack
 *
 * run() copies the input into the arena, replays the calls and copies the outputs out; nothing is allocated
 * inside the wasm memory per inference.
 */

import { InputError, ModelFormatError, GoogLeNetError } from '../errors.js';
import type { ConvNode, Graph, Node, Weight } from '../graph/ir.js';
import { planMemory, alignUp, type MemoryPlan } from '../graph/plan.js';
import { elementCount, inferShapes } from '../graph/shapes.js';
import type { Kernels, KernelVariant } from './kernels.js';

/** GEMM tiles read up to a tile width past the end of a buffer (never stored); keep those reads in bounds. */
const TAIL_SLACK_BYTES = 256;

export interface Tensor {
  data: Float32Array;
  dims: number[];
}

export interface TensorInfo {
  name: string;
  dims: number[];
}

export interface LayerInfo {
  name: string;
  op: Node['op'];
  output: string;
  outputDims: number[];
  params: number;
  macs: number;
  /** Byte offset of the output in the activation arena. */
  arenaOffset: number;
}

export interface ModelInfo {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  params: number;
  /** Multiply-accumulates of one inference (convolutions and dense layers). */
  macs: number;
  arenaBytes: number;
  weightBytes: number;
  scratchBytes: number;
  /** Total wasm memory of this model instance. */
  memoryBytes: number;
  variant: KernelVariant;
  layers: LayerInfo[];
}

type Step = () => void;

export class Model {
  readonly info: ModelInfo;
  private kernels: Kernels | undefined;
  private readonly steps: Step[];
  private readonly inputOffsets: number[];
  private readonly outputOffsets: number[];

  constructor(graph: Graph, kernels: Kernels) {
    const shapes = inferShapes(graph);
    const plan = planMemory(graph, shapes);
    const weights = new WeightLayout(graph, kernels.gemmRows);
    const scratchBytes = Math.max(weights.largestRawBytes, ...graph.nodes.map((node) => im2colBytes(node, shapes)));

    const base = kernels.exports.heapBase();
    const arenaAt = alignUp(base + weights.bytes);
    const scratchAt = alignUp(arenaAt + plan.arenaBytes);
    const memoryBytes = scratchAt + scratchBytes + TAIL_SLACK_BYTES;
    const memory = kernels.exports.memory;
    const missing = memoryBytes - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));

    weights.upload(kernels, base, scratchAt);
    const tensorAt = (name: string) => arenaAt + plan.tensors.get(name)!.offset;
    this.steps = graph.nodes.map((node) =>
      compileStep(node, kernels, shapes, plan, tensorAt, (name) => base + weights.offsetOf(name), scratchAt),
    );
    this.kernels = kernels;
    this.inputOffsets = graph.inputs.map((input) => tensorAt(input.name));
    this.outputOffsets = graph.outputs.map(tensorAt);
    this.info = describe(graph, shapes, plan, weights.bytes, scratchBytes, memory.buffer.byteLength, kernels.variant);
  }

  /**
   * Runs a single-input model on a batch: `dims` is the model's input shape with any batch size first.
   * Returns the first output (see runTensors for models with several inputs or outputs).
   */
  run(input: Float32Array, dims: number[]): Tensor {
    if (this.info.inputs.length !== 1) {
      throw new InputError(`the model has ${this.info.inputs.length} inputs; use runTensors()`);
    }
    return this.runTensors([{ data: input, dims }])[0];
  }

  /** Runs on one tensor per model input (same batch size for all); returns one tensor per model output. */
  runTensors(inputs: Tensor[]): Tensor[] {
    const kernels = this.kernels;
    if (!kernels) throw new GoogLeNetError('the model has been disposed');
    const batch = this.checkInputs(inputs);
    const outputs = this.info.outputs.map((output) => ({
      data: new Float32Array(batch * elementCount(output.dims)),
      dims: [batch, ...output.dims.slice(1)],
    }));
    const heap = new Float32Array(kernels.exports.memory.buffer);
    for (let sample = 0; sample < batch; sample++) {
      inputs.forEach((input, i) => {
        const size = elementCount(this.info.inputs[i].dims);
        heap.set(input.data.subarray(sample * size, (sample + 1) * size), this.inputOffsets[i] / 4);
      });
      for (const step of this.steps) step();
      outputs.forEach((output, i) => {
        const size = elementCount(this.info.outputs[i].dims);
        output.data.set(heap.subarray(this.outputOffsets[i] / 4, this.outputOffsets[i] / 4 + size), sample * size);
      });
    }
    return outputs;
  }

  /** Releases the wasm instance; the model cannot run afterwards. */
  dispose(): void {
    this.kernels = undefined;
  }

  private checkInputs(inputs: Tensor[]): number {
    const expected = this.info.inputs;
    if (inputs.length !== expected.length) {
      throw new InputError(`expected ${expected.length} input tensor(s), got ${inputs.length}`);
    }
    const batch = inputs[0]?.dims[0];
    inputs.forEach(({ data, dims }, i) => {
      const { name, dims: modelDims } = expected[i];
      const shape = `[${dims.join(', ')}]`;
      const wanted = `[N, ${modelDims.slice(1).join(', ')}]`;
      if (!(data instanceof Float32Array)) throw new InputError(`input "${name}" must be a Float32Array`);
      if (dims.length !== modelDims.length || dims.slice(1).some((d, axis) => d !== modelDims[axis + 1])) {
        throw new InputError(`input "${name}" has shape ${shape}, the model expects ${wanted}`);
      }
      if (!Number.isInteger(dims[0]) || dims[0] < 1 || dims[0] !== batch) {
        throw new InputError(`input "${name}" has batch size ${dims[0]}; it must be a positive integer, the same for every input`);
      }
      if (data.length !== elementCount(dims)) {
        throw new InputError(`input "${name}" has ${data.length} values, shape ${shape} needs ${elementCount(dims)}`);
      }
    });
    return batch;
  }
}

/** Where each weight tensor goes: convolution weights packed into GEMM panels with a bias padded to match. */
class WeightLayout {
  readonly bytes: number;
  readonly largestRawBytes: number;
  private readonly offsets = new Map<string, number>();
  private readonly uploads: (() => void)[] = [];
  private kernels!: Kernels;
  private base = 0;
  private staging = 0;

  constructor(graph: Graph, gemmRows: number) {
    let cursor = 0;
    let largestRawBytes = 0;
    const reserve = (name: string, floats: number, write: (at: number) => void) => {
      if (this.offsets.has(name)) return;
      this.offsets.set(name, cursor);
      const at = cursor;
      this.uploads.push(() => write(this.base + at));
      cursor = alignUp(cursor + floats * 4);
    };
    const copy = (weight: Weight) => (at: number) => this.heap().set(weight.data, at / 4);
    const weightOf = (name: string, node: Node): Weight => {
      const weight = graph.weights.get(name);
      if (!weight) throw new ModelFormatError(`node "${node.name}" (${node.op}): weight "${name}" is missing`);
      return weight;
    };
    for (const node of graph.nodes) {
      if (node.op !== 'Conv' && node.op !== 'Dense') continue;
      const weight = weightOf(node.weight, node);
      const outChannels = weight.dims[0];
      const rows = node.op === 'Conv' ? Math.ceil(outChannels / gemmRows) * gemmRows : outChannels;
      const bias = new Float32Array(rows);
      if (node.bias) bias.set(weightOf(node.bias, node).data);
      reserve(biasKey(node), rows, (at) => this.heap().set(bias, at / 4));
      if (node.op === 'Dense') {
        reserve(node.weight, weight.data.length, copy(weight));
        continue;
      }
      const depth = weight.data.length / outChannels;
      largestRawBytes = Math.max(largestRawBytes, weight.data.length * 4);
      reserve(node.weight, rows * depth, (at) => {
        this.heap().set(weight.data, this.staging / 4);
        this.kernels.exports.packGemmWeights(this.staging, at, outChannels, depth);
      });
    }
    this.bytes = cursor;
    this.largestRawBytes = largestRawBytes;
  }

  offsetOf(name: string): number {
    return this.offsets.get(name)!;
  }

  /** Writes every weight into memory at `base`, staging raw convolution weights at `staging` for packing. */
  upload(kernels: Kernels, base: number, staging: number): void {
    this.kernels = kernels;
    this.base = base;
    this.staging = staging;
    for (const upload of this.uploads) upload();
  }

  private heap(): Float32Array {
    return new Float32Array(this.kernels.exports.memory.buffer);
  }
}

/** Bias slots are keyed by node: nodes without a bias still get a zero one, which the kernels expect. */
function biasKey(node: Node): string {
  return `bias of ${node.name}`;
}

function isPointwise(node: ConvNode): boolean {
  return node.kernel.every((k) => k === 1) && node.stride.every((s) => s === 1) && node.pads.every((p) => p === 0);
}

function im2colBytes(node: Node, shapes: Map<string, number[]>): number {
  if (node.op !== 'Conv' || isPointwise(node)) return 0;
  const [, C] = shapes.get(node.inputs[0])!;
  const [, , OH, OW] = shapes.get(node.output)!;
  return C * node.kernel[0] * node.kernel[1] * OH * OW * 4;
}

function compileStep(
  node: Node, kernels: Kernels, shapes: Map<string, number[]>, plan: MemoryPlan,
  tensorAt: (name: string) => number, weightAt: (name: string) => number, scratchAt: number,
): Step {
  const k = kernels.exports;
  const input = tensorAt(node.inputs[0]);
  const output = tensorAt(node.output);
  const [, C, H, W] = shapes.get(node.inputs[0])!;
  const outDims = shapes.get(node.output)!;
  const [, , OH, OW] = outDims;
  switch (node.op) {
    case 'Conv': {
      const [KH, KW] = node.kernel, [SH, SW] = node.stride, [top, left, bottom, right] = node.pads;
      const M = outDims[1], packed = weightAt(node.weight), bias = weightAt(biasKey(node)), relu = +node.relu;
      return () => k.conv2d(input, C, H, W, packed, bias, M, KH, KW, SH, SW, top, left, bottom, right, relu, output, scratchAt);
    }
    case 'MaxPool': {
      const [KH, KW] = node.kernel, [SH, SW] = node.stride, [top, left] = node.pads;
      return () => k.maxPool2d(input, C, H, W, KH, KW, SH, SW, top, left, OH, OW, output);
    }
    case 'AveragePool': {
      const [KH, KW] = node.kernel, [SH, SW] = node.stride, [top, left, bottom, right] = node.pads;
      const includePad = +node.countIncludePad;
      return () => k.averagePool2d(input, C, H, W, KH, KW, SH, SW, top, left, bottom, right, includePad, OH, OW, output);
    }
    case 'GlobalAveragePool':
      return () => k.globalAveragePool(input, C, H * W, output);
    case 'LRN': {
      const { size, alpha, beta, bias } = node;
      return () => k.lrn(input, C, H * W, size, alpha, beta, bias, output);
    }
    case 'Relu': {
      const count = elementCount(outDims);
      return () => k.relu(input, count, output);
    }
    case 'Dense': {
      const inFeatures = elementCount(shapes.get(node.inputs[0])!), outFeatures = outDims[outDims.length - 1];
      const weights = weightAt(node.weight), bias = weightAt(biasKey(node)), relu = +node.relu;
      return () => k.dense(input, inFeatures, weights, bias, outFeatures, relu, output);
    }
    case 'Softmax': {
      const width = outDims[outDims.length - 1], rows = elementCount(outDims) / width;
      return () => {
        for (let row = 0; row < rows; row++) k.softmax(input + row * width * 4, width, output + row * width * 4);
      };
    }
    case 'Reshape':
      return () => {};
    case 'Concat': {
      const copies = node.inputs
        .filter((name) => plan.concatCopies.has(name))
        .map((name) => ({ from: tensorAt(name), bytes: plan.tensors.get(name)!.bytes, to: output + sliceOffset(node.inputs, name, shapes) }));
      return () => {
        const bytes = new Uint8Array(k.memory.buffer);
        for (const copy of copies) bytes.copyWithin(copy.to, copy.from, copy.from + copy.bytes);
      };
    }
    case 'BatchNormalization':
    case 'BiasAdd':
      throw new ModelFormatError(`node "${node.name}" (${node.op}) could not be folded into a preceding Conv or Dense layer`);
  }
}

/** Byte offset of `name`'s slice in a channel concatenation of `inputs` (first occurrence). */
function sliceOffset(inputs: string[], name: string, shapes: Map<string, number[]>): number {
  let offset = 0;
  for (const input of inputs) {
    if (input === name) return offset;
    offset += elementCount(shapes.get(input)!) * 4;
  }
  return offset;
}

function describe(
  graph: Graph, shapes: Map<string, number[]>, plan: MemoryPlan,
  weightBytes: number, scratchBytes: number, memoryBytes: number, variant: KernelVariant,
): ModelInfo {
  const sizeOf = (name?: string) => (name ? graph.weights.get(name)?.data.length ?? 0 : 0);
  const layers = graph.nodes.map((node): LayerInfo => {
    const outputDims = shapes.get(node.output)!;
    let params = 0, macs = 0;
    if (node.op === 'Conv' || node.op === 'Dense') {
      params = sizeOf(node.weight) + sizeOf(node.bias);
      const [outFeatures, ...perOutput] = graph.weights.get(node.weight)!.dims;
      macs = outFeatures * elementCount(perOutput) * (node.op === 'Conv' ? outputDims[2] * outputDims[3] : 1);
    }
    return { name: node.name, op: node.op, output: node.output, outputDims, params, macs, arenaOffset: plan.tensors.get(node.output)!.offset };
  });
  return {
    inputs: graph.inputs.map(({ name }) => ({ name, dims: shapes.get(name)! })),
    outputs: graph.outputs.map((name) => ({ name, dims: shapes.get(name)! })),
    params: layers.reduce((sum, layer) => sum + layer.params, 0),
    macs: layers.reduce((sum, layer) => sum + layer.macs, 0),
    arenaBytes: plan.arenaBytes,
    weightBytes,
    scratchBytes,
    memoryBytes,
    variant,
    layers,
  };
}
