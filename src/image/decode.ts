/** Encoded image bytes → RawImage, by their magic bytes; runs anywhere (pure JavaScript, no Node APIs). */

import { ImageError } from '../errors.js';
import { decodeJpeg, isJpeg } from './jpeg.js';
import { decodePng, isPng } from './png.js';
import type { ImageLimits, RawImage } from './raw-image.js';

/**
 * Decodes a PNG or JPEG file to 8-bit pixels: gray, RGB or RGBA as stored (palettes expanded, 16-bit and
 * low-bit samples scaled to 0…255, the alpha of gray + alpha dropped). Throws ImageError for anything else,
 * for corrupt or truncated files, and for sizes beyond `limits`, before allocating for the pixels.
 */
export function decodeImage(bytes: Uint8Array | ArrayBuffer, limits?: ImageLimits): RawImage {
  const data = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  if (!(data instanceof Uint8Array)) throw new ImageError('an encoded image must be a Uint8Array or ArrayBuffer');
  if (data.length === 0) throw new ImageError('the image is empty (0 bytes)');
  if (isPng(data)) return decodePng(data, limits);
  if (isJpeg(data)) return decodeJpeg(data, limits);
  throw new ImageError(`not a PNG or JPEG image (it starts with ${hexPrefix(data)})`);
}

function hexPrefix(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 8)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
}
