// Convolution NCHW (groups 1, dilation 1) as GEMM: output[M × OH·OW] = W[M × C·KH·KW] · columns.
// A 1×1 stride-1 unpadded convolution multiplies the input directly (its rows are already the columns);
// anything else unfolds the input with im2col — f32 values for the f32 path, the quantised bytes for the int8
// path (a quarter of the bytes, and each input value quantised once, not KH·KW times) — a band of output rows at a
// time, into a buffer small enough to stay in L2, and multiplies each band as soon as it is unfolded.
//
// Threads share a convolution by output rows (a pointwise one by whole GEMM tiles of its columns), each with its
// own band buffer. The int8 convolution first quantises its input, each thread a share of the channels (phase
// 1), since different threads' bands read overlapping input rows; then each multiplies its rows (phase 2).
//
//   f32, thread t:          for each band of rows [OH·t/T, OH·(t+1)/T):  im2col → GEMM
//   int8 phase 1, thread t: quantise channels [C·t/T, C·(t+1)/T)
//   int8 phase 2, thread t: for each band of its rows: im2col of the bytes → pack a tile, GEMM, next tile
//
// An output of at most one tile of columns (GoogLeNet's 2×2 and 1×1 maps) would leave all the work to one thread
// that way, so its threads split the output channels instead, in whole GEMM_MR-row panels: each unfolds or packs
// all the columns and multiplies them by its share of the weights.
import { gemm, GEMM_MR, GEMM_NR, gemmScratchBytes, multiplySliver, packSliver } from './gemm';
import { gemmInt8, groupsOf, packQuantisedColumns, quantiseActivations } from './gemm-int8';
import { shareStart } from './share';

/** Bytes of one band's im2col at most (unless a single output row needs more). */
const BAND_BYTES: i32 = 256 * 1024;

/** Output extent of one spatial axis; the runtime resolves ceil mode before calling. */
// @ts-ignore: decorator
@inline function outputExtent(size: i32, kernel: i32, stride: i32, padBegin: i32, padEnd: i32): i32 {
  return (size + padBegin + padEnd - kernel) / stride + 1;
}

/**
 * Output rows per band: as many as fit BAND_BYTES, at least one, at most a thread's share of the OH rows (all of
 * them when threads split the channels).
 */
// @ts-ignore: decorator
@inline function bandRowsOf(K: i32, OH: i32, OW: i32, valueBytes: i32, threads: i32): i32 {
  const share = splitsChannels(OH * OW) ? OH : (OH + threads - 1) / threads;
  return max(1, min(share, BAND_BYTES / (K * OW * valueBytes)));
}

/**
 * Scratch bytes a convolution needs (the runtime sizes its scratch area with this), with `threads` threads. f32:
 * for each thread, a band's im2col unless pointwise, then the GEMM's packed sliver of it. int8: the quantised input,
 * then for each thread a band's im2col of it unless pointwise and one packed tile of GEMM_NR columns (k in pairs of
 * i16).
 */
export function convScratchBytes(
  C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, int8: bool, threads: i32,
): usize {
  const OH = outputExtent(H, KH, SH, padTop, padBottom), OW = outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW, pointwise = isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight);
  if (!int8) return <usize>threads * (bandBytes(K, OH, OW, 4, pointwise, threads) + gemmScratchBytes(K));
  return im2colBytes<u8>(C, H * W, true) + <usize>threads * (bandBytes(K, OH, OW, 1, pointwise, threads) + packedColumnsBytes(K, GEMM_NR));
}

/** Bytes of a thread's band buffer of `valueBytes`-byte values (none for a pointwise convolution). */
// @ts-ignore: decorator
@inline function bandBytes(K: i32, OH: i32, OW: i32, valueBytes: i32, pointwise: bool, threads: i32): usize {
  return pointwise ? 0 : (<usize>(K * bandRowsOf(K, OH, OW, valueBytes, threads) * OW + 64) * valueBytes + 15) & ~15;
}

/**
 * A [rows × columns] matrix of T, with slack for the tile over-reads of its last row (none if `needed` is false),
 * in whole v128s so that what follows it stays 16-byte aligned.
 */
// @ts-ignore: decorator
@inline function im2colBytes<T>(rows: i32, columns: i32, needed: bool): usize {
  return needed ? (<usize>(rows * columns + 64) * sizeof<T>() + 15) & ~15 : 0;
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
 * matrix), and the reads stay within the slack after the input.
 */
function im2col<T>(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, columns: usize, padValue: T,
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
              copyRun(runDst, row + <usize>oxBegin * size, <usize>(oxEnd - oxBegin) * size);
            } else if (SW == 2) {
              copyEveryOther<T>(runDst, row + <usize>(oxBegin * 2) * size, oxEnd - oxBegin);
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

/** Copies `bytes` bytes, in 16-byte moves when SIMD is on (see im2col). */
// @ts-ignore: decorator
@inline function copyRun(dst: usize, src: usize, bytes: usize): void {
  if (!ASC_FEATURE_SIMD) {
    memory.copy(dst, src, bytes);
    return;
  }
  for (let i: usize = 0; i < bytes; i += 16) v128.store(dst + i, v128.load(src + i));
}

/**
 * dst[i] = src[2i] for i < count; SIMD builds take eight bytes or four floats per step and, like copyRun, may
 * write up to 15 bytes past the run and read up to 31 bytes past src[2·count].
 *
 *   load src, src+16:  [x0 x1 x2 x3] [x4 x5 x6 x7]  →  shuffle even lanes  →  [x0 x2 x4 x6]   (bytes alike)
 */
// @ts-ignore: decorator
@inline function copyEveryOther<T>(dst: usize, src: usize, count: i32): void {
  if (!ASC_FEATURE_SIMD) {
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

/** Output columns [start, end) of thread `thread`'s share: whole GEMM tiles, so that no tile is split. */
// @ts-ignore: decorator
@inline function columnShareStart(N: i32, thread: i32, threads: i32): i32 {
  return min(N, shareStart((N + GEMM_NR - 1) / GEMM_NR, thread, threads) * GEMM_NR);
}

/** Whether threads split an output of N columns by its channels (see the top of this file). */
// @ts-ignore: decorator
@inline function splitsChannels(N: i32): bool {
  return N <= GEMM_NR;
}

/**
 * The first output channel (of M, over N columns) of thread `thread`'s share: a multiple of GEMM_MR when threads
 * split the channels, else 0, as every thread takes them all.
 */
// @ts-ignore: decorator
@inline function firstChannel(M: i32, N: i32, thread: i32, threads: i32): i32 {
  return splitsChannels(N) ? min(M, shareStart((M + GEMM_MR - 1) / GEMM_MR, thread, threads) * GEMM_MR) : 0;
}

/** The end of thread `thread`'s share of the output channels (see firstChannel). */
// @ts-ignore: decorator
@inline function endChannel(M: i32, N: i32, thread: i32, threads: i32): i32 {
  return splitsChannels(N) ? firstChannel(M, N, thread + 1, threads) : M;
}

/** The thread number and count that share an output's columns: 0 of 1 when threads split its channels instead. */
// @ts-ignore: decorator
@inline function columnThreadOf(N: i32, thread: i32): i32 {
  return splitsChannels(N) ? 0 : thread;
}

// @ts-ignore: decorator
@inline function columnThreadsOf(N: i32, threads: i32): i32 {
  return splitsChannels(N) ? 1 : threads;
}

/**
 * output[M×OH×OW] = conv(input[C×H×W], weights) + bias, optional ReLU, for thread `thread` of `threads`: its share
 * of the output. `packedWeights` come from packGemmWeights over the [M × C·KH·KW] weight matrix; `scratch` has
 * convScratchBytes(…, threads) bytes.
 */
export function conv2dShare(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  relu: bool, output: usize, scratch: usize, thread: i32, threads: i32,
): void {
  const OH = outputExtent(H, KH, SH, padTop, padBottom), OW = outputExtent(W, KW, SW, padLeft, padRight);
  const N = OH * OW, K = C * KH * KW, pointwise = isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight);
  const bandSize = bandBytes(K, OH, OW, 4, pointwise, threads);
  const band = scratch + <usize>thread * (bandSize + gemmScratchBytes(K)), sliver = band + bandSize;
  const m0 = firstChannel(M, N, thread, threads), m1 = endChannel(M, N, thread, threads);
  const columnThread = columnThreadOf(N, thread), columnThreads = columnThreadsOf(N, threads);
  if (pointwise) {
    const first = columnShareStart(N, columnThread, columnThreads), end = columnShareStart(N, columnThread + 1, columnThreads);
    gemm(packedWeights, input + (<usize>first << 2), N, output + (<usize>first << 2), N, m0, m1, end - first, K, bias, relu, sliver);
    return;
  }
  const bandRows = bandRowsOf(K, OH, OW, 4, threads), end = shareStart(OH, columnThread + 1, columnThreads);
  for (let oy = shareStart(OH, columnThread, columnThreads); oy < end; oy += bandRows) {
    // Output rows [oy, oy + rows) are those of a convolution whose padding starts oy·SH rows further up.
    const rows = min(bandRows, end - oy), columns = rows * OW;
    im2col<f32>(input, C, H, W, KH, KW, SH, SW, padTop - oy * SH, padLeft, rows, OW, band, 0);
    gemm(packedWeights, band, columns, output + (<usize>(oy * OW) << 2), N, m0, m1, columns, K, bias, relu, sliver);
  }
}

/**
 * Phase 1 of the int8 convolution (see gemm-int8.ts) for thread `thread` of `threads`: quantises its share of the
 * input's channels with the tensor's scale and zero point into the start of `scratch` (skipped when the input is
 * such bytes already). Also phase 1 of an int8 pointwise group.
 */
export function conv2dInt8QuantiseShare(
  input: usize, C: i32, HW: i32, activationScale: f32, zeroPoint: i32, scratch: usize, thread: i32, threads: i32,
): void {
  const first = shareStart(C, thread, threads), end = shareStart(C, thread + 1, threads);
  quantiseActivations(input + (<usize>(first * HW) << 2), (end - first) * HW, 1 / activationScale, zeroPoint,
    scratch + <usize>(first * HW));
}

/**
 * Phase 2 of the int8 convolution for thread `thread` of `threads`: its share of the output. The quantised input
 * is `input` if `inputQuantised`, else phase 1's bytes in `scratch`. The output is f32, or bytes quantised with
 * `outputScale` and `outputZeroPoint` when outputScale > 0.
 *
 *   scratch: │ quantised input C×H×W │ per thread: band of the quantised im2col │ packed tile │
 */
export function conv2dInt8Share(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, weightScales: usize, rowSums: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, activationScale: f32, zeroPoint: i32,
  relu: bool, output: usize, scratch: usize, inputQuantised: bool, outputScale: f32, outputZeroPoint: i32,
  thread: i32, threads: i32,
): void {
  const OH = outputExtent(H, KH, SH, padTop, padBottom), OW = outputExtent(W, KW, SW, padLeft, padRight);
  const N = OH * OW, K = C * KH * KW, pointwise = isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight);
  const quantisedInput = inputQuantised ? input : scratch;
  const bandSize = bandBytes(K, OH, OW, 1, pointwise, threads);
  const band = scratch + im2colBytes<u8>(C, H * W, true) + <usize>thread * (bandSize + packedColumnsBytes(K, GEMM_NR));
  const packed = band + bandSize;
  const outputInverseScale: f32 = outputScale > 0 ? 1 / outputScale : 0;
  const m0 = firstChannel(M, N, thread, threads), m1 = endChannel(M, N, thread, threads);
  const columnThread = columnThreadOf(N, thread), columnThreads = columnThreadsOf(N, threads);
  if (pointwise) {
    const first = columnShareStart(N, columnThread, columnThreads), end = columnShareStart(N, columnThread + 1, columnThreads);
    multiplyQuantisedColumns(quantisedInput + <usize>first, N, end - first, K, packed, packedWeights, weightScales, rowSums,
      bias, m0, m1, activationScale, zeroPoint, relu, output, N, first, outputInverseScale, outputZeroPoint);
    return;
  }
  const bandRows = bandRowsOf(K, OH, OW, 1, threads), end = shareStart(OH, columnThread + 1, columnThreads);
  for (let oy = shareStart(OH, columnThread, columnThreads); oy < end; oy += bandRows) {
    const rows = min(bandRows, end - oy), columns = rows * OW;
    im2col<u8>(quantisedInput, C, H, W, KH, KW, SH, SW, padTop - oy * SH, padLeft, rows, OW, band, <u8>zeroPoint);
    multiplyQuantisedColumns(band, columns, columns, K, packed, packedWeights, weightScales, rowSums, bias, m0, m1,
      activationScale, zeroPoint, relu, output, N, oy * OW, outputInverseScale, outputZeroPoint);
  }
}

/**
 * Output columns [firstColumn, firstColumn + count) (of N) of output channels [firstRow, M) of the int8 convolution,
 * from `count` columns of its quantised (im2col) matrix at `columns`, rows `rowStride` bytes apart: each
 * GEMM_NR-column tile is packed into `packed` and multiplied while it is in L1.
 */
function multiplyQuantisedColumns(
  columns: usize, rowStride: i32, count: i32, K: i32, packed: usize, packedWeights: usize, weightScales: usize,
  rowSums: usize, bias: usize, firstRow: i32, M: i32, activationScale: f32, zeroPoint: i32,
  relu: bool, output: usize, N: i32, firstColumn: i32, outputInverseScale: f32, outputZeroPoint: i32,
): void {
  const valueBytes: usize = outputInverseScale > 0 ? 1 : 4;
  for (let n0 = 0; n0 < count; n0 += GEMM_NR) {
    const cols = min(GEMM_NR, count - n0);
    packQuantisedColumns(columns + <usize>n0, rowStride, K, cols, zeroPoint, packed);
    gemmInt8(packedWeights, packed, output + <usize>(firstColumn + n0) * valueBytes, N, firstRow, M, cols, K,
      activationScale, zeroPoint, weightScales, rowSums, bias, relu, outputInverseScale, outputZeroPoint);
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
  const columnThread = columnThreadOf(HW, thread), columnThreads = columnThreadsOf(HW, threads);
  const end = columnShareStart(HW, columnThread + 1, columnThreads);
  for (let n0 = columnShareStart(HW, columnThread, columnThreads); n0 < end; n0 += GEMM_NR) {
    packSliver(input + (<usize>n0 << 2), <usize>HW << 2, C, sliver);
    for (let m = 0; m < memberCount; m++) {
      const output = memberField<usize>(members, m, 12) + (<usize>n0 << 2), M = memberField<i32>(members, m, 0);
      multiplySliver(memberField<usize>(members, m, 4), sliver, output, HW, firstChannel(M, HW, thread, threads),
        endChannel(M, HW, thread, threads), min(GEMM_NR, end - n0), C, memberField<usize>(members, m, 8),
        memberField<i32>(members, m, 16) != 0);
    }
  }
}

/**
 * Phase 2 of a pointwise group in int8 for thread `thread` of `threads` (phase 1 is conv2dInt8QuantiseShare): its
 * share of the column tiles, each packed once.
 */
export function conv2dInt8PointwiseGroupShare(
  input: usize, C: i32, HW: i32, activationScale: f32, zeroPoint: i32, inputQuantised: bool,
  members: usize, memberCount: i32, scratch: usize, thread: i32, threads: i32,
): void {
  const columns = inputQuantised ? input : scratch;
  const packed = scratch + im2colBytes<u8>(C, HW, true) + <usize>thread * packedColumnsBytes(C, GEMM_NR);
  const columnThread = columnThreadOf(HW, thread), columnThreads = columnThreadsOf(HW, threads);
  const end = columnShareStart(HW, columnThread + 1, columnThreads);
  for (let n0 = columnShareStart(HW, columnThread, columnThreads); n0 < end; n0 += GEMM_NR) {
    const cols = min(GEMM_NR, end - n0);
    packQuantisedColumns(columns + <usize>n0, HW, C, cols, zeroPoint, packed);
    for (let m = 0; m < memberCount; m++) {
      const outputScale = memberField<f32>(members, m, 28), M = memberField<i32>(members, m, 0);
      const output = memberField<usize>(members, m, 12) + <usize>n0 * (outputScale > 0 ? 1 : 4);
      gemmInt8(memberField<usize>(members, m, 4), packed, output, HW, firstChannel(M, HW, thread, threads),
        endChannel(M, HW, thread, threads), cols, C,
        activationScale, zeroPoint, memberField<usize>(members, m, 20), memberField<usize>(members, m, 24),
        memberField<usize>(members, m, 8), memberField<i32>(members, m, 16) != 0,
        outputScale > 0 ? 1 / outputScale : 0, memberField<i32>(members, m, 32));
    }
  }
}
