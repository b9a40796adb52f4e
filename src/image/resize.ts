/**
 * Separable resampling of one 8-bit channel into float32, computing only a window of the resized image (the
 * center crop). Pixel x covers [x, x + 1) and has its centre at x + 0.5 (half-pixel centres, as PIL and
 * torchvision); each output pixel is a normalised weighted sum of the source pixels near its centre:
 *
 * - bilinear: PIL's: a triangle filter one source pixel wide when enlarging (plain bilinear interpolation, as
 *   torch's interpolate with align_corners=False), widened by the scale factor when shrinking (antialiased).
 * - area: the mean over the output pixel's footprint, partly covered source pixels weighted by the covered
 *   fraction; an integer shrink is the mean of each block.
 */

import type { Preprocess } from '../format/preprocess.js';

export type ResizeMethod = Preprocess['resize']['method'];

/** One channel of an interleaved image: pixel (x, y) is data[(y * width + x) * stride + offset]. */
export interface Plane {
  data: ArrayLike<number>;
  width: number;
  height: number;
  stride: number;
  offset: number;
}

/** The `width`×`height` window at (left, top) of the image resized to `fullWidth`×`fullHeight`. */
export interface ResizeWindow {
  fullWidth: number;
  fullHeight: number;
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Per output pixel: the first source pixel it reads, how many, and their weights (`taps` slots each). */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  taps: number;
}

/** The window of `plane` resized, row-major. */
export function resizePlane(plane: Plane, window: ResizeWindow, method: ResizeMethod): Float32Array {
  const { data, width: sourceWidth, stride, offset } = plane;
  const { width, height } = window;
  const columns = sourceTaps(sourceWidth, window.fullWidth, window.left, width, method);
  const rows = sourceTaps(plane.height, window.fullHeight, window.top, height, method);
  // Horizontal pass over the source rows the vertical pass reads.
  const firstRow = rows.first[0];
  const endRow = rows.first[height - 1] + rows.count[height - 1];
  const horizontal = new Float32Array((endRow - firstRow) * width);
  for (let y = firstRow; y < endRow; y++) {
    const rowStart = y * sourceWidth;
    for (let x = 0; x < width; x++) {
      let sum = 0;
      const first = columns.first[x], weightsAt = x * columns.taps;
      for (let k = 0; k < columns.count[x]; k++) {
        sum += columns.weights[weightsAt + k] * data[(rowStart + first + k) * stride + offset];
      }
      horizontal[(y - firstRow) * width + x] = sum;
    }
  }
  const output = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const first = rows.first[y] - firstRow, weightsAt = y * rows.taps;
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = 0; k < rows.count[y]; k++) sum += rows.weights[weightsAt + k] * horizontal[(first + k) * width + x];
      output[y * width + x] = sum;
    }
  }
  return output;
}

/** Source taps along one axis for outputs from … from + count − 1 of a resize from `inSize` to `outSize`. */
function sourceTaps(inSize: number, outSize: number, from: number, count: number, method: ResizeMethod): Taps {
  const scale = inSize / outSize;
  const weightAt = method === 'bilinear' ? triangle(Math.max(scale, 1)) : footprintOverlap(scale);
  // Source pixels whose centres are `reach` or more from an output pixel's centre get no weight.
  const reach = method === 'bilinear' ? Math.max(scale, 1) : scale / 2 + 0.5;
  const taps = Math.ceil(2 * reach) + 1;
  const result: Taps = {
    first: new Int32Array(count), count: new Int32Array(count), weights: new Float64Array(count * taps), taps,
  };
  for (let i = 0; i < count; i++) {
    const centre = (from + i + 0.5) * scale;
    const first = Math.max(0, Math.floor(centre - reach - 0.5) + 1);
    const end = Math.min(inSize, Math.ceil(centre + reach - 0.5));
    const weights = result.weights.subarray(i * taps, i * taps + end - first);
    for (let x = first; x < end; x++) weights[x - first] = weightAt(x + 0.5 - centre);
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    for (let k = 0; k < weights.length; k++) weights[k] /= total;
    result.first[i] = first;
    result.count[i] = end - first;
  }
  return result;
}

/** Weight of a source pixel whose centre is `distance` from the output pixel's centre (in source pixels). */
type Filter = (distance: number) => number;

function triangle(halfWidth: number): Filter {
  return (distance) => Math.max(0, 1 - Math.abs(distance) / halfWidth);
}

/** How much of the source pixel [d − ½, d + ½] lies in the output pixel's footprint [−scale/2, scale/2]. */
function footprintOverlap(scale: number): Filter {
  return (distance) => Math.max(0, Math.min(distance + 0.5, scale / 2) - Math.max(distance - 0.5, -scale / 2));
}
