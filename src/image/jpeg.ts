/** JPEG → RawImage with jpeg-js (pure JavaScript), after finding and checking the frame header ourselves. */

import jpeg from 'jpeg-js';
import { ImageError } from '../errors.js';
import { checkImageSize, type ImageLimits, type RawImage } from './raw-image.js';

/** The start-of-frame markers jpeg-js decodes: baseline, extended and progressive Huffman coding. */
const SUPPORTED_FRAMES = new Set([0xc0, 0xc1, 0xc2]);
/**
 * What jpeg-js counts against its own memory limit, per pixel of the frame padded to whole MCUs (up to 32×32):
 * for each of up to 4 components int32 coefficients, a line buffer and the interleaved samples; the RGB output.
 */
const JPEG_DECODER_BYTES_PER_PIXEL = 4 * (4 + 1 + 1) + 3;
const MCU_PADDING = 31;

interface Frame {
  marker: number;
  width: number;
  height: number;
  components: number;
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
  // Our limits are the ones that count; jpeg-js's limits only have to let through what they let through.
  const paddedPixels = (frame.width + MCU_PADDING) * (frame.height + MCU_PADDING);
  let decoded: { data: Uint8Array; width: number; height: number };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true, // Uint8Array rather than Node's Buffer
      formatAsRGBA: false,
      tolerantDecoding: false, // reject scans that address blocks outside the frame rather than skip them
      maxResolutionInMP: (frame.width * frame.height) / 1e6,
      maxMemoryUsageInMB: Math.ceil((paddedPixels * JPEG_DECODER_BYTES_PER_PIXEL) / 2 ** 20) + 1,
    });
  } catch (error) {
    throw new ImageError(`corrupt or truncated JPEG: ${(error as Error).message}`);
  }
  const { data, width, height } = decoded;
  // jpeg-js writes gray images as RGB; keep one channel.
  if (frame.components === 1) return { data: data.filter((_, i) => i % 3 === 0), width, height, channels: 1 };
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
      if (at + 10 > bytes.length) throw new ImageError('truncated JPEG: the file ends inside the frame header');
      return {
        marker,
        height: (bytes[at + 5] << 8) | bytes[at + 6],
        width: (bytes[at + 7] << 8) | bytes[at + 8],
        components: bytes[at + 9],
      };
    }
    if (length < 2) throw new ImageError(`corrupt JPEG: segment length ${length} at byte ${at}`);
    at += 2 + length;
  }
}

/** SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}
