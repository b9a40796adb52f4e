/** NumPy .npy files (format versions 1–3) holding little-endian float32 arrays in C order. */

import { InputError } from '../errors.js';
import type { Tensor } from '../runtime/model.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

export function parseNpy(bytes: Uint8Array, what = 'file'): Tensor {
  const fail = (why: string): never => {
    throw new InputError(`${what} is not a float32 .npy file: ${why}`);
  };
  if (bytes.length < 10 || MAGIC.some((byte, i) => bytes[i] !== byte)) fail('missing the \\x93NUMPY magic');
  const major = bytes[6];
  if (major < 1 || major > 3) fail(`unsupported format version ${major}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) fail('the header runs past the end of the file');
  const header = new TextDecoder().decode(bytes.subarray(headerStart, dataStart));

  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  if (descr !== '<f4') fail(`dtype is ${descr ?? 'missing'}, expected '<f4' (float32)`);
  if (!/'fortran_order':\s*False/.test(header)) fail('only C-order arrays are supported');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? fail('no shape in the header');
  const dims = shapeText.split(',').map((d) => d.trim()).filter(Boolean).map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) fail(`bad shape (${shapeText})`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count * 4) {
    fail(`shape (${dims.join(', ')}) needs ${count * 4} data bytes, the file has ${bytes.length - dataStart}`);
  }
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart));
  return { data, dims };
}

export function formatNpy({ data, dims }: Tensor): Uint8Array {
  const shape = dims.length === 1 ? `${dims[0]},` : dims.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }`;
  // The header, including the 10-byte preamble and a final newline, is padded to a multiple of 64 bytes.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const bytes = new Uint8Array(10 + header.length + data.byteLength);
  bytes.set(MAGIC);
  bytes.set([1, 0, header.length & 0xff, header.length >> 8], 6);
  bytes.set(new TextEncoder().encode(header), 10);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return bytes;
}
