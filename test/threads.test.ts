/**
 * Convolutions and pooling shared by threads. The share kernels must give the single-threaded kernels' bits
 * however the work is split and in whatever order the shares run; models loaded with threads must give the
 * single-threaded model's bits on real threads (Node here; Deno and Bun through test/support/thread-parity.js);
 * what cannot run threaded says so.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { encodeModelFile } from '../src/format/model-file.js';
import { quantizePerChannel } from '../src/format/quantize.js';
import { importOnnx } from '../src/onnx/import.js';
import { configureHost, host } from '../src/runtime/host.js';
import { loadKernels, type KernelVariant } from '../src/runtime/kernels.js';
import { loadModel } from '../src/runtime/load.js';
import { collectActivationRanges } from '../src/runtime/calibrate.js';
import { Model } from '../src/runtime/model.js';
import { GOOGLENET_FIXTURES, readFixture } from './support/fixtures.js';
import { imageLikeBatch } from './support/images.js';
import { conv2dInt8, RawKernels, randomFloats, readBuild } from './support/raw-kernels.js';
import { convOutputSize, type ConvCase } from './support/reference.js';

const VARIANTS: KernelVariant[] = ['scalar', 'simd', 'relaxed-simd'];
const root = fileURLToPath(new URL('..', import.meta.url));

const CASES: ConvCase[] = [
  { C: 5, H: 11, W: 13, M: 9, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] },
  { C: 7, H: 9, W: 9, M: 6, KH: 1, KW: 1, SH: 1, SW: 1, pads: [0, 0, 0, 0] }, // pointwise: no unfolding
  { C: 3, H: 20, W: 17, M: 8, KH: 7, KW: 7, SH: 2, SW: 2, pads: [3, 3, 3, 3] },
  { C: 4, H: 9, W: 45, M: 5, KH: 3, KW: 3, SH: 2, SW: 2, pads: [1, 1, 1, 1] }, // stride 2: vector runs at share ends
  { C: 2, H: 3, W: 3, M: 3, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // fewer tiles and channels than threads
  { C: 128, H: 24, W: 112, M: 6, KH: 3, KW: 3, SH: 2, SW: 2, pads: [1, 1, 1, 1] }, // several im2col bands per share
  { C: 6, H: 2, W: 2, M: 23, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // one tile of columns: threads split channels
  { C: 9, H: 2, W: 3, M: 14, KH: 1, KW: 1, SH: 1, SW: 1, pads: [0, 0, 0, 0] }, // the same, pointwise
  { C: 5, H: 1, W: 2, M: 6, KH: 3, KW: 3, SH: 1, SW: 1, pads: [1, 1, 1, 1] }, // fewer panels than threads: some get none
];

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

/**
 * Seeded weights [M × K] and bias uploaded as both paths take them: packed for the f32 GEMM, and quantised per
 * row and packed for the int8 GEMM with their scales and row sums.
 */
function uploadWeights(kernels: RawKernels, M: number, K: number, seed: number) {
  const k = kernels.exports;
  const rows = Math.ceil(M / 4) * 4, weights = randomFloats(M * K, seed);
  const packed = kernels.alloc(rows * K), bias = kernels.alloc(rows, randomFloats(rows, seed + 1));
  k.packGemmWeights(kernels.alloc(weights.length, weights), packed, M, K);
  const quantized = quantizePerChannel({ dims: [M, K], data: weights });
  const int8Packed = kernels.alloc(k.int8WeightBytes(M, K) / 4), sums = kernels.alloc(rows), scales = kernels.alloc(rows, quantized.scales);
  const values = kernels.alloc(Math.ceil(weights.length / 4));
  new Int8Array(k.memory.buffer).set(quantized.values, values);
  k.packInt8Weights(values, int8Packed, M, K, sums);
  return { packed, bias, int8Packed, sums, scales };
}

/** Share indices last first: a share that wrote past its end would spoil the next share's finished rows. */
const lastFirst = (threads: number) => Array.from({ length: threads }, (_, i) => threads - 1 - i);

describe.each(VARIANTS)('share kernels, %s build', (variant) => {
  it.each(CASES.map((spec, i) => [i, spec] as const))('case %i: every split gives the one-thread bits, f32 and int8', async (i, spec) => {
    const { C, H, W, M, KH, KW, SH, SW, pads } = spec;
    const [OH, OW] = convOutputSize(spec);
    const K = C * KH * KW, N = OH * OW;
    const kernels = await RawKernels.load(variant);
    const k = kernels.exports;
    const input = randomFloats(C * H * W, 100 + i).map((v) => v + 0.2);
    const inputAt = kernels.alloc(input.length, input);
    const { packed, bias: biasAt, int8Packed, sums, scales } = uploadWeights(kernels, M, K, 110 + i);
    const [scale, zeroPoint] = [Math.fround(2.4 / 255), 85];

    const f32Args = (output: number, scratch: number) =>
      [inputAt, C, H, W, packed, biasAt, M, KH, KW, SH, SW, ...pads, 1, output, scratch] as const;
    const int8Args = (output: number, scratch: number) =>
      [inputAt, C, H, W, int8Packed, scales, sums, biasAt, M, KH, KW, SH, SW, ...pads, scale, zeroPoint, 1, output, scratch, 0, 0, 0] as const;
    const outputOf = (threads: number, int8: boolean, run: (output: number, scratch: number) => void) => {
      const output = kernels.alloc(M * N), scratch = kernels.alloc(k.convScratchBytes(C, H, W, KH, KW, SH, SW, ...pads, +int8, threads) / 4);
      run(output, scratch);
      return kernels.read(output, M * N);
    };

    const f32 = outputOf(1, false, (output, scratch) => k.conv2dShare(...f32Args(output, scratch), 0, 1));
    const int8 = outputOf(1, true, (output, scratch) => conv2dInt8(k, ...int8Args(output, scratch)));
    expect(new Set(f32).size).toBeGreaterThan(M); // not degenerate
    for (const threads of [2, 3, 5]) {
      const f32Shared = outputOf(threads, false, (output, scratch) => {
        for (const t of lastFirst(threads)) k.conv2dShare(...f32Args(output, scratch), t, threads);
      });
      expect(sameBits(f32Shared, f32), `f32, ${threads} shares`).toBe(true);
      const int8Shared = outputOf(threads, true, (output, scratch) => {
        for (const t of lastFirst(threads)) k.conv2dInt8QuantiseShare(inputAt, C, H * W, scale, zeroPoint, scratch, t, threads);
        for (const t of lastFirst(threads)) k.conv2dInt8Share(...int8Args(output, scratch), t, threads);
      });
      expect(sameBits(int8Shared, int8), `int8, ${threads} shares`).toBe(true);
    }
  });

  it('winogradConvShare: every split gives the one-thread bits', async () => {
    const kernels = await RawKernels.load(variant);
    const k = kernels.exports;
    const [C, H, W, M, pads] = [6, 23, 19, 10, [1, 1, 1, 1] as const];
    const [OH, OW] = [H, W];
    const weights = randomFloats(M * C * 9, 140), input = randomFloats(C * H * W, 141);
    const transformed = kernels.alloc(k.winogradWeightBytes(M, C) / 4);
    k.winogradTransformWeights(kernels.alloc(Math.ceil(M / 4) * 4 * C * 9, weights), M, C, transformed);
    const inputAt = kernels.alloc(input.length, input), biasAt = kernels.alloc(12, randomFloats(12, 142));
    const outputOf = (threads: number, run: (output: number, scratch: number) => void) => {
      const output = kernels.alloc(M * OH * OW), scratch = kernels.alloc((k.winogradScratchBytes(C, H, W, M, ...pads) * threads) / 4);
      run(output, scratch);
      return kernels.read(output, M * OH * OW);
    };
    const single = outputOf(1, (output, scratch) => k.winogradConvShare(inputAt, C, H, W, transformed, biasAt, M, ...pads, 1, output, scratch, 0, 1));
    expect(new Set(single).size).toBeGreaterThan(M);
    for (const threads of [2, 3, 16]) {
      const shared = outputOf(threads, (output, scratch) => {
        for (const t of lastFirst(threads)) k.winogradConvShare(inputAt, C, H, W, transformed, biasAt, M, ...pads, 1, output, scratch, t, threads);
      });
      expect(sameBits(shared, single), `${threads} shares`).toBe(true);
    }
  });

  // On a 2×3 map, one tile of columns, threads split the members' channels instead of the tiles.
  it.each([[9, 11], [2, 3]])('a pointwise group on a %i×%i map gives each member\'s own conv2d and conv2dInt8 bits, however it is split', async (H, W) => {
    const kernels = await RawKernels.load(variant);
    const k = kernels.exports;
    const memberBytes = k.GROUP_MEMBER_BYTES.value as number;
    const C = 37;
    const N = H * W;
    const rowsOf = [8, 6, 13]; // not all whole panels
    const input = randomFloats(C * N, 150).map((v) => v + 0.3);
    const inputAt = kernels.alloc(input.length, input);
    const [scale, zeroPoint] = [Math.fround(1.3 / 255), 60];
    const members = rowsOf.map((M, i) => {
      // The last member's int8 output is quantised bytes, the others' f32.
      const outputScale = i === rowsOf.length - 1 ? Math.fround(4 / 255) : 0;
      return { M, ...uploadWeights(kernels, M, C, 151 + 2 * i), relu: i % 2, outputScale, outputZeroPoint: outputScale ? 17 : 0 };
    });
    const scratchFor = (int8: boolean, threads: number) => kernels.alloc(k.convScratchBytes(C, H, W, 1, 1, 1, 1, 0, 0, 0, 0, +int8, threads) / 4);
    /** The members' own outputs, from separate convolutions or from the group (one table record per member). */
    const run = (int8: boolean, threads: number, grouped: boolean) => {
      const outputs = members.map(({ M }) => kernels.alloc(M * N));
      const scratch = scratchFor(int8, threads);
      if (grouped) {
        const table = kernels.alloc((members.length * memberBytes) / 4);
        const words = new Int32Array(k.memory.buffer, table, (members.length * memberBytes) / 4);
        members.forEach((m, i) => {
          const at = (i * memberBytes) / 4;
          words.set([m.M, int8 ? m.int8Packed : m.packed, m.bias, outputs[i], m.relu, m.scales, m.sums], at);
          new Float32Array(words.buffer, words.byteOffset)[at + 7] = int8 ? m.outputScale : 0;
          words[at + 8] = int8 ? m.outputZeroPoint : 0;
        });
        if (!int8) {
          for (const t of lastFirst(threads)) k.conv2dPointwiseGroupShare(inputAt, C, N, table, members.length, scratch, t, threads);
        } else {
          for (const t of lastFirst(threads)) k.conv2dInt8QuantiseShare(inputAt, C, H * W, scale, zeroPoint, scratch, t, threads);
          for (const t of lastFirst(threads)) {
            k.conv2dInt8PointwiseGroupShare(inputAt, C, N, scale, zeroPoint, 0, table, members.length, scratch, t, threads);
          }
        }
      } else {
        members.forEach((m, i) => {
          if (!int8) k.conv2dShare(inputAt, C, H, W, m.packed, m.bias, m.M, 1, 1, 1, 1, 0, 0, 0, 0, m.relu, outputs[i], scratch, 0, 1);
          else {
            conv2dInt8(k, inputAt, C, H, W, m.int8Packed, m.scales, m.sums, m.bias, m.M, 1, 1, 1, 1, 0, 0, 0, 0, scale, zeroPoint,
              m.relu, outputs[i], scratch, 0, m.outputScale, m.outputZeroPoint);
          }
        });
      }
      return outputs.map((at, i) => kernels.read(at, members[i].M * N));
    };
    for (const int8 of [false, true]) {
      const separate = run(int8, 1, false);
      expect(new Set(separate[0]).size).toBeGreaterThan(20);
      for (const threads of [1, 2, 3]) {
        run(int8, threads, true).forEach((output, i) => expect(sameBits(output, separate[i]), `int8 ${int8}, member ${i}, ${threads} shares`).toBe(true));
      }
    }
  });

  it('maxPool2dShare: every split gives the one-thread bits, in f32 and on bytes', async () => {
    const kernels = await RawKernels.load(variant);
    const k = kernels.exports;
    const [C, H, W, K, S, pad] = [5, 13, 29, 3, 2, 1];
    const [OH, OW] = [Math.ceil((H + 2 * pad - K) / S) + 1, Math.ceil((W + 2 * pad - K) / S) + 1];
    const input = randomFloats(C * H * W, 130);
    const inputAt = kernels.alloc(input.length, input), bytesAt = kernels.alloc(input.length);
    k.quantiseActivations(inputAt, input.length, 100, 128, bytesAt);
    for (const quantised of [0, 1]) {
      const from = quantised ? bytesAt : inputAt;
      const outputOf = (threads: number, run: (output: number, scratch: number) => void) => {
        const output = kernels.alloc(C * OH * OW), scratch = kernels.alloc((k.maxPoolScratchBytes(W) * threads) / 4);
        run(output, scratch);
        return kernels.read(output, C * OH * OW);
      };
      const single = outputOf(1, (output, scratch) => k.maxPool2dShare(from, C, H, W, K, K, S, S, pad, pad, OH, OW, output, scratch, quantised, 0, 1));
      for (const threads of [2, 3, 7]) {
        const shared = outputOf(threads, (output, scratch) => {
          for (const t of lastFirst(threads)) k.maxPool2dShare(from, C, H, W, K, K, S, S, pad, pad, OH, OW, output, scratch, quantised, t, threads);
        });
        expect(sameBits(shared, single), `quantised ${quantised}, ${threads} shares`).toBe(true);
      }
    }
  });
});

describe('models loaded with threads', () => {
  const bytes = readFixture(GOOGLENET_FIXTURES.torchvision);
  const graph = importOnnx(bytes);
  const dims = [2, 3, 224, 224];
  const batch = imageLikeBatch(2, dims.slice(1));

  it.each([
    ['f32', 2], ['f32', 3], ['int8', 2],
  ] as const)('%s with %i threads gives the single-threaded bits', async (precision, threads) => {
    const single = await loadModel(graph, { precision, variant: 'simd' });
    const shared = await loadModel(graph, { precision, variant: 'simd', threads });
    expect(shared.info).toMatchObject({ threads, variant: 'simd', precision });
    expect(single.info.threads).toBe(1);
    const expected = single.run(batch, dims).data;
    expect(sameBits(shared.run(batch, dims).data, expected)).toBe(true);
    expect(sameBits(shared.run(batch, dims).data, expected)).toBe(true); // and again: the threads take the next run
    shared.dispose();
    single.dispose();
    expect(() => shared.run(batch, dims)).toThrow(/disposed/);
  });

  it('int8 with calibrated ranges (8-bit tensors between layers) gives the single-threaded bits', async () => {
    const calibration = [[{ data: imageLikeBatch(1, dims.slice(1)), dims: [1, ...dims.slice(1)] }]];
    const activationRanges = await collectActivationRanges(graph, calibration, { variant: 'simd' });
    const kernels = async (threads: number) => loadKernels({ variant: 'simd', threads });
    const single = new Model(graph, await kernels(1), { precision: 'int8', activationRanges });
    const shared = new Model(graph, await kernels(2), { precision: 'int8', activationRanges });
    expect(shared.info.quantisedTensors).toBeGreaterThan(0);
    expect(sameBits(shared.run(batch, dims).data, single.run(batch, dims).data)).toBe(true);
    shared.dispose();
  });

  it('refuses what cannot run threaded, saying why', async () => {
    for (const threads of [0, 1.5, 17, Number.NaN]) {
      await expect(loadModel(graph, { threads })).rejects.toThrow(/threads must be an integer from 1 to 16/);
    }
    await expect(loadModel(graph, { threads: 2, variant: 'scalar' })).rejects.toThrow(/scalar build has no threaded version/);
    const module = await WebAssembly.compile(await readBuild('simd'));
    await expect(loadModel(graph, { threads: 2, wasmModule: module })).rejects.toThrow(/cannot take a wasmModule/);
    const nodeHost = host();
    configureHost({ ...nodeHost, startThread: undefined });
    try {
      await expect(loadModel(graph, { threads: 2 })).rejects.toThrow(/needs a host that starts threads/);
    } finally {
      configureHost(nodeHost);
    }
  });

  it('stops the threads it started when the model file then fails its checks', async () => {
    const nodeHost = host();
    const stopped: boolean[] = [];
    configureHost({
      ...nodeHost,
      startThread: () => {
        const port = nodeHost.startThread!();
        stopped.push(false);
        const index = stopped.length - 1;
        return { ...port, terminate: () => ((stopped[index] = true), port.terminate()) };
      },
    });
    try {
      const file = encodeModelFile(graph, { weights: 'int8' }); // decoded after the threads start, then refused
      await expect(loadModel(file, { threads: 3, limits: { maxArenaBytes: 1000 } })).rejects.toThrow(/limits\.maxArenaBytes/);
      expect(stopped).toEqual([true, true]);
    } finally {
      configureHost(nodeHost);
    }
  });
});

describe.each(['deno', 'bun'])('%s', (runtime) => {
  it('runs a model on 2 threads with the single-threaded bits', async () => {
    const args = runtime === 'deno' ? ['run', '--allow-read', 'test/support/thread-parity.js'] : ['test/support/thread-parity.js'];
    const { stdout } = await promisify(execFile)(`${root}node_modules/.bin/${runtime}`, args, { cwd: root });
    expect(JSON.parse(stdout)).toEqual({ f32: true, int8: true, threads: 2 });
  });
});
