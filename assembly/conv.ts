// Convolution NCHW (groups 1, dilation 1) as GEMM: output[M × OH·OW] = W[M × C·KH·KW] · columns.
// A 1×1 stride-1 unpadded convolution multiplies the input directly (its rows are already the columns);
// anything else first unfolds the input into `scratch` with im2col.

import { gemm, GEMM_NR } from './gemm';
import { gemmInt8, INT8_GROUP, packQuantisedColumns } from './gemm-int8';

/** Output extent of one spatial axis; the runtime resolves ceil mode before calling. */
// @ts-ignore: decorator
@inline function outputExtent(size: i32, kernel: i32, stride: i32, padBegin: i32, padEnd: i32): i32 {
  return (size + padBegin + padEnd - kernel) / stride + 1;
}

/**
 * Scratch bytes a convolution needs (the runtime sizes its scratch area with this): the f32 im2col matrix unless
 * pointwise, and for int8 the packed quantised columns after it (tiles of GEMM_NR columns, k in pairs of i16).
 */
export function convScratchBytes(
  C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, int8: bool,
): usize {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  const unfolded = im2colBytes(K, N, !isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight));
  if (!int8) return unfolded;
  return unfolded + <usize>((N + GEMM_NR - 1) / GEMM_NR) * GEMM_NR * ((K + INT8_GROUP - 1) / INT8_GROUP) * 4;
}

/** The im2col matrix, with slack for the tile over-reads of its last row when something follows it. */
// @ts-ignore: decorator
@inline function im2colBytes(K: i32, N: i32, unfolded: bool): usize {
  return unfolded ? (<usize>K * N + 64) << 2 : 0;
}

/** A 1×1 stride-1 unpadded convolution multiplies its input directly, with no im2col. */
// @ts-ignore: decorator
@inline function isPointwise(KH: i32, KW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32, padBottom: i32, padRight: i32): bool {
  return KH == 1 && KW == 1 && SH == 1 && SW == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0;
}

/**
 * Unfolds input[C×H×W] into columns[(C·KH·KW) × (OH·OW)]: row (c, ky, kx) holds, for every output
 * pixel, the input value under that kernel tap, or 0 in the padding.
 */
function im2col(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, columns: usize,
): void {
  let dst = columns;
  for (let c = 0; c < C; c++) {
    const plane = input + (<usize>(c * H * W) << 2);
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        // Output columns [oxBegin, oxEnd) read inside the input row; the rest read padding.
        const oxBegin = min(OW, max(0, (padLeft - kx + SW - 1) / SW));
        const oxEnd = max(oxBegin, min(OW, (W + padLeft - kx + SW - 1) / SW));
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * SH + ky - padTop;
          if (iy < 0 || iy >= H) {
            memory.fill(dst, 0, <usize>OW << 2);
          } else {
            memory.fill(dst, 0, <usize>oxBegin << 2);
            const row = plane + (<usize>(iy * W + kx - padLeft) << 2);
            if (SW == 1) {
              memory.copy(dst + (<usize>oxBegin << 2), row + (<usize>oxBegin << 2), <usize>(oxEnd - oxBegin) << 2);
            } else {
              for (let ox = oxBegin; ox < oxEnd; ox++) {
                store<f32>(dst + (<usize>ox << 2), load<f32>(row + (<usize>(ox * SW) << 2)));
              }
            }
            memory.fill(dst + (<usize>oxEnd << 2), 0, <usize>(OW - oxEnd) << 2);
          }
          dst += <usize>OW << 2;
        }
      }
    }
  }
}

/**
 * output[M×OH×OW] = conv(input[C×H×W], weights) + bias, optional ReLU. `packedWeights` come from
 * packGemmWeights over the [M × C·KH·KW] weight matrix; `scratch` holds C·KH·KW·OH·OW floats
 * unless the convolution is a pointwise one.
 */
export function conv2d(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
  relu: bool, output: usize, scratch: usize,
): void {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const columns = columnsOf(input, C, H, W, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight, scratch);
  gemm(packedWeights, columns, N, output, N, M, N, C * KH * KW, bias, relu);
}

/** The GEMM's B matrix [C·KH·KW × OH·OW]: the input itself for a pointwise convolution, else its im2col in scratch. */
// @ts-ignore: decorator
@inline function columnsOf(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, scratch: usize,
): usize {
  if (isPointwise(KH, KW, SH, SW, padTop, padLeft, padBottom, padRight)) return input;
  const OH = outputExtent(H, KH, SH, padTop, padBottom);
  const OW = outputExtent(W, KW, SW, padLeft, padRight);
  im2col(input, C, H, W, KH, KW, SH, SW, padTop, padLeft, OH, OW, scratch);
  return scratch;
}

/**
 * The int8 convolution (see gemm-int8.ts): the columns (the input itself for a pointwise convolution, else its
 * f32 im2col in `scratch`) are quantised with the input tensor's scale and zero point and packed after them in
 * `scratch`, then multiplied.
 */
export function conv2dInt8(
  input: usize, C: i32, H: i32, W: i32,
  packedWeights: usize, weightScales: usize, rowSums: usize, bias: usize, M: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, activationScale: f32, zeroPoint: i32,
  relu: bool, output: usize, scratch: usize,
): void {
  const N = outputExtent(H, KH, SH, padTop, padBottom) * outputExtent(W, KW, SW, padLeft, padRight);
  const K = C * KH * KW;
  const columns = columnsOf(input, C, H, W, KH, KW, SH, SW, padTop, padLeft, padBottom, padRight, scratch);
  const packed = scratch + im2colBytes(K, N, columns != input);
  packQuantisedColumns(columns, N, K, N, 1 / activationScale, zeroPoint, packed);
  gemmInt8(packedWeights, packed, output, N, M, N, K, activationScale, zeroPoint, weightScales, rowSums, bias, relu);
}
