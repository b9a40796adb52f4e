/**
 * A loaded model: the graph compiled into a list of kernel calls over one wasm memory laid out once:
 *
 *   heapBase │ packed weights │ activation arena (planned) │ scratch (im2col, load-time staging) │ slack
 *
 * run() copies the input into the arena, replays the calls and copies the outputs out; nothing is allocated
 * inside the wasm memory per inference.
 *
 * With precision 'int8', convolutions run on int8 weights (quantised per output channel) and 8-bit activations
 * quantised per tensor — from the tensor's range measured in each inference, or from calibrated ranges. With
 * calibrated ranges, the tensors between int8 layers stay 8-bit (quantised-tensors.ts): convolutions write bytes,
 * max pooling and concatenation work on them; otherwise activations between layers, pooling and the classifier
 * stay f32. Dense layers keep int8 weights and sum in f32 over f32 activations.
 */

import { InputError, ModelFormatError, GoogLeNetError } from '../errors.js';
import type { ModelFileMetadata } from '../format/model-file.js';
import { dequantizePerChannel, quantizePerChannel } from '../format/quantize.js';
import { seededRandom } from '../graph/googlenet.js';
import type { ConvNode, Graph, Node, QuantizedWeight, Weight } from '../graph/ir.js';
import { planMemory, alignUp, type MemoryPlan } from '../graph/plan.js';
import { groupPointwiseSiblings, pointwiseGroups } from '../graph/schedule.js';
import { elementCount, inferShapes } from '../graph/shapes.js';
import { classify, type ClassifyOptions, type ImageInput, type Prediction } from './classify.js';
import { quantisedTensors } from './quantised-tensors.js';
import { softmaxInto } from './softmax.js';
import { growMemoryTo, writeGroupTable, type Kernels, type KernelVariant } from './kernels.js';

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
  /**
   * For a 1×1 convolution run as one GEMM with the others that read the same tensor: the first of them, in whose
   * place they all run.
   */
  pointwiseGroup?: string;
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
  /** Threads that share each convolution. */
  threads: number;
  precision: Precision;
  /** Activation tensors the int8 path keeps as quantised bytes between layers (calibrated models only). */
  quantisedTensors: number;
  layers: LayerInfo[];
}

/** One layer's share of an inference, from Model.profile(). */
export interface LayerTiming {
  name: string;
  op: Node['op'];
  /** Median wall time of the layer over the profiled runs. */
  ms: number;
  macs: number;
}

type Step = () => void;

export type Precision = 'f32' | 'int8';

export interface ExecutionOptions {
  precision: Precision;
  /** Calibrated [min, max] per activation tensor; int8 convolutions whose input is listed skip measuring it. */
  activationRanges?: Record<string, [number, number]>;
}

export class Model {
  readonly info: ModelInfo;
  private kernels: Kernels | undefined;
  private readonly steps: Step[];
  private readonly inputOffsets: number[];
  private readonly outputOffsets: number[];

  /**
   * `metadata`: what the model file carries besides the graph (labels, preprocessing, …); undefined for ONNX
   * models and graphs.
   */
  constructor(
    source: Graph, kernels: Kernels, options: ExecutionOptions = { precision: 'f32' }, readonly metadata?: ModelFileMetadata,
  ) {
    const { precision } = options;
    const graph = { ...source, nodes: groupPointwiseSiblings(source.nodes) };
    const groups = pointwiseGroups(graph.nodes);
    const memberBytes = kernels.exports.GROUP_MEMBER_BYTES.value as number;
    const tableBytes = groups.reduce((sum, members) => sum + members.length * memberBytes, 0);
    const shapes = inferShapes(graph);
    const activationRanges = options.activationRanges ?? {};
    const quantised = precision === 'int8' ? quantisedTensors(graph, activationRanges) : new Map<string, string>();
    const plan = planMemory(graph, shapes, (tensor) => (quantised.has(tensor) ? 1 : 4));
    const weights = new WeightLayout(graph, shapes, kernels, precision);
    const scratchBytes = Math.max(
      weights.largestRawBytes, ...graph.nodes.map((node) => layerScratchBytes(node, shapes, kernels, precision)),
    );

    const base = kernels.heapBase;
    const tablesAt = alignUp(base + weights.bytes);
    const arenaAt = alignUp(tablesAt + tableBytes);
    const scratchAt = alignUp(arenaAt + plan.arenaBytes);
    const memoryBytes = scratchAt + scratchBytes + TAIL_SLACK_BYTES;
    const memory = kernels.exports.memory;
    growMemoryTo(memory, memoryBytes);

    weights.upload(base, scratchAt);
    const tensorAt = (name: string) => arenaAt + plan.tensors.get(name)!.offset;
    const context: StepContext = {
      kernels, shapes, plan, tensorAt, weightAt: (name) => base + weights.offsetOf(name), scratchAt, precision,
      activationRanges, quantisations: new Map(), quantised,
    };
    // A group runs in its first member's step; the others' steps are empty.
    const groupSteps = new Map<Node, Step>();
    let tableAt = tablesAt;
    for (const members of groups) {
      groupSteps.set(members[0], compilePointwiseGroup(members, tableAt, context));
      for (const member of members.slice(1)) groupSteps.set(member, () => {});
      tableAt += members.length * memberBytes;
    }
    this.steps = graph.nodes.map((node) => groupSteps.get(node) ?? compileStep(node, context));
    this.kernels = kernels;
    this.inputOffsets = graph.inputs.map((input) => tensorAt(input.name));
    this.outputOffsets = graph.outputs.map(tensorAt);
    this.info = {
      ...describe(graph, shapes, plan, groups),
      weightBytes: weights.bytes, scratchBytes, memoryBytes: memory.buffer.byteLength, variant: kernels.variant, threads: kernels.parallel.threads, precision,
      quantisedTensors: quantised.size,
    };
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

  /**
   * Times every layer over `runs` inferences (after one warm-up) on a seeded pseudo-random input in [0, 1), and
   * returns each layer's median with the median of whole inferences. Timing each layer adds a little overhead, so
   * the layers' sum slightly exceeds `totalMs`. The members of a pointwise group (LayerInfo.pointwiseGroup) run as
   * one: each gets the group's time in proportion to its MACs.
   */
  profile(runs = 10): { totalMs: number; layers: LayerTiming[] } {
    if (!Number.isInteger(runs) || runs < 1) throw new InputError(`runs must be a positive integer, not ${runs}`);
    const inputs = this.info.inputs.map(({ dims }, i) => {
      const random = seededRandom(0x9e3779b9 + i);
      return { data: Float32Array.from({ length: elementCount(dims) }, random), dims: [1, ...dims.slice(1)] };
    });
    const totals: number[] = [];
    for (let run = 0; run <= runs; run++) {
      const start = performance.now();
      this.runTensors(inputs);
      if (run > 0) totals.push(performance.now() - start);
    }
    const times = this.steps.map((): number[] => []);
    const timedSteps = this.steps.map((step, i) => () => {
      const start = performance.now();
      step();
      times[i].push(performance.now() - start);
    });
    const plainSteps = this.steps.splice(0, this.steps.length, ...timedSteps);
    try {
      for (let run = 0; run < runs; run++) this.runTensors(inputs);
    } finally {
      this.steps.splice(0, this.steps.length, ...plainSteps);
    }
    const layers = this.info.layers.map(({ name, op, macs }, i) => ({ name, op, macs, ms: median(times[i]) }));
    return { totalMs: median(totals), layers: shareGroupTimes(layers, this.info.layers) };
  }

  /** The top-k classes of an image (PNG or JPEG bytes, or pixels), preprocessed as the model file says. */
  classify(image: ImageInput, options?: ClassifyOptions): Prediction[] {
    return classify(this, image, options);
  }

  /** Releases the wasm instance and stops the model's threads; the model cannot run afterwards. */
  dispose(): void {
    this.kernels?.parallel.close();
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

/**
 * Where each weight tensor goes: convolution weights packed into GEMM panels (f32, or int8 with per-row scales
 * and sums; Winograd convolutions' as 16 transformed matrices of such panels), each layer with a bias padded to
 * whole panels; dense weights as they are (int8 ones with their scales, at int8 precision).
 */
class WeightLayout {
  readonly bytes: number;
  readonly largestRawBytes: number;
  private readonly offsets = new Map<string, number>();
  private readonly uploads: (() => void)[] = [];
  private readonly quantized = new WeakMap<Weight, QuantizedWeight>();
  private base = 0;
  private staging = 0;

  constructor(graph: Graph, shapes: Map<string, number[]>, private readonly kernels: Kernels, precision: Precision) {
    let cursor = 0;
    let largestRawBytes = 0;
    const reserve = (key: string, bytes: number, write?: (at: number) => void) => {
      const at = cursor;
      this.offsets.set(key, at);
      if (write) this.uploads.push(() => write(this.base + at));
      cursor = alignUp(cursor + bytes);
    };
    // inferShapes() has checked that every weight and bias exists with the right shape.
    const weightOf = (name: string): Weight => graph.weights.get(name)!;
    const exports = kernels.exports;
    for (const node of graph.nodes) {
      if (node.op !== 'Conv' && node.op !== 'Dense') continue;
      const weight = weightOf(node.weight);
      const outChannels = weight.dims[0];
      const rows = node.op === 'Conv' ? Math.ceil(outChannels / kernels.gemmRows) * kernels.gemmRows : outChannels;
      const bias = new Float32Array(rows);
      if (node.bias) bias.set(weightOf(node.bias).data);
      reserve(biasKey(node), rows * 4, (at) => this.heap().set(bias, at / 4));
      // int8 layers, dense or convolution, are quantised as a model file's int8 weights are (format/quantize.ts),
      // unless they come from one already.
      if (precision === 'int8') reserve(scalesKey(node), rows * 4, (at) => this.heap().set(this.int8Of(weight).scales, at / 4));
      if (node.op === 'Dense') {
        if (precision === 'int8') reserve(node.weight, elementCount(weight.dims), (at) => this.writeInt8Values(weight, at));
        else reserve(node.weight, elementCount(weight.dims) * 4, (at) => this.writeFloats(weight, at));
        continue;
      }
      const count = elementCount(weight.dims), depth = count / outChannels, inChannels = weight.dims[1];
      // Staged as float32 for the f32 packers, as int8 values for packInt8Weights and the int8 Winograd transform.
      largestRawBytes = Math.max(largestRawBytes, count * (precision === 'f32' ? 4 : 1));
      if (isWinogradConv(node, precision, shapes, kernels)) {
        if (precision === 'f32') {
          // The transform zeroes the staged rows past outChannels, up to whole panels.
          largestRawBytes = Math.max(largestRawBytes, rows * depth * 4);
          reserve(node.weight, exports.winogradWeightBytes(outChannels, inChannels), (at) => {
            this.writeFloats(weight, this.staging);
            exports.winogradTransformWeights(this.staging, outChannels, inChannels, at);
          });
          continue;
        }
        // Staged with room for whole panels of rows (zeroed by the transform) and the transform's 16-byte reads.
        largestRawBytes = Math.max(largestRawBytes, rows * depth + 16);
        reserve(node.weight, exports.winogradInt8WeightBytes(outChannels, inChannels), (at) => {
          this.writeInt8Values(weight, this.staging);
          exports.winogradInt8TransformWeights(this.staging, outChannels, inChannels, at);
        });
        continue;
      }
      if (precision === 'f32') {
        reserve(node.weight, rows * depth * 4, (at) => {
          this.writeFloats(weight, this.staging);
          exports.packGemmWeights(this.staging, at, outChannels, depth);
        });
        continue;
      }
      reserve(rowSumsKey(node), rows * 4);
      reserve(node.weight, exports.int8WeightBytes(outChannels, depth), (at) => {
        this.writeInt8Values(weight, this.staging);
        exports.packInt8Weights(this.staging, at, outChannels, depth, this.base + this.offsetOf(rowSumsKey(node)));
      });
    }
    this.bytes = cursor;
    this.largestRawBytes = largestRawBytes;
  }

  offsetOf(key: string): number {
    return this.offsets.get(key)!;
  }

  /** The weight's int8 values and scales, quantised once here if it has none of its own. */
  private int8Of(weight: Weight): QuantizedWeight {
    let quantized = weight.int8 ?? this.quantized.get(weight);
    if (!quantized) this.quantized.set(weight, (quantized = quantizePerChannel(weight)));
    return quantized;
  }

  /**
   * Writes every weight into memory at `base`, staging raw convolution weights at `staging` for packing, then
   * lets go of the graph's weight arrays (the model keeps only offsets), so that they can be collected.
   */
  upload(base: number, staging: number): void {
    this.base = base;
    this.staging = staging;
    for (const upload of this.uploads) upload();
    this.uploads.length = 0;
  }

  /**
   * The weight's float32 values at byte `at`, without a copy in between: int8 ones dequantised straight there,
   * an ONNX file's raw bytes copied as they are.
   */
  private writeFloats(weight: Weight, at: number): void {
    const floats = new Float32Array(this.kernels.exports.memory.buffer, at, elementCount(weight.dims));
    if (weight.int8) dequantizePerChannel(weight.int8.values, weight.int8.scales, floats);
    else if (weight.float32Bytes) new Uint8Array(floats.buffer, at, floats.byteLength).set(weight.float32Bytes);
    else floats.set(weight.data);
  }

  /** The weight's int8 values at byte `at`. */
  private writeInt8Values(weight: Weight, at: number): void {
    new Int8Array(this.kernels.exports.memory.buffer).set(this.int8Of(weight).values, at);
  }

  private heap(): Float32Array {
    return new Float32Array(this.kernels.exports.memory.buffer);
  }
}

/** Per-layer slots are keyed by node: nodes without a bias still get a zero one, which the kernels expect. */
const biasKey = (node: Node) => `bias of ${node.name}`;
const scalesKey = (node: Node) => `int8 weight scales of ${node.name}`;
const rowSumsKey = (node: Node) => `int8 weight row sums of ${node.name}`;


/**
 * Scratch a layer needs (im2col and packed int8 columns, Winograd chunks, max pooling's row), as the kernels
 * compute it.
 */
function layerScratchBytes(node: Node, shapes: Map<string, number[]>, kernels: Kernels, precision: Precision): number {
  if (node.op !== 'Conv' && node.op !== 'MaxPool') return 0;
  const [, C, H, W] = shapes.get(node.inputs[0])!;
  if (node.op === 'MaxPool') return kernels.exports.maxPoolScratchBytes(W) * kernels.parallel.threads;
  if (node.op === 'Conv' && isWinogradConv(node, precision, shapes, kernels)) {
    const scratchBytes = precision === 'f32' ? kernels.exports.winogradScratchBytes : kernels.exports.winogradInt8ScratchBytes;
    return scratchBytes(C, H, W, shapes.get(node.output)![1], ...node.pads) * kernels.parallel.threads;
  }
  return kernels.exports.convScratchBytes(
    C, H, W, ...node.kernel, ...node.stride, ...node.pads, +(precision === 'int8'), kernels.parallel.threads,
  );
}

/** Quantisation parameters of one activation tensor, shared by every int8 convolution that reads it. */
class ActivationQuantisation {
  scale = 1;
  zeroPoint = 0;

  constructor(range?: [number, number]) {
    if (range) this.setRange(range[0], range[1]);
  }

  /**
   * 8-bit unsigned quantisation covering [min(low, 0), max(high, 0)], so that 0 is exact (padding, ReLU floor).
   * Computed in f32 steps so that every host derives the same parameters.
   */
  setRange(low: number, high: number): void {
    const range = Math.fround(Math.max(high, 0) - Math.min(low, 0));
    if (!(range > 0) || !Number.isFinite(range)) {
      [this.scale, this.zeroPoint] = [1, 0];
      return;
    }
    this.scale = Math.fround(range / 255);
    this.zeroPoint = Math.min(255, Math.round(-Math.min(low, 0) / this.scale));
  }
}

interface StepContext {
  kernels: Kernels;
  shapes: Map<string, number[]>;
  plan: MemoryPlan;
  tensorAt(name: string): number;
  weightAt(key: string): number;
  scratchAt: number;
  precision: Precision;
  activationRanges: Record<string, [number, number]>;
  quantisations: Map<string, ActivationQuantisation>;
  /** Tensors stored as quantised bytes, each with the tensor whose range quantises it (quantised-tensors.ts). */
  quantised: Map<string, string>;
}

/**
 * The quantisation of `tensor`. A tensor stored as bytes uses the calibrated range of its range tensor. An f32
 * tensor uses its calibrated range, else the range the first int8 convolution to read it measures in each run
 * (`measures`); the others reuse it.
 */
function quantisationOf(tensor: string, context: StepContext): { quantisation: ActivationQuantisation; measures: boolean } {
  const { activationRanges, quantisations, quantised } = context;
  const rangeTensor = quantised.get(tensor) ?? tensor;
  const known = quantisations.get(rangeTensor);
  if (known) return { quantisation: known, measures: false };
  const quantisation = new ActivationQuantisation(activationRanges[rangeTensor]);
  quantisations.set(rangeTensor, quantisation);
  return { quantisation, measures: !activationRanges[rangeTensor] };
}

/**
 * 3×3 stride-1 convolutions (any padding; the IR has groups and dilation 1 only) run as Winograd F(2×2, 3×3),
 * 2.25× fewer multiplies than the direct convolution: in f32 (assembly/winograd.ts) within rounding of it, in int8
 * (assembly/winograd-int8.ts) with its exact bits, up to WINOGRAD_INT8_MAX_CHANNELS input channels. Every build
 * takes this path, so that the scalar build stays the reference of the SIMD ones.
 *
 * Maps under WINOGRAD_MIN_PIXELS stay direct. In f32, GoogLeNet's 7×7 and 6×6 layers run faster as Winograd
 * (1.2–2.1×), but on a 3×3 map its 2×2 tiles cover 16 pixels for 9 and the direct convolution is 1.35× faster (the
 * seed network's last block). In int8 the transformed weights also take 1.8× the memory of the direct ones (i16
 * either way) while the time they save shrinks with the map: GoogLeNet 224²'s 7×7 layers would gain 0.8 ms of 36
 * for 1.9 MB; the seed network's 12×12 layers gain 0.4 ms of 8 for 0.5 MB.
 */
function isWinogradConv(node: ConvNode, precision: Precision, shapes: Map<string, number[]>, kernels: Kernels): boolean {
  if (node.kernel[0] !== 3 || node.kernel[1] !== 3 || node.stride[0] !== 1 || node.stride[1] !== 1) return false;
  const [, C, H, W] = shapes.get(node.inputs[0])!;
  if (H * W < WINOGRAD_MIN_PIXELS[precision]) return false;
  return precision === 'f32' || C <= kernels.exports.WINOGRAD_INT8_MAX_CHANNELS.value;
}

/** The smallest input map (H·W) a 3×3 convolution runs as Winograd on, per precision (see isWinogradConv). */
const WINOGRAD_MIN_PIXELS: Record<Precision, number> = { f32: 4 * 4, int8: 10 * 10 };

function compileWinogradConv(node: ConvNode, context: StepContext): Step {
  const { kernels: { parallel }, shapes, tensorAt, weightAt, scratchAt } = context;
  const input = tensorAt(node.inputs[0]), output = tensorAt(node.output);
  const [, C, H, W] = shapes.get(node.inputs[0])!;
  const M = shapes.get(node.output)![1];
  const [top, left, bottom, right] = node.pads;
  const transformed = weightAt(node.weight), bias = weightAt(biasKey(node)), relu = +node.relu;
  return () => parallel.run('winogradConvShare', [input, C, H, W, transformed, bias, M, top, left, bottom, right, relu, output, scratchAt]);
}

/**
 * The quantisation of an int8 convolution's input, and what to run before the convolution: measuring the input's
 * range where this convolution is the first to read it and it has no calibrated range.
 */
function inputQuantisation(inputName: string, context: StepContext): { q: ActivationQuantisation; measure: () => void } {
  const { kernels: { exports: k }, shapes, tensorAt, scratchAt } = context;
  const { quantisation: q, measures } = quantisationOf(inputName, context);
  const input = tensorAt(inputName), count = elementCount(shapes.get(inputName)!.slice(1));
  const measure = () => {
    k.activationRange(input, count, scratchAt);
    const [low, high] = new Float32Array(k.memory.buffer, scratchAt, 2);
    q.setRange(low, high);
  };
  return { q, measure: measures ? measure : () => {} };
}

/** The quantisation an int8 convolution's epilogue gives its output: scale 0 for f32 output, else the tensor's. */
function outputQuantisation(node: ConvNode, context: StepContext): { scale: number; zeroPoint: number } {
  return context.quantised.has(node.output) ? quantisationOf(node.output, context).quantisation : { scale: 0, zeroPoint: 0 };
}

function compileInt8Conv(node: ConvNode, context: StepContext): Step {
  const { kernels, shapes, tensorAt, weightAt, scratchAt, quantised } = context;
  const { parallel } = kernels;
  const [inputName] = node.inputs;
  const input = tensorAt(inputName), output = tensorAt(node.output);
  const [, C, H, W] = shapes.get(inputName)!;
  const M = shapes.get(node.output)![1];
  const [KH, KW] = node.kernel, [SH, SW] = node.stride, [top, left, bottom, right] = node.pads;
  const relu = +node.relu;
  const packed = weightAt(node.weight), bias = weightAt(biasKey(node)), scales = weightAt(scalesKey(node));
  const { q, measure } = inputQuantisation(inputName, context);
  const inputQuantised = +quantised.has(inputName);
  const out = outputQuantisation(node, context);
  if (isWinogradConv(node, 'int8', shapes, kernels)) {
    return () => {
      measure();
      parallel.run('winogradConvInt8Share', [input, C, H, W, packed, scales, bias, M, top, left, bottom, right,
        q.scale, q.zeroPoint, relu, output, scratchAt, inputQuantised, out.scale, out.zeroPoint]);
    };
  }
  const rowSums = weightAt(rowSumsKey(node));
  return () => {
    measure();
    if (!inputQuantised) parallel.run('conv2dInt8QuantiseShare', [input, C, H * W, q.scale, q.zeroPoint, scratchAt]);
    parallel.run('conv2dInt8Share', [input, C, H, W, packed, scales, rowSums, bias, M, KH, KW, SH, SW,
      top, left, bottom, right, q.scale, q.zeroPoint, relu, output, scratchAt, inputQuantised, out.scale, out.zeroPoint]);
  };
}

/**
 * Pointwise convolutions that read the same tensor, run as one GEMM (assembly/conv.ts, pointwise groups). Writes
 * the table of their records at `tableAt`.
 */
function compilePointwiseGroup(members: ConvNode[], tableAt: number, context: StepContext): Step {
  const { kernels: { exports: k, parallel }, shapes, tensorAt, weightAt, scratchAt, precision, quantised } = context;
  const [inputName] = members[0].inputs;
  const input = tensorAt(inputName);
  const [, C, H, W] = shapes.get(inputName)!;
  const int8 = precision === 'int8';
  writeGroupTable(k, tableAt, members.map((member) => {
    const out = int8 ? outputQuantisation(member, context) : { scale: 0, zeroPoint: 0 };
    return {
      rows: shapes.get(member.output)![1], packedWeights: weightAt(member.weight), bias: weightAt(biasKey(member)),
      output: tensorAt(member.output), relu: member.relu, weightScales: int8 ? weightAt(scalesKey(member)) : 0,
      rowSums: int8 ? weightAt(rowSumsKey(member)) : 0, outputScale: out.scale, outputZeroPoint: out.zeroPoint,
    };
  }));
  if (precision === 'f32') {
    return () => parallel.run('conv2dPointwiseGroupShare', [input, C, H * W, tableAt, members.length, scratchAt]);
  }
  const { q, measure } = inputQuantisation(inputName, context);
  const inputQuantised = +quantised.has(inputName);
  return () => {
    measure();
    if (!inputQuantised) parallel.run('conv2dInt8QuantiseShare', [input, C, H * W, q.scale, q.zeroPoint, scratchAt]);
    parallel.run('conv2dInt8PointwiseGroupShare', [input, C, H * W, q.scale, q.zeroPoint, inputQuantised, tableAt,
      members.length, scratchAt]);
  };
}

function compileStep(node: Node, context: StepContext): Step {
  const { kernels, shapes, plan, tensorAt, weightAt, scratchAt } = context;
  const k = kernels.exports;
  const input = tensorAt(node.inputs[0]);
  const output = tensorAt(node.output);
  const [, C, H, W] = shapes.get(node.inputs[0])!;
  const outDims = shapes.get(node.output)!;
  const [, , OH, OW] = outDims;
  switch (node.op) {
    case 'Conv': {
      if (context.precision === 'int8') return compileInt8Conv(node, context);
      if (isWinogradConv(node, context.precision, shapes, kernels)) return compileWinogradConv(node, context);
      const [KH, KW] = node.kernel, [SH, SW] = node.stride, [top, left, bottom, right] = node.pads;
      const M = outDims[1], packed = weightAt(node.weight), bias = weightAt(biasKey(node)), relu = +node.relu;
      const { parallel } = kernels;
      return () => parallel.run('conv2dShare', [input, C, H, W, packed, bias, M, KH, KW, SH, SW, top, left, bottom, right,
        relu, output, scratchAt]);
    }
    case 'MaxPool': {
      const [KH, KW] = node.kernel, [SH, SW] = node.stride, [top, left] = node.pads;
      const quantised = +context.quantised.has(node.output), { parallel } = kernels;
      return () => parallel.run('maxPool2dShare', [input, C, H, W, KH, KW, SH, SW, top, left, OH, OW, output, scratchAt, quantised]);
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
      if (context.precision === 'int8') {
        const scales = weightAt(scalesKey(node));
        return () => k.denseInt8(input, inFeatures, weights, scales, bias, outFeatures, relu, output);
      }
      return () => k.dense(input, inFeatures, weights, bias, outFeatures, relu, output);
    }
    case 'Softmax': {
      const width = outDims[outDims.length - 1], rows = elementCount(outDims) / width;
      return () => {
        const heap = new Float32Array(k.memory.buffer);
        for (let row = 0; row < rows; row++) {
          const from = input / 4 + row * width, to = output / 4 + row * width;
          softmaxInto(heap.subarray(from, from + width), heap.subarray(to, to + width));
        }
      };
    }
    case 'Reshape':
      return () => {};
    case 'Concat': {
      const copies = plan.concatCopies.get(node.output)!.map(({ input: name, byteOffset }) => (
        { from: tensorAt(name), bytes: plan.tensors.get(name)!.bytes, to: output + byteOffset }
      ));
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

/** A pointwise group's time is measured in its first member's step: shares it among the members by their MACs. */
function shareGroupTimes(timings: LayerTiming[], layers: LayerInfo[]): LayerTiming[] {
  const groups = new Map<string, { ms: number; macs: number }>();
  layers.forEach(({ name, pointwiseGroup, macs }, i) => {
    if (!pointwiseGroup) return;
    const group = groups.get(pointwiseGroup) ?? { ms: 0, macs: 0 };
    if (name === pointwiseGroup) group.ms = timings[i].ms;
    group.macs += macs;
    groups.set(pointwiseGroup, group);
  });
  return timings.map((timing, i) => {
    const group = groups.get(layers[i].pointwiseGroup ?? '');
    return group ? { ...timing, ms: (group.ms * timing.macs) / group.macs } : timing;
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** The parts of ModelInfo that follow from the graph and its memory plan. */
function describe(graph: Graph, shapes: Map<string, number[]>, plan: MemoryPlan, groups: ConvNode[][]) {
  const groupOf = new Map(groups.flatMap((members) => members.map((member) => [member, members[0].name] as const)));
  const sizeOf = (name?: string) => {
    const weight = name === undefined ? undefined : graph.weights.get(name);
    return weight ? elementCount(weight.dims) : 0;
  };
  const layers = graph.nodes.map((node): LayerInfo => {
    const outputDims = shapes.get(node.output)!;
    let params = 0, macs = 0;
    if (node.op === 'Conv' || node.op === 'Dense') {
      params = sizeOf(node.weight) + sizeOf(node.bias);
      const [outFeatures, ...perOutput] = graph.weights.get(node.weight)!.dims;
      macs = outFeatures * elementCount(perOutput) * (node.op === 'Conv' ? outputDims[2] * outputDims[3] : 1);
    }
    const group = groupOf.get(node as ConvNode);
    return {
      name: node.name, op: node.op, output: node.output, outputDims, params, macs, arenaOffset: plan.tensors.get(node.output)!.offset,
      ...(group && { pointwiseGroup: group }),
    };
  });
  return {
    inputs: graph.inputs.map(({ name }) => ({ name, dims: shapes.get(name)! })),
    outputs: graph.outputs.map((name) => ({ name, dims: shapes.get(name)! })),
    params: layers.reduce((sum, layer) => sum + layer.params, 0),
    macs: layers.reduce((sum, layer) => sum + layer.macs, 0),
    arenaBytes: plan.arenaBytes,
    layers,
  };
}
