/** Decoded pixels, and the checks every image passes before anything large is allocated for it. */

import { ImageError, InputError } from '../errors.js';

/** 8-bit pixels, row-major HWC: 1 channel (gray), 3 (RGB) or 4 (RGBA; alpha is ignored). */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** The largest image a decoder accepts, checked against the file's header before decoding. */
export interface ImageLimits {
  /** Pixels per side (default 16384). */
  maxSide?: number;
  /** Pixels in all (default 40 million). */
  maxPixels?: number;
  /**
   * Bytes the decoder may allocate for the image, estimated from its header (default 64 MiB, which leaves a
   * 128 MB Cloudflare Worker room for the model). A JPEG decodes through per-block buffers that take far more
   * than its pixels (about 46 bytes per pixel without chroma subsampling), so this is the limit that bounds
   * memory; the others bound time and the sizes a header can claim.
   */
  maxMemoryBytes?: number;
}

export const DEFAULT_IMAGE_LIMITS: Required<ImageLimits> = { maxSide: 16384, maxPixels: 40_000_000, maxMemoryBytes: 64 * 2 ** 20 };

/**
 * `limits` over `defaults` (the library's unless given); throws InputError for a limit that is not a positive
 * number, so that a mistyped or undefined limit cannot switch a bound off.
 */
export function resolveImageLimits(limits: ImageLimits = {}, defaults: Required<ImageLimits> = DEFAULT_IMAGE_LIMITS): Required<ImageLimits> {
  const resolved = { ...defaults };
  for (const [name, value] of Object.entries(limits) as [keyof ImageLimits, unknown][]) {
    if (!(name in defaults)) throw new InputError(`limits.${name} is no image limit (${Object.keys(defaults).join(', ')})`);
    if (!(typeof value === 'number' && value > 0)) throw new InputError(`limits.${name} must be a positive number, not ${value}`);
    resolved[name] = value;
  }
  return resolved;
}

/** Throws ImageError unless `width`×`height` (from a `format` header) is a non-empty size within `limits`. */
export function checkImageSize(format: string, width: number, height: number, limits: ImageLimits = {}): void {
  const { maxSide, maxPixels } = resolveImageLimits(limits);
  const size = `${width}×${height}`;
  if (width < 1 || height < 1) throw new ImageError(`the ${format} header gives an empty size ${size}`);
  if (width > maxSide || height > maxSide) {
    throw new ImageError(`the ${format} image is ${size} pixels, more than the limit of ${maxSide} per side`);
  }
  if (width * height > maxPixels) {
    throw new ImageError(`the ${format} image is ${size} pixels, more than the limit of ${maxPixels} pixels`);
  }
}

/** Throws ImageError if decoding the `width`×`height` `format` image would allocate more than `limits` allow. */
export function checkDecoderMemory(format: string, width: number, height: number, bytes: number, limits: ImageLimits = {}): void {
  const { maxMemoryBytes } = resolveImageLimits(limits);
  if (bytes > maxMemoryBytes) {
    const mib = (value: number) => `${(value / 2 ** 20).toFixed(1)} MiB`;
    throw new ImageError(
      `decoding the ${width}×${height} ${format} image needs about ${mib(bytes)}, more than the limit of ${mib(maxMemoryBytes)} (limits.maxMemoryBytes)`,
    );
  }
}

/** Throws ImageError unless `image` is a RawImage whose data fits its size. */
export function checkRawImage(image: RawImage): void {
  if (typeof image !== 'object' || image === null) {
    throw new ImageError('an image must be PNG or JPEG bytes or raw pixels { data, width, height, channels }');
  }
  const { data, width, height, channels } = image;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new ImageError('raw image data must be a Uint8Array or Uint8ClampedArray');
  }
  if (![width, height].every((side) => Number.isInteger(side) && side > 0)) {
    throw new ImageError(`raw image size ${width}×${height} must be positive integers`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new ImageError(`raw image channels must be 1, 3 or 4, not ${channels}`);
  }
  if (data.length !== width * height * channels) {
    throw new ImageError(`raw image data has ${data.length} bytes; ${width}×${height}×${channels} needs ${width * height * channels}`);
  }
}
