/** Plain JavaScript (f64) versions of the kernels: the specification the wasm builds are checked against. */

export interface ConvCase {
  C: number; H: number; W: number; M: number; KH: number; KW: number; SH: number; SW: number;
  pads: [number, number, number, number];
}

export function convOutputSize({ H, W, KH, KW, SH, SW, pads: [t, l, b, r] }: ConvCase): [number, number] {
  return [Math.floor((H + t + b - KH) / SH) + 1, Math.floor((W + l + r - KW) / SW) + 1];
}

export function referenceConv(
  spec: ConvCase, input: Float32Array, weights: Float32Array, bias: Float32Array, relu: boolean,
): Float64Array {
  const { C, H, W, M, KH, KW, SH, SW, pads: [top, left] } = spec;
  const [OH, OW] = convOutputSize(spec);
  const out = new Float64Array(M * OH * OW);
  for (let m = 0; m < M; m++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    let sum = bias[m];
    for (let c = 0; c < C; c++) for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
      const iy = oy * SH + ky - top, ix = ox * SW + kx - left;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) sum += input[(c * H + iy) * W + ix] * weights[((m * C + c) * KH + ky) * KW + kx];
    }
    out[(m * OH + oy) * OW + ox] = relu ? Math.max(0, sum) : sum;
  }
  return out;
}

export interface PoolCase {
  C: number; H: number; W: number; KH: number; KW: number; SH: number; SW: number;
  pads: [number, number, number, number]; OH: number; OW: number;
}

export function referencePool(
  { C, H, W, KH, KW, SH, SW, pads: [top, left, bottom, right], OH, OW }: PoolCase,
  input: Float32Array, kind: 'max' | 'average', countIncludePad = false,
): Float64Array {
  const out = new Float64Array(C * OH * OW);
  for (let c = 0; c < C; c++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    const y0 = oy * SH - top, x0 = ox * SW - left;
    let best = -Infinity, sum = 0, count = 0;
    for (let y = Math.max(y0, 0); y < Math.min(y0 + KH, H); y++) for (let x = Math.max(x0, 0); x < Math.min(x0 + KW, W); x++) {
      const v = input[(c * H + y) * W + x];
      best = Math.max(best, v);
      sum += v;
      count++;
    }
    if (countIncludePad) count = (Math.min(y0 + KH, H + bottom) - y0) * (Math.min(x0 + KW, W + right) - x0);
    out[(c * OH + oy) * OW + ox] = kind === 'max' ? best : sum / count;
  }
  return out;
}

export function referenceLrn(
  input: Float32Array, C: number, HW: number, size: number, alpha: number, beta: number, bias: number,
): Float64Array {
  const out = new Float64Array(C * HW);
  const before = Math.floor((size - 1) / 2), after = Math.ceil((size - 1) / 2);
  for (let c = 0; c < C; c++) for (let p = 0; p < HW; p++) {
    let squares = 0;
    for (let j = Math.max(0, c - before); j <= Math.min(C - 1, c + after); j++) squares += input[j * HW + p] ** 2;
    out[c * HW + p] = input[c * HW + p] / (bias + (alpha / size) * squares) ** beta;
  }
  return out;
}

export function referenceDense(
  x: Float32Array, weights: Float32Array, bias: Float32Array, outFeatures: number, relu: boolean,
): Float64Array {
  const inFeatures = x.length;
  return Float64Array.from({ length: outFeatures }, (_, o) => {
    let sum = bias[o];
    for (let i = 0; i < inFeatures; i++) sum += weights[o * inFeatures + i] * x[i];
    return relu ? Math.max(0, sum) : sum;
  });
}
