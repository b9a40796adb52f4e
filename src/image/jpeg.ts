/** JPEG → RawImage with jpeg-js (pure JavaScript), after finding and checking the frame header ourselves. */

import jpeg from 'jpeg-js';
import { ImageError } from '../errors.js';
import { checkDecoderMemory, checkImageSize, type ImageLimits, type RawImage } from './raw-image.js';

/** The start-of-frame markers jpeg-js decodes: baseline, extended and progressive Huffman coding. */
const SUPPORTED_FRAMES = new Set([0xc0, 0xc1, 0xc2]);
/**
 * What jpeg-js really takes (measured in V8, RSS): each 8×8 block of coefficients is its own Int32Array(64),
 * 256 bytes plus ~500 of object and allocator overhead; each output line of a component its own Uint8Array.
 */
const JPEG_BYTES_PER_BLOCK = 768;
const JPEG_BYTES_PER_LINE_OBJECT = 256;

interface Frame {
  marker: number;
  width: number;
  height: number;
  /** Horizontal and vertical sampling factors of each component. */
  components: { h: number; v: number }[];
}

/** The start-of-image marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8;
}

export function decodeJpeg(bytes: Uint8Array, limits?: ImageLimits): RawImage {
  const frame = readFrame(bytes);
  if (!SUPPORTED_FRAMES.has(frame.marker)) {
    throw new ImageError(`unsupported JPEG coding (SOF${frame.marker - 0xc0}); baseline and progressive Huffman-coded JPEGs are supported`);
  }
  if (frame.height === 0) throw new ImageError('unsupported JPEG: the frame header leaves the height to a later DNL marker');
  checkImageSize('JPEG', frame.width, frame.height, limits);
  const memoryBytes = decoderMemoryBytes(frame);
  checkDecoderMemory('JPEG', frame.width, frame.height, memoryBytes, limits);
  // Our limits are the ones that count; jpeg-js's own (it counts less than it takes) only back them up for a
  // file with a second, larger frame header than the one read here.
  let decoded: { data: Uint8Array; width: number; height: number };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true, // Uint8Array rather than Node's Buffer
      formatAsRGBA: false,
      tolerantDecoding: false, // reject scans that address blocks outside the frame rather than skip them
      maxResolutionInMP: (frame.width * frame.height) / 1e6,
      maxMemoryUsageInMB: Math.ceil(memoryBytes / 2 ** 20),
    });
  } catch (error) {
    throw new ImageError(`corrupt or truncated JPEG: ${(error as Error).message}`);
  }
  const { data, width, height } = decoded;
  // jpeg-js writes gray images as RGB; keep one channel.
  if (frame.components.length === 1) return { data: data.filter((_, i) => i % 3 === 0), width, height, channels: 1 };
  return { data, width, height, channels: 3 };
}

/** Walks the marker segments up to the first start-of-frame (SOFn) and reads its size. */
function readFrame(bytes: Uint8Array): Frame {
  let at = 2;
  for (;;) {
    while (bytes[at] === 0xff && bytes[at + 1] === 0xff) at++; // fill bytes
    if (at + 4 > bytes.length) throw new ImageError('truncated JPEG: the file ends before the frame header');
    if (bytes[at] !== 0xff) throw new ImageError(`corrupt JPEG: no marker at byte ${at}`);
    const marker = bytes[at + 1];
    if (marker === 0xda || marker === 0xd9) throw new ImageError('corrupt JPEG: no frame header before the image data');
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    if (isStartOfFrame(marker)) {
      const count = bytes[at + 9];
      if (at + 10 + 3 * count > bytes.length) throw new ImageError('truncated JPEG: the file ends inside the frame header');
      if (count === 0) throw new ImageError('corrupt JPEG: the frame header lists no components');
      const components = Array.from({ length: count }, (_, i) => {
        const factors = bytes[at + 11 + 3 * i];
        return { h: factors >> 4, v: factors & 15 };
      });
      if (components.some(({ h, v }) => h < 1 || h > 4 || v < 1 || v > 4)) {
        throw new ImageError('corrupt JPEG: a component sampling factor is outside 1…4');
      }
      return { marker, height: (bytes[at + 5] << 8) | bytes[at + 6], width: (bytes[at + 7] << 8) | bytes[at + 8], components };
    }
    if (length < 2) throw new ImageError(`corrupt JPEG: segment length ${length} at byte ${at}`);
    at += 2 + length;
  }
}

/**
 * The most jpeg-js allocates for `frame`, as its decoder lays it out: coefficient blocks for whole MCUs, one line
 * per 8 rows of blocks per component, the interleaved samples, the RGB output and our copy of a gray channel.
 */
function decoderMemoryBytes({ width, height, components }: Frame): number {
  const maxH = Math.max(...components.map(({ h }) => h));
  const maxV = Math.max(...components.map(({ v }) => v));
  const mcusPerLine = Math.ceil(width / 8 / maxH), mcusPerColumn = Math.ceil(height / 8 / maxV);
  let bytes = width * height * (components.length + 3 + 1);
  for (const { h, v } of components) {
    bytes += mcusPerLine * h * mcusPerColumn * v * JPEG_BYTES_PER_BLOCK;
    const lineBytes = Math.ceil(Math.ceil(width / 8) * h / maxH) * 8;
    const lines = Math.ceil(Math.ceil(height / 8) * v / maxV) * 8;
    bytes += lines * (lineBytes + JPEG_BYTES_PER_LINE_OBJECT);
  }
  return bytes;
}

/** SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}
