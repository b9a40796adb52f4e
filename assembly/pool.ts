// Pooling over NCHW planes. The runtime resolves ceil mode into OH/OW; windows are clipped to the input,
// so padding never contributes a value (max) and contributes to the divisor only with countIncludePad.

import { largerOf, largerOf4 } from './lanes';
import { shareStart } from './share';

/** Scratch maxPool2dShare needs per thread: one row of column maxima, plus slack for the vector loops' reads and writes past it. */
export function maxPoolScratchBytes(W: i32): usize {
  return <usize>(W + 16) << 2;
}

/**
 * Max pooling in two passes per output row, so that each input value is compared about twice instead of
 * KH·KW times:
 *
 *   1. columnMaxima[x] = max of input[y][x] over the window's rows y (clipped to the plane), for every x;
 *   2. output[ox]      = max of columnMaxima[x] over the window's columns x (clipped to the row).
 *
 * Windows wholly inside the row take the SIMD path for stride 1 and 2; the few at the row's ends are clipped.
 *
 * With `quantised`, on quantised bytes (the int8 path): quantisation is monotonic, so the maximum of the bytes is
 * the quantised maximum, and sixteen lanes go through each vector operation instead of four. This is thread
 * `thread`'s share of the channels; `scratch` holds a row of column maxima per thread (maxPoolScratchBytes(W)
 * bytes each).
 */
export function maxPool2dShare(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, output: usize, scratch: usize, quantised: bool, thread: i32, threads: i32,
): void {
  const first = shareStart(C, thread, threads), channels = shareStart(C, thread + 1, threads) - first;
  const size: usize = quantised ? 1 : 4;
  const from = input + <usize>(first * H * W) * size, to = output + <usize>(first * OH * OW) * size;
  const rows = scratch + <usize>thread * maxPoolScratchBytes(W);
  if (quantised) maxPool<u8>(from, channels, H, W, KH, KW, SH, SW, padTop, padLeft, OH, OW, to, rows);
  else maxPool<f32>(from, channels, H, W, KH, KW, SH, SW, padTop, padLeft, OH, OW, to, rows);
}

// @ts-ignore: decorator
@inline function maxPool<T>(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, output: usize, scratch: usize,
): void {
  const size = sizeof<T>();
  const lanes = 16 / <i32>size;
  const columnMaxima = scratch;
  // Output columns whose window lies fully inside the row: [interiorBegin, interiorEnd).
  const interiorBegin = min(OW, (padLeft + SW - 1) / SW);
  const interiorEnd = max(interiorBegin, min(OW, (W + padLeft - KW) / SW + 1));
  const vectorised = ASC_FEATURE_SIMD && (SW == 1 || SW == 2);
  let dst = output;
  for (let c = 0; c < C; c++) {
    const plane = input + <usize>(c * H * W) * size;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = oy * SH - padTop;
      maximaOverRows<T>(plane + <usize>(max(y0, 0) * W) * size, W, min(y0 + KH, H) - max(y0, 0), columnMaxima);
      for (let ox = 0; ox < OW;) {
        if (vectorised && ox >= interiorBegin && ox + lanes <= interiorEnd) {
          v128.store(dst + <usize>ox * size, maxOfWindows<T>(columnMaxima + <usize>(ox * SW - padLeft) * size, KW, SW));
          ox += lanes;
        } else {
          store<T>(dst + <usize>ox * size, maxOverColumns<T>(columnMaxima, W, ox * SW - padLeft, KW));
          ox++;
        }
      }
      dst += <usize>OW * size;
    }
  }
}

/** The identity of max for T: −∞, or 0 for bytes. */
// @ts-ignore: decorator
@inline function lowest<T>(): T {
  return sizeof<T>() == 1 ? <T>0 : <T>-Infinity;
}

// @ts-ignore: decorator
@inline function larger<T>(a: T, b: T): T {
  if (sizeof<T>() == 1) return max<T>(a, b);
  return <T>largerOf(<f32>a, <f32>b);
}

// @ts-ignore: decorator
@inline function largerLanes<T>(a: v128, b: v128): v128 {
  return sizeof<T>() == 1 ? i8x16.max_u(a, b) : largerOf4(a, b);
}

/**
 * maxima[x] = max over `rows` consecutive rows from `first` (lowest<T>() if none: a window wholly in the
 * padding). The SIMD build covers the row's end with a whole vector too: it reads past the row (into the next
 * one, or the slack after the input) and writes past W into the maxima's slack, values nobody reads.
 */
// @ts-ignore: decorator
@inline function maximaOverRows<T>(first: usize, W: i32, rows: i32, maxima: usize): void {
  const size = sizeof<T>();
  let x = 0;
  if (ASC_FEATURE_SIMD) {
    for (; x < W; x += 16 / <i32>size) {
      const at = <usize>x * size;
      let best = sizeof<T>() == 1 ? i8x16.splat(0) : f32x4.splat(-Infinity);
      for (let y = 0; y < rows; y++) best = largerLanes<T>(best, v128.load(first + <usize>(y * W) * size + at));
      v128.store(maxima + at, best);
    }
  }
  for (; x < W; x++) {
    const at = <usize>x * size;
    let best = lowest<T>();
    for (let y = 0; y < rows; y++) best = larger<T>(best, load<T>(first + <usize>(y * W) * size + at));
    store<T>(maxima + at, best);
  }
}

/** Maximum of maxima[x0 .. x0 + KW) clipped to [0, W). */
// @ts-ignore: decorator
@inline function maxOverColumns<T>(maxima: usize, W: i32, x0: i32, KW: i32): T {
  let best = lowest<T>();
  for (let x = max(x0, 0), xEnd = min(x0 + KW, W); x < xEnd; x++) best = larger<T>(best, load<T>(maxima + <usize>x * sizeof<T>()));
  return best;
}

/**
 * Maxima of one vector's worth of neighbouring windows (four floats or sixteen bytes) that lie fully inside
 * the row, `window` pointing at the first one's leftmost value. With stride 2, tap kx of the windows is every
 * other value from window + kx:
 *
 *   load window+kx:  [x0 x1 x2 x3] [x4 x5 x6 x7]  →  shuffle even lanes  →  [x0 x2 x4 x6]   (bytes alike)
 */
// @ts-ignore: decorator
@inline function maxOfWindows<T>(window: usize, KW: i32, SW: i32): v128 {
  let best = sizeof<T>() == 1 ? i8x16.splat(0) : f32x4.splat(-Infinity);
  for (let kx = 0; kx < KW; kx++) {
    const at = window + <usize>kx * sizeof<T>();
    let taps = v128.load(at);
    if (SW == 2) {
      taps = sizeof<T>() == 1
        ? v128.shuffle<u8>(taps, v128.load(at, 16), 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
        : v128.shuffle<f32>(taps, v128.load(at, 16), 0, 2, 4, 6);
    }
    best = largerLanes<T>(best, taps);
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
