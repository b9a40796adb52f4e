/** PNG → RawImage with fast-png (pure JavaScript), after checking the size in the IHDR chunk ourselves. */

import { convertIndexedToRgb, decode, type DecodedPng } from 'fast-png';
import { ImageError } from '../errors.js';
import { checkImageSize, type ImageLimits, type RawImage } from './raw-image.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Signature, then the IHDR chunk's length and type, then its width and height. */
const HEADER_BYTES = 24;

export function isPng(bytes: Uint8Array): boolean {
  return SIGNATURE.every((byte, i) => bytes[i] === byte);
}

export function decodePng(bytes: Uint8Array, limits?: ImageLimits): RawImage {
  if (bytes.length < HEADER_BYTES) throw new ImageError(`truncated PNG: ${bytes.length} bytes end inside the header`);
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') throw new ImageError('corrupt PNG: the first chunk is not IHDR');
  checkImageSize('PNG', header.getUint32(16), header.getUint32(20), limits);
  let png: DecodedPng;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch (error) {
    throw new ImageError(`corrupt or truncated PNG: ${(error as Error).message}`);
  }
  return toRawImage(png);
}

/** fast-png keeps palettes, bit depths and gray + alpha as they are in the file; narrow to 8-bit 1, 3 or 4 channels. */
function toRawImage(png: DecodedPng): RawImage {
  const { width, height } = png;
  if (png.palette) {
    const data = convertIndexedToRgb(png);
    return { data, width, height, channels: png.palette[0].length as 3 | 4 };
  }
  let data = png.depth === 16 ? to8Bits(png.data) : png.depth < 8 ? unpackGray(png) : (png.data as Uint8Array);
  if (png.channels === 2) data = data.filter((_, i) => i % 2 === 0); // drop the alpha of gray + alpha
  return { data, width, height, channels: png.channels === 2 ? 1 : (png.channels as 1 | 3 | 4) };
}

function to8Bits(samples: ArrayLike<number>): Uint8Array {
  return Uint8Array.from(samples, (sample) => Math.round(sample / 257));
}

/** Gray with 1, 2 or 4 bits per pixel, packed from the high bits, each row starting on a byte: spread to 0…255. */
function unpackGray({ data, width, height, depth }: DecodedPng): Uint8Array {
  const pixels = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const step = 255 / mask;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)];
      pixels[y * width + x] = ((byte >> (8 - depth - (bit & 7))) & mask) * step;
    }
  }
  return pixels;
}
