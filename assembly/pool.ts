// Pooling over NCHW planes. The runtime resolves ceil mode into OH/OW; windows are clipped to the input,
// so padding never contributes a value (max) and contributes to the divisor only with countIncludePad.

export function maxPool2d(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, output: usize,
): void {
  // Columns whose window lies fully inside the row: [interiorBegin, interiorEnd).
  const interiorBegin = min(OW, (padLeft + SW - 1) / SW);
  const interiorEnd = max(interiorBegin, min(OW, (W + padLeft - KW) / SW + 1));
  const vectorised = ASC_FEATURE_SIMD && (SW == 1 || SW == 2);
  let dst = output;
  for (let c = 0; c < C; c++) {
    const plane = input + (<usize>(c * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const y0 = oy * SH - padTop;
      let ox = 0;
      if (vectorised && y0 >= 0 && y0 + KH <= H) {
        for (; ox < interiorBegin; ox++) store<f32>(dst + (<usize>ox << 2), maxOfWindow(plane, H, W, y0, KH, ox * SW - padLeft, KW));
        const rowStart = plane + (<usize>(y0 * W - padLeft) << 2);
        for (; ox + 4 <= interiorEnd; ox += 4) {
          v128.store(dst + (<usize>ox << 2), maxOfFourWindows(rowStart + (<usize>(ox * SW) << 2), W, KH, KW, SW));
        }
      }
      for (; ox < OW; ox++) store<f32>(dst + (<usize>ox << 2), maxOfWindow(plane, H, W, y0, KH, ox * SW - padLeft, KW));
      dst += <usize>OW << 2;
    }
  }
}

/** Maximum over the window at (y0, x0), clipped to the plane. */
// @ts-ignore: decorator
@inline function maxOfWindow(plane: usize, H: i32, W: i32, y0: i32, KH: i32, x0: i32, KW: i32): f32 {
  const xBegin = max(x0, 0), xEnd = min(x0 + KW, W);
  let best = -Infinity as f32;
  for (let y = max(y0, 0), yEnd = min(y0 + KH, H); y < yEnd; y++) {
    const row = plane + (<usize>(y * W) << 2);
    for (let x = xBegin; x < xEnd; x++) best = max(best, load<f32>(row + (<usize>x << 2)));
  }
  return best;
}

/**
 * Maxima of four neighbouring windows that lie fully inside the plane, `window` pointing at the first one's
 * top-left input. With stride 2, tap kx of the four windows is every other float from window + kx:
 *
 *   load window+kx:  [x0 x1 x2 x3] [x4 x5 x6 x7]  →  shuffle even lanes  →  [x0 x2 x4 x6]
 */
// @ts-ignore: decorator
@inline function maxOfFourWindows(window: usize, W: i32, KH: i32, KW: i32, SW: i32): v128 {
  let best = f32x4.splat(-Infinity);
  for (let ky = 0; ky < KH; ky++) {
    const row = window + (<usize>(ky * W) << 2);
    for (let kx = 0; kx < KW; kx++) {
      const at = row + (<usize>kx << 2);
      const taps = SW == 1 ? v128.load(at) : v128.shuffle<f32>(v128.load(at), v128.load(at, 16), 0, 2, 4, 6);
      best = f32x4.max(best, taps);
    }
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
