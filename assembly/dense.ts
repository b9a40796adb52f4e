// Fully connected layer, LRN, softmax and a standalone ReLU: the small layers around the convolutions.

import { largerOf } from './lanes';

/**
 * y[o] = Σᵢ W[o][i]·x[i] + bias[o], W row-major [out × in]. Every build sums in the same order — four
 * interleaved partial sums (i mod 4), combined as ((s0 + s1) + s2) + s3, then the tail — so that the
 * classifier gives the same bits in all of them (the int8 path relies on that).
 */
export function dense(
  x: usize, inFeatures: i32, weights: usize, bias: usize, outFeatures: i32, relu: bool, y: usize,
): void {
  const blocked = inFeatures & ~3;
  for (let o = 0; o < outFeatures; o++) {
    const row = weights + (<usize>o * inFeatures << 2);
    let sum: f32;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let i = 0; i < blocked; i += 4) {
        const offset = <usize>i << 2;
        acc = f32x4.add(acc, f32x4.mul(v128.load(row + offset), v128.load(x + offset)));
      }
      sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    } else {
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      for (let i = 0; i < blocked; i += 4) {
        const offset = <usize>i << 2;
        s0 += load<f32>(row + offset) * load<f32>(x + offset);
        s1 += load<f32>(row + offset, 4) * load<f32>(x + offset, 4);
        s2 += load<f32>(row + offset, 8) * load<f32>(x + offset, 8);
        s3 += load<f32>(row + offset, 12) * load<f32>(x + offset, 12);
      }
      sum = s0 + s1 + s2 + s3;
    }
    for (let i = blocked; i < inFeatures; i++) sum += load<f32>(row + (<usize>i << 2)) * load<f32>(x + (<usize>i << 2));
    sum += load<f32>(bias + (<usize>o << 2));
    store<f32>(y + (<usize>o << 2), relu ? largerOf(sum, 0) : sum);
  }
}

/**
 * ONNX LRN across channels: y = x / (bias + alpha/size · Σ x²)^beta, the sum over channels
 * [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉] clipped to [0, C).
 */
export function lrn(
  input: usize, C: i32, HW: i32, size: i32, alpha: f32, beta: f32, bias: f32, output: usize,
): void {
  const before = (size - 1) / 2;
  const after = size - 1 - before;
  const scale = alpha / <f32>size;
  for (let c = 0; c < C; c++) {
    const cBegin = max(0, c - before), cEnd = min(C - 1, c + after);
    for (let p = 0; p < HW; p++) {
      let squares: f32 = 0;
      for (let j = cBegin; j <= cEnd; j++) {
        const v = load<f32>(input + (<usize>(j * HW + p) << 2));
        squares += v * v;
      }
      const at = <usize>(c * HW + p) << 2;
      store<f32>(output + at, load<f32>(input + at) / Mathf.pow(bias + scale * squares, beta));
    }
  }
}

export function softmax(x: usize, n: i32, y: usize): void {
  let largest = -Infinity as f32;
  for (let i = 0; i < n; i++) largest = max(largest, load<f32>(x + (<usize>i << 2)));
  let sum: f32 = 0;
  for (let i = 0; i < n; i++) {
    const e = Mathf.exp(load<f32>(x + (<usize>i << 2)) - largest);
    store<f32>(y + (<usize>i << 2), e);
    sum += e;
  }
  const inverse: f32 = 1 / sum;
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) * inverse);
}

export function relu(x: usize, n: i32, y: usize): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), largerOf(load<f32>(x + (<usize>i << 2)), 0));
}
