/**
 * The three GoogLeNet layouts, as real exporters write them, against onnxruntime-node on non-trivial seeded
 * inputs, with every kernel build: relative L2 error ≤ 1e-5.
 */

import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { importOnnx } from '../src/onnx/import.js';
import { loadModel } from '../src/runtime/load.js';
import { Model } from '../src/runtime/model.js';
import type { KernelVariant } from '../src/runtime/kernels.js';
import { GOOGLENET_FIXTURES, readFixture } from './support/fixtures.js';
import { imageLikeBatch } from './support/images.js';
import { relativeL2, unverifiedKernels } from './support/raw-kernels.js';

const VARIANTS: KernelVariant[] = ['scalar', 'simd', 'relaxed-simd'];

describe.each(Object.entries(GOOGLENET_FIXTURES))('%s GoogLeNet', (layout, file) => {
  const bytes = readFixture(file);
  let dims: number[];
  let batch: Float32Array;
  let expected: Float32Array;

  beforeAll(async () => {
    const session = await ort.InferenceSession.create(bytes);
    const [, ...sample] = (session.inputMetadata[0] as { shape: number[] }).shape;
    dims = [2, ...sample];
    const sampleSize = sample.reduce((a, b) => a * b, 1);
    batch = imageLikeBatch(2, sample);
    const outputs: Float32Array[] = [];
    for (let i = 0; i < 2; i++) {
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', batch.slice(i * sampleSize, (i + 1) * sampleSize), [1, ...sample]) };
      outputs.push((await session.run(feeds))[session.outputNames[0]].data as Float32Array);
    }
    expected = Float32Array.from([...outputs[0], ...outputs[1]]);
    await session.release();
  });

  it('has outputs that depend on the input (the fixture is not degenerate)', () => {
    const half = expected.length / 2;
    const first = expected.subarray(0, half), second = expected.subarray(half);
    const centred = (v: Float32Array) => v.map((x) => x - v.reduce((a, b) => a + b, 0) / v.length);
    expect(relativeL2(centred(first), centred(second))).toBeGreaterThan(1e-2);
  });

  it.each(VARIANTS)('matches onnxruntime with the %s build (batch of 2)', async (variant) => {
    // relaxed-simd fails its int8 self-test on Node 20, so it is tested here without the selection gate.
    const model = variant === 'relaxed-simd'
      ? new Model(importOnnx(bytes), await unverifiedKernels(variant))
      : await loadModel(bytes, { variant });
    expect(model.info.variant).toBe(variant);
    const output = model.run(batch, dims);
    expect(output.dims[0]).toBe(2);
    expect(output.data.length).toBe(expected.length);
    expect(relativeL2(output.data, expected)).toBeLessThan(1e-5);
    model.dispose();
  });

  it(`reports the ${layout} layout's size in info`, async () => {
    const model = await loadModel(bytes, { variant: 'simd' });
    const { macs, params, arenaBytes } = model.info;
    const expectedMacs = { torchvision: 1498e6, 'torchvision-bn': 1498e6, bvlc: 1583e6, seed: 215e6 }[layout]!;
    expect(Math.abs(macs - expectedMacs) / expectedMacs).toBeLessThan(0.01);
    expect(params).toBeGreaterThan(5e6);
    expect(arenaBytes).toBeGreaterThan(0);
  });
});
