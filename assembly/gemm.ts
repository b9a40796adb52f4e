// f32 GEMM with a 4×8 register tile: C[M×N] = A[M×K] · B[K×N] + bias, optional ReLU.
//
// A holds the convolution weights, packed once at load time into panels of GEMM_MR rows stored
// k-major, so that one k step of a panel is GEMM_MR consecutive floats:
//
//   packed panel p:  k=0: a[4p+0][0] a[4p+1][0] a[4p+2][0] a[4p+3][0]
//                    k=1: a[4p+0][1] a[4p+1][1] a[4p+2][1] a[4p+3][1]   ...
//
// B is row-major with a row stride of `ldb` floats: either the im2col buffer or, for 1×1 stride-1
// convolutions, the input feature map itself (rows = channels, columns = pixels). C is row-major with
// stride `ldc` (rows = output channels, so a conv can write into its slice of a concat output).
//
// The SIMD microkernel keeps a 4×8 tile in eight v128 accumulators (two per row):
//
//   row r:  acc[r][0] = C[r][n..n+3]   acc[r][1] = C[r][n+4..n+7]
//
// and per k step broadcasts the four A values of the panel (one load, broadcastLane) against two B loads.
// Reading B up to 7 floats past a row's end is allowed: such reads land in neighbouring arena or scratch data or
// in the slack the runtime leaves at the end of memory,
// and columns past N are never stored.

import { largerOf, largerOf4 } from './lanes';

export const GEMM_MR: i32 = 4;
export const GEMM_NR: i32 = 8;

/** Bytes of the tile spill area at the start of instanceScratch (GEMM_MR × GEMM_NR floats). */
export const TILE_SPILL_BYTES: i32 = GEMM_MR * GEMM_NR * 4;
/** Bytes of instanceScratch: the tile spill area, then the int8 GEMM's epilogue constants (gemm-int8.ts). */
export const INSTANCE_SCRATCH_BYTES: i32 = 256;

/**
 * Scratch of this instance's own: the spill area for edge tiles and the scalar build's accumulators, then the int8
 * epilogue constants. Threads run one instance each over one shared memory; each moves this to bytes of its own
 * with useInstanceScratch (a global, unlike memory, is per instance).
 */
export let instanceScratch: usize = memory.data(INSTANCE_SCRATCH_BYTES, 16);

/** Moves this instance's scratch to INSTANCE_SCRATCH_BYTES bytes at `at` (16-byte aligned). */
export function useInstanceScratch(at: usize): void {
  instanceScratch = at;
}

/** Packs row-major A[M×K] into GEMM_MR-row k-major panels; rows past M are zero. */
export function packGemmWeights(src: usize, dst: usize, M: i32, K: i32): void {
  const panels = (M + GEMM_MR - 1) / GEMM_MR;
  for (let p = 0; p < panels; p++) {
    for (let k = 0; k < K; k++) {
      for (let r = 0; r < GEMM_MR; r++) {
        const row = p * GEMM_MR + r;
        const value: f32 = row < M ? load<f32>(src + ((<usize>row * K + k) << 2)) : 0;
        store<f32>(dst + ((<usize>(p * K + k) * GEMM_MR + r) << 2), value);
      }
    }
  }
}

/** Scratch gemm() needs: one K × GEMM_NR sliver of B, packed. */
export function gemmScratchBytes(K: i32): usize {
  return <usize>K * GEMM_NR * 4;
}

/**
 * Runs the GEMM for rows [firstRow, M) of C (firstRow a multiple of GEMM_MR; the pointers are the whole matrices').
 * `bias` must hold at least ⌈M / GEMM_MR⌉·GEMM_MR floats (zero-padded by the runtime).
 * Column tiles form the outer loop: each K×8 sliver of B is first copied into `scratch` as one contiguous
 * run (B's rows are ldb floats apart, a cache line and often a page each), and stays in L1 while every weight
 * panel streams past it. The copy makes the tile about 1.35× faster in V8 (measured in Node 20 and Deno).
 */
export function gemm(
  packedA: usize, B: usize, ldb: i32, C: usize, ldc: i32,
  firstRow: i32, M: i32, N: i32, K: i32, bias: usize, relu: bool, scratch: usize,
): void {
  for (let n0 = 0; n0 < N; n0 += GEMM_NR) {
    packSliver(B + (<usize>n0 << 2), <usize>ldb << 2, K, scratch);
    multiplySliver(packedA, scratch, C + (<usize>n0 << 2), ldc, firstRow, M, min(GEMM_NR, N - n0), K, bias, relu);
  }
}

/**
 * Rows [firstRow, M) of C[M × cols] (row stride ldc floats) = A · sliver + bias, optional ReLU, for one packed
 * K × GEMM_NR sliver of B (packSliver's): every weight panel from firstRow (a multiple of GEMM_MR) streams past it.
 */
export function multiplySliver(
  packedA: usize, sliver: usize, C: usize, ldc: i32, firstRow: i32, M: i32, cols: i32, K: i32, bias: usize, relu: bool,
): void {
  const panels = (M + GEMM_MR - 1) / GEMM_MR;
  const panelBytes = <usize>K * GEMM_MR * 4;
  for (let p = firstRow / GEMM_MR; p < panels; p++) {
    const row0 = p * GEMM_MR;
    const rows = min(GEMM_MR, M - row0);
    const a = packedA + <usize>p * panelBytes;
    const c = C + ((<usize>row0 * ldc) << 2);
    const biasRow = bias + (<usize>row0 << 2);
    if (ASC_FEATURE_SIMD && cols == 1 && p + 1 < panels) {
      twoPanelsTimesColumn(a, panelBytes, sliver, c, <usize>ldc << 2, K, min(GEMM_MR, M - row0 - GEMM_MR), biasRow, relu);
      p++;
    } else if (ASC_FEATURE_SIMD) {
      tile4x8Simd(a, sliver, GEMM_NR * 4, c, <usize>ldc << 2, K, rows, cols, biasRow, relu);
    } else {
      tile4x8Scalar(a, sliver, GEMM_NR * 4, c, <usize>ldc << 2, K, rows, cols, biasRow, relu);
    }
  }
}

/** Copies GEMM_NR floats from each of K rows `ldbBytes` apart into one contiguous K × GEMM_NR block. */
// @ts-ignore: decorator
@inline export function packSliver(b: usize, ldbBytes: usize, K: i32, dst: usize): void {
  for (let k = 0; k < K; k++) {
    if (ASC_FEATURE_SIMD) {
      v128.store(dst, v128.load(b));
      v128.store(dst, v128.load(b, 16), 16);
    } else {
      memory.copy(dst, b, GEMM_NR * 4);
    }
    b += ldbBytes;
    dst += GEMM_NR * 4;
  }
}

/**
 * Lane `lane` of v in all four lanes. One load of a panel's k step and four of these beat four load32_splat:
 * V8 turns this shuffle into a single pshufd, but does not fold a splat load's offset into its address.
 */
// @ts-ignore: decorator
@inline export function broadcastLane(v: v128, lane: i32): v128 {
  // Shuffle lanes must be literals; with `lane` a constant at every call, the optimiser keeps one case.
  if (lane == 0) return i32x4.shuffle(v, v, 0, 0, 0, 0);
  if (lane == 1) return i32x4.shuffle(v, v, 1, 1, 1, 1);
  if (lane == 2) return i32x4.shuffle(v, v, 2, 2, 2, 2);
  return i32x4.shuffle(v, v, 3, 3, 3, 3);
}

/** acc + a·b, fused where the host allows it (relaxed SIMD may or may not round once). */
// @ts-ignore: decorator
@inline function multiplyAdd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(f32x4.mul(a, b), acc);
}

// @ts-ignore: decorator
@inline function applyRelu(v: v128, relu: bool): v128 {
  return relu ? largerOf4(v, f32x4.splat(0)) : v;
}

function tile4x8Simd(
  a: usize, b: usize, ldbBytes: usize, c: usize, ldcBytes: usize,
  K: i32, rows: i32, cols: i32, bias: usize, relu: bool,
): void {
  const bias0 = v128.load32_splat(bias, 0);
  const bias1 = v128.load32_splat(bias, 4);
  const bias2 = v128.load32_splat(bias, 8);
  const bias3 = v128.load32_splat(bias, 12);
  let c00 = bias0, c01 = bias0;
  let c10 = bias1, c11 = bias1;
  let c20 = bias2, c21 = bias2;
  let c30 = bias3, c31 = bias3;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b, 0);
    const b1 = v128.load(b, 16);
    const column = v128.load(a);
    const a0 = broadcastLane(column, 0);
    c00 = multiplyAdd(a0, b0, c00);
    c01 = multiplyAdd(a0, b1, c01);
    const a1 = broadcastLane(column, 1);
    c10 = multiplyAdd(a1, b0, c10);
    c11 = multiplyAdd(a1, b1, c11);
    const a2 = broadcastLane(column, 2);
    c20 = multiplyAdd(a2, b0, c20);
    c21 = multiplyAdd(a2, b1, c21);
    const a3 = broadcastLane(column, 3);
    c30 = multiplyAdd(a3, b0, c30);
    c31 = multiplyAdd(a3, b1, c31);
    a += 16;
    b += ldbBytes;
  }
  c00 = applyRelu(c00, relu); c01 = applyRelu(c01, relu);
  c10 = applyRelu(c10, relu); c11 = applyRelu(c11, relu);
  c20 = applyRelu(c20, relu); c21 = applyRelu(c21, relu);
  c30 = applyRelu(c30, relu); c31 = applyRelu(c31, relu);
  if (rows == GEMM_MR && cols == GEMM_NR) {
    v128.store(c, c00, 0); v128.store(c, c01, 16); c += ldcBytes;
    v128.store(c, c10, 0); v128.store(c, c11, 16); c += ldcBytes;
    v128.store(c, c20, 0); v128.store(c, c21, 16); c += ldcBytes;
    v128.store(c, c30, 0); v128.store(c, c31, 16);
    return;
  }
  const t = instanceScratch;
  v128.store(t, c00, 0); v128.store(t, c01, 16);
  v128.store(t, c10, 32); v128.store(t, c11, 48);
  v128.store(t, c20, 64); v128.store(t, c21, 80);
  v128.store(t, c30, 96); v128.store(t, c31, 112);
  storeTilePart(c, ldcBytes, rows, cols);
}

/**
 * Two panels (rows [0, 4 + secondRows) from `a`) times the first column of a sliver, for a last tile of one column
 * (GoogLeNet's 5×5 and 11×11 maps leave one), where a 4×8 tile would do eight columns' work. Each row sums in the
 * tile's order, so the bits are the tile's; two panels at a time, as one accumulator's additions wait on each other.
 */
function twoPanelsTimesColumn(
  a: usize, panelBytes: usize, sliver: usize, c: usize, ldcBytes: usize, K: i32, secondRows: i32, bias: usize, relu: bool,
): void {
  let first = v128.load(bias), second = v128.load(bias, 16);
  for (let k = 0; k < K; k++) {
    const value = v128.load32_splat(sliver);
    first = multiplyAdd(v128.load(a), value, first);
    second = multiplyAdd(v128.load(a + panelBytes), value, second);
    a += 16;
    sliver += GEMM_NR * 4;
  }
  // Spilled as a one-column tile part: the rows of the first panel, then the second's.
  const t = instanceScratch;
  v128.store(t, applyRelu(first, relu));
  v128.store(t, applyRelu(second, relu), 16);
  for (let r = 0; r < GEMM_MR + secondRows; r++) store<f32>(c + <usize>r * ldcBytes, load<f32>(t + (<usize>r << 2)));
}

/** Same tile, same packed layout, plain f32 arithmetic: the reference the SIMD builds are tested against. */
function tile4x8Scalar(
  a: usize, b: usize, ldbBytes: usize, c: usize, ldcBytes: usize,
  K: i32, rows: i32, cols: i32, bias: usize, relu: bool,
): void {
  const t = instanceScratch;
  for (let r = 0; r < GEMM_MR; r++) {
    const value = load<f32>(bias + (<usize>r << 2));
    for (let j = 0; j < GEMM_NR; j++) store<f32>(t + (<usize>(r * GEMM_NR + j) << 2), value);
  }
  for (let k = 0; k < K; k++) {
    for (let r = 0; r < GEMM_MR; r++) {
      const weight = load<f32>(a + (<usize>r << 2));
      const accRow = t + (<usize>(r * GEMM_NR) << 2);
      for (let j = 0; j < cols; j++) {
        const slot = accRow + (<usize>j << 2);
        store<f32>(slot, load<f32>(slot) + weight * load<f32>(b + (<usize>j << 2)));
      }
    }
    a += GEMM_MR * 4;
    b += ldbBytes;
  }
  if (relu) {
    for (let i = 0; i < GEMM_MR * GEMM_NR; i++) {
      const slot = t + (<usize>i << 2);
      store<f32>(slot, largerOf(load<f32>(slot), 0));
    }
  }
  storeTilePart(c, ldcBytes, rows, cols);
}

/** Copies the top-left rows×cols of the spilled tile to C. */
export function storeTilePart(c: usize, ldcBytes: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    memory.copy(c + <usize>r * ldcBytes, instanceScratch + (<usize>(r * GEMM_NR) << 2), <usize>cols << 2);
  }
}
