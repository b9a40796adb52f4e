// Pooling over NCHW planes. The runtime resolves ceil mode into OH/OW; windows are clipped to the input,
// so padding never contributes a value (max) and contributes to the divisor only with countIncludePad.

export function maxPool2d(
  input: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, SH: i32, SW: i32,
  padTop: i32, padLeft: i32, OH: i32, OW: i32, output: usize,
): void {
  let dst = output;
  for (let c = 0; c < C; c++) {
    const plane = input + (<usize>(c * H * W) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const y0 = oy * SH - padTop;
      const yBegin = max(y0, 0), yEnd = min(y0 + KH, H);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = ox * SW - padLeft;
        const xBegin = max(x0, 0), xEnd = min(x0 + KW, W);
        let best = -Infinity as f32;
        for (let y = yBegin; y < yEnd; y++) {
          const row = plane + (<usize>(y * W) << 2);
          for (let x = xBegin; x < xEnd; x++) best = max(best, load<f32>(row + (<usize>x << 2)));
        }
        store<f32>(dst, best);
        dst += 4;
      }
    }
  }
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
