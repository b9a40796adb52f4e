/** Seeded images, PNG header surgery, and the seed network as a model file with Fashion-MNIST labels. */

import { readFileSync } from 'node:fs';
import { encodeModelFile, type Preprocess } from '../../src/format/model-file.js';
import { importOnnx } from '../../src/onnx/import.js';
import { readFixture } from './fixtures.js';
import { randomFloats } from './raw-kernels.js';

export const FASHION_MNIST_LABELS = readFileSync(new URL('../../models/fashion-mnist-labels.txt', import.meta.url), 'utf8')
  .trim().split('\n');

/** The training preprocessing of the Fashion-MNIST model (training/README.md). */
export const FASHION_MNIST_PREPROCESS: Preprocess = {
  inputSize: [96, 96], channels: 'gray', mean: [0.286], std: [0.353], scale: 1 / 255,
  resize: { method: 'bilinear', crop: 'none' },
};

/** The seed GoogLeNet fixture (random weights, 1×96×96 gray, 10 classes) as an int8 model file. */
export function seedModelFile(): Uint8Array {
  return encodeModelFile(importOnnx(readFixture('seed-googlenet.onnx')), {
    weights: 'int8', labels: FASHION_MNIST_LABELS, preprocess: FASHION_MNIST_PREPROCESS,
  });
}

export function seededBytes(count: number, seed: number): Uint8Array {
  return Uint8Array.from(randomFloats(count, seed), (value) => Math.floor((value + 1) * 128));
}

/** A copy of `png` whose IHDR claims `width`×`height`, with a valid CRC. */
export function withPngSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const patched = png.slice();
  const view = new DataView(patched.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(patched.subarray(12, 29))); // over the chunk type and its 13 data bytes
  return patched;
}

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A copy of `jpeg` whose baseline frame header (SOF0) claims `width`×`height`. */
export function withJpegSize(jpeg: Uint8Array, width: number, height: number): Uint8Array {
  const patched = jpeg.slice();
  const sof = patched.findIndex((byte, i) => byte === 0xff && patched[i + 1] === 0xc0);
  const view = new DataView(patched.buffer);
  view.setUint16(sof + 5, height);
  view.setUint16(sof + 7, width);
  return patched;
}

/** Bilinear interpolation with half-pixel centres, clamped at the edges (torch's align_corners=False). */
export function textbookBilinear(source: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number) {
  const along = (size: number, outSize: number, i: number) => {
    const position = Math.min(Math.max(((i + 0.5) * size) / outSize - 0.5, 0), size - 1);
    const low = Math.floor(position);
    return [low, Math.min(low + 1, size - 1), position - low];
  };
  return Array.from({ length: outWidth * outHeight }, (_, i) => {
    const [x0, x1, fx] = along(width, outWidth, i % outWidth);
    const [y0, y1, fy] = along(height, outHeight, Math.floor(i / outWidth));
    const row = (y: number) => source[y * width + x0] * (1 - fx) + source[y * width + x1] * fx;
    return row(y0) * (1 - fy) + row(y1) * fy;
  });
}
