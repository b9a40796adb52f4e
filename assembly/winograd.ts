// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks"). Each 2×2 block of output pixels (a "tile") comes from the 4×4 input patch d_c under it in every
// channel c:
//
//   Y = Aᵀ [ Σ_c U_c ⊙ V_c ] A     U_c = G g_c Gᵀ (weights, 4×4)     V_c = Bᵀ d_c B (input, 4×4)
//
// 16 multiplies per tile and channel instead of 36. The sum over channels of position ξ (0..15, row-major in the
// 4×4 transformed tile) is a matrix product, so the convolution becomes 16 GEMMs run by gemm():
//
//   M_ξ[M × tiles] = U_ξ[M × C] · V_ξ[C × tiles]
//
// U_ξ are transformed once at load and stored as 16 weight matrices, each packed as packGemmWeights packs one:
//
//   transformed weights: │ U_0 (⌈M/4⌉·4 × C, 4-row panels) │ U_1 │ … │ U_15 │
//
// Per inference the output is processed in chunks of whole tile rows, small enough that the chunk's V and M
// matrices stay in L2 between the input transform, the GEMMs and the output transform:
//
//   scratch: │ V: 16 × C rows │ M: 16 × M rows │ padded input rows under the chunk │ zero bias │ spill │ GEMM sliver │
//
// SIMD builds transform four horizontally adjacent tiles at once, one per lane; the scalar build one tile.

import { gemm, gemmScratchBytes, GEMM_MR } from './gemm';
import { largerOf, largerOf4 } from './lanes';
import { shareStart } from './share';

/** Tiles per transform step: one per lane. */
const LANES: i32 = ASC_FEATURE_SIMD ? 4 : 1;

/**
 * Bytes of V and M one chunk may use. Larger chunks give gemm() more columns per call; past about an L2 they stop
 * helping. GoogLeNet's 3×3 layers together, simd build, Node 20, 1 MB L2 per core: 512 KB 32.9 ms, 1 MB 29.4–30.9,
 * 2 MB 29.4, 4 MB 30.1.
 */
const CHUNK_BYTES: i32 = 1024 * 1024;

/**
 * Floats after a buffer for reads past its end: gemm() reads up to 7 past a row of B, the input transform up to 7
 * past a padded row, the output transform up to 3 past a row of M.
 */
const SLACK_FLOATS: i32 = 8;

/** Position ξ = 4·1 + 1 of the transformed tile adds to all four outputs with weight 1 (see winogradConvShare). */
const BIAS_POSITION: i32 = 5;

/** Output channels rounded up to whole GEMM panels. */
// @ts-ignore: decorator
@inline function panelRows(M: i32): i32 {
  return (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
}

/** Bytes of the 16 transformed weight matrices of an M × C × 3 × 3 convolution. */
export function winogradWeightBytes(M: i32, C: i32): usize {
  return <usize>16 * panelRows(M) * C * 4;
}

/**
 * Transforms weights[M × C × 3 × 3] into U = G g Gᵀ, written at `dst` as 16 matrices packed like
 * packGemmWeights packs an [M × C] matrix. `weights` has room for whole panels of rows: the rows past M are
 * zeroed here, so that their U is zero. SIMD builds transform a panel's four rows at once, one per lane.
 *
 *   G = │ 1    0    0  │      U_ξ element (m, c) at float ((m / 4 · C + c) · 4 + m % 4)
 *       │ ½    ½    ½  │
 *       │ ½   −½    ½  │
 *       │ 0    0    1  │
 */
export function winogradTransformWeights(weights: usize, M: i32, C: i32, dst: usize): void {
  const matrixBytes = winogradWeightBytes(M, C) / 16, rowBytes = <usize>C * 9 * 4;
  memory.fill(weights + <usize>M * rowBytes, 0, <usize>(panelRows(M) - M) * rowBytes);
  const rowsPerStep = ASC_FEATURE_SIMD ? GEMM_MR : 1;
  for (let m = 0; m < panelRows(M); m += rowsPerStep) {
    for (let c = 0; c < C; c++) {
      const g = weights + <usize>m * rowBytes + <usize>c * 36;
      const at = dst + ((<usize>((m / GEMM_MR * C + c) * GEMM_MR + m % GEMM_MR)) << 2);
      if (ASC_FEATURE_SIMD) transformKernels<v128>(g, rowBytes, at, matrixBytes);
      else transformKernels<f32>(g, rowBytes, at, matrixBytes);
    }
  }
}

/** U of the 3×3 kernel at g (T = f32), or of four kernels rowBytes apart, one per lane (T = v128). */
// @ts-ignore: decorator
@inline function transformKernels<T>(g: usize, rowBytes: usize, at: usize, matrixBytes: usize): void {
  storeTransformedKernels<T, f32>(at, matrixBytes,
    tap<T>(g, 0, rowBytes), tap<T>(g, 1, rowBytes), tap<T>(g, 2, rowBytes),
    tap<T>(g, 3, rowBytes), tap<T>(g, 4, rowBytes), tap<T>(g, 5, rowBytes),
    tap<T>(g, 6, rowBytes), tap<T>(g, 7, rowBytes), tap<T>(g, 8, rowBytes));
}

/** Tap k (row-major) of the 3×3 kernel at g; as v128, of the four kernels rowBytes apart. */
// @ts-ignore: decorator
@inline function tap<T>(g: usize, k: i32, rowBytes: usize): T {
  const at = g + (<usize>k << 2);
  if (!isVector<T>()) return load<T>(at);
  let lanes = v128.load32_zero(at);
  lanes = v128.load32_lane(at + rowBytes, lanes, 1);
  lanes = v128.load32_lane(at + 2 * rowBytes, lanes, 2);
  return <T>v128.load32_lane(at + 3 * rowBytes, lanes, 3);
}

/**
 * U of a 3×3 kernel from its taps g00‥g22 (a kernel per lane for v128), stored with position ξ at at + ξ·matrixBytes:
 * g·Gᵀ row by row, then G times each column of that, stored as that column of U. f32 Lanes get U = G g Gᵀ; integer
 * Lanes (winograd-int8.ts) the whole-numbered U = (2G) g (2G)ᵀ: each row of G times two.
 */
// @ts-ignore: decorator
@inline export function storeTransformedKernels<T, Lane>(
  at: usize, matrixBytes: usize, g00: T, g01: T, g02: T, g10: T, g11: T, g12: T, g20: T, g21: T, g22: T,
): void {
  storeColumnOfU<T, Lane>(at, matrixBytes, outer<T, Lane>(g00), outer<T, Lane>(g10), outer<T, Lane>(g20));
  storeColumnOfU<T, Lane>(at + matrixBytes, matrixBytes,
    middleSum<T, Lane>(g00, g01, g02), middleSum<T, Lane>(g10, g11, g12), middleSum<T, Lane>(g20, g21, g22));
  storeColumnOfU<T, Lane>(at + 2 * matrixBytes, matrixBytes,
    middleDifference<T, Lane>(g00, g01, g02), middleDifference<T, Lane>(g10, g11, g12), middleDifference<T, Lane>(g20, g21, g22));
  storeColumnOfU<T, Lane>(at + 3 * matrixBytes, matrixBytes, outer<T, Lane>(g02), outer<T, Lane>(g12), outer<T, Lane>(g22));
}

/** G times the column (a, b, c), stored as a column of U: its four positions 4·matrixBytes apart from `at`. */
// @ts-ignore: decorator
@inline function storeColumnOfU<T, Lane>(at: usize, matrixBytes: usize, a: T, b: T, c: T): void {
  storeLanes<T, Lane>(at, outer<T, Lane>(a));
  storeLanes<T, Lane>(at + 4 * matrixBytes, middleSum<T, Lane>(a, b, c));
  storeLanes<T, Lane>(at + 8 * matrixBytes, middleDifference<T, Lane>(a, b, c));
  storeLanes<T, Lane>(at + 12 * matrixBytes, outer<T, Lane>(c));
}

/** Rows 0 and 3 of G (or 2G) times a vector: its one 1 (or 2) picks a value. */
// @ts-ignore: decorator
@inline function outer<T, Lane>(v: T): T {
  return isFloat<Lane>() ? v : add<T, Lane>(v, v);
}

/** Rows 1 and 2 of G times (a, b, c): ½(a + b + c) and ½(a − b + c); of 2G, without the halves. */
// @ts-ignore: decorator
@inline function middleSum<T, Lane>(a: T, b: T, c: T): T {
  const sum = add<T, Lane>(add<T, Lane>(a, b), c);
  return isFloat<Lane>() ? half<T>(sum) : sum;
}
// @ts-ignore: decorator
@inline function middleDifference<T, Lane>(a: T, b: T, c: T): T {
  const difference = add<T, Lane>(sub<T, Lane>(a, b), c);
  return isFloat<Lane>() ? half<T>(difference) : difference;
}

// A chunk covers `chunkRows` tile rows (the last chunk may have fewer): as many as keep its V and M within
// CHUNK_BYTES, at least one.
// @ts-ignore: decorator
@inline function chunkRowsOf(C: i32, M: i32, tileRows: i32, tileColumns: i32): i32 {
  return max(1, min(tileRows, CHUNK_BYTES / (16 * (C + M) * tileColumns * 4)));
}

/**
 * Floats per padded input row: the 2·tileColumns + 2 columns the tiles read, at least padLeft + W + padRight.
 * The lanes of a row's last step that lie past its last tile read on into the next row (up to 7 floats past the
 * end; SLACK_FLOATS after the last row), and their results are never kept.
 */
// @ts-ignore: decorator
@inline function paddedWidthOf(tileColumns: i32): i32 {
  return (2 * tileColumns + 2 + 3) & ~3;
}

/** Floats between V rows: the chunk's tiles and room for the last step's lanes past them. */
// @ts-ignore: decorator
@inline function vStrideOf(tiles: i32): i32 {
  return tiles + LANES;
}

/** Where a chunk's buffers lie in scratch (see the diagram at the top), in bytes from its start. */
// @ts-ignore: decorator
@inline function productsOffset(C: i32, chunkTiles: i32): usize {
  return <usize>(16 * C * vStrideOf(chunkTiles) + SLACK_FLOATS) << 2;
}
// @ts-ignore: decorator
@inline function paddedInputOffset(C: i32, M: i32, chunkTiles: i32): usize {
  return productsOffset(C, chunkTiles) + (<usize>(16 * M * chunkTiles + SLACK_FLOATS) << 2);
}
/** The 2·chunkRows + 2 input rows under a chunk's tiles, padded. */
// @ts-ignore: decorator
@inline function paddedInputBytes(chunkRows: i32, tileColumns: i32): usize {
  return <usize>((2 * chunkRows + 2) * paddedWidthOf(tileColumns) + SLACK_FLOATS) << 2;
}
// @ts-ignore: decorator
@inline function zeroBiasOffset(C: i32, M: i32, chunkRows: i32, tileColumns: i32): usize {
  return paddedInputOffset(C, M, chunkRows * tileColumns) + paddedInputBytes(chunkRows, tileColumns);
}
/** After the zero bias, 8 floats where SIMD builds spill the partial last step of an output row. */
// @ts-ignore: decorator
@inline function gemmScratchOffset(C: i32, M: i32, chunkRows: i32, tileColumns: i32): usize {
  return zeroBiasOffset(C, M, chunkRows, tileColumns) + (<usize>(panelRows(M) + 8) << 2);
}

/** Scratch bytes winogradConvShare needs for this shape, for each thread. */
export function winogradScratchBytes(
  C: i32, H: i32, W: i32, M: i32, padTop: i32, padLeft: i32, padBottom: i32, padRight: i32,
): usize {
  const tileRows = (H + padTop + padBottom - 1) / 2, tileColumns = (W + padLeft + padRight - 1) / 2;
  const chunkRows = chunkRowsOf(C, M, tileRows, tileColumns);
  return gemmScratchOffset(C, M, chunkRows, tileColumns) + gemmScratchBytes(C);
}

/**
 * output[M × OH × OW] = conv3×3(input[C × H × W], weights) + bias, stride 1, any padding, optional ReLU, with
 * `transformedWeights` from winogradTransformWeights and `bias` padded to whole GEMM panels like conv2dShare's.
 * Writes rows of OH·OW floats at `output` as conv2dShare does (so it can fill a channel slice of a concat) and
 * nothing else.
 * This is thread `thread`'s share of `threads`: its share of the tile rows, in chunks of its own, with
 * winogradScratchBytes() bytes of scratch for each thread from `scratch`.
 *
 * The bias enters through one GEMM: Aᵀ has ones in column 1 of both rows, so whatever is added to M at position
 * (1, 1) reaches each of the tile's four outputs once. The other 15 GEMMs add a zero bias.
 */
export function winogradConvShare(
  input: usize, C: i32, H: i32, W: i32, transformedWeights: usize, bias: usize, M: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, relu: bool, output: usize, scratch: usize,
  thread: i32, threads: i32,
): void {
  const OH = H + padTop + padBottom - 2, OW = W + padLeft + padRight - 2;
  const tileRows = (OH + 1) / 2, tileColumns = (OW + 1) / 2;
  const chunkRows = chunkRowsOf(C, M, tileRows, tileColumns);
  const chunkTiles = chunkRows * tileColumns;
  scratch += <usize>thread * winogradScratchBytes(C, H, W, M, padTop, padLeft, padBottom, padRight);
  const transformed = scratch;
  const products = scratch + productsOffset(C, chunkTiles);
  const paddedInput = scratch + paddedInputOffset(C, M, chunkTiles);
  const zeroBias = scratch + zeroBiasOffset(C, M, chunkRows, tileColumns);
  const spill = zeroBias + (<usize>panelRows(M) << 2);
  const gemmScratch = scratch + gemmScratchOffset(C, M, chunkRows, tileColumns);
  memory.fill(zeroBias, 0, <usize>panelRows(M) << 2);
  // Columns outside [padLeft, padLeft + W) of the padded rows stay zero from here on.
  memory.fill(paddedInput, 0, paddedInputBytes(chunkRows, tileColumns));
  const weightMatrixBytes = winogradWeightBytes(M, C) / 16;

  const endRow = shareStart(tileRows, thread + 1, threads);
  for (let firstRow = shareStart(tileRows, thread, threads); firstRow < endRow; firstRow += chunkRows) {
    const rows = min(chunkRows, endRow - firstRow);
    const tiles = rows * tileColumns;
    const vStride = vStrideOf(tiles);
    transformInput(input, C, H, W, padTop, padLeft, firstRow, rows, tileColumns, transformed, vStride, paddedInput);
    for (let xi = 0; xi < 16; xi++) {
      gemm(
        transformedWeights + <usize>xi * weightMatrixBytes, transformed + (<usize>(xi * C * vStride) << 2), vStride,
        products + (<usize>(xi * M * tiles) << 2), tiles, 0, M, tiles, C,
        xi == BIAS_POSITION ? bias : zeroBias, false, gemmScratch,
      );
    }
    transformOutput(products, M, tiles, firstRow, rows, tileColumns, OH, OW, relu, output, spill);
  }
}

/**
 * V_ξ[c][tile] = (Bᵀ d B)[ξ] for every channel and tile of the chunk, tiles numbered row-major from the chunk's
 * first tile row. For each channel the 2·rows + 2 input rows under the chunk are first copied into `paddedInput`
 * between their zero padding, so that the transform itself never checks bounds:
 *
 *   padded row:  │ padLeft zeros │ input row (W) │ zeros │        tile tx reads columns 2·tx … 2·tx + 3
 *
 * A step of LANES tiles stores LANES values per position; past a row's last tile they land on the next tile row
 * (rewritten right after) or in the LANES floats of slack at the end of each V row.
 */
function transformInput(
  input: usize, C: i32, H: i32, W: i32, padTop: i32, padLeft: i32, firstRow: i32, rows: i32, tileColumns: i32,
  transformed: usize, vStride: i32, paddedInput: usize,
): void {
  const paddedWidth = paddedWidthOf(tileColumns);
  const rowBytes = <usize>paddedWidth << 2;
  const positionBytes = <usize>(C * vStride) << 2;
  const top = 2 * firstRow - padTop;
  for (let c = 0; c < C; c++) {
    const plane = input + (<usize>(c * H * W) << 2);
    for (let y = 0; y < 2 * rows + 2; y++) {
      const row = paddedInput + <usize>y * rowBytes + (<usize>padLeft << 2);
      const iy = top + y;
      if (iy >= 0 && iy < H) {
        memory.copy(row, plane + (<usize>(iy * W) << 2), <usize>W << 2);
      } else {
        memory.fill(row, 0, <usize>W << 2);
      }
    }
    for (let r = 0; r < rows; r++) {
      const dst = transformed + (<usize>(c * vStride + r * tileColumns) << 2);
      const patchRow = paddedInput + <usize>(2 * r) * rowBytes;
      for (let tx = 0; tx < tileColumns; tx += LANES) {
        const patch = patchRow + (<usize>(2 * tx) << 2);
        const at = dst + (<usize>tx << 2);
        if (ASC_FEATURE_SIMD) {
          transformInputTiles<v128, f32>(patch, rowBytes, at, positionBytes);
        } else {
          transformInputTiles<f32, f32>(patch, rowBytes, at, positionBytes);
        }
      }
    }
  }
}

/**
 * Bᵀ d B for the tile(s) whose patches start at `patch` (rows `rowBytes` apart); stores position ξ at
 * at + ξ·positionBytes. Values are Lane: f32 here, i16 in winograd-int8.ts. T is one tile's value (f32, or i32 for
 * an i16) or v128 (a tile per lane: four f32 or eight i16).
 *
 *   Bᵀ = │ 1  0 −1  0 │     x0 − x2,  x1 + x2,  x2 − x1,  x1 − x3  along each patch row (d B),
 *        │ 0  1  1  0 │     then the same along each column of the result (Bᵀ · d B)
 *        │ 0 −1  1  0 │
 *        │ 0  1  0 −1 │
 */
// @ts-ignore: decorator
@inline export function transformInputTiles<T, Lane>(patch: usize, rowBytes: usize, at: usize, positionBytes: usize): void {
  // Columns combined first, within each patch row y: h[y][j] = (d[y] B)[j].
  let row = patch;
  const d00 = patchColumn<T, Lane>(row, 0), d01 = patchColumn<T, Lane>(row, 1);
  const d02 = patchColumn<T, Lane>(row, 2), d03 = patchColumn<T, Lane>(row, 3);
  row += rowBytes;
  const d10 = patchColumn<T, Lane>(row, 0), d11 = patchColumn<T, Lane>(row, 1);
  const d12 = patchColumn<T, Lane>(row, 2), d13 = patchColumn<T, Lane>(row, 3);
  row += rowBytes;
  const d20 = patchColumn<T, Lane>(row, 0), d21 = patchColumn<T, Lane>(row, 1);
  const d22 = patchColumn<T, Lane>(row, 2), d23 = patchColumn<T, Lane>(row, 3);
  row += rowBytes;
  const d30 = patchColumn<T, Lane>(row, 0), d31 = patchColumn<T, Lane>(row, 1);
  const d32 = patchColumn<T, Lane>(row, 2), d33 = patchColumn<T, Lane>(row, 3);
  const h00 = sub<T, Lane>(d00, d02), h01 = add<T, Lane>(d01, d02);
  const h02 = sub<T, Lane>(d02, d01), h03 = sub<T, Lane>(d01, d03);
  const h10 = sub<T, Lane>(d10, d12), h11 = add<T, Lane>(d11, d12);
  const h12 = sub<T, Lane>(d12, d11), h13 = sub<T, Lane>(d11, d13);
  const h20 = sub<T, Lane>(d20, d22), h21 = add<T, Lane>(d21, d22);
  const h22 = sub<T, Lane>(d22, d21), h23 = sub<T, Lane>(d21, d23);
  const h30 = sub<T, Lane>(d30, d32), h31 = add<T, Lane>(d31, d32);
  const h32 = sub<T, Lane>(d32, d31), h33 = sub<T, Lane>(d31, d33);
  // Then rows: V[i][j] = (Bᵀ h)[i][j].
  storeLanes<T, Lane>(at, sub<T, Lane>(h00, h20)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h01, h21)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h02, h22)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h03, h23)); at += positionBytes;
  storeLanes<T, Lane>(at, add<T, Lane>(h10, h20)); at += positionBytes;
  storeLanes<T, Lane>(at, add<T, Lane>(h11, h21)); at += positionBytes;
  storeLanes<T, Lane>(at, add<T, Lane>(h12, h22)); at += positionBytes;
  storeLanes<T, Lane>(at, add<T, Lane>(h13, h23)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h20, h10)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h21, h11)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h22, h12)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h23, h13)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h10, h30)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h11, h31)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h12, h32)); at += positionBytes;
  storeLanes<T, Lane>(at, sub<T, Lane>(h13, h33));
}

/**
 * Column j of the patch row at `row` for each tile of the step. Tile l of a step starts 2·l columns in, so the
 * lanes are every other value from j:
 *
 *   row + j:  x0 x1 x2 x3 │ x4 x5 x6 x7   →   x0 x2 x4 x6   (f32: tiles 0‥3; i16 likewise over 16 values, tiles 0‥7)
 */
// @ts-ignore: decorator
@inline function patchColumn<T, Lane>(row: usize, j: i32): T {
  const at = row + <usize>j * sizeof<Lane>();
  if (!isVector<T>()) return isFloat<Lane>() ? load<T>(at) : <T>load<i16>(at);
  if (isFloat<Lane>()) return v128.shuffle<f32>(v128.load(at), v128.load(at, 16), 0, 2, 4, 6);
  return v128.shuffle<i16>(v128.load(at), v128.load(at, 16), 0, 2, 4, 6, 8, 10, 12, 14);
}

/** Stores a tile's value (as Lane) or a v128 of them. */
// @ts-ignore: decorator
@inline function storeLanes<T, Lane>(at: usize, v: T): void {
  if (isVector<T>() || isFloat<Lane>()) store<T>(at, v);
  else store<i16>(at, <i16>v);
}

/**
 * Y = Aᵀ M A for every output channel and tile of the chunk, plus ReLU, into the output:
 *
 *   Aᵀ = │ 1  1  1  0 │     tile (ty, tx) → output rows 2·ty, 2·ty + 1, columns 2·tx, 2·tx + 1
 *        │ 0  1 −1 −1 │     (the second row or column only where the output has it)
 *
 * A step reads LANES tiles of M; past a row's last tile it reads the next row's, or the slack, and stores none
 * of them.
 */
function transformOutput(
  products: usize, M: i32, tiles: i32, firstRow: i32, rows: i32, tileColumns: i32, OH: i32, OW: i32, relu: bool,
  output: usize, spill: usize,
): void {
  const positionBytes = <usize>(M * tiles) << 2;
  const outputRowBytes = <usize>OW << 2;
  for (let m = 0; m < M; m++) {
    const channel = output + (<usize>(m * OH * OW) << 2);
    for (let r = 0; r < rows; r++) {
      const oy = 2 * (firstRow + r);
      const src = products + (<usize>(m * tiles + r * tileColumns) << 2);
      const top = channel + (<usize>(oy * OW) << 2);
      const bottomToo = oy + 1 < OH;
      for (let tx = 0; tx < tileColumns; tx += LANES) {
        const count = min(2 * LANES, OW - 2 * tx);
        const at = src + (<usize>tx << 2);
        const dst = <usize>(2 * tx) << 2;
        if (ASC_FEATURE_SIMD) {
          transformOutputTiles<v128>(at, positionBytes, relu, top + dst, outputRowBytes, bottomToo, count, spill);
        } else {
          transformOutputTiles<f32>(at, positionBytes, relu, top + dst, outputRowBytes, bottomToo, count, spill);
        }
      }
    }
  }
}

/**
 * Aᵀ M A for the tile(s) whose 16 products start at `at` (position ξ at at + ξ·positionBytes); stores the top
 * output row at `top` and, if `bottomToo`, the bottom one `rowBytes` further, `count` floats each.
 *
 *   s = Aᵀ M:  s0 = m0 + m1 + m2,  s1 = m1 − m2 − m3 (rows of M);   then Y = s A, the same along each row of s
 */
// @ts-ignore: decorator
@inline function transformOutputTiles<T>(
  at: usize, positionBytes: usize, relu: bool, top: usize, rowBytes: usize, bottomToo: bool, count: i32, spill: usize,
): void {
  const m00 = load<T>(at), m01 = load<T>(at + positionBytes), m02 = load<T>(at + 2 * positionBytes), m03 = load<T>(at + 3 * positionBytes);
  at += 4 * positionBytes;
  const m10 = load<T>(at), m11 = load<T>(at + positionBytes), m12 = load<T>(at + 2 * positionBytes), m13 = load<T>(at + 3 * positionBytes);
  at += 4 * positionBytes;
  const m20 = load<T>(at), m21 = load<T>(at + positionBytes), m22 = load<T>(at + 2 * positionBytes), m23 = load<T>(at + 3 * positionBytes);
  at += 4 * positionBytes;
  const m30 = load<T>(at), m31 = load<T>(at + positionBytes), m32 = load<T>(at + 2 * positionBytes), m33 = load<T>(at + 3 * positionBytes);
  const s00 = add<T>(add<T>(m00, m10), m20), s01 = add<T>(add<T>(m01, m11), m21);
  const s02 = add<T>(add<T>(m02, m12), m22), s03 = add<T>(add<T>(m03, m13), m23);
  const s10 = sub<T>(sub<T>(m10, m20), m30), s11 = sub<T>(sub<T>(m11, m21), m31);
  const s12 = sub<T>(sub<T>(m12, m22), m32), s13 = sub<T>(sub<T>(m13, m23), m33);
  const y00 = add<T>(add<T>(s00, s01), s02), y01 = sub<T>(sub<T>(s01, s02), s03);
  const y10 = add<T>(add<T>(s10, s11), s12), y11 = sub<T>(sub<T>(s11, s12), s13);
  storeOutputPairs<T>(top, rectify<T>(y00, relu), rectify<T>(y01, relu), count, spill);
  if (bottomToo) storeOutputPairs<T>(top + rowBytes, rectify<T>(y10, relu), rectify<T>(y11, relu), count, spill);
}

/**
 * Stores the first `count` floats of the output row run left, right, left, right, … (each lane's tile gives two
 * adjacent pixels). A SIMD step that would pass the row's end goes through `spill`, so nothing past it is written:
 *
 *   left = L0 L1 L2 L3, right = R0 R1 R2 R3   →   L0 R0 L1 R1 │ L2 R2 L3 R3
 */
// @ts-ignore: decorator
@inline export function storeOutputPairs<T>(dst: usize, left: T, right: T, count: i32, spill: usize): void {
  if (isVector<T>()) {
    const low = v128.shuffle<f32>(left, right, 0, 4, 1, 5), high = v128.shuffle<f32>(left, right, 2, 6, 3, 7);
    if (count == 8) {
      v128.store(dst, low);
      v128.store(dst, high, 16);
    } else {
      v128.store(spill, low);
      v128.store(spill, high, 16);
      memory.copy(dst, spill, <usize>count << 2);
    }
  } else {
    store<T>(dst, left);
    if (count > 1) store<T>(dst, right, 4);
  }
}

// Lane-generic arithmetic, shared with winograd-int8.ts: T is a scalar (f32, or i32 for an integer lane) or v128,
// whose lanes are Lane: f32 (the default), i16 or i32.
// @ts-ignore: decorator
@inline export function add<T, Lane = f32>(a: T, b: T): T {
  if (!isVector<T>()) return a + b;
  if (isFloat<Lane>()) return f32x4.add(a, b);
  return sizeof<Lane>() == 2 ? i16x8.add(a, b) : i32x4.add(a, b);
}
// @ts-ignore: decorator
@inline export function sub<T, Lane = f32>(a: T, b: T): T {
  if (!isVector<T>()) return a - b;
  if (isFloat<Lane>()) return f32x4.sub(a, b);
  return sizeof<Lane>() == 2 ? i16x8.sub(a, b) : i32x4.sub(a, b);
}
// @ts-ignore: decorator
@inline function half<T>(v: T): T {
  if (isVector<T>()) return f32x4.mul(v, f32x4.splat(0.5));
  return v * 0.5;
}
// @ts-ignore: decorator
@inline function rectify<T>(v: T, relu: bool): T {
  if (!relu) return v;
  if (isVector<T>()) return largerOf4(v, f32x4.splat(0));
  return largerOf(v, 0);
}
