/**
 * PNG → RawImage with fast-png (pure JavaScript), after checking the IHDR chunk and bounding decompression
 * ourselves: fast-png inflates whatever a file holds, and deflate expands up to ~1000×, so a 5 MB upload could
 * otherwise become gigabytes.
 */

import { Unzlib } from 'fflate';
import { convertIndexedToRgb, decode, type DecodedPng } from 'fast-png';
import { ImageError } from '../errors.js';
import { checkDecoderMemory, checkImageSize, type ImageLimits, type RawImage } from './raw-image.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Signature, then the IHDR chunk's length and type and its 13 bytes of data. */
const HEADER_BYTES = 33;
/** Samples per pixel of each PNG color type (gray, RGB, palette index, gray + alpha, RGBA) and its bit depths. */
const COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};
const PALETTE_COLOR_TYPE = 3;
/** Chunks the pixels need; the rest (iCCP's compressed profile, text, …) never reach the decoder. */
const DECODED_CHUNKS = new Set(['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND']);
/** Adam7 passes: first column and row, column and row steps. */
const ADAM7_PASSES = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

interface Header {
  width: number;
  height: number;
  colorType: number;
  /** Bits per pixel. */
  bitsPerPixel: number;
  interlaced: boolean;
}

export function isPng(bytes: Uint8Array): boolean {
  return SIGNATURE.every((byte, i) => bytes[i] === byte);
}

export function decodePng(bytes: Uint8Array, limits?: ImageLimits): RawImage {
  const header = readHeader(bytes);
  const { width, height, bitsPerPixel } = header;
  checkImageSize('PNG', width, height, limits);
  // The inflated rows twice (fast-png's chunks, then joined), its pixels (16-bit samples at most), our 8-bit copy.
  const inflatedBytes = filteredImageBytes(header);
  checkDecoderMemory('PNG', width, height, 2 * inflatedBytes + width * height * (Math.ceil(bitsPerPixel / 8) + 4), limits);
  const decoded = keepDecodedChunks(bytes);
  if (header.colorType === PALETTE_COLOR_TYPE) checkPalette(decoded.paletteBytes);
  checkInflatedSize(decoded.imageData, inflatedBytes);
  try {
    // fast-png throws plain errors, for a pixel that indexes past the palette among others.
    return toRawImage(decode(decoded.file, { checkCrc: true }));
  } catch (error) {
    throw new ImageError(`corrupt or truncated PNG: ${(error as Error).message}`);
  }
}

/** A palette image needs its PLTE chunk: 1 to 256 RGB entries. */
function checkPalette(paletteBytes: number | undefined): void {
  if (paletteBytes === undefined) throw new ImageError('corrupt PNG: a palette image without a PLTE chunk');
  if (paletteBytes === 0 || paletteBytes % 3 !== 0 || paletteBytes > 3 * 256) {
    throw new ImageError(`corrupt PNG: a PLTE chunk of ${paletteBytes} bytes (it holds 1 to 256 RGB entries)`);
  }
}

function readHeader(bytes: Uint8Array): Header {
  if (bytes.length < HEADER_BYTES) throw new ImageError(`truncated PNG: ${bytes.length} bytes end inside the header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (chunkType(bytes, 8) !== 'IHDR') throw new ImageError('corrupt PNG: the first chunk is not IHDR');
  const depth = bytes[24], colorType = bytes[25], interlace = bytes[28];
  const type = COLOR_TYPES[colorType];
  if (type === undefined) throw new ImageError(`corrupt PNG: color type ${colorType} does not exist`);
  if (!type.depths.includes(depth)) throw new ImageError(`corrupt PNG: color type ${colorType} has no bit depth ${depth}`);
  if (interlace > 1) throw new ImageError(`corrupt PNG: interlace method ${interlace} does not exist`);
  return {
    width: view.getUint32(16), height: view.getUint32(20), colorType, bitsPerPixel: type.channels * depth, interlaced: interlace === 1,
  };
}

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(...bytes.subarray(at + 4, at + 8));
}

/** What the image data inflates to: each row of each pass with its filter-type byte. */
function filteredImageBytes({ width, height, bitsPerPixel, interlaced }: Header): number {
  const rows = (columns: number, count: number) => (columns > 0 && count > 0 ? count * (1 + Math.ceil((columns * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  return ADAM7_PASSES.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/**
 * The file with only the chunks the pixels need (checked to lie within it), its image data chunks and the size of
 * its PLTE chunk's data, if any.
 */
function keepDecodedChunks(bytes: Uint8Array): { file: Uint8Array; imageData: Uint8Array[]; paletteBytes?: number } {
  const kept: Uint8Array[] = [bytes.subarray(0, SIGNATURE.length)];
  const imageData: Uint8Array[] = [];
  let paletteBytes: number | undefined;
  let at = SIGNATURE.length;
  for (;;) {
    if (at + 12 > bytes.length) throw new ImageError(`truncated PNG: the file ends at byte ${bytes.length}, before the IEND chunk`);
    const length = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0);
    const type = chunkType(bytes, at);
    const end = at + 12 + length;
    if (end > bytes.length) throw new ImageError(`truncated PNG: chunk ${JSON.stringify(type)} at byte ${at} runs past the end of the file`);
    if (DECODED_CHUNKS.has(type)) kept.push(bytes.subarray(at, end));
    if (type === 'IDAT') imageData.push(bytes.subarray(at + 8, end - 4));
    if (type === 'PLTE') paletteBytes = length;
    if (type === 'IEND') break;
    at = end;
  }
  const file = new Uint8Array(kept.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of kept) {
    file.set(chunk, offset);
    offset += chunk.length;
  }
  return { file, imageData, paletteBytes };
}

/**
 * Inflates the image data, keeping nothing, and throws as soon as it passes what the header says it holds. This
 * inflates every PNG twice (fast-png inflates again to decode): the price of bounding memory before decoding.
 */
function checkInflatedSize(imageData: Uint8Array[], expectedBytes: number): void {
  let inflated = 0;
  const tooLarge = new ImageError(`corrupt PNG: the image data inflates to more than the ${expectedBytes} bytes its header gives`);
  const inflater = new Unzlib((chunk) => {
    inflated += chunk.length;
    if (inflated > expectedBytes) throw tooLarge;
  });
  try {
    imageData.forEach((data, i) => inflater.push(data, i === imageData.length - 1));
  } catch (error) {
    if (error === tooLarge) throw error;
    throw new ImageError(`corrupt PNG: the image data does not inflate: ${(error as Error).message}`);
  }
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
