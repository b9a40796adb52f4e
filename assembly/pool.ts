// Pooling over NCHW planes. The runtime resolves ceil mode into OH/OW; windows are clipped to the input,
// so padding never contributes a value (max) and contributes to the divisor only with countIncludePad.

import { largerOf, largerOf4 } from './lanes';

/** Scratch maxPool2d needs: one row of column maxima, plus slack for the vector loop's reads past its end. */
export function maxPoolScratchBytes(W: i32): usize {
  return <usize>(W + 8) << 2;
}

/**
 * Max pooling in two passes per output row, so that each input value is compared about twice instead of
 * KH·KW times:
 *
 *   1. columnMaxima[x] = max of input[y][x] over the window's rows y (clipped to the plane), for every x;
 *   2. output[ox]      = max of columnMaxima[x] over the window's columns x (clipped to the row).
 *
 * Windows wholly inside the row take the SIMD path for stride 1 and 2; the few at the row's ends are clipped.
 */
export function maxPool2d(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, output: usize, scratch: usize,
): void {
  const columnMaxima = scratch;
  // Output columns whose window lies fully inside the row: [interiorBegin, interiorEnd).
  const interiorBegin = min(OW, (padLeft + SW - 1) / SW);
  const interiorEnd = max(interiorBegin, min(OW, (W + padLeft - KW) / SW + 1));
  const vectorised = ASC_FEATURE_SIMD && (SW == 1 || SW == 2);
  let dst = output;
  for (let c = 0; c < C; c++) {
    const plane = input + (<usize>(c * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const y0 = oy * SH - padTop;
      maximaOverRows(plane + (<usize>(max(y0, 0) * W) << 2), W, min(y0 + KH, H) - max(y0, 0), columnMaxima);
      let ox = 0;
      if (vectorised) {
        for (; ox < interiorBegin; ox++) store<f32>(dst + (<usize>ox << 2), maxOverColumns(columnMaxima, W, ox * SW - padLeft, KW));
        for (; ox + 4 <= interiorEnd; ox += 4) {
          const window = columnMaxima + (<usize>(ox * SW - padLeft) << 2);
          v128.store(dst + (<usize>ox << 2), maxOfFourWindows(window, KW, SW));
        }
      }
      for (; ox < OW; ox++) store<f32>(dst + (<usize>ox << 2), maxOverColumns(columnMaxima, W, ox * SW - padLeft, KW));
      dst += <usize>OW << 2;
    }
  }
}

/** maxima[x] = max over `rows` consecutive rows from `first` (−∞ if none: a window wholly in the padding). */
// @ts-ignore: decorator
@inline function maximaOverRows(first: usize, W: i32, rows: i32, maxima: usize): void {
  let x = 0;
  if (ASC_FEATURE_SIMD) {
    for (; x + 4 <= W; x += 4) {
      const at = <usize>x << 2;
      let best = f32x4.splat(-Infinity);
      for (let y = 0; y < rows; y++) best = largerOf4(best, v128.load(first + (<usize>(y * W) << 2) + at));
      v128.store(maxima + at, best);
    }
  }
  for (; x < W; x++) {
    const at = <usize>x << 2;
    let best = -Infinity as f32;
    for (let y = 0; y < rows; y++) best = largerOf(best, load<f32>(first + (<usize>(y * W) << 2) + at));
    store<f32>(maxima + at, best);
  }
}

/** Maximum of maxima[x0 .. x0 + KW) clipped to [0, W). */
// @ts-ignore: decorator
@inline function maxOverColumns(maxima: usize, W: i32, x0: i32, KW: i32): f32 {
  let best = -Infinity as f32;
  for (let x = max(x0, 0), xEnd = min(x0 + KW, W); x < xEnd; x++) best = largerOf(best, load<f32>(maxima + (<usize>x << 2)));
  return best;
}

/**
 * Maxima of four neighbouring windows that lie fully inside the row, `window` pointing at the first one's
 * leftmost value. With stride 2, tap kx of the four windows is every other float from window + kx:
 *
 *   load window+kx:  [x0 x1 x2 x3] [x4 x5 x6 x7]  →  shuffle even lanes  →  [x0 x2 x4 x6]
 */
// @ts-ignore: decorator
@inline function maxOfFourWindows(window: usize, KW: i32, SW: i32): v128 {
  let best = f32x4.splat(-Infinity);
  for (let kx = 0; kx < KW; kx++) {
    const at = window + (<usize>kx << 2);
    const taps = SW == 1 ? v128.load(at) : v128.shuffle<f32>(v128.load(at), v128.load(at, 16), 0, 2, 4, 6);
    best = largerOf4(best, taps);
  }
  return best;
}

/**
 * With countIncludePad the divisor counts padded positions up to the padded border (H + padBottom), as
 * ONNX Runtime and PyTorch do; positions past that border (ceil mode overhang) never count.
 */
export function averagePool2d(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, padBottom: i32, padRight: i32, countIncludePad: bool,
  OH: i32, OW: i32, output: usize,
): void {
  let dst = output;
  for (let c = 0; c < C; c++) {
    const plane = input + (<usize>(c * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const y0 = oy * SH - padTop;
      const yBegin = max(y0, 0), yEnd = min(y0 + KH, H);
      const paddedRows = min(y0 + KH, H + padBottom) - y0;
      for (let ox = 0; ox < OW; ox++) {
        const x0 = ox * SW - padLeft;
        const xBegin = max(x0, 0), xEnd = min(x0 + KW, W);
        let sum: f32 = 0;
        for (let y = yBegin; y < yEnd; y++) {
          const row = plane + (<usize>(y * W) << 2);
          for (let x = xBegin; x < xEnd; x++) sum += load<f32>(row + (<usize>x << 2));
        }
        const count = countIncludePad
          ? paddedRows * (min(x0 + KW, W + padRight) - x0)
          : (yEnd - yBegin) * (xEnd - xBegin);
        store<f32>(dst, sum / <f32>count);
        dst += 4;
      }
    }
  }
}

export function globalAveragePool(input: usize, C: i32, HW: i32, output: usize): void {
  for (let c = 0; c < C; c++) {
    const plane = input + (<usize>(c * HW) << 2);
    let sum: f32 = 0;
    for (let i = 0; i < HW; i++) sum += load<f32>(plane + (<usize>i << 2));
    store<f32>(output + (<usize>c << 2), sum / <f32>HW);
  }
}
