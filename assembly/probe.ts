// A numeric probe of the one relaxed-SIMD instruction known to misbehave on some hosts (Node 20 with
// --experimental-wasm-relaxed-simd returned twice the right value). The runtime compares the result with
// the exact integer dot product before it accepts the relaxed build.

const probeA: usize = memory.data<i8>([1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15, -16]);
const probeB: usize = memory.data<i8>([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3]);

/** Σ a[i]·b[i] over 16 int8 pairs (b within 7 bits, where the relaxed dot is fully defined), plus 1000. */
export function probeInt8Dot(): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const lanes = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(probeA), v128.load(probeB), i32x4.splat(250));
    return i32x4.extract_lane(lanes, 0) + i32x4.extract_lane(lanes, 1) +
      i32x4.extract_lane(lanes, 2) + i32x4.extract_lane(lanes, 3);
  }
  let sum = 1000;
  for (let i = 0; i < 16; i++) sum += <i32>load<i8>(probeA + i) * <i32>load<i8>(probeB + i);
  return sum;
}
