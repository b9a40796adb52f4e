// int8 convolution: weights int8 per output channel (±127 as the runtime quantises them; a file may hold −128 too),
// activations quantised per tensor to unsigned 8-bit values q = round(x / scale) + zeroPoint in [0, 255], products
// summed exactly in i32:
//
//   y[m][n] = (Σₖ w_q[m][k]·x_q[k][n] − zeroPoint·Σₖ w_q[m][k]) · (scale · weightScale[m]) + bias[m]
//
// Every build computes the same integers and goes through the same epilogue arithmetic, so all three give
// bit-identical outputs. (The relaxed int8 dot is not used: it is only deterministic for a 7-bit second operand,
// 7-bit activations double the rounding error, and on x64 V8 it is no faster than dot_i16x8_s.) The epilogue
// writes f32, or bytes again for a calibrated model whose next int8 layer takes them.
//
//   y[m][n] as bytes = clamp(round(y[m][n] / outputScale) + outputZeroPoint, 0, 255)
//
// Both operands are stored in groups of INT8_GROUP = 2 consecutive k as 2 × i16 (4 bytes), the operand
// shape of i32x4.dot_i16x8_s, which sums 2 products per lane:
//
// Weights (packed once at load):  panel p, group g:  row 0: [4 bytes]  row 1  row 2  row 3      (16 bytes)
// Activations (packed per run):   tile j,  group g:  col 0: [4 bytes]  col 1  …      col 7      (32 bytes)
//
// so one v128 load of a panel's group, broadcast lane by lane, meets two v128 loads of eight columns, as in the
// f32 GEMM.

import { broadcastLane, GEMM_MR, GEMM_NR, instanceScratch, storeTilePart, TILE_SPILL_BYTES } from './gemm';
import { largerOf, largerOf4, smallerOf, smallerOf4 } from './lanes';

/** k values per 4-byte group. */
const INT8_GROUP: i32 = 2;

/** Groups per packed row or column. */
// @ts-ignore: decorator
@inline export function groupsOf(K: i32): i32 {
  return (K + INT8_GROUP - 1) / INT8_GROUP;
}

/** Bytes of the packed weights of an [M × K] convolution (packInt8Weights' dst). */
export function int8WeightBytes(M: i32, K: i32): usize {
  return <usize>((M + GEMM_MR - 1) / GEMM_MR) * GEMM_MR * groupsOf(K) * 4;
}

/** Writes one quantised value as lane `lane` of the 4-byte group at `group`. */
// @ts-ignore: decorator
@inline function storeQuantised(group: usize, lane: i32, value: i32): void {
  store<i16>(group + (<usize>lane << 1), <i16>value);
}

// @ts-ignore: decorator
@inline function loadQuantised(group: usize, lane: i32): i32 {
  return <i32>load<i16>(group + (<usize>lane << 1));
}

/**
 * Packs row-major int8 weights [M × K] (quantised per row) into GEMM_MR-row panels of
 * k-groups, and writes each row's sum of values (for the zero-point correction); rows past M get zeros.
 *
 * A row's values go to one lane of each group of its panel. SIMD builds take 16 values at a time: widened to
 * i16, each i32 lane of the result is one group's pair, stored to its group 16 bytes after the previous one.
 */
export function packInt8Weights(src: usize, dst: usize, M: i32, K: i32, rowSums: usize): void {
  const groups = groupsOf(K);
  const panels = (M + GEMM_MR - 1) / GEMM_MR;
  const groupBytes = GEMM_MR * 4;
  memory.fill(dst, 0, int8WeightBytes(M, K));
  for (let m = 0; m < panels * GEMM_MR; m++) {
    const row = src + <usize>m * K;
    const lane = dst + <usize>(m / GEMM_MR) * groups * groupBytes + <usize>(m % GEMM_MR) * 4;
    let sum = 0;
    let k = 0;
    if (ASC_FEATURE_SIMD && m < M) {
      let sums = i32x4.splat(0);
      for (; k + 16 <= K; k += 16) {
        const values = v128.load(row + <usize>k);
        const low = i16x8.extend_low_i8x16_s(values), high = i16x8.extend_high_i8x16_s(values);
        const at = lane + <usize>(k / INT8_GROUP) * groupBytes;
        v128.store32_lane(at, low, 0, 0); v128.store32_lane(at, low, 1, groupBytes);
        v128.store32_lane(at, low, 2, 2 * groupBytes); v128.store32_lane(at, low, 3, 3 * groupBytes);
        v128.store32_lane(at, high, 0, 4 * groupBytes); v128.store32_lane(at, high, 1, 5 * groupBytes);
        v128.store32_lane(at, high, 2, 6 * groupBytes); v128.store32_lane(at, high, 3, 7 * groupBytes);
        sums = i32x4.add(sums, i32x4.add(i32x4.extadd_pairwise_i16x8_s(low), i32x4.extadd_pairwise_i16x8_s(high)));
      }
      sum = i32x4.extract_lane(sums, 0) + i32x4.extract_lane(sums, 1) + i32x4.extract_lane(sums, 2) + i32x4.extract_lane(sums, 3);
    }
    for (; m < M && k < K; k++) {
      const q = <i32>load<i8>(row + <usize>k);
      storeQuantised(lane + <usize>(k / INT8_GROUP) * groupBytes, k % INT8_GROUP, q);
      sum += q;
    }
    store<i32>(rowSums + (<usize>m << 2), sum);
  }
}

// @ts-ignore: decorator
@inline export function quantise(x: f32, inverseScale: f32, zeroPoint: f32): i32 {
  return <i32>smallerOf(largerOf(nearest(x * inverseScale) + zeroPoint, 0), 255);
}

/** quantise() on four lanes, rounding exactly as the scalar version does. */
// @ts-ignore: decorator
@inline export function quantise4(x: v128, inverseScale: v128, zeroPoint: v128): v128 {
  const q = f32x4.add(f32x4.nearest(f32x4.mul(x, inverseScale)), zeroPoint);
  return i32x4.trunc_sat_f32x4_s(smallerOf4(largerOf4(q, f32x4.splat(0)), f32x4.splat(255)));
}

/** Eight f32 values (four in `low`, then four in `high`) as quantise4's bytes, in the low eight bytes. */
// @ts-ignore: decorator
@inline export function quantise8(low: v128, high: v128, inverseScale: v128, zeroPoint: v128): v128 {
  const words = i16x8.narrow_i32x4_s(quantise4(low, inverseScale, zeroPoint), quantise4(high, inverseScale, zeroPoint));
  return i8x16.narrow_i16x8_u(words, words);
}

/** Writes the minimum and maximum of x[0..n) to out[0] and out[1]. */
export function activationRange(x: usize, n: i32, out: usize): void {
  let low = Infinity as f32, high = -Infinity as f32;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let lows = f32x4.splat(Infinity), highs = f32x4.splat(-Infinity);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      lows = smallerOf4(lows, v);
      highs = largerOf4(highs, v);
    }
    low = min(min(f32x4.extract_lane(lows, 0), f32x4.extract_lane(lows, 1)), min(f32x4.extract_lane(lows, 2), f32x4.extract_lane(lows, 3)));
    high = max(max(f32x4.extract_lane(highs, 0), f32x4.extract_lane(highs, 1)), max(f32x4.extract_lane(highs, 2), f32x4.extract_lane(highs, 3)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    low = smallerOf(low, v);
    high = largerOf(high, v);
  }
  store<f32>(out, low);
  store<f32>(out, high, 4);
}

/** Quantises n floats at src to unsigned bytes at dst: q = clamp(round(x / scale) + zeroPoint, 0, 255). */
export function quantiseActivations(src: usize, n: i32, inverseScale: f32, zeroPoint: i32, dst: usize): void {
  const zero = <f32>zeroPoint;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const inverse = f32x4.splat(inverseScale), zeros = f32x4.splat(zero);
    for (; i + 16 <= n; i += 16) {
      const at = src + (<usize>i << 2);
      const low = i16x8.narrow_i32x4_s(quantise4(v128.load(at), inverse, zeros), quantise4(v128.load(at, 16), inverse, zeros));
      const high = i16x8.narrow_i32x4_s(quantise4(v128.load(at, 32), inverse, zeros), quantise4(v128.load(at, 48), inverse, zeros));
      v128.store(dst + <usize>i, i8x16.narrow_i16x8_u(low, high));
    }
  }
  for (; i < n; i++) store<u8>(dst + <usize>i, quantise(load<f32>(src + (<usize>i << 2)), inverseScale, zero));
}

/**
 * Packs the quantised matrix src[K × N] of bytes (rows `rowStride` apart: a quantised feature map or its
 * im2col) as the int8 GEMM's B operand: tiles of GEMM_NR columns, k in pairs of i16. The pad row of an odd K
 * holds the zero point (its weights are zero). Columns past N in the last tile are garbage that is never
 * stored, read from the slack after src.
 *
 *   row k:   [x0 x1 … x7]   8 bytes each,       interleave:  [x0 y0 x1 y1 … x7 y7]   widen to i16:  group
 *   row k+1: [y0 y1 … y7]   loaded side by side    →            (16 bytes)             →           (32 bytes)
 */
export function packQuantisedColumns(src: usize, rowStride: i32, K: i32, N: i32, zeroPoint: i32, dst: usize): void {
  const groups = groupsOf(K);
  const rowBytes = <usize>rowStride;
  for (let n0 = 0; n0 < N; n0 += GEMM_NR) {
    for (let g = 0; g < groups; g++) {
      const even = src + <usize>(2 * g) * rowBytes + <usize>n0;
      const hasOdd = 2 * g + 1 < K;
      const odd = even + rowBytes;
      if (ASC_FEATURE_SIMD) {
        const oddRow = hasOdd ? v128.load64_zero(odd) : i8x16.splat(<i8>zeroPoint);
        const pairs = v128.shuffle<u8>(v128.load64_zero(even), oddRow, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        v128.store(dst, i16x8.extend_low_i8x16_u(pairs));
        v128.store(dst, i16x8.extend_high_i8x16_u(pairs), 16);
      } else {
        for (let j = 0; j < min(GEMM_NR, N - n0); j++) {
          const at = <usize>j << 2;
          storeQuantised(dst + at, 0, load<u8>(even + <usize>j));
          storeQuantised(dst + at, 1, hasOdd ? load<u8>(odd + <usize>j) : zeroPoint);
        }
      }
      dst += GEMM_NR * 4;
    }
  }
}

/**
 * Rows [firstRow, M) (firstRow a multiple of GEMM_MR) of C[M × N] (row stride ldc values) from packed int8 weights
 * and activations; `activationScale`/`zeroPoint` describe the activations, `weightScales`/`rowSums`/`bias` (padded
 * to whole panels) the weights; the pointers are the whole matrices'. C is f32, or
 * with `outputInverseScale` > 0 quantised bytes: quantise(value, outputInverseScale, outputZeroPoint) of the
 * same f32 value, so that a layer feeding int8 layers hands them bytes. With `sums`, C is instead the raw i32
 * sums Σₖ A[m][k]·B[k][n] (gemmInt8Sums).
 */
export function gemmInt8(
  packedA: usize, packedB: usize, C: usize, ldc: i32, firstRow: i32, M: i32, N: i32, K: i32,
  activationScale: f32, zeroPoint: i32, weightScales: usize, rowSums: usize, bias: usize, relu: bool,
  outputInverseScale: f32, outputZeroPoint: i32, sums: bool = false,
): void {
  const outputZero = <f32>outputZeroPoint;
  const groups = groupsOf(K);
  const panels = (M + GEMM_MR - 1) / GEMM_MR;
  const panelBytes = <usize>groups * GEMM_MR * 4;
  const tileBytes = <usize>groups * GEMM_NR * 4;
  const valueBytes: usize = outputInverseScale > 0 ? 1 : 4;
  for (let n0 = 0, tile = 0; n0 < N; n0 += GEMM_NR, tile++) {
    const cols = min(GEMM_NR, N - n0);
    const b = packedB + <usize>tile * tileBytes;
    for (let p = firstRow / GEMM_MR; p < panels; p++) {
      const row0 = p * GEMM_MR;
      const a = packedA + <usize>p * panelBytes;
      const rowOffset = <usize>row0 << 2;
      const epilogue: usize = sums ? 0 : loadEpilogue(activationScale, zeroPoint, weightScales + rowOffset, rowSums + rowOffset, bias + rowOffset);
      const c = C + (<usize>row0 * ldc + n0) * valueBytes;
      const rows = min(GEMM_MR, M - row0);
      const ldcBytes = <usize>ldc * valueBytes;
      if (ASC_FEATURE_SIMD) tile4x8Simd(a, b, groups, epilogue, relu, c, ldcBytes, rows, cols, outputInverseScale, outputZero, sums);
      else tile4x8Scalar(a, b, groups, epilogue, relu, c, ldcBytes, rows, cols, outputInverseScale, outputZero, sums);
    }
  }
}

/**
 * C[M × N] (row stride ldc values) = the raw i32 sums Σₖ A[m][k]·B[k][n] of packed operands, with no epilogue:
 * the int8 Winograd convolution (winograd-int8.ts) finishes them after its output transform.
 */
export function gemmInt8Sums(packedA: usize, packedB: usize, C: usize, ldc: i32, M: i32, N: i32, K: i32): void {
  gemmInt8(packedA, packedB, C, ldc, 0, M, N, K, 0, 0, 0, 0, 0, false, 0, 0, true);
}

/** acc + the 4-lane dot products of a (one row's group, broadcast) with b (four columns' groups). */
// @ts-ignore: decorator
@inline function dotAdd(a: v128, b: v128, acc: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(a, b));
}

// Per-row epilogue constants of the current panel, staged in this instance's scratch after the tile spill area:
//   [0..16)   f32 output scale of rows 0…3: activationScale · weightScale[r]
//   [16..32)  i32 zero-point correction of rows 0…3: zeroPoint · rowSum[r]
//   [32..48)  f32 bias of rows 0…3
function loadEpilogue(activationScale: f32, zeroPoint: i32, weightScales: usize, rowSums: usize, bias: usize): usize {
  const epilogueConstants = instanceScratch + TILE_SPILL_BYTES;
  for (let r = 0; r < GEMM_MR; r++) {
    const at = <usize>r << 2;
    store<f32>(epilogueConstants + at, activationScale * load<f32>(weightScales + at));
    store<i32>(epilogueConstants + at, zeroPoint * load<i32>(rowSums + at), GEMM_MR * 4);
    store<f32>(epilogueConstants + at, load<f32>(bias + at), GEMM_MR * 8);
  }
  return epilogueConstants;
}

/**
 * (acc − correction) → f32, × scale, + bias, ReLU. Conversion, multiply and add round exactly as the scalar
 * build's do, so every build produces the same bits.
 */
// @ts-ignore: decorator
@inline function requantise(acc: v128, correction: v128, scale: v128, bias: v128, relu: bool): v128 {
  const value = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(acc, correction)), scale), bias);
  return relu ? largerOf4(value, f32x4.splat(0)) : value;
}

/**
 * Accumulates a 4×8 tile in i32 and stores its rows×cols outputs at c: f32, or bytes quantised with
 * outputInverseScale and outputZero when outputInverseScale > 0, or with `sums` the i32 sums themselves.
 */
function tile4x8Simd(
  a: usize, b: usize, groups: i32, epilogue: usize, relu: bool, c: usize, ldcBytes: usize, rows: i32, cols: i32,
  outputInverseScale: f32, outputZero: f32, sums: bool,
): void {
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0);
  let c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0);
  let c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  for (let g = 0; g < groups; g++) {
    const b0 = v128.load(b, 0);
    const b1 = v128.load(b, 16);
    const rowGroups = v128.load(a);
    const a0 = broadcastLane(rowGroups, 0);
    c00 = dotAdd(a0, b0, c00);
    c01 = dotAdd(a0, b1, c01);
    const a1 = broadcastLane(rowGroups, 1);
    c10 = dotAdd(a1, b0, c10);
    c11 = dotAdd(a1, b1, c11);
    const a2 = broadcastLane(rowGroups, 2);
    c20 = dotAdd(a2, b0, c20);
    c21 = dotAdd(a2, b1, c21);
    const a3 = broadcastLane(rowGroups, 3);
    c30 = dotAdd(a3, b0, c30);
    c31 = dotAdd(a3, b1, c31);
    a += GEMM_MR * 4;
    b += GEMM_NR * 4;
  }
  // A full tile goes straight to C; an edge tile is spilled as f32 (or i32 sums) and its valid part stored.
  const full = rows == GEMM_MR && cols == GEMM_NR;
  if (sums) {
    const out = full ? c : instanceScratch;
    const outStride = full ? ldcBytes : GEMM_NR * 4;
    v128.store(out, c00); v128.store(out, c01, 16);
    v128.store(out + outStride, c10); v128.store(out + outStride, c11, 16);
    v128.store(out + 2 * outStride, c20); v128.store(out + 2 * outStride, c21, 16);
    v128.store(out + 3 * outStride, c30); v128.store(out + 3 * outStride, c31, 16);
    if (!full) storeTilePart(c, ldcBytes, rows, cols);
    return;
  }
  const quantised = full && outputInverseScale > 0;
  const out = full ? c : instanceScratch;
  const outStride = full ? ldcBytes : GEMM_NR * 4;
  storeRow(out, c00, c01, epilogue, relu, quantised, outputInverseScale, outputZero);
  storeRow(out + outStride, c10, c11, epilogue + 4, relu, quantised, outputInverseScale, outputZero);
  storeRow(out + 2 * outStride, c20, c21, epilogue + 8, relu, quantised, outputInverseScale, outputZero);
  storeRow(out + 3 * outStride, c30, c31, epilogue + 12, relu, quantised, outputInverseScale, outputZero);
  if (!full) storeSpilledTile(c, ldcBytes, rows, cols, outputInverseScale, outputZero);
}

/**
 * Requantises one tile row to f32, or on to quantised bytes; `epilogue` points at the row's slot of
 * the epilogue constants (loadEpilogue).
 */
// @ts-ignore: decorator
@inline function storeRow(
  row: usize, left: v128, right: v128, epilogue: usize, relu: bool, quantised: bool, outputInverseScale: f32, outputZero: f32,
): void {
  const scale = v128.load32_splat(epilogue);
  const correction = v128.load32_splat(epilogue, GEMM_MR * 4);
  const bias = v128.load32_splat(epilogue, GEMM_MR * 8);
  const low = requantise(left, correction, scale, bias, relu), high = requantise(right, correction, scale, bias, relu);
  if (!quantised) {
    v128.store(row, low);
    v128.store(row, high, 16);
    return;
  }
  v128.store64_lane(row, quantise8(low, high, f32x4.splat(outputInverseScale), f32x4.splat(outputZero)), 0);
}

/** Stores the top-left rows×cols of the f32 tile spilled to instanceScratch, as f32 or as quantised bytes. */
function storeSpilledTile(c: usize, ldcBytes: usize, rows: i32, cols: i32, outputInverseScale: f32, outputZero: f32): void {
  if (outputInverseScale <= 0) {
    storeTilePart(c, ldcBytes, rows, cols);
    return;
  }
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const value = load<f32>(instanceScratch + (<usize>(r * GEMM_NR + j) << 2));
      store<u8>(c + <usize>r * ldcBytes + <usize>j, quantise(value, outputInverseScale, outputZero));
    }
  }
}

function tile4x8Scalar(
  a: usize, b: usize, groups: i32, epilogue: usize, relu: bool, c: usize, ldcBytes: usize, rows: i32, cols: i32,
  outputInverseScale: f32, outputZero: f32, sums: bool,
): void {
  const t = instanceScratch;
  memory.fill(t, 0, GEMM_MR * GEMM_NR * 4);
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < GEMM_MR; r++) {
      for (let j = 0; j < GEMM_NR; j++) {
        let sum = 0;
        for (let lane = 0; lane < INT8_GROUP; lane++) {
          sum += loadQuantised(a + (<usize>r << 2), lane) * loadQuantised(b + (<usize>j << 2), lane);
        }
        const slot = t + (<usize>(r * GEMM_NR + j) << 2);
        store<i32>(slot, load<i32>(slot) + sum);
      }
    }
    a += GEMM_MR * 4;
    b += GEMM_NR * 4;
  }
  if (sums) {
    storeTilePart(c, ldcBytes, rows, cols);
    return;
  }
  for (let r = 0; r < GEMM_MR; r++) {
    const at = epilogue + (<usize>r << 2);
    const scale = load<f32>(at), correction = load<i32>(at, GEMM_MR * 4), bias = load<f32>(at, GEMM_MR * 8);
    for (let j = 0; j < GEMM_NR; j++) {
      const slot = t + (<usize>(r * GEMM_NR + j) << 2);
      const value = <f32>(load<i32>(slot) - correction) * scale + bias;
      store<f32>(slot, relu ? largerOf(value, 0) : value);
    }
  }
  storeSpilledTile(c, ldcBytes, rows, cols, outputInverseScale, outputZero);
}
