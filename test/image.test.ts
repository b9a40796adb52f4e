/** Image decoding (PNG, JPEG), resizing and preprocessing into the model's input tensor; the sample images. */

import { readdirSync, readFileSync } from 'node:fs';
import { encode as encodePng, type ImageData as PngImage } from 'fast-png';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import type { Preprocess } from '../src/format/preprocess.js';
import { decodeImage } from '../src/image/decode.js';
import { preprocessImage } from '../src/image/preprocess.js';
import type { RawImage } from '../src/image/raw-image.js';
import { resizePlane, type Plane, type ResizeMethod } from '../src/image/resize.js';
import { readFashionMnist } from '../training/fashion-mnist-idx.mjs';
import { crc32, FASHION_MNIST_LABELS, seededBytes, textbookBilinear } from './support/image-files.js';
import { ImageError } from '../src/errors.js';

const png = (image: PngImage) => decodeImage(encodePng(image));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(0, ...Array.from(actual, (value, i) => Math.abs(value - expected[i])));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe('decodeImage', () => {
  const [width, height] = [5, 3];

  it.each([1, 3, 4] as const)('decodes an 8-bit PNG with %i channel(s) to the same pixels', (channels) => {
    const data = seededBytes(width * height * channels, channels);
    expect(png({ width, height, data, channels, depth: 8 })).toEqual({ data, width, height, channels });
  });

  it('reads bytes that are a view into a larger buffer (as Node Buffers are)', () => {
    const data = seededBytes(width * height * 3, 11);
    const encoded = encodePng({ width, height, data, channels: 3, depth: 8 });
    const padded = new Uint8Array(encoded.length + 7);
    padded.set(encoded, 7);
    expect(decodeImage(padded.subarray(7))).toEqual({ data, width, height, channels: 3 });
  });

  it('drops the alpha of a gray + alpha PNG', () => {
    const data = seededBytes(width * height * 2, 2);
    const decoded = png({ width, height, data, channels: 2, depth: 8 });
    expect(decoded).toEqual({ data: data.filter((_, i) => i % 2 === 0), width, height, channels: 1 });
  });

  it('scales 16-bit samples to 8 bits', () => {
    const data = Uint16Array.from(seededBytes(width * height * 3, 16), (byte, i) => byte * 257 + (i % 3) * 100);
    const decoded = png({ width, height, data, channels: 3, depth: 16 });
    expect(decoded.channels).toBe(3);
    expect([...decoded.data]).toEqual(Array.from(data, (sample) => Math.round(sample / 257)));
  });

  it.each([1, 2, 4] as const)('spreads %i-bit gray to 0…255', (depth) => {
    const levels = seededBytes(width * height, depth).map((byte) => byte >> (8 - depth));
    const rowBytes = Math.ceil((width * depth) / 8);
    const packed = new Uint8Array(rowBytes * height);
    levels.forEach((level, i) => {
      const [x, y] = [i % width, Math.floor(i / width)];
      packed[y * rowBytes + ((x * depth) >> 3)] |= level << (8 - depth - ((x * depth) & 7));
    });
    const decoded = png({ width, height, data: packed, channels: 1, depth });
    expect(decoded).toEqual({ data: levels.map((level) => (level * 255) / (2 ** depth - 1)), width, height, channels: 1 });
  });

  it('expands a palette PNG to RGB, or RGBA when the palette has alpha', () => {
    const indices = seededBytes(width * height, 3).map((byte) => byte % 4);
    const palette = [[0, 0, 0], [255, 0, 0], [0, 128, 255], [10, 20, 30]];
    const rgb = png({ width, height, data: indices, channels: 1, depth: 8, palette });
    expect(rgb).toEqual({ data: Uint8Array.from([...indices].flatMap((i) => palette[i])), width, height, channels: 3 });
    const withAlpha = palette.map((color, i) => [...color, i * 80]);
    const rgba = png({ width, height, data: indices, channels: 1, depth: 8, palette: withAlpha });
    expect(rgba.channels).toBe(4);
    expect([...rgba.data]).toEqual([...indices].flatMap((i) => withAlpha[i]));
  });

  describe('refuses a PNG whose header and chunks disagree with a typed error', () => {
    const palette = [[0, 0, 0], [255, 0, 0]];
    const indexed = () => encodePng({ width, height, data: new Uint8Array(width * height).fill(1), channels: 1, depth: 8, palette });
    /** `file` with each chunk's data passed through `edit` (undefined drops the chunk), CRCs recomputed. */
    const rewriteChunks = (file: Uint8Array, edit: (type: string, data: Uint8Array) => Uint8Array | undefined) => {
      const parts = [file.subarray(0, 8)];
      for (let at = 8; at < file.length;) {
        const length = new DataView(file.buffer, file.byteOffset + at).getUint32(0);
        const type = String.fromCharCode(...file.subarray(at + 4, at + 8));
        const data = edit(type, file.slice(at + 8, at + 8 + length));
        if (data) {
          const chunk = new Uint8Array(12 + data.length);
          const view = new DataView(chunk.buffer);
          view.setUint32(0, data.length);
          chunk.set(file.subarray(at + 4, at + 8), 4);
          chunk.set(data, 8);
          view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
          parts.push(chunk);
        }
        at += 12 + length;
      }
      return Uint8Array.from(parts.flatMap((part) => [...part]));
    };
    it.each([
      ['a pixel indexing past the palette', () => encodePng({ width, height, data: new Uint8Array(width * height).fill(5), channels: 1, depth: 8, palette }), /corrupt or truncated PNG/],
      ['an empty PLTE chunk', () => rewriteChunks(indexed(), (type, data) => (type === 'PLTE' ? new Uint8Array(0) : data)), /PLTE chunk of 0 bytes/],
      ['a PLTE chunk that is no whole number of entries', () => rewriteChunks(indexed(), (type, data) => (type === 'PLTE' ? data.subarray(0, 4) : data)), /PLTE chunk of 4 bytes/],
      ['a palette image without PLTE', () => rewriteChunks(indexed(), (type, data) => (type === 'PLTE' ? undefined : data)), /without a PLTE chunk/],
      ['RGB at 4 bits per sample', () => rewriteChunks(encodePng({ width, height, data: new Uint8Array(width * height * 3), channels: 3, depth: 8 }),
        (type, data) => (type === 'IHDR' ? data.map((byte, i) => (i === 8 ? 4 : byte)) : data)), /color type 2 has no bit depth 4/],
    ])('%s', (_case, file, message) => {
      expect(() => decodeImage(file())).toThrow(ImageError);
      expect(() => decodeImage(file())).toThrow(message);
    });
  });

  it('decodes a color JPEG to RGB close to what was encoded', () => {
    const [w, h] = [16, 16];
    const rgba = new Uint8Array(w * h * 4).map((_, i) => (i % 4 === 3 ? 255 : 40 + ((i >> 2) % w) * 8 + (i % 4) * 20));
    const encoded = jpeg.encode({ data: rgba, width: w, height: h }, 100).data;
    const decoded = decodeImage(new Uint8Array(encoded).buffer); // an ArrayBuffer works too
    expect({ ...decoded, data: undefined }).toEqual({ data: undefined, width: w, height: h, channels: 3 });
    expectClose(decoded.data, rgba.filter((_, i) => i % 4 !== 3), 3);
  });

  it('decodes a gray (one-component) JPEG to one channel', () => {
    // 16×8, pixel (x, y) = (13x + 29y) mod 256, saved by PIL at quality 95 (within 5 of that after decoding).
    const gray = Uint8Array.from(atob(GRAY_JPEG), (char) => char.charCodeAt(0));
    const decoded = decodeImage(gray);
    expect({ ...decoded, data: undefined }).toEqual({ data: undefined, width: 16, height: 8, channels: 1 });
    expectClose(decoded.data, Array.from({ length: 128 }, (_, i) => ((i % 16) * 13 + Math.floor(i / 16) * 29) % 256), 6);
  });
});

describe('resizePlane', () => {
  // 7×5, pixel (x, y) = (37x + 101y) mod 256
  const [width, height] = [7, 5];
  const pixels = Float64Array.from({ length: width * height }, (_, i) => ((i % width) * 37 + Math.floor(i / width) * 101) % 256);
  const plane: Plane = { data: pixels, width, height, stride: 1, offset: 0 };
  const resize = (w: number, h: number, method: ResizeMethod) =>
    resizePlane(plane, { fullWidth: w, fullHeight: h, left: 0, top: 0, width: w, height: h }, method);

  it('bilinear enlarging is textbook bilinear interpolation with half-pixel centres', () => {
    expectClose(resize(10, 8, 'bilinear'), textbookBilinear(pixels, width, height, 10, 8));
    expectClose(resize(96, 13, 'bilinear'), textbookBilinear(pixels, width, height, 96, 13));
  });

  it("bilinear shrinking is PIL's (antialiased)", () => {
    // PIL 9.4: Image.fromarray(pixels, 'F').resize(size, Image.BILINEAR)
    expectClose(resize(3, 2, 'bilinear'), [108.6104, 139.4438, 135.026, 136.0649, 114.877, 120.9221]);
    expectClose(resize(4, 3, 'bilinear'), [
      62.6667, 120.2457, 166.3829, 141.415, 157.7196, 108.2933, 136.5511, 121.5291, 124.0952, 140.7143, 103.4686, 103.5782,
    ]);
  });

  it('area is the mean over each output pixel footprint', () => {
    for (const [w, h] of [[3, 2], [4, 3], [7, 5], [10, 8], [2, 7]]) {
      expectClose(resize(w, h, 'area'), areaReference(pixels, width, height, w, h));
    }
  });

  it('area on an integer shrink is the block mean', () => {
    const block = Float64Array.from(seededBytes(6 * 4, 5));
    const resized = resizePlane({ data: block, width: 6, height: 4, stride: 1, offset: 0 },
      { fullWidth: 3, fullHeight: 2, left: 0, top: 0, width: 3, height: 2 }, 'area');
    const mean = (x: number, y: number) =>
      (block[2 * y * 6 + 2 * x] + block[2 * y * 6 + 2 * x + 1] + block[(2 * y + 1) * 6 + 2 * x] + block[(2 * y + 1) * 6 + 2 * x + 1]) / 4;
    expectClose(resized, [mean(0, 0), mean(1, 0), mean(2, 0), mean(0, 1), mean(1, 1), mean(2, 1)], 1e-5);
  });

  it('a window is that part of the whole resized image', () => {
    for (const method of ['bilinear', 'area'] as const) {
      const whole = resize(11, 9, method);
      const window = resizePlane(plane, { fullWidth: 11, fullHeight: 9, left: 3, top: 2, width: 5, height: 4 }, method);
      expect([...window]).toEqual(Array.from({ length: 20 }, (_, i) => whole[(2 + Math.floor(i / 5)) * 11 + 3 + (i % 5)]));
    }
  });

  it('reads one channel of interleaved pixels', () => {
    const rgb = seededBytes(width * height * 3, 9);
    const green = resizePlane({ data: rgb, width, height, stride: 3, offset: 1 },
      { fullWidth: 4, fullHeight: 3, left: 0, top: 0, width: 4, height: 3 }, 'area');
    const alone = rgb.filter((_, i) => i % 3 === 1);
    expectClose(green, areaReference(alone, width, height, 4, 3));
  });
});

describe('preprocessImage', () => {
  const preprocess = (overrides: Partial<Preprocess>): Preprocess => ({
    inputSize: [2, 3], channels: 'gray', mean: [0], std: [1], scale: 1, resize: { method: 'bilinear', crop: 'none' },
    ...overrides,
  });
  const gray = (width: number, height: number, data = seededBytes(width * height, width * 10 + height)): RawImage =>
    ({ data, width, height, channels: 1 });

  it('scales, subtracts the mean and divides by the std', () => {
    const image = gray(3, 2);
    const tensor = preprocessImage(image, preprocess({ scale: 1 / 255, mean: [0.5], std: [0.25] }));
    expectClose(tensor, Array.from(image.data, (pixel) => (pixel / 255 - 0.5) / 0.25), 1e-6);
  });

  it('orders the channels rgb or bgr, each with its own mean and std, and ignores alpha', () => {
    const data = seededBytes(3 * 2 * 4, 21);
    const plane = (c: number) => Array.from({ length: 6 }, (_, i) => data[i * 4 + c]);
    const normalised = (c: number, mean: number, std: number) => plane(c).map((value) => (value - mean) / std);
    const options = { mean: [1, 2, 3], std: [2, 4, 8] };
    const image: RawImage = { data, width: 3, height: 2, channels: 4 };
    expectClose(preprocessImage(image, preprocess({ channels: 'rgb', ...options })),
      [...normalised(0, 1, 2), ...normalised(1, 2, 4), ...normalised(2, 3, 8)], 1e-5);
    expectClose(preprocessImage(image, preprocess({ channels: 'bgr', ...options })),
      [...normalised(2, 1, 2), ...normalised(1, 2, 4), ...normalised(0, 3, 8)], 1e-5);
  });

  it("repeats gray into every color channel, and turns color into gray as PIL's convert('L')", () => {
    const image = gray(3, 2);
    const rgb = preprocessImage(image, preprocess({ channels: 'rgb', mean: [0, 0, 0], std: [1, 1, 1] }));
    expect([...rgb]).toEqual([...image.data, ...image.data, ...image.data]);
    const colors: RawImage = { data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 200, 100, 50, 0, 0, 0]), width: 3, height: 2, channels: 3 };
    expect([...preprocessImage(colors, preprocess({}))]).toEqual([76, 150, 29, 9, 124, 0]);
  });

  it('center crop takes the middle, rounding half offsets to even as torchvision', () => {
    // 5×3 with the shorter side at 3: nothing resizes; (5 − 2) / 2 = 1.5 rounds to 2.
    const image = gray(5, 3);
    const tensor = preprocessImage(image, preprocess({ inputSize: [3, 2], resize: { method: 'bilinear', shorterSide: 3, crop: 'center' } }));
    expect([...tensor]).toEqual([0, 1, 2].flatMap((y) => [image.data[y * 5 + 2], image.data[y * 5 + 3]]));
    // 2×6 portrait: the crop moves down by (6 − 2) / 2 = 2 rows.
    const tall = gray(2, 6);
    const cropped = preprocessImage(tall, preprocess({ inputSize: [2, 2], resize: { method: 'area', shorterSide: 2, crop: 'center' } }));
    expect([...cropped]).toEqual([...tall.data.subarray(4, 8)]);
  });

  it('resizes the shorter side first, keeping the aspect ratio, then crops', () => {
    // 8×4 → shorter side 2 → 4×2 (2×2 block means) → the middle 2×2.
    const image = gray(8, 4);
    const tensor = preprocessImage(image, preprocess({ inputSize: [2, 2], resize: { method: 'area', shorterSide: 2, crop: 'center' } }));
    const blockMean = (bx: number, by: number) =>
      [0, 1].flatMap((dy) => [0, 1].map((dx) => image.data[(2 * by + dy) * 8 + 2 * bx + dx])).reduce((a, b) => a + b) / 4;
    expectClose(tensor, [blockMean(1, 0), blockMean(2, 0), blockMean(1, 1), blockMean(2, 1)], 1e-5);
  });

  it('with no crop, resizes straight to the input size (the aspect ratio is not kept)', () => {
    const image = gray(7, 3);
    const tensor = preprocessImage(image, preprocess({ inputSize: [6, 14] }));
    const plane: Plane = { data: image.data, width: 7, height: 3, stride: 1, offset: 0 };
    expect([...tensor]).toEqual([...resizePlane(plane, { fullWidth: 14, fullHeight: 6, left: 0, top: 0, width: 14, height: 6 }, 'bilinear')]);
  });
});

describe('examples/images', () => {
  const dir = new URL('../examples/images/', import.meta.url);
  const files = readdirSync(dir).filter((name) => name.endsWith('.png')).sort();

  it('holds one 28×28 gray PNG per Fashion-MNIST class, named by class', () => {
    expect(files.map((name) => Number(name.split('-')[0]))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(files[0]).toBe('0-tshirt-top.png');
    expect(files[9]).toBe('9-ankle-boot.png');
    for (const name of files) {
      expect(decodeImage(new Uint8Array(readFileSync(new URL(name, dir)))), name).toMatchObject({ width: 28, height: 28, channels: 1 });
    }
    expect(FASHION_MNIST_LABELS).toHaveLength(10);
  });

  it('are the first test image of each class', async () => {
    const { images, labels } = await readFashionMnist('t10k');
    files.forEach((name, index) => {
      const first = labels.indexOf(index);
      const { data } = decodeImage(new Uint8Array(readFileSync(new URL(name, dir))));
      expect([...data], name).toEqual([...images.subarray(first * 784, (first + 1) * 784)]);
    });
  });
});

/** Each output pixel's footprint in source pixels, integrated pixel by pixel. */
function areaReference(source: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number) {
  const [sx, sy] = [width / outWidth, height / outHeight];
  const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
  return Array.from({ length: outWidth * outHeight }, (_, i) => {
    const [ox, oy] = [i % outWidth, Math.floor(i / outWidth)];
    let sum = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        sum += source[y * width + x] * overlap(x, x + 1, ox * sx, (ox + 1) * sx) * overlap(y, y + 1, oy * sy, (oy + 1) * sy);
      }
    }
    return sum / (sx * sy);
  });
}

const GRAY_JPEG =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/' +
  'wAALCAAIABABAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0Kx' +
  'wRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2' +
  't7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/ALnwq/4JM/s4fsbfCsfGv9qTxj4f8DeGLTcv9p6/OsP2qZIJZ/s1tHzJ' +
  'd3LRQSsltCrzSeWwRGIxWfq3/BUHTvDniq28D/8ABM/9kXT9ftLDUAl14++KunXCWuoxo9xGwtNNtZoZ1ikAtZo7ieeOQK0kclojYcf/2Q==';
