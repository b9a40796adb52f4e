// Convolution NCHW (groups 1, dilation 1) as GEMM: output[M × OH·OW] = W[M × C·KH·KW] · columns.
// A 1×1 stride-1 unpadded convolution multiplies the input directly (its rows are already the columns);
// anything else first unfolds the input into `scratch` with im2col — f32 values for the f32 path, the
// quantised bytes for the int8 path (a quarter of the bytes, and each input value quantised once, not KH·KW
// times).
//
// Each convolution runs in two phases, so that threads can share it: every thread first unfolds its share of
// the input channels (rows of the columns matrix), then, once all have, multiplies its share of the output
// columns (whole GEMM tiles). conv2d runs both phases on one thread (the runtime's self-test calls it).
//
//   phase 1, thread t:  columns rows  (c, ky, kx) for c in [C·t/T, C·(t+1)/T)
//   phase 2, thread t:  output columns of tiles [tiles·t/T, tiles·(t+1)/T)
import { gemm, GEMM_NR, gemmScratchBytes, multiplySliver, packSliver } from './gemm';
import { gemmInt8, groupsOf, packQuantisedColumns, quantiseActivations } from './gemm-int8';
import { shareStart } from './share';

/** Output extent of one spatial axis; the runtime resolves ceil mode before calling. */
// @ts-ignore: decorator
@inline function outputExtent(size: i32, kernel: i32, stride: i32, padBegin: i32, padEnd: i32): i32 {
  return (size + padBegin + padEnd - kernel) / stride + 1;
}

/**
 * Scratch bytes a convolution needs (the runtime sizes its scratch area with this). f32: the im2col matrix
 * unless pointwise, then the GEMM's packed sliver of it for each of `threads` threads. int8: the quantised input,
 * its im2col matrix unless pointwise, then one packed tile of GEMM_NR columns (k in pairs of i16) per thread.
 */
export function convScratchBytes(
  C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, int8: bool, threads: i32,
): usize {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  const unfolded = !isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight);
  if (!int8) return im2colBytes<f32>(K, N, unfolded) + <usize>threads * gemmScratchBytes(K);
  return im2colBytes<u8>(C, H * W, true) + im2colBytes<u8>(K, N, unfolded) + <usize>threads * packedColumnsBytes(K, GEMM_NR);
}

/** A [rows × columns] matrix of T, with slack for the tile over-reads of its last row (none if `needed` is false). */
// @ts-ignore: decorator
@inline function im2colBytes<T>(rows: i32, columns: i32, needed: bool): usize {
  return needed ? <usize>(rows * columns + 64) * sizeof<T>() : 0;
}

// @ts-ignore: decorator
@inline function packedColumnsBytes(K: i32, N: i32): usize {
  return <usize>((N + GEMM_NR - 1) / GEMM_NR) * GEMM_NR * groupsOf(K) * 4;
}

/** A 1×1 stride-1 unpadded convolution multiplies its input directly, with no im2col. */
// @ts-ignore: decorator
@inline function isPointwise(KH: i32, KW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32, padBottom: i32, padRight: i32): bool {
  return KH == 1 && KW == 1 && SH == 1 && SW == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0;
}

/**
 * Unfolds input[C×H×W] of T (f32, or quantised u8) into columns[(C·KH·KW) × (OH·OW)]: row (c, ky, kx) holds,
 * for every output pixel, the input value under that kernel tap, or `padValue` in the padding (0 for f32, the
 * zero point for quantised values).
 *
 * The runs it copies are short (one output row, often 7–56 values), so it copies them with v128 moves that may
 * run up to 15 bytes past the run: the excess lands where the next writes go (or in the slack after the
 * matrix), and the reads stay within the slack after the input. No move writes at or past `writeLimit`, where
 * another thread's rows begin: a run that would is copied exactly.
 */
function im2col<T>(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, columns: usize, padValue: T, writeLimit: usize,
): void {
  const size = sizeof<T>();
  let dst = columns;
  for (let c = 0; c < C; c++) {
    const plane = input + <usize>(c * H * W) * size;
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        // Output columns [oxBegin, oxEnd) read inside the input row; the rest read padding.
        const oxBegin = min(OW, max(0, (padLeft - kx + SW - 1) / SW));
        const oxEnd = max(oxBegin, min(OW, (W + padLeft - kx + SW - 1) / SW));
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * SH + ky - padTop;
          if (iy < 0 || iy >= H) {
            fillValues<T>(dst, OW, padValue);
          } else {
            fillValues<T>(dst, oxBegin, padValue);
            const row = plane + <usize>(iy * W + kx - padLeft) * size;
            const runDst = dst + <usize>oxBegin * size;
            if (SW == 1) {
              copyRun(runDst, row + <usize>oxBegin * size, <usize>(oxEnd - oxBegin) * size, writeLimit);
            } else if (SW == 2) {
              copyEveryOther<T>(runDst, row + <usize>(oxBegin * 2) * size, oxEnd - oxBegin, writeLimit);
            } else {
              for (let ox = oxBegin; ox < oxEnd; ox++) {
                store<T>(dst + <usize>ox * size, load<T>(row + <usize>(ox * SW) * size));
              }
            }
            fillValues<T>(dst + <usize>oxEnd * size, OW - oxEnd, padValue);
          }
          dst += <usize>OW * size;
        }
      }
    }
  }
}

/** Stores `count` copies of value at dst. */
// @ts-ignore: decorator
@inline function fillValues<T>(dst: usize, count: i32, value: T): void {
  for (let i = 0; i < count; i++) store<T>(dst + <usize>i * sizeof<T>(), value);
}

/** Copies `bytes` bytes, in 16-byte moves when SIMD is on and they stay below writeLimit (see im2col). */
// @ts-ignore: decorator
@inline function copyRun(dst: usize, src: usize, bytes: usize, writeLimit: usize): void {
  if (!ASC_FEATURE_SIMD || dst + ((bytes + 15) & ~15) > writeLimit) {
    memory.copy(dst, src, bytes);
    return;
  }
  for (let i: usize = 0; i < bytes; i += 16) v128.store(dst + i, v128.load(src + i));
}

/**
 * dst[i] = src[2i] for i < count; SIMD builds take eight bytes or four floats per step and, like copyRun, may
 * write up to 15 bytes past the run (never at or past writeLimit) and read up to 31 bytes past src[2·count].
 *
 *   load src, src+16:  [x0 x1 x2 x3] [x4 x5 x6 x7]  →  shuffle even lanes  →  [x0 x2 x4 x6]   (bytes alike)
 */
// @ts-ignore: decorator
@inline function copyEveryOther<T>(dst: usize, src: usize, count: i32, writeLimit: usize): void {
  const perStep = sizeof<T>() == 1 ? 8 : 4;
  const vectorBytes = <usize>((count + perStep - 1) / perStep) * (sizeof<T>() == 1 ? 8 : 16);
  if (!ASC_FEATURE_SIMD || dst + vectorBytes > writeLimit) {
    for (let i = 0; i < count; i++) store<T>(dst + <usize>i * sizeof<T>(), load<T>(src + <usize>(2 * i) * sizeof<T>()));
  } else if (sizeof<T>() == 1) {
    for (let i = 0; i < count; i += 8) {
      const even = v128.shuffle<u8>(v128.load(src + (<usize>i << 1)), v128.load(src + (<usize>i << 1), 16), 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      v128.store64_lane(dst + <usize>i, even, 0);
    }
  } else {
    for (let i = 0; i < count; i += 4) {
      const at = src + (<usize>i << 3);
      v128.store(dst + (<usize>i << 2), v128.shuffle<f32>(v128.load(at), v128.load(at, 16), 0, 2, 4, 6));
    }
  }
}

/**
 * Phase 1 for thread `thread` of `threads`: unfolds its share of the input channels of T into the columns
 * matrix at `columns` (whose other rows other threads write meanwhile).
 */
function unfoldChannelShare<T>(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, columns: usize, padValue: T, thread: i32, threads: i32,
): void {
  const OH = outputExtent(H, KH, SH, padTop, padBottom), OW = outputExtent(W, KW, SW, padLeft, padRight);
  const first = shareStart(C, thread, threads), end = shareStart(C, thread + 1, threads);
  const channelBytes = <usize>(KH * KW * OH * OW) * sizeof<T>();
  // The last share may run into the slack after the matrix; the others stop where the next share begins.
  const writeLimit = thread + 1 == threads ? <usize>-1 : columns + <usize>end * channelBytes;
  im2col<T>(input + <usize>(first * H * W) * sizeof<T>(), end - first, H, W, KH, KW, SH, SW, padTop, padLeft, OH, OW,
    columns + <usize>first * channelBytes, padValue, writeLimit);
}

/** Output columns [start, end) of thread `thread`'s share: whole GEMM tiles, so that no tile is split. */
// @ts-ignore: decorator
@inline function columnShareStart(N: i32, thread: i32, threads: i32): i32 {
  return min(N, shareStart((N + GEMM_NR - 1) / GEMM_NR, thread, threads) * GEMM_NR);
}

/**
 * output[M×OH×OW] = conv(input[C×H×W], weights) + bias, optional ReLU. `packedWeights` come from
 * packGemmWeights over the [M × C·KH·KW] weight matrix; `scratch` has convScratchBytes(…, 1) bytes.
 */
export function conv2d(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  relu: bool, output: usize, scratch: usize,
): void {
  conv2dUnfoldShare(input, C, H, W, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight, scratch, 0, 1);
  conv2dMultiplyShare(input, C, H, W, packedWeights, bias, M, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight,
    relu, output, scratch, 0, 1);
}

/** Phase 1 of conv2d for thread `thread` of `threads` (nothing to do for a pointwise convolution). */
export function conv2dUnfoldShare(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, scratch: usize, thread: i32, threads: i32,
): void {
  if (isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight)) return;
  unfoldChannelShare<f32>(input, C, H, W, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight, scratch, 0, thread, threads);
}

/**
 * Phase 2 of conv2d for thread `thread` of `threads`: its share of the output columns, with a packed sliver of
 * its own after the im2col matrix (`scratch` has convScratchBytes(…, threads) bytes).
 */
export function conv2dMultiplyShare(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  relu: bool, output: usize, scratch: usize, thread: i32, threads: i32,
): void {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  const pointwise = isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight);
  const columns = pointwise ? input : scratch;
  const sliver = scratch + im2colBytes<f32>(K, N, !pointwise) + <usize>thread * gemmScratchBytes(K);
  const first = columnShareStart(N, thread, threads), end = columnShareStart(N, thread + 1, threads);
  gemm(packedWeights, columns + (<usize>first << 2), N, output + (<usize>first << 2), N, M, end - first, K, bias, relu, sliver);
}

/**
 * The int8 convolution (see gemm-int8.ts), in the same two phases. In `scratch`: the input quantised with its
 * tensor's scale and zero point (unless `inputQuantised`: it is such bytes already), then its im2col (unless
 * pointwise), then a tile of its columns at a time packed for the GEMM. The output is f32, or bytes quantised with
 * `outputScale` and `outputZeroPoint` when outputScale > 0.
 *
 *   scratch: │ quantised input C×H×W │ quantised im2col K×N │ packed tile, per thread │
 *
 * Phase 1 for thread `thread` of `threads`: quantises, then unfolds, its share of the channels.
 */
export function conv2dInt8UnfoldShare(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, activationScale: f32, zeroPoint: i32,
  scratch: usize, inputQuantised: bool, thread: i32, threads: i32,
): void {
  const plane = H * W;
  if (!inputQuantised) {
    const first = shareStart(C, thread, threads), end = shareStart(C, thread + 1, threads);
    quantiseActivations(input + (<usize>(first * plane) << 2), (end - first) * plane, 1 / activationScale, zeroPoint,
      scratch + <usize>(first * plane));
  }
  if (isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight)) return;
  unfoldChannelShare<u8>(inputQuantised ? input : scratch, C, H, W, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight,
    scratch + im2colBytes<u8>(C, plane, true), <u8>zeroPoint, thread, threads);
}

/** Phase 2 of the int8 convolution for thread `thread` of `threads`: packs and multiplies its share of the output columns. */
export function conv2dInt8MultiplyShare(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, weightScales: usize, rowSums: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, activationScale: f32, zeroPoint: i32,
  relu: bool, output: usize, scratch: usize, inputQuantised: bool, outputScale: f32, outputZeroPoint: i32,
  thread: i32, threads: i32,
): void {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  const pointwise = isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight);
  const unfolded = scratch + im2colBytes<u8>(C, H * W, true);
  const columns = pointwise ? (inputQuantised ? input : scratch) : unfolded;
  const first = columnShareStart(N, thread, threads), end = columnShareStart(N, thread + 1, threads);
  // One packed tile of columns per thread, multiplied while it is in L1.
  const packed = unfolded + im2colBytes<u8>(K, N, !pointwise) + <usize>thread * packedColumnsBytes(K, GEMM_NR);
  const outputInverseScale: f32 = outputScale > 0 ? 1 / outputScale : 0;
  const valueBytes: usize = outputScale > 0 ? 1 : 4;
  for (let n0 = first; n0 < end; n0 += GEMM_NR) {
    const cols = min(GEMM_NR, end - n0);
    packQuantisedColumns(columns + <usize>n0, N, K, cols, zeroPoint, packed);
    gemmInt8(packedWeights, packed, output + <usize>n0 * valueBytes, N, M, cols, K, activationScale, zeroPoint,
      weightScales, rowSums, bias, relu, outputInverseScale, outputZeroPoint);
  }
}

// Pointwise groups: the 1×1 stride-1 convolutions that read the same input (three per Inception block) run as one
// GEMM over their stacked weights: each tile of input columns is packed once and every member's weight panels
// stream past it, each member writing its own output. The runtime describes the members in a table of records,
// GROUP_MEMBER_BYTES apart:
//
//   record:  rows M │ packed weights │ bias │ output │ relu │ int8: weight scales │ row sums │ output scale │ zero point
//   offset:  0        4                8      12       16     20                    24         28             32

/** Bytes of one member record of a pointwise group. */
export const GROUP_MEMBER_BYTES: i32 = 48;

/** Field `offset` (a byte offset from the diagram) of member `index`'s record. */
// @ts-ignore: decorator
@inline function memberField<T>(members: usize, index: i32, offset: usize): T {
  return load<T>(members + <usize>index * GROUP_MEMBER_BYTES + offset);
}

/**
 * A pointwise group in f32 for thread `thread` of `threads`: its share of the column tiles of input[C × HW], each
 * packed once into a sliver of its own (`scratch` has convScratchBytes(C, H, W, 1, 1, …, 0, threads) bytes).
 */
export function conv2dPointwiseGroupShare(
  input: usize, C: i32, HW: i32, members: usize, memberCount: i32, scratch: usize, thread: i32, threads: i32,
): void {
  const sliver = scratch + <usize>thread * gemmScratchBytes(C);
  const end = columnShareStart(HW, thread + 1, threads);
  for (let n0 = columnShareStart(HW, thread, threads); n0 < end; n0 += GEMM_NR) {
    packSliver(input + (<usize>n0 << 2), <usize>HW << 2, C, sliver);
    for (let m = 0; m < memberCount; m++) {
      const output = memberField<usize>(members, m, 12) + (<usize>n0 << 2);
      multiplySliver(memberField<usize>(members, m, 4), sliver, output, HW, memberField<i32>(members, m, 0),
        min(GEMM_NR, end - n0), C, memberField<usize>(members, m, 8), memberField<i32>(members, m, 16) != 0);
    }
  }
}

/**
 * Phase 2 of a pointwise group in int8 for thread `thread` of `threads` (phase 1 is conv2dInt8UnfoldShare of a
 * 1×1 convolution, which quantises the input): its share of the column tiles, each packed once.
 */
export function conv2dInt8PointwiseGroupShare(
  input: usize, C: i32, HW: i32, activationScale: f32, zeroPoint: i32, inputQuantised: bool,
  members: usize, memberCount: i32, scratch: usize, thread: i32, threads: i32,
): void {
  const columns = inputQuantised ? input : scratch;
  const packed = scratch + im2colBytes<u8>(C, HW, true) + <usize>thread * packedColumnsBytes(C, GEMM_NR);
  const end = columnShareStart(HW, thread + 1, threads);
  for (let n0 = columnShareStart(HW, thread, threads); n0 < end; n0 += GEMM_NR) {
    const cols = min(GEMM_NR, end - n0);
    packQuantisedColumns(columns + <usize>n0, HW, C, cols, zeroPoint, packed);
    for (let m = 0; m < memberCount; m++) {
      const outputScale = memberField<f32>(members, m, 28);
      const output = memberField<usize>(members, m, 12) + <usize>n0 * (outputScale > 0 ? 1 : 4);
      gemmInt8(memberField<usize>(members, m, 4), packed, output, HW, memberField<i32>(members, m, 0), cols, C,
        activationScale, zeroPoint, memberField<usize>(members, m, 20), memberField<usize>(members, m, 24),
        memberField<usize>(members, m, 8), memberField<i32>(members, m, 16) != 0,
        outputScale > 0 ? 1 / outputScale : 0, memberField<i32>(members, m, 32));
    }
  }
}
