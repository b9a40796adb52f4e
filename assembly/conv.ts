// Convolution NCHW (groups 1, dilation 1) as GEMM: output[M × OH·OW] = W[M × C·KH·KW] · columns.
// A 1×1 stride-1 unpadded convolution multiplies the input directly (its rows are already the columns);
// anything else first unfolds the input into `scratch` with im2col — f32 values for the f32 path, the
// quantised bytes for the int8 path (a quarter of the bytes, and each input value quantised once, not KH·KW
// times).

import { gemm, GEMM_NR, gemmScratchBytes } from './gemm';
import { gemmInt8, groupsOf, packQuantisedColumns, quantiseActivations } from './gemm-int8';

/** Output extent of one spatial axis; the runtime resolves ceil mode before calling. */
// @ts-ignore: decorator
@inline function outputExtent(size: i32, kernel: i32, stride: i32, padBegin: i32, padEnd: i32): i32 {
  return (size + padBegin + padEnd - kernel) / stride + 1;
}

/**
 * Scratch bytes a convolution needs (the runtime sizes its scratch area with this). f32: the im2col matrix
 * unless pointwise, then the GEMM's packed sliver of it. int8: the quantised input, its im2col matrix unless pointwise, then the packed columns
 * (tiles of GEMM_NR columns, k in pairs of i16).
 */
export function convScratchBytes(
  C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, int8: bool,
): usize {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  const unfolded = !isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight);
  if (!int8) return im2colBytes<f32>(K, N, unfolded) + gemmScratchBytes(K);
  return im2colBytes<u8>(C, H * W, true) + im2colBytes<u8>(K, N, unfolded) + packedColumnsBytes(K, N);
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
            if (SW == 1) {
              copyRun(dst + <usize>oxBegin * size, row + <usize>oxBegin * size, <usize>(oxEnd - oxBegin) * size);
            } else if (SW == 2) {
              copyEveryOther<T>(dst + <usize>oxBegin * size, row + <usize>(oxBegin * 2) * size, oxEnd - oxBegin);
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

/** Copies `bytes` bytes, in 16-byte moves when SIMD is on (see im2col for where the excess goes). */
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

/**
 * output[M×OH×OW] = conv(input[C×H×W], weights) + bias, optional ReLU. `packedWeights` come from
 * packGemmWeights over the [M × C·KH·KW] weight matrix; `scratch` has convScratchBytes() bytes.
 */
export function conv2d(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  relu: bool, output: usize, scratch: usize,
): void {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  const columns = columnsOf<f32>(input, C, H, W, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight, scratch, 0);
  gemm(packedWeights, columns, N, output, N, M, N, K, bias, relu, scratch + im2colBytes<f32>(K, N, columns != input));
}

/**
 * The GEMM's B matrix [C·KH·KW × OH·OW] of T: the input itself for a pointwise convolution, else its im2col at
 * `unfolded`.
 */
// @ts-ignore: decorator
@inline function columnsOf<T>(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, unfolded: usize, padValue: T,
): usize {
  if (isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight)) return input;
  const OH = outputExtent(H, KH, SH, padTop, padBottom);
  const OW = outputExtent(W, KW, SW, padLeft, padRight);
  im2col<T>(input, C, H, W, KH, KW, SH, SW, padTop, padLeft, OH, OW, unfolded, padValue);
  return unfolded;
}

/**
 * The int8 convolution (see gemm-int8.ts). In `scratch`: the input quantised with its tensor's scale and zero
 * point (unless `inputQuantised`: it is such bytes already), then its im2col (unless pointwise), then the
 * columns packed for the GEMM. The output is f32, or bytes quantised with `outputScale` and `outputZeroPoint`
 * when outputScale > 0.
 *
 *   scratch: │ quantised input C×H×W │ quantised im2col K×N │ packed columns │
 */
export function conv2dInt8(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, weightScales: usize, rowSums: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, activationScale: f32, zeroPoint: i32,
  relu: bool, output: usize, scratch: usize, inputQuantised: bool, outputScale: f32, outputZeroPoint: i32,
): void {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  if (!inputQuantised) quantiseActivations(input, C * H * W, 1 / activationScale, zeroPoint, scratch);
  const quantised = inputQuantised ? input : scratch;
  const unfolded = scratch + im2colBytes<u8>(C, H * W, true);
  const columns = columnsOf<u8>(quantised, C, H, W, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight, unfolded, <u8>zeroPoint);
  const packed = unfolded + im2colBytes<u8>(K, N, columns != quantised);
  packQuantisedColumns(columns, N, K, N, zeroPoint, packed);
  const outputInverseScale: f32 = outputScale > 0 ? 1 / outputScale : 0;
  gemmInt8(packedWeights, packed, output, N, M, N, K, activationScale, zeroPoint, weightScales, rowSums, bias, relu,
    outputInverseScale, outputZeroPoint);
}
