/** model.classify(): images of any kind in, the top-k labelled classes out; bad images are ImageErrors. */

import { readFileSync } from 'node:fs';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ImageError, InputError } from '../src/errors.js';
import { decodeModelFile } from '../src/format/model-file.js';
import type { Graph } from '../src/graph/ir.js';
import type { RawImage } from '../src/image/raw-image.js';
import { loadModel } from '../src/runtime/load.js';
import type { Model } from '../src/runtime/model.js';
import { softmaxInto } from '../src/runtime/softmax.js';
import { readFixture } from './support/fixtures.js';
import {
  FASHION_MNIST_LABELS, seededBytes, seedModelFile, textbookBilinear, withJpegSize, withPngSize,
} from './support/image-files.js';

const SAMPLES = new URL('../examples/images/', import.meta.url);

/** A 28×28 gray image with some structure, so that the classes differ. */
function garment(seed: number): RawImage {
  const noise = seededBytes(28 * 28, seed);
  const data = noise.map((value, i) => {
    const [x, y] = [i % 28, Math.floor(i / 28)];
    return Math.abs(x - 14) < 4 + seed + y / 4 ? 160 + (value >> 2) : value >> 3;
  });
  return { data, width: 28, height: 28, channels: 1 };
}

describe('classify with the seed model file', () => {
  let model: Model;
  const image = garment(3);
  const imagePng = encodePng({ ...image, depth: 8 });

  beforeAll(async () => {
    model = await loadModel(seedModelFile());
  });

  it('returns the top k classes, most probable first, labelled from the file', () => {
    const top = model.classify(image, { topK: 3 });
    expect(top).toHaveLength(3);
    expect(top.map(({ probability }) => probability)).toEqual(top.map(({ probability }) => probability).sort((a, b) => b - a));
    for (const { label, index, probability } of top) {
      expect(label).toBe(FASHION_MNIST_LABELS[index]);
      expect(probability).toBeGreaterThan(0);
    }
    expect(model.classify(image)).toHaveLength(5);
  });

  it('gives probabilities that sum to 1 over all classes', () => {
    const all = model.classify(image, { topK: 10 });
    expect(all.map(({ index }) => index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(all.reduce((sum, { probability }) => sum + probability, 0)).toBeCloseTo(1, 6);
    expect(model.classify(image, { topK: 50 })).toEqual(all); // no more than the model has
  });

  it('gives the same answer for raw pixels, PNG bytes and their ArrayBuffer', () => {
    const expected = model.classify(image, { topK: 10 });
    expect(model.classify(imagePng, { topK: 10 })).toEqual(expected);
    expect(model.classify(imagePng.slice().buffer, { topK: 10 })).toEqual(expected);
    const rgba = new Uint8ClampedArray(28 * 28 * 4).map((_, i) => (i % 4 === 3 ? 99 : image.data[i >> 2]));
    expect(model.classify({ data: rgba, width: 28, height: 28, channels: 4 }, { topK: 10 })).toEqual(expected);
  });

  it('gives different images different probabilities', () => {
    expect(model.classify(garment(1), { topK: 10 })).not.toEqual(model.classify(garment(6), { topK: 10 }));
  });

  it('rejects a topK that is not a positive integer', () => {
    for (const topK of [0, -1, 1.5, Number.NaN]) {
      expect(() => model.classify(image, { topK }), String(topK)).toThrow(new InputError(`topK must be a positive integer, not ${topK}`));
    }
  });

  describe('bad images are ImageErrors', () => {
    const jpegBytes = new Uint8Array(jpeg.encode({ data: new Uint8Array(28 * 28 * 4).fill(128), width: 28, height: 28 }, 90).data);
    const cases: [string, Uint8Array | RawImage, RegExp][] = [
      ['empty', new Uint8Array(), /the image is empty/],
      ['random bytes', seededBytes(500, 4), /not a PNG or JPEG image \(it starts with [0-9a-f ]+\)/],
      ['text', new TextEncoder().encode('GIF89a is not supported'), /not a PNG or JPEG image/],
      ...[1, 8, 20, 30, 40, imagePng.length - 20, imagePng.length - 1].map((end): [string, Uint8Array, RegExp] =>
        [`PNG cut at ${end} bytes`, imagePng.subarray(0, end), end === 1 ? /not a PNG or JPEG/ : /truncated PNG/]),
      ...[2, 10, 100, 300, jpegBytes.length - 100, jpegBytes.length - 1].map((end): [string, Uint8Array, RegExp] =>
        [`JPEG cut at ${end} bytes`, jpegBytes.subarray(0, end), /truncated JPEG/]),
      ['PNG with a bad CRC', imagePng.map((byte, i) => (i === 40 ? byte ^ 1 : byte)), /corrupt or truncated PNG/],
      ['JPEG with no frame header', Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9]), /corrupt JPEG: no frame header/],
      ['raw pixels of the wrong length', { ...image, data: image.data.subarray(1) }, /783 bytes; 28×28×1 needs 784/],
      ['raw pixels with 2 channels', { ...image, channels: 2 as 1 }, /channels must be 1, 3 or 4, not 2/],
      ['raw pixels as a plain array', { ...image, data: [...image.data] as unknown as Uint8Array }, /must be a Uint8Array/],
    ];
    it.each(cases)('%s', (_, bad, message) => {
      expect(() => model.classify(bad)).toThrow(ImageError);
      expect(() => model.classify(bad)).toThrow(message);
    });

    it('a size beyond the limits is refused from the header, quickly and without allocating for the pixels', () => {
      const huge: [Uint8Array, RegExp][] = [
        [withPngSize(imagePng, 100_000, 100_000), /PNG image is 100000×100000 pixels, more than the limit of 16384 per side/],
        [withPngSize(imagePng, 10_000, 10_000), /PNG image is 10000×10000 pixels, more than the limit of 40000000 pixels/],
        [withPngSize(imagePng, 0, 5), /PNG header gives an empty size 0×5/],
        [withJpegSize(jpegBytes, 65_535, 65_535), /JPEG image is 65535×65535 pixels, more than the limit of 16384 per side/],
        [withJpegSize(jpegBytes, 16_000, 16_000), /JPEG image is 16000×16000 pixels, more than the limit of 40000000 pixels/],
      ];
      for (const [bytes, message] of huge) {
        const before = process.memoryUsage().arrayBuffers;
        const started = performance.now();
        expect(() => model.classify(bytes)).toThrow(message);
        expect(performance.now() - started).toBeLessThan(50);
        expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 2 ** 20);
      }
    });

    it('the limits are configurable', () => {
      const limits = { maxSide: 20 };
      expect(() => model.classify(imagePng, { limits })).toThrow(/28×28 pixels, more than the limit of 20 per side/);
      expect(() => model.classify(jpegBytes, { limits: { maxPixels: 700 } })).toThrow(/more than the limit of 700 pixels/);
    });
  });
});

describe('classify with other models', () => {
  it('an ONNX model has no labels and uses the default preprocessing of its input', async () => {
    const onnx = readFixture('seed-googlenet.onnx');
    const model = await loadModel(onnx, { precision: 'f32' });
    const top = model.classify(garment(2), { topK: 2 });
    expect(top.map(({ label, index }) => label === `class ${index}`)).toEqual([true, true]);
    // The default preprocessing: resized to 96×96, pixels / 255.
    const input = Float32Array.from(textbookBilinear(garment(2).data, 28, 28, 96, 96), (value) => value / 255);
    const raw = model.run(input, [1, 1, 96, 96]).data;
    expect(top[0].index).toBe(raw.indexOf(Math.max(...raw)));
  });

  it('a model that ends in Softmax is not given a second softmax', async () => {
    const { graph } = decodeModelFile(seedModelFile());
    const plain = await loadModel(graph);
    const output = graph.outputs[0];
    const withSoftmax: Graph = {
      ...graph,
      nodes: [...graph.nodes, { op: 'Softmax', name: 'probabilities', inputs: [output], output: 'probabilities' }],
      outputs: ['probabilities'],
    };
    const ending = await loadModel(withSoftmax);
    const image = garment(4);
    const expected = plain.classify(image, { topK: 10 });
    const actual = ending.classify(image, { topK: 10 });
    expect(actual.map(({ index }) => index)).toEqual(expected.map(({ index }) => index));
    actual.forEach(({ probability }, i) => expect(probability).toBeCloseTo(expected[i].probability, 5));
  });
});

describe('the default model (models/googlenet-seed-fmnist.int8.safetensors)', () => {
  it.each(['int8', 'f32'] as const)('loads with no source and classifies every sample image as its class in %s', async (precision) => {
    const model = await loadModel(undefined, { precision });
    expect(model.info.precision).toBe(precision);
    expect(model.metadata?.labels).toEqual(FASHION_MNIST_LABELS);
    FASHION_MNIST_LABELS.forEach((label, index) => {
      const file = `${index}-${label.toLowerCase().replaceAll('-', '').replace(/[^a-z0-9]+/g, '-')}.png`;
      const [top] = model.classify(new Uint8Array(readFileSync(new URL(file, SAMPLES))), { topK: 1 });
      expect(top, file).toMatchObject({ index, label });
    });
  });
});

describe('softmaxInto (a Softmax layer and classify()\'s probabilities)', () => {
  it('gives probabilities summing to 1 in the ratios e^(xᵢ − xⱼ), in place too, for logits whose e^x would overflow', () => {
    const logits = Float32Array.from({ length: 1000 }, (_, i) => 800 * Math.sin(i * 0.37) ** 3);
    const top = logits.indexOf(Math.max(...logits));
    const probabilities = new Float64Array(logits.length);
    softmaxInto(logits, probabilities);
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    probabilities.forEach((p, i) => {
      const ratio = Math.exp(logits[i] - logits[top]); // from the two logits alone, not from softmaxInto's way
      if (ratio > 1e-300) expect(Math.abs(p / probabilities[top] - ratio)).toBeLessThanOrEqual(1e-12 * ratio);
      else expect(p).toBeLessThan(1e-290);
    });
    const inPlace = Float32Array.from(logits);
    softmaxInto(inPlace, inPlace);
    inPlace.forEach((p, i) => expect(Math.abs(p - probabilities[i])).toBeLessThanOrEqual(2 ** -23 * probabilities[i] + 1e-45));
  });
});
