/** IEEE 754 half precision (binary16) ↔ single precision, as raw 16-bit patterns. */

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** The nearest half (ties to even); overflow gives ±Infinity, values below half the smallest subnormal ±0. */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const bits = f32Bits[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15; // rebiased for binary16
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff - 127 + 15) return sign | (mantissa ? 0x7e00 : 0x7c00); // NaN (quiet) or Infinity
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) {
    // Subnormal half: the value in units of 2^-24, from the 24-bit significand with its implicit leading 1.
    if (exponent < -10) return sign;
    return sign | roundShift(mantissa | 0x800000, 14 - exponent);
  }
  // Rounding may carry into the exponent, which is right (up to Infinity).
  return sign | ((exponent << 10) + roundShift(mantissa, 13));
}

export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (0x400 + mantissa) * 2 ** (exponent - 25);
}

export function f32ToF16Array(values: Float32Array): Uint16Array {
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = f32ToF16Bits(values[i]);
  return bits;
}

let widened: Float32Array | undefined;

/** Through a table of all 65,536 halves (256 KiB, built on first use): millions of weights widen in milliseconds. */
export function f16ToF32Array(bits: Uint16Array): Float32Array {
  const table = (widened ??= Float32Array.from({ length: 0x10000 }, (_, half) => f16BitsToF32(half)));
  const values = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) values[i] = table[bits[i]];
  return values;
}

/** value / 2^shift rounded to the nearest integer, ties to even. */
function roundShift(value: number, shift: number): number {
  const quotient = value >>> shift;
  const remainder = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return remainder > half || (remainder === half && quotient & 1) ? quotient + 1 : quotient;
}
