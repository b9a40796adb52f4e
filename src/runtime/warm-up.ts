/**
 * Sets the optimisation of the kernels going while a model loads, so that its first inference runs optimised code.
 *
 * Engines compile wasm in tiers. V8 runs a function first as quickly compiled baseline code (Liftoff), several
 * times slower, optimises it in the background once it has run enough (TurboFan), and uses the optimised code from
 * its next call on; JavaScriptCore's tiers work alike. Left to the first inference, its kernels would run baseline
 * code until the optimiser caught up: GoogLeNet 224²'s first int8 inference took 1.45× a warm one in Node 20,
 * 1.38× in Bun. warmUpKernels() runs the kernels of the model's precision on a small network of its own, about a
 * millisecond of work, so that their optimisation overlaps the rest of loading instead.
 *
 * Once per compiled module and precision: the optimised code serves every instance of the module, the threads'
 * included, and the two precisions share few kernels.
 */

import { alignUp } from '../graph/plan.js';
import { growMemoryTo, writeGroupTable, type Kernels } from './kernels.js';
import type { Precision } from './model.js';

/**
 * Runs of the network: enough for Node 20's V8 to start optimising each hot kernel (its tiering budget of about
 * 1.8 MB of executed code spent). Newer V8s wait longer (Deno 2.9's V8 15: 13 MB), so there most kernels are
 * optimised during the first inference instead; 12 runs would catch more of them but cost more load time than they
 * save (the seed network in Deno: load +2.5 ms, first inference −0.5 ms).
 */
const RUNS = 4;

/** The precisions each compiled module has been warmed up for. */
const warmedUp = new WeakMap<WebAssembly.Module, Set<Precision>>();

/**
 * The network, on a 3 × 24 × 24 input: a 7×7 stride-2 convolution to 8 × 12 × 12, 3×3 max pooling and LRN, a
 * pointwise group of two 1×1 convolutions, a Winograd 3×3 convolution (run on four of the maps), global average
 * pooling and a dense layer. Its values are arbitrary but finite; its results are not read.
 */
const [INPUT_CHANNELS, INPUT_SIZE, CHANNELS, SIZE, CLASSES] = [3, 24, 8, 12, 10];

export function warmUpKernels(kernels: Kernels, precision: Precision): void {
  const precisions = warmedUp.get(kernels.module) ?? new Set<Precision>();
  if (precisions.has(precision)) return;
  warmedUp.set(kernels.module, precisions.add(precision));
  const k = kernels.exports;
  const int8 = precision === 'int8';
  const inputValues = INPUT_CHANNELS * INPUT_SIZE * INPUT_SIZE, plane = SIZE * SIZE, mapBytes = CHANNELS * plane * 4;
  const firstDepth = INPUT_CHANNELS * 7 * 7;

  let cursor = kernels.heapBase;
  const reserve = (bytes: number) => {
    const at = cursor;
    cursor = alignUp(cursor + bytes + 64);
    return at;
  };
  const input = reserve(inputValues * 4);
  const raw = reserve(CHANNELS * firstDepth * 4 + 16); // the largest layer's weights before packing
  const first = reserve(int8 ? k.int8WeightBytes(CHANNELS, firstDepth) : CHANNELS * firstDepth * 4);
  const pointwise = [0, 1].map(() => reserve(int8 ? k.int8WeightBytes(CHANNELS, CHANNELS) : CHANNELS * CHANNELS * 4));
  const winograd = reserve(int8 ? k.winogradInt8WeightBytes(CHANNELS, CHANNELS) : k.winogradWeightBytes(CHANNELS, CHANNELS));
  const dense = reserve(CLASSES * CHANNELS * 4);
  const constants = reserve(16 * 4); // every layer's bias and weight scales: 0.01 for each channel or class
  // Written by packInt8Weights for each layer in turn: every layer reads the last one's, which is fine here.
  const rowSums = reserve(CHANNELS * 4);
  const [convolved, pooled, normalised, branch1, branch2, transformed] = [0, 1, 2, 3, 4, 5].map(() => reserve(mapBytes));
  const [averaged, logits] = [CHANNELS, CLASSES].map((count) => reserve(count * 4));
  const table = reserve(2 * (k.GROUP_MEMBER_BYTES.value as number));
  const scratch = reserve(Math.max(
    k.convScratchBytes(INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE, 7, 7, 2, 2, 3, 3, 3, 3, +int8, 1),
    k.convScratchBytes(CHANNELS, SIZE, SIZE, 1, 1, 1, 1, 0, 0, 0, 0, +int8, 1),
    (int8 ? k.winogradInt8ScratchBytes : k.winogradScratchBytes)(CHANNELS, SIZE, SIZE, CHANNELS, 1, 1, 1, 1),
    k.maxPoolScratchBytes(SIZE),
  ));
  growMemoryTo(k.memory, cursor);

  const memory = k.memory.buffer;
  new Float32Array(memory, input, inputValues).forEach((_, i, values) => (values[i] = Math.sin(i)));
  new Float32Array(memory, constants, 16).fill(0.01);
  const stage = (count: number) => {
    if (int8) new Int8Array(memory, raw, count).forEach((_, i, values) => (values[i] = (i % 7) - 3));
    else new Float32Array(memory, raw, count).forEach((_, i, values) => (values[i] = ((i % 7) - 3) / 8));
  };
  const pack = (at: number, rows: number, depth: number) => {
    stage(rows * depth);
    if (int8) k.packInt8Weights(raw, at, rows, depth, rowSums);
    else k.packGemmWeights(raw, at, rows, depth);
  };
  pack(first, CHANNELS, firstDepth);
  for (const at of pointwise) pack(at, CHANNELS, CHANNELS);
  stage(CHANNELS * CHANNELS * 9);
  if (int8) k.winogradInt8TransformWeights(raw, CHANNELS, CHANNELS, winograd);
  else k.winogradTransformWeights(raw, CHANNELS, CHANNELS, winograd);
  stage(CLASSES * CHANNELS);
  new Uint8Array(memory).copyWithin(dense, raw, raw + CLASSES * CHANNELS * (int8 ? 1 : 4));
  writeGroupTable(k, table, [branch1, branch2].map((output, i) => ({
    rows: CHANNELS, packedWeights: pointwise[i], bias: constants, output, relu: true, weightScales: int8 ? constants : 0,
    rowSums: int8 ? rowSums : 0, outputScale: 0, outputZeroPoint: 0,
  })));

  const [scale, zeroPoint] = [0.02, 128]; // the int8 activations' quantisation, fixed
  for (let run = 0; run < RUNS; run++) {
    // The direct convolution twice: its per-tile work is short.
    for (let pass = 0; pass < 2; pass++) {
      if (int8) {
        k.activationRange(input, inputValues, scratch);
        k.conv2dInt8QuantiseShare(input, INPUT_CHANNELS, INPUT_SIZE * INPUT_SIZE, scale, zeroPoint, scratch, 0, 1);
        k.conv2dInt8Share(input, INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE, first, constants, rowSums, constants, CHANNELS,
          7, 7, 2, 2, 3, 3, 3, 3, scale, zeroPoint, 1, convolved, scratch, 0, 0, 0, 0, 1);
      } else {
        k.conv2dShare(input, INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE, first, constants, CHANNELS, 7, 7, 2, 2, 3, 3, 3, 3, 1,
          convolved, scratch, 0, 1);
      }
    }
    k.maxPool2dShare(convolved, CHANNELS, SIZE, SIZE, 3, 3, 1, 1, 1, 1, SIZE, SIZE, pooled, scratch, 0, 0, 1);
    k.lrn(pooled, CHANNELS, plane, 5, 1e-4, 0.75, 1, normalised);
    if (int8) {
      k.conv2dInt8QuantiseShare(normalised, CHANNELS, plane, scale, zeroPoint, scratch, 0, 1);
      k.conv2dInt8PointwiseGroupShare(normalised, CHANNELS, plane, scale, zeroPoint, 0, table, 2, scratch, 0, 1);
    } else {
      k.conv2dPointwiseGroupShare(normalised, CHANNELS, plane, table, 2, scratch, 0, 1);
    }
    // The Winograd output transform does little per tile: more of them.
    for (const from of [branch1, branch2, pooled, normalised]) {
      if (int8) {
        k.winogradConvInt8Share(from, CHANNELS, SIZE, SIZE, winograd, constants, constants, CHANNELS, 1, 1, 1, 1,
          scale, zeroPoint, 1, transformed, scratch, 0, 0, 0, 0, 1);
      } else {
        k.winogradConvShare(from, CHANNELS, SIZE, SIZE, winograd, constants, CHANNELS, 1, 1, 1, 1, 1, transformed, scratch, 0, 1);
      }
    }
    // The range an int8 convolution measures of its input: a short loop, run over all the activations a few times.
    for (let pass = 0; int8 && pass < 8; pass++) k.activationRange(convolved, (transformed + mapBytes - convolved) / 4, scratch);
    k.globalAveragePool(transformed, CHANNELS, plane, averaged);
    if (int8) k.denseInt8(averaged, CHANNELS, dense, constants, constants, CLASSES, 0, logits);
    else k.dense(averaged, CHANNELS, dense, constants, CLASSES, 0, logits);
  }
}
