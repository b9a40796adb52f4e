/**
 * Symmetric per-output-channel int8 weights: channel m (the first axis) keeps scale[m] = max|w[m, …]| / 127 and
 * q = round-half-to-even(w / scale[m]) in [-127, 127], so w ≈ q · scale[m] within scale[m] / 2. -128 is never
 * written, so the range stays symmetric; a file from elsewhere may hold it, and the kernels are exact for it too.
 */
import type { QuantizedWeight, Weight } from '../graph/ir.js';

const INT8_LIMIT = 127;

export function quantizePerChannel({ dims, data }: Weight): QuantizedWeight {
  const channels = dims[0];
  const rowLength = data.length / channels;
  const values = new Int8Array(data.length);
  const scales = new Float32Array(channels);
  for (let channel = 0; channel < channels; channel++) {
    const start = channel * rowLength, end = start + rowLength;
    let largest = 0;
    for (let i = start; i < end; i++) largest = Math.max(largest, Math.abs(data[i]));
    // An all-zero channel (or one so small that its scale underflows float32) keeps scale 1 and all-zero values.
    const scale = Math.fround(largest / INT8_LIMIT) || 1;
    scales[channel] = scale;
    for (let i = start; i < end; i++) {
      values[i] = Math.max(-INT8_LIMIT, Math.min(INT8_LIMIT, roundHalfToEven(data[i] / scale)));
    }
  }
  return { values, scales };
}

/** An int8 weight that is dequantized only if something reads its float32 `data` (the int8 path never does). */
export function int8Weight(dims: number[], int8: QuantizedWeight): Weight {
  let data: Float32Array | undefined;
  return {
    dims,
    int8,
    get data() {
      return (data ??= dequantizePerChannel(int8.values, int8.scales));
    },
  };
}

/** q · scale[m] for every value, into `data` (a new array unless given one of at least as many elements). */
export function dequantizePerChannel(values: Int8Array, scales: Float32Array, data = new Float32Array(values.length)): Float32Array {
  const rowLength = values.length / scales.length;
  for (let channel = 0; channel < scales.length; channel++) {
    const start = channel * rowLength, end = start + rowLength;
    for (let i = start; i < end; i++) data[i] = values[i] * scales[channel];
  }
  return data;
}

/** Rounds halves to the even neighbour, as Python's round() and the IEEE default (and wasm's `nearest`) do. */
export function roundHalfToEven(x: number): number {
  const rounded = Math.round(x); // halves go up
  return rounded - x === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}
