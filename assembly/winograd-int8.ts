// Winograd F(2×2, 3×3) for int8 3×3 stride-1 convolutions, in exact integer arithmetic: the same bits as the
// direct int8 convolution (conv.ts's conv2dInt8QuantiseShare and conv2dInt8Share) from 2.25× fewer
// multiplies. winograd.ts explains the algorithm; here
//
// - the input is quantised as the direct convolution quantises it, then centred: d = q − zeroPoint, in
//   [−255, 255], and 0 in the padding. V = Bᵀ d B adds or subtracts four of them: within ±1020, so i16;
// - G has halves, so the weights are transformed with 2G: U = (2G) g (2G)ᵀ = 4 · G g Gᵀ, a sum of nine ±int8:
//   within ±1152, i16 again. U and V meet in the int8 GEMM's i16 dot products (gemm-int8.ts), summed in i32;
// - Y = Aᵀ M A is then 4 × the direct convolution's Σ w·(q − zeroPoint). i32 sums may wrap along the way, but
//   wrapping arithmetic is exact modulo 2³², and Y itself fits while C · 9 · 128 · 255 · 4 < 2³¹
//   (C ≤ WINOGRAD_INT8_MAX_CHANNELS). Y / 4 goes through the direct convolution's epilogue: × scale, + bias,
//   ReLU, f32 or bytes.
//
// A chunk of tile rows at a time, in scratch (each thread its own):
//
//   │ V: 16 × C rows of i16 │ M: 16 × M rows of i32 │ centred input rows under the chunk (i16) │ packed tile │ spill │
//
// (the packed tile's room also holds an f32 input row quantised to bytes, on its way to the centred rows).
//
// V_ξ is packed for the GEMM GEMM_NR tiles at a time (channels in pairs, as packQuantisedColumns packs bytes).
// SIMD builds transform eight tiles at once on input (i16 lanes) and four on output (i32 lanes).

import { GEMM_MR, GEMM_NR } from './gemm';
import { gemmInt8Sums, groupsOf, int8WeightBytes, quantise, quantise8, quantiseActivations } from './gemm-int8';
import { largerOf, largerOf4 } from './lanes';
import { shareStart } from './share';
import { add, storeOutputPairs, storeTransformedKernels, sub, transformInputTiles } from './winograd';

/** The most input channels whose sums stay exact in i32 (see the top of this file). */
export const WINOGRAD_INT8_MAX_CHANNELS: i32 = 1827;

/** Tiles per input transform step (one per i16 lane) and per output transform step (one per i32 lane). */
const INPUT_LANES: i32 = ASC_FEATURE_SIMD ? 8 : 1;
const OUTPUT_LANES: i32 = ASC_FEATURE_SIMD ? 4 : 1;

/** Bytes of V and M one chunk may use (winograd.ts's CHUNK_BYTES). */
const CHUNK_BYTES: i32 = 1024 * 1024;

/** Bytes after each buffer for the reads past its end (at most 15 i16 past a centred row, 3 i32 past a row of M). */
const SLACK_BYTES: i32 = 64;

/** Bytes of the 16 transformed weight matrices of an M × C × 3 × 3 convolution. */
export function winogradInt8WeightBytes(M: i32, C: i32): usize {
  return 16 * int8WeightBytes(M, C);
}

/**
 * Transforms int8 weights[M × C × 3 × 3] into U = (2G) g (2G)ᵀ (winograd.ts, storeTransformedKernels), written at
 * `dst` as 16 i16 matrices laid out as packInt8Weights lays out an [M × C] matrix: panels of GEMM_MR rows, in each
 * a group per channel pair holding each row's pair in turn, zero past M and C. `weights` has room for whole panels
 * of rows and 16 bytes more: the rows past M are zeroed here. SIMD builds transform a group's eight kernels at once.
 */
export function winogradInt8TransformWeights(weights: usize, M: i32, C: i32, dst: usize): void {
  const matrixBytes = int8WeightBytes(M, C), rowBytes = <usize>C * 9;
  const panelRows = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
  memory.fill(weights + <usize>M * rowBytes, 0, <usize>(panelRows - M) * rowBytes);
  let at = dst;
  for (let m = 0; m < panelRows; m += GEMM_MR) {
    for (let c = 0; c < C; c += 2, at += GEMM_MR * 4) {
      const kernels = weights + <usize>m * rowBytes + <usize>c * 9;
      if (ASC_FEATURE_SIMD) {
        transformGroup(kernels, rowBytes, c + 1 == C, at, matrixBytes);
        continue;
      }
      for (let lane = 0; lane < 2 * GEMM_MR; lane++) {
        const g = kernels + <usize>(lane >> 1) * rowBytes + <usize>(lane & 1) * 9, inside = c + (lane & 1) < C;
        storeTransformedKernels<i32, i16>(at + (<usize>lane << 1), matrixBytes,
          tapOf(g, 0, inside), tapOf(g, 1, inside), tapOf(g, 2, inside), tapOf(g, 3, inside), tapOf(g, 4, inside),
          tapOf(g, 5, inside), tapOf(g, 6, inside), tapOf(g, 7, inside), tapOf(g, 8, inside));
      }
    }
  }
}

/** Tap k of the int8 kernel at g, or 0 for a channel past C. */
// @ts-ignore: decorator
@inline function tapOf(g: usize, k: i32, inside: bool): i32 {
  return inside ? <i32>load<i8>(g + k) : 0;
}

/**
 * U of the eight kernels of a group: channels c, c + 1 (`kernels`, 18 consecutive bytes) of four rows rowBytes
 * apart, one per i16 lane in the group's order. `lastOdd`: channel c + 1 is past C, its lanes are zero.
 */
function transformGroup(kernels: usize, rowBytes: usize, lastOdd: bool, at: usize, matrixBytes: usize): void {
  // Each row's bytes 0‥15 and 2‥17. Interleaved, taps 0‥7 of both kernels pair up in i16 lanes: [c, c + 1] of tap k
  // in lane k. Tap 8 is bytes 8 and 17: bytes 6 and 15 of the second load.
  const head0 = v128.load(kernels), tail0 = v128.load(kernels, 2);
  const head1 = v128.load(kernels + rowBytes), tail1 = v128.load(kernels + rowBytes, 2);
  const head2 = v128.load(kernels + 2 * rowBytes), tail2 = v128.load(kernels + 2 * rowBytes, 2);
  const head3 = v128.load(kernels + 3 * rowBytes), tail3 = v128.load(kernels + 3 * rowBytes, 2);
  const pairs0 = tapPairs(head0, tail0), pairs1 = tapPairs(head1, tail1);
  const pairs2 = tapPairs(head2, tail2), pairs3 = tapPairs(head3, tail3);
  // The four rows' pairs of a tap side by side, two taps per vector: the group's byte order.
  const low01 = v128.shuffle<i16>(pairs0, pairs1, 0, 8, 1, 9, 2, 10, 3, 11);
  const low23 = v128.shuffle<i16>(pairs2, pairs3, 0, 8, 1, 9, 2, 10, 3, 11);
  const high01 = v128.shuffle<i16>(pairs0, pairs1, 4, 12, 5, 13, 6, 14, 7, 15);
  const high23 = v128.shuffle<i16>(pairs2, pairs3, 4, 12, 5, 13, 6, 14, 7, 15);
  const eighth01 = v128.shuffle<u8>(tail0, tail1, 6, 15, 22, 31, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const eighth23 = v128.shuffle<u8>(tail2, tail3, 6, 15, 22, 31, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const keep = i16x8.splat(lastOdd ? 0xff : -1);
  const taps01 = v128.and(v128.shuffle<i32>(low01, low23, 0, 4, 1, 5), keep);
  const taps23 = v128.and(v128.shuffle<i32>(low01, low23, 2, 6, 3, 7), keep);
  const taps45 = v128.and(v128.shuffle<i32>(high01, high23, 0, 4, 1, 5), keep);
  const taps67 = v128.and(v128.shuffle<i32>(high01, high23, 2, 6, 3, 7), keep);
  const tap8 = v128.and(v128.shuffle<i32>(eighth01, eighth23, 0, 4, 0, 0), keep);
  storeTransformedKernels<v128, i16>(at, matrixBytes,
    i16x8.extend_low_i8x16_s(taps01), i16x8.extend_high_i8x16_s(taps01), i16x8.extend_low_i8x16_s(taps23),
    i16x8.extend_high_i8x16_s(taps23), i16x8.extend_low_i8x16_s(taps45), i16x8.extend_high_i8x16_s(taps45),
    i16x8.extend_low_i8x16_s(taps67), i16x8.extend_high_i8x16_s(taps67), i16x8.extend_low_i8x16_s(tap8));
}

/** Taps 0‥7 of a row's two kernels as i16 lanes of byte pairs, from its bytes 0‥15 (`head`) and 2‥17 (`tail`). */
// @ts-ignore: decorator
@inline function tapPairs(head: v128, tail: v128): v128 {
  return v128.shuffle<u8>(head, tail, 0, 9, 1, 10, 2, 11, 3, 12, 4, 13, 5, 14, 6, 15, 7, 30);
}

/** Tile rows per chunk: as many as keep its V and M within CHUNK_BYTES, at least one. */
// @ts-ignore: decorator
@inline function chunkRowsOf(C: i32, M: i32, tileRows: i32, tileColumns: i32): i32 {
  return max(1, min(tileRows, CHUNK_BYTES / (16 * (2 * C + 4 * M) * tileColumns)));
}

/** i16 values per centred input row: the 2·tileColumns + 2 columns the tiles read, in whole v128s. */
// @ts-ignore: decorator
@inline function centredWidthOf(tileColumns: i32): i32 {
  return (2 * tileColumns + 2 + 7) & ~7;
}

/** i16 values between V rows: the chunk's tiles and room for the last step's lanes past them. */
// @ts-ignore: decorator
@inline function vStrideOf(tiles: i32): i32 {
  return tiles + INPUT_LANES;
}

/** The chunk's buffers (see the top of the file), in bytes from the start of a thread's scratch. */
// @ts-ignore: decorator
@inline function productsOffset(C: i32, chunkTiles: i32): usize {
  return (<usize>(16 * C * vStrideOf(chunkTiles)) << 1) + SLACK_BYTES;
}
// @ts-ignore: decorator
@inline function centredInputOffset(C: i32, M: i32, chunkTiles: i32): usize {
  return productsOffset(C, chunkTiles) + (<usize>(16 * M * chunkTiles) << 2) + SLACK_BYTES;
}
// @ts-ignore: decorator
@inline function packedTileOffset(C: i32, M: i32, chunkRows: i32, tileColumns: i32): usize {
  const rowsBytes = (<usize>((2 * chunkRows + 2) * centredWidthOf(tileColumns)) << 1) + SLACK_BYTES;
  return centredInputOffset(C, M, chunkRows * tileColumns) + rowsBytes;
}
/**
 * The packed tile's room holds an input row quantised to bytes while the input is transformed. After it, 8 floats
 * where SIMD builds spill the partial last step of an output row.
 */
// @ts-ignore: decorator
@inline function spillOffset(C: i32, W: i32, M: i32, chunkRows: i32, tileColumns: i32): usize {
  return packedTileOffset(C, M, chunkRows, tileColumns) + <usize>max(groupsOf(C) * GEMM_NR * 4, W + 16);
}

/** Scratch bytes winogradConvInt8Share needs for each thread. */
export function winogradInt8ScratchBytes(
  C: i32, H: i32, W: i32, M: i32, padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
): usize {
  const tileRows = (H + padTop + padBottom - 1) / 2, tileColumns = (W + padLeft + padRight - 1) / 2;
  // Whole v128s, so that every thread's scratch starts 16-byte aligned.
  return (spillOffset(C, W, M, chunkRowsOf(C, M, tileRows, tileColumns), tileColumns) + 32 + 15) & ~15;
}

/**
 * The int8 convolution of a 3×3 stride-1 convolution (any padding, C ≤ WINOGRAD_INT8_MAX_CHANNELS), with the
 * direct one's arguments but `transformedWeights` from winogradInt8TransformWeights in place of the packed weights and row sums,
 * for thread `thread` of `threads`: its share of the tile rows, with winogradInt8ScratchBytes() bytes of scratch for
 * each thread from `scratch`. The input is f32, or quantised bytes when `inputQuantised`.
 */
export function winogradConvInt8Share(
  input: usize, C: i32, H: i32, W: i32, transformedWeights: usize, weightScales: usize, bias: usize, M: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, activationScale: f32, zeroPoint: i32,
  relu: bool, output: usize, scratch: usize, inputQuantised: bool, outputScale: f32, outputZeroPoint: i32,
  thread: i32, threads: i32,
): void {
  const OH = H + padTop + padBottom - 2, OW = W + padLeft + padRight - 2;
  const tileRows = (OH + 1) / 2, tileColumns = (OW + 1) / 2;
  const chunkRows = chunkRowsOf(C, M, tileRows, tileColumns);
  const chunkTiles = chunkRows * tileColumns;
  scratch += <usize>thread * winogradInt8ScratchBytes(C, H, W, M, padTop, padLeft, padBottom, padRight);
  const transformed = scratch;
  const products = scratch + productsOffset(C, chunkTiles);
  const centredInput = scratch + centredInputOffset(C, M, chunkTiles);
  const packedTile = scratch + packedTileOffset(C, M, chunkRows, tileColumns);
  const spill = scratch + spillOffset(C, W, M, chunkRows, tileColumns);
  // Columns outside [padLeft, padLeft + W) of the centred rows stay zero from here on.
  memory.fill(centredInput, 0, packedTile - centredInput);
  const weightMatrixBytes = int8WeightBytes(M, C);
  const outputInverseScale: f32 = outputScale > 0 ? 1 / outputScale : 0;

  const endRow = shareStart(tileRows, thread + 1, threads);
  for (let firstRow = shareStart(tileRows, thread, threads); firstRow < endRow; firstRow += chunkRows) {
    const rows = min(chunkRows, endRow - firstRow);
    const tiles = rows * tileColumns;
    const vStride = vStrideOf(tiles);
    transformInput(input, inputQuantised, activationScale, zeroPoint, C, H, W, padTop, padLeft, firstRow, rows,
      tileColumns, transformed, vStride, centredInput, packedTile);
    for (let xi = 0; xi < 16; xi++) {
      const v = transformed + (<usize>(xi * C * vStride) << 1);
      const m = products + (<usize>(xi * M * tiles) << 2);
      for (let t0 = 0; t0 < tiles; t0 += GEMM_NR) {
        const cols = min(GEMM_NR, tiles - t0);
        packTransformedTiles(v + (<usize>t0 << 1), vStride, C, packedTile);
        gemmInt8Sums(transformedWeights + <usize>xi * weightMatrixBytes, packedTile, m + (<usize>t0 << 2), tiles, M, cols, C);
      }
    }
    transformOutput(products, M, tiles, firstRow, rows, tileColumns, OH, OW, activationScale, weightScales, bias, relu,
      outputInverseScale, <f32>outputZeroPoint, output, spill);
  }
}

/**
 * V_ξ[c][tile] = (Bᵀ d B)[ξ] for every channel and tile of the chunk (tiles row-major from its first tile row),
 * as winograd.ts's transformInput does it, over the centred input: for each channel, the 2·rows + 2 input rows
 * under the chunk are centred into `centredInput` between zeros, f32 ones after quantising them to `quantisedRow`.
 */
function transformInput(
  input: usize, inputQuantised: bool, activationScale: f32, zeroPoint: i32, C: i32, H: i32, W: i32,
  padTop: i32, padLeft: i32, firstRow: i32, rows: i32, tileColumns: i32, transformed: usize, vStride: i32,
  centredInput: usize, quantisedRow: usize,
): void {
  const rowBytes = <usize>centredWidthOf(tileColumns) << 1;
  const positionBytes = <usize>(C * vStride) << 1;
  const top = 2 * firstRow - padTop;
  const inverseScale: f32 = 1 / activationScale;
  for (let c = 0; c < C; c++) {
    const plane = <usize>(c * H) * W;
    for (let y = 0; y < 2 * rows + 2; y++) {
      const row = centredInput + <usize>y * rowBytes + (<usize>padLeft << 1);
      const iy = top + y;
      if (iy < 0 || iy >= H) {
        memory.fill(row, 0, <usize>W << 1);
      } else {
        const offset = plane + <usize>(iy * W);
        let bytes = input + offset;
        if (!inputQuantised) {
          quantiseActivations(input + (offset << 2), W, inverseScale, zeroPoint, quantisedRow);
          bytes = quantisedRow;
        }
        centreBytes(bytes, W, zeroPoint, row);
      }
    }
    for (let r = 0; r < rows; r++) {
      const dst = transformed + (<usize>(c * vStride + r * tileColumns) << 1);
      const patchRow = centredInput + <usize>(2 * r) * rowBytes;
      for (let tx = 0; tx < tileColumns; tx += INPUT_LANES) {
        const patch = patchRow + (<usize>(2 * tx) << 1), at = dst + (<usize>tx << 1);
        if (ASC_FEATURE_SIMD) transformInputTiles<v128, i16>(patch, rowBytes, at, positionBytes);
        else transformInputTiles<i32, i16>(patch, rowBytes, at, positionBytes);
      }
    }
  }
}

/** dst[i] = src[i] − zeroPoint as i16, for n bytes at src. */
function centreBytes(src: usize, n: i32, zeroPoint: i32, dst: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const centre = i16x8.splat(<i16>zeroPoint);
    for (; i + 8 <= n; i += 8) {
      v128.store(dst + (<usize>i << 1), i16x8.sub(i16x8.extend_low_i8x16_u(v128.load64_zero(src + <usize>i)), centre));
    }
  }
  for (; i < n; i++) store<i16>(dst + (<usize>i << 1), <i16>(<i32>load<u8>(src + <usize>i) - zeroPoint));
}

/**
 * Packs the V_ξ columns of up to GEMM_NR tiles from `v` (rows vStride i16 apart) as the int8 GEMM's B operand:
 * channels 2g and 2g + 1 side by side per tile, a zero row after an odd C (its weights are zero too). Columns past
 * the chunk's tiles are garbage that is never stored.
 *
 *   row 2g:     [x0 … x7]   interleave   [x0 y0 x1 y1 x2 y2 x3 y3] [x4 y4 … x7 y7]   (32 bytes)
 *   row 2g + 1: [y0 … y7]
 */
function packTransformedTiles(v: usize, vStride: i32, C: i32, dst: usize): void {
  const rowBytes = <usize>vStride << 1;
  for (let c = 0; c < C; c += 2, dst += GEMM_NR * 4) {
    const even = v + <usize>c * rowBytes, hasOdd = c + 1 < C;
    if (ASC_FEATURE_SIMD) {
      const x = v128.load(even), y = hasOdd ? v128.load(even + rowBytes) : i16x8.splat(0);
      v128.store(dst, v128.shuffle<i16>(x, y, 0, 8, 1, 9, 2, 10, 3, 11));
      v128.store(dst, v128.shuffle<i16>(x, y, 4, 12, 5, 13, 6, 14, 7, 15), 16);
    } else {
      for (let j = 0; j < GEMM_NR; j++) {
        store<i16>(dst + (<usize>j << 2), load<i16>(even + (<usize>j << 1)));
        store<i16>(dst + (<usize>j << 2), hasOdd ? load<i16>(even + rowBytes + (<usize>j << 1)) : 0, 2);
      }
    }
  }
}

/**
 * Y = Aᵀ M A (winograd.ts's transformOutput) for every output channel and tile of the chunk, divided by 4 and
 * finished as the direct convolution's epilogue finishes a sum (gemm-int8.ts): × activationScale · weightScale[m], + bias[m],
 * ReLU, then stored as f32, or as bytes quantised with outputInverseScale and outputZero when that is > 0.
 */
function transformOutput(
  products: usize, M: i32, tiles: i32, firstRow: i32, rows: i32, tileColumns: i32, OH: i32, OW: i32,
  activationScale: f32, weightScales: usize, bias: usize, relu: bool, outputInverseScale: f32, outputZero: f32,
  output: usize, spill: usize,
): void {
  const positionBytes = <usize>(M * tiles) << 2;
  const valueBytes: usize = outputInverseScale > 0 ? 1 : 4;
  const outputRowBytes = <usize>OW * valueBytes;
  for (let m = 0; m < M; m++) {
    const scale = activationScale * load<f32>(weightScales + (<usize>m << 2)), channelBias = load<f32>(bias + (<usize>m << 2));
    const channel = output + <usize>(m * OH * OW) * valueBytes;
    for (let r = 0; r < rows; r++) {
      const oy = 2 * (firstRow + r);
      const src = products + (<usize>(m * tiles + r * tileColumns) << 2);
      const top = channel + <usize>oy * outputRowBytes;
      const bottomToo = oy + 1 < OH;
      for (let tx = 0; tx < tileColumns; tx += OUTPUT_LANES) {
        const count = min(2 * OUTPUT_LANES, OW - 2 * tx);
        const at = src + (<usize>tx << 2), dst = top + <usize>(2 * tx) * valueBytes;
        if (ASC_FEATURE_SIMD) {
          transformOutputTiles<v128>(at, positionBytes, dst, outputRowBytes, bottomToo, count, spill,
            scale, channelBias, relu, outputInverseScale, outputZero);
        } else {
          transformOutputTiles<i32>(at, positionBytes, dst, outputRowBytes, bottomToo, count, spill,
            scale, channelBias, relu, outputInverseScale, outputZero);
        }
      }
    }
  }
}
/**
 * Aᵀ M A for the tile(s) whose 16 sums start at `at`, finished (transformOutput), stored as winograd.ts's
 * transformOutputTiles stores: `count` values of the top output row at `top`, and of the bottom one if `bottomToo`.
 */
// @ts-ignore: decorator
@inline function transformOutputTiles<T>(
  at: usize, positionBytes: usize, top: usize, rowBytes: usize, bottomToo: bool, count: i32, spill: usize,
  scale: f32, bias: f32, relu: bool, outputInverseScale: f32, outputZero: f32,
): void {
  const m00 = load<T>(at), m01 = load<T>(at + positionBytes), m02 = load<T>(at + 2 * positionBytes), m03 = load<T>(at + 3 * positionBytes);
  at += 4 * positionBytes;
  const m10 = load<T>(at), m11 = load<T>(at + positionBytes), m12 = load<T>(at + 2 * positionBytes), m13 = load<T>(at + 3 * positionBytes);
  at += 4 * positionBytes;
  const m20 = load<T>(at), m21 = load<T>(at + positionBytes), m22 = load<T>(at + 2 * positionBytes), m23 = load<T>(at + 3 * positionBytes);
  at += 4 * positionBytes;
  const m30 = load<T>(at), m31 = load<T>(at + positionBytes), m32 = load<T>(at + 2 * positionBytes), m33 = load<T>(at + 3 * positionBytes);
  const s00 = add<T, i32>(add<T, i32>(m00, m10), m20), s01 = add<T, i32>(add<T, i32>(m01, m11), m21);
  const s02 = add<T, i32>(add<T, i32>(m02, m12), m22), s03 = add<T, i32>(add<T, i32>(m03, m13), m23);
  const s10 = sub<T, i32>(sub<T, i32>(m10, m20), m30), s11 = sub<T, i32>(sub<T, i32>(m11, m21), m31);
  const s12 = sub<T, i32>(sub<T, i32>(m12, m22), m32), s13 = sub<T, i32>(sub<T, i32>(m13, m23), m33);
  const y00 = add<T, i32>(add<T, i32>(s00, s01), s02), y01 = sub<T, i32>(sub<T, i32>(s01, s02), s03);
  const y10 = add<T, i32>(add<T, i32>(s10, s11), s12), y11 = sub<T, i32>(sub<T, i32>(s11, s12), s13);
  if (isVector<T>()) {
    storeFinishedLanes(top, y00, y01, count, spill, scale, bias, relu, outputInverseScale, outputZero);
    if (bottomToo) storeFinishedLanes(top + rowBytes, y10, y11, count, spill, scale, bias, relu, outputInverseScale, outputZero);
  } else {
    storeFinishedPair(top, <i32>y00, <i32>y01, count, scale, bias, relu, outputInverseScale, outputZero);
    if (bottomToo) storeFinishedPair(top + rowBytes, <i32>y10, <i32>y11, count, scale, bias, relu, outputInverseScale, outputZero);
  }
}

/**
 * Finishes four tiles' left and right 4× sums and stores the first `count` values of the output row run left,
 * right, left, right, …: f32 (winograd.ts's storeOutputPairs), or bytes, through `spill` if count < 8.
 */
function storeFinishedLanes(
  dst: usize, left4: v128, right4: v128, count: i32, spill: usize,
  scale: f32, bias: f32, relu: bool, outputInverseScale: f32, outputZero: f32,
): void {
  const left = finishLanes(left4, scale, bias, relu), right = finishLanes(right4, scale, bias, relu);
  if (outputInverseScale <= 0) {
    storeOutputPairs<v128>(dst, left, right, count, spill);
    return;
  }
  // The output row's order, as storeOutputPairs stores f32: L0 R0 L1 R1 │ L2 R2 L3 R3.
  const bytes = quantise8(v128.shuffle<f32>(left, right, 0, 4, 1, 5), v128.shuffle<f32>(left, right, 2, 6, 3, 7),
    f32x4.splat(outputInverseScale), f32x4.splat(outputZero));
  if (count == 8) {
    v128.store64_lane(dst, bytes, 0);
  } else {
    v128.store64_lane(spill, bytes, 0);
    memory.copy(dst, spill, <usize>count);
  }
}

/** storeFinishedLanes for one tile (the scalar build). */
// @ts-ignore: decorator
@inline function storeFinishedPair(
  dst: usize, left4: i32, right4: i32, count: i32, scale: f32, bias: f32, relu: bool, outputInverseScale: f32, outputZero: f32,
): void {
  const left = finishValue(left4, scale, bias, relu), right = finishValue(right4, scale, bias, relu);
  if (outputInverseScale <= 0) {
    storeOutputPairs<f32>(dst, left, right, count, 0);
    return;
  }
  store<u8>(dst, quantise(left, outputInverseScale, outputZero));
  if (count > 1) store<u8>(dst, quantise(right, outputInverseScale, outputZero), 1);
}

/** (sums / 4) → f32, × scale, + bias, ReLU: gemm-int8.ts's requantise of the same integer, so the same bits. */
// @ts-ignore: decorator
@inline function finishLanes(sums4: v128, scale: f32, bias: f32, relu: bool): v128 {
  const value = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.shr_s(sums4, 2)), f32x4.splat(scale)), f32x4.splat(bias));
  return relu ? largerOf4(value, f32x4.splat(0)) : value;
}

// @ts-ignore: decorator
@inline function finishValue(sums4: i32, scale: f32, bias: f32, relu: bool): f32 {
  const value = <f32>(sums4 >> 2) * scale + bias;
  return relu ? largerOf(value, 0) : value;
}
