/**
 * Every kernel of every build against the plain-JavaScript reference, on seeded random data and awkward shapes:
 * sizes that are not multiples of the 4×8 GEMM tile, 1×1 maps, padding wider than the kernel's reach.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { KernelVariant } from '../src/runtime/kernels.js';
import { RawKernels, randomFloats, relativeL2 } from './support/raw-kernels.js';
import {
  convOutputSize, referenceConv, referenceDense, referenceLrn, referencePool,
  type ConvCase, type PoolCase,
} from './support/reference.js';

const VARIANTS: KernelVariant[] = ['scalar', 'simd', 'relaxed-simd'];
const TOLERANCE = 1e-6;

const CONV_CASES: ConvCase[] = [
  { C: 3, H: 11, W: 13, M: 5, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] },
  { C: 7, H: 9, W: 9, M: 9, KH: 1, KW: 1, SH: 1, SW: 1, pads: [0, 0, 0, 0] }, // pointwise: direct GEMM
  { C: 16, H: 1, W: 1, M: 13, KH: 1, KW: 1, SH: 1, SW: 1, pads: [0, 0, 0, 0] }, // 1×1 map
  { C: 3, H: 20, W: 17, M: 8, KH: 7, KW: 7, SH: 2, SW: 2, pads: [3, 3, 3, 3] },
  { C: 4, H: 6, W: 7, M: 6, KH: 5, KW: 5, SH: 1, SW: 1, pads: [2, 2, 2, 2] },
  { C: 2, H: 3, W: 4, M: 3, KH: 3, KW: 3, SH: 1, SW: 1, pads: [4, 5, 4, 3] }, // padding past the kernel's reach
  { C: 5, H: 10, W: 8, M: 4, KH: 2, KW: 3, SH: 3, SW: 2, pads: [0, 1, 2, 0] }, // asymmetric everything
  { C: 6, H: 8, W: 8, M: 12, KH: 1, KW: 1, SH: 2, SW: 2, pads: [0, 0, 0, 0] }, // strided 1×1 goes through im2col
  { C: 2, H: 9, W: 45, M: 5, KH: 3, KW: 3, SH: 2, SW: 2, pads: [1, 1, 1, 1] }, // stride 2: several vector steps per run
  { C: 40, H: 30, W: 60, M: 6, KH: 3, KW: 3, SH: 2, SW: 2, pads: [1, 1, 1, 1] }, // im2col in bands of 6 output rows
];

/** Winograd F(2×2, 3×3) is exact in real arithmetic; in f32 its transforms add rounding (the bound). */
const WINOGRAD_TOLERANCE = 1e-4;

/** 3×3 stride-1 convolutions for winogradConvShare: odd maps end in half tiles; the last two span several chunks. */
const WINOGRAD_CASES: ConvCase[] = [
  { C: 3, H: 11, W: 13, M: 5, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] },
  { C: 1, H: 7, W: 7, M: 9, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // C = 1, GoogLeNet's smallest map
  { C: 4, H: 1, W: 1, M: 4, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // 1×1 map: one half-empty tile
  { C: 2, H: 2, W: 2, M: 7, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // 2×2 map
  { C: 4, H: 9, W: 6, M: 3, KH: 3, KW: 3, SH: 1, SW: 1, pads: [0, 0, 0, 0] }, // unpadded: 7×4 output
  { C: 2, H: 3, W: 4, M: 6, KH: 3, KW: 3, SH: 1, SW: 1, pads: [2, 0, 1, 2] }, // asymmetric padding up to 2
  { C: 6, H: 13, W: 37, M: 10, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // several SIMD steps per tile row
  { C: 64, H: 27, W: 30, M: 61, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // chunks of 4 tile rows, then 2
  { C: 96, H: 23, W: 38, M: 160, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // one tile row per chunk
];

const POOL_CASES: PoolCase[] = [
  { C: 3, H: 11, W: 11, KH: 3, KW: 3, SH: 2, SW: 2, pads: [0, 0, 0, 0], OH: 5, OW: 5 },
  { C: 2, H: 10, W: 10, KH: 3, KW: 3, SH: 2, SW: 2, pads: [0, 0, 1, 1], OH: 5, OW: 5 }, // Caffe-style asymmetric
  { C: 4, H: 7, W: 9, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1], OH: 7, OW: 9 },
  { C: 2, H: 8, W: 8, KH: 3, KW: 3, SH: 2, SW: 2, pads: [1, 1, 1, 1], OH: 5, OW: 5 }, // ceil mode overhang
  { C: 3, H: 7, W: 7, KH: 7, KW: 7, SH: 1, SW: 1, pads: [0, 0, 0, 0], OH: 1, OW: 1 },
  { C: 2, H: 12, W: 29, KH: 3, KW: 3, SH: 2, SW: 2, pads: [0, 0, 1, 1], OH: 6, OW: 14 }, // several SIMD groups + tail
  { C: 2, H: 6, W: 23, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1], OH: 6, OW: 23 },
  { C: 1, H: 9, W: 20, KH: 2, KW: 4, SH: 3, SW: 3, pads: [1, 2, 0, 1], OH: 3, OW: 7 }, // stride 3: scalar path
  { C: 2, H: 5, W: 40, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1], OH: 5, OW: 40 }, // 16-byte groups on bytes
  { C: 2, H: 9, W: 75, KH: 3, KW: 3, SH: 2, SW: 2, pads: [0, 0, 1, 1], OH: 4, OW: 38 },
];

describe.each(VARIANTS)('%s build', (variant) => {
  let kernels: RawKernels;
  beforeAll(async () => {
    kernels = await RawKernels.load(variant);
  });

  it.each(CONV_CASES.map((spec, i) => [i, spec] as const))('conv2dShare case %i matches the reference', (i, spec) => {
    const { C, H, W, M, KH, KW, SH, SW, pads } = spec;
    const [OH, OW] = convOutputSize(spec);
    const K = C * KH * KW;
    const input = randomFloats(C * H * W, 10 + i), weights = randomFloats(M * K, 20 + i);
    const bias = randomFloats(Math.ceil(M / 4) * 4, 30 + i);
    for (const relu of [false, true]) {
      const k = kernels.exports;
      const inputAt = kernels.alloc(input.length, input), rawAt = kernels.alloc(weights.length, weights);
      const packedAt = kernels.alloc(Math.ceil(M / 4) * 4 * K), biasAt = kernels.alloc(bias.length, bias);
      const outputAt = kernels.alloc(M * OH * OW + 8), scratchAt = kernels.alloc(k.convScratchBytes(C, H, W, KH, KW, SH, SW, ...pads, 0, 1) / 4);
      const guard = 12345.5;
      kernels.floats(outputAt + M * OH * OW * 4, 8).fill(guard);
      k.packGemmWeights(rawAt, packedAt, M, K);
      k.conv2dShare(inputAt, C, H, W, packedAt, biasAt, M, KH, KW, SH, SW, ...pads, +relu, outputAt, scratchAt, 0, 1);
      const expected = referenceConv(spec, input, weights, bias, relu);
      expect(relativeL2(kernels.read(outputAt, expected.length), expected)).toBeLessThan(TOLERANCE);
      expect([...kernels.read(outputAt + M * OH * OW * 4, 8)]).toEqual(new Array(8).fill(guard)); // no write past the end
    }
  });

  it('conv2dShare writes a channel slice of a wider tensor without touching its neighbours', () => {
    const spec: ConvCase = { C: 3, H: 5, W: 5, M: 6, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] };
    const input = randomFloats(75, 1), weights = randomFloats(6 * 27, 2), bias = randomFloats(8, 3);
    const before = randomFloats(2 * 25, 4), after = randomFloats(3 * 25, 5);
    const concat = kernels.alloc(11 * 25, [...before, ...new Array(6 * 25).fill(0), ...after]);
    const packed = kernels.alloc(8 * 27);
    kernels.exports.packGemmWeights(kernels.alloc(weights.length, weights), packed, 6, 27);
    kernels.exports.conv2dShare(kernels.alloc(75, input), 3, 5, 5, packed, kernels.alloc(8, bias), 6, 3, 3, 1, 1, 1, 1, 1, 1, 1,
      concat + 2 * 25 * 4, kernels.alloc(kernels.exports.convScratchBytes(3, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1) / 4), 0, 1);
    const result = kernels.read(concat, 11 * 25);
    expect(result.subarray(0, 50)).toEqual(before);
    expect(result.subarray(8 * 25)).toEqual(after);
    expect(relativeL2(result.subarray(50, 200), referenceConv(spec, input, weights, bias, true))).toBeLessThan(TOLERANCE);
  });

  it.each(WINOGRAD_CASES.map((spec, i) => [i, spec] as const))('winogradConvShare case %i matches the reference', (i, spec) => {
    const { C, H, W, M, pads } = spec;
    const [OH, OW] = convOutputSize(spec);
    const k = kernels.exports;
    const input = randomFloats(C * H * W, 60 + i), weights = randomFloats(M * C * 9, 70 + i);
    const bias = randomFloats(Math.ceil(M / 4) * 4, 80 + i);
    // Room for whole panels of rows: the transform zeroes the rows past M.
    const inputAt = kernels.alloc(input.length, input), rawAt = kernels.alloc(Math.ceil(M / 4) * 4 * C * 9, weights);
    const transformedAt = kernels.alloc(k.winogradWeightBytes(M, C) / 4), biasAt = kernels.alloc(bias.length, bias);
    const scratchAt = kernels.alloc(k.winogradScratchBytes(C, H, W, M, ...pads) / 4);
    k.winogradTransformWeights(rawAt, M, C, transformedAt);
    for (const relu of [false, true]) {
      const outputAt = kernels.alloc(M * OH * OW + 8);
      const guard = 12345.5;
      kernels.floats(outputAt + M * OH * OW * 4, 8).fill(guard);
      k.winogradConvShare(inputAt, C, H, W, transformedAt, biasAt, M, ...pads, +relu, outputAt, scratchAt, 0, 1);
      const expected = referenceConv(spec, input, weights, bias, relu);
      expect(relativeL2(kernels.read(outputAt, expected.length), expected)).toBeLessThan(WINOGRAD_TOLERANCE);
      expect([...kernels.read(outputAt + M * OH * OW * 4, 8)]).toEqual(new Array(8).fill(guard)); // no write past the end
    }
  });

  it('winogradConvShare writes a channel slice of a wider tensor without touching its neighbours', () => {
    const spec: ConvCase = { C: 3, H: 5, W: 7, M: 6, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] };
    const k = kernels.exports, plane = 5 * 7;
    const input = randomFloats(3 * plane, 6), weights = randomFloats(6 * 27, 7), bias = randomFloats(8, 8);
    const before = randomFloats(2 * plane, 9), after = randomFloats(3 * plane, 10);
    const concat = kernels.alloc(11 * plane, [...before, ...new Array(6 * plane).fill(0), ...after]);
    const transformed = kernels.alloc(k.winogradWeightBytes(6, 3) / 4);
    k.winogradTransformWeights(kernels.alloc(8 * 27, weights), 6, 3, transformed);
    k.winogradConvShare(kernels.alloc(input.length, input), 3, 5, 7, transformed, kernels.alloc(8, bias), 6, 1, 1, 1, 1, 1,
      concat + 2 * plane * 4, kernels.alloc(k.winogradScratchBytes(3, 5, 7, 6, 1, 1, 1, 1) / 4), 0, 1);
    const result = kernels.read(concat, 11 * plane);
    expect(result.subarray(0, 2 * plane)).toEqual(before);
    expect(result.subarray(8 * plane)).toEqual(after);
    const expected = referenceConv(spec, input, weights, bias, true);
    expect(relativeL2(result.subarray(2 * plane, 8 * plane), expected)).toBeLessThan(WINOGRAD_TOLERANCE);
  });

  it.each(POOL_CASES.map((spec, i) => [i, spec] as const))('max and average pooling case %i match the reference', (i, spec) => {
    const { C, H, W, KH, KW, SH, SW, pads, OH, OW } = spec;
    const input = randomFloats(C * H * W, 40 + i);
    const inputAt = kernels.alloc(input.length, input), outputAt = kernels.alloc(C * OH * OW);
    const rowScratch = kernels.alloc(kernels.exports.maxPoolScratchBytes(W) / 4);
    kernels.exports.maxPool2dShare(inputAt, C, H, W, KH, KW, SH, SW, pads[0], pads[1], OH, OW, outputAt, rowScratch, 0, 0, 1);
    expect(kernels.read(outputAt, C * OH * OW)).toEqual(Float32Array.from(referencePool(spec, input, 'max'))); // max is exact
    // On quantised bytes: exactly the quantised f32 maxima (quantisation is monotonic).
    const [inverseScale, zeroPoint] = [Math.fround(255 / 4), 128];
    const inputBytes = kernels.alloc(input.length), outputBytes = kernels.alloc(C * OH * OW), expectedBytes = kernels.alloc(C * OH * OW);
    kernels.exports.quantiseActivations(inputAt, input.length, inverseScale, zeroPoint, inputBytes);
    kernels.exports.maxPool2dShare(inputBytes, C, H, W, KH, KW, SH, SW, pads[0], pads[1], OH, OW, outputBytes, rowScratch, 1, 0, 1);
    kernels.exports.quantiseActivations(outputAt, C * OH * OW, inverseScale, zeroPoint, expectedBytes);
    const bytesAt = (at: number) => [...new Uint8Array(kernels.exports.memory.buffer, at, C * OH * OW)];
    expect(bytesAt(outputBytes)).toEqual(bytesAt(expectedBytes));
    for (const includePad of [false, true]) {
      kernels.exports.averagePool2d(inputAt, C, H, W, KH, KW, SH, SW, ...pads, +includePad, OH, OW, outputAt);
      const expected = referencePool(spec, input, 'average', includePad);
      expect(relativeL2(kernels.read(outputAt, C * OH * OW), expected)).toBeLessThan(TOLERANCE);
    }
  });

  it('global average pooling, LRN, dense and ReLU match the reference', () => {
    const k = kernels.exports;
    const [C, HW] = [13, 29];
    const input = randomFloats(C * HW, 50).map((v) => v * 3);
    const inputAt = kernels.alloc(input.length, input), outputAt = kernels.alloc(C * HW);

    k.globalAveragePool(inputAt, C, HW, outputAt);
    const means = Array.from({ length: C }, (_, c) => input.subarray(c * HW, (c + 1) * HW).reduce((a, b) => a + b, 0) / HW);
    expect(relativeL2(kernels.read(outputAt, C), means)).toBeLessThan(TOLERANCE);

    for (const size of [5, 4, 1]) {
      k.lrn(inputAt, C, HW, size, 2e-2, 0.75, 1.5, outputAt);
      expect(relativeL2(kernels.read(outputAt, C * HW), referenceLrn(input, C, HW, size, 2e-2, 0.75, 1.5))).toBeLessThan(TOLERANCE);
    }

    const [inFeatures, outFeatures] = [37, 11];
    const x = randomFloats(inFeatures, 51), weights = randomFloats(inFeatures * outFeatures, 52), bias = randomFloats(outFeatures, 53);
    const xAt = kernels.alloc(inFeatures, x), wAt = kernels.alloc(weights.length, weights), bAt = kernels.alloc(outFeatures, bias);
    for (const relu of [false, true]) {
      k.dense(xAt, inFeatures, wAt, bAt, outFeatures, +relu, outputAt);
      expect(relativeL2(kernels.read(outputAt, outFeatures), referenceDense(x, weights, bias, outFeatures, relu))).toBeLessThan(TOLERANCE);
    }

    k.relu(inputAt, C * HW, outputAt);
    expect(kernels.read(outputAt, C * HW)).toEqual(input.map((v) => Math.max(0, v)));
  });

  it('LRN is within a few f32 ulps of a float64 reference, element by element, over wide ranges', () => {
    // b^0.75 is √b·√√b, other powers exp(β · ln b) with assembly/math.ts: 4e-7 is about 3 ulps.
    const k = kernels.exports;
    // The reference rounds to f32 where the kernel does — the sum of squares, the base, and for β ≠ 0.75 (which
    // goes through √) ln base and β · ln base — so that what remains is the power itself.
    const f32 = Math.fround;
    const [C, HW] = [7, 300];
    const magnitudes = randomFloats(C * HW, 55);
    const input = randomFloats(C * HW, 56).map((v, i) => v * 10 ** (3 * magnitudes[i] + 1));
    const inputAt = kernels.alloc(C * HW, input), outputAt = kernels.alloc(C * HW);
    // The last two: α < 0 makes some bases negative (NaN, as ONNX Runtime's pow gives) on both paths.
    for (const [size, alpha, beta, bias] of [[5, 1e-4, 0.75, 1], [3, 0.5, 2.5, 1e-3], [1, 2, 0.1, 100], [3, -1e-3, 0.75, 1], [3, -1e-3, 1.5, 1]]) {
      k.lrn(inputAt, C, HW, size, alpha, beta, bias, outputAt);
      const output = kernels.read(outputAt, C * HW);
      const before = Math.floor((size - 1) / 2), scale = f32(f32(alpha) / size);
      for (let c = 0; c < C; c++) for (let p = 0; p < HW; p++) {
        let squares = 0;
        for (let j = Math.max(0, c - before); j <= Math.min(C - 1, c + size - 1 - before); j++) {
          squares = f32(squares + f32(input[j * HW + p] ** 2));
        }
        const base = f32(f32(bias) + f32(scale * squares));
        const power = beta === 0.75 ? base ** 0.75 : Math.exp(f32(f32(beta) * f32(Math.log(base))));
        const expected = input[c * HW + p] / power;
        if (Number.isNaN(expected)) expect(output[c * HW + p]).toBeNaN();
        else expect(Math.abs(output[c * HW + p] - expected)).toBeLessThanOrEqual(4e-7 * Math.abs(expected));
      }
    }
  });
});
