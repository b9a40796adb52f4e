// Reads Fashion-MNIST from Debian's dataset-fashion-mnist package: gzip'd idx files (big-endian header, then bytes).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The `split` ('train' or 't10k') as { images: Uint8Array (count × 28 × 28), labels: Uint8Array, count, rows, cols }. */
export async function readFashionMnist(split, dir = FASHION_MNIST_DIR) {
  const images = await readIdx(join(dir, `${split}-images-idx3-ubyte.gz`), 2051);
  const labels = await readIdx(join(dir, `${split}-labels-idx1-ubyte.gz`), 2049);
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`${dir}: ${count} ${split} images but ${labels.dims[0]} labels`);
  return { images: images.data, labels: labels.data, count, rows, cols };
}

async function readIdx(path, magic) {
  const bytes = gunzipSync(await readFile(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== magic) throw new Error(`${path}: not an idx file with magic ${magic}`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  return { dims, data: bytes.subarray(4 + 4 * rank) };
}
