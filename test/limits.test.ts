/** Resource bounds: every limit is checked before the allocation it guards, with a typed error that names it. */

import { fileURLToPath } from 'node:url';
import { zlibSync } from 'fflate';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { ImageError, ModelFormatError } from '../src/errors.js';
import { buildGoogLeNet } from '../src/graph/googlenet.js';
import { decodeImage } from '../src/image/decode.js';
import { loadModel } from '../src/runtime/load.js';
import { crc32, withJpegSize } from './support/image-files.js';

const grayJpeg = (side: number) =>
  new Uint8Array(jpeg.encode({ data: new Uint8Array(side * side * 4).fill(128), width: side, height: side }, 50).data);

/** A 1×1 gray PNG whose image data inflates to `inflatedBytes` of zeros. */
function pngBomb(inflatedBytes: number): Uint8Array {
  const png = encodePng({ width: 1, height: 1, data: new Uint8Array([7]), channels: 1, depth: 8 });
  const idat = png.findIndex((_, i) => String.fromCharCode(...png.subarray(i, i + 4)) === 'IDAT') - 4;
  const length = new DataView(png.buffer, png.byteOffset).getUint32(idat);
  const data = zlibSync(new Uint8Array(inflatedBytes), { level: 9 });
  const chunk = new Uint8Array(12 + data.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  chunk.set([0x49, 0x44, 0x41, 0x54], 4);
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return new Uint8Array([...png.subarray(0, idat), ...chunk, ...png.subarray(idat + 12 + length)]);
}

describe('image limits', () => {
  it('refuses a small JPEG claiming 6000×6000 by the memory jpeg-js would take, before decoding', () => {
    const claim = withJpegSize(grayJpeg(64), 6000, 6000);
    expect(claim.length).toBeLessThan(10_000);
    expect(() => decodeImage(claim)).toThrow(ImageError);
    expect(() => decodeImage(claim)).toThrow(/6000×6000 JPEG image needs about 1[0-9]{3}\.\d MiB, more than the limit of 64\.0 MiB \(limits\.maxMemoryBytes\)/);
  });

  it('decodes a 1000² JPEG within the default 64 MiB, and a larger one only with a larger maxMemoryBytes', () => {
    expect(decodeImage(grayJpeg(1000)).width).toBe(1000);
    const large = grayJpeg(1400);
    expect(() => decodeImage(large)).toThrow(/maxMemoryBytes/);
    expect(decodeImage(large, { maxMemoryBytes: 128 * 2 ** 20 }).width).toBe(1400);
  });

  it('refuses a PNG whose image data inflates past what its header gives (a decompression bomb)', () => {
    const bomb = pngBomb(20 * 2 ** 20);
    expect(bomb.length).toBeLessThan(50_000);
    expect(() => decodeImage(bomb)).toThrow(/corrupt PNG: the image data inflates to more than the 2 bytes its header gives/);
    expect(decodeImage(pngBomb(2)).data).toEqual(new Uint8Array([0]));
  });

  it('refuses a PNG whose decoding would need more than maxMemoryBytes', () => {
    const png = encodePng({ width: 300, height: 300, data: new Uint8Array(300 * 300 * 4), channels: 4, depth: 8 });
    expect(decodeImage(png).width).toBe(300);
    expect(() => decodeImage(png, { maxMemoryBytes: 2 ** 20 })).toThrow(/300×300 PNG image needs about \d+\.\d MiB, more than the limit of 1\.0 MiB/);
  });
});

describe('model limits', () => {
  it('loads the 224² GoogLeNets within the defaults', async () => {
    for (const preset of ['torchvision', 'bvlc'] as const) {
      expect((await loadModel(buildGoogLeNet(preset), { variant: 'scalar' })).info.arenaBytes).toBeLessThan(32 * 2 ** 20);
    }
  });

  it('refuses model bytes over maxModelBytes before parsing them', async () => {
    await expect(loadModel(new Uint8Array(1000), { limits: { maxModelBytes: 999 } }))
      .rejects.toThrow(new ModelFormatError('the model is 1000 bytes, more than the limit of 999 (limits.maxModelBytes)'));
  });

  it('reads a path no further than maxModelBytes, even one with no size to check first (a device)', async () => {
    await expect(loadModel('/dev/zero', { limits: { maxModelBytes: 1_000_000 } }))
      .rejects.toThrow('cannot read /dev/zero: it is more than the limit of 1000000 bytes (limits.maxModelBytes)');
    await expect(loadModel(new URL('file:///dev/zero'), { limits: { maxModelBytes: 1_000_000 } })).rejects.toThrow(/limits.maxModelBytes/);
  });

  it('refuses a file over maxModelBytes by its size, before reading it', async () => {
    const path = fileURLToPath(new URL('../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url));
    await expect(loadModel(path, { limits: { maxModelBytes: 1_000_000 } }))
      .rejects.toThrow(`cannot read ${path}: it is more than the limit of 1000000 bytes (limits.maxModelBytes)`);
  });

  it('refuses a tensor over maxTensorElements and an arena over maxArenaBytes', async () => {
    await expect(loadModel(buildGoogLeNet('seed', { inputSize: 1024 }))).rejects.toThrow(/has \d+ elements, more than the limit of 8388608 \(limits\.maxTensorElements\)/);
    await expect(loadModel(buildGoogLeNet('torchvision'), { limits: { maxTensorElements: 1_000_000 } }))
      .rejects.toThrow(/the unfolded input of convolution ".*" has 1843968 elements|weight ".*" \[1000, 1024\] has 1024000 elements/);
    await expect(loadModel(buildGoogLeNet('torchvision'), { limits: { maxArenaBytes: 2 ** 20 } }))
      .rejects.toThrow(/the model's activations need \d+ bytes, more than the limit of 1048576 \(limits\.maxArenaBytes\)/);
  });

  it('refuses a limit that is no positive number', async () => {
    await expect(loadModel(new Uint8Array(10), { limits: { maxArenaBytes: -1 } })).rejects.toThrow(/limits\.maxArenaBytes must be a positive number, not -1/);
  });
});
