// Fully connected layer, LRN and a standalone ReLU: the small layers around the convolutions (softmax runs in
// JavaScript, src/runtime/softmax.ts).

import { largerOf } from './lanes';
import { exp32, ln32 } from './math';

/**
 * y[o] = Σᵢ W[o][i]·x[i] + bias[o], W row-major [out × in]. Every build sums in the same order — four
 * interleaved partial sums (i mod 4), combined as ((s0 + s1) + s2) + s3, then the tail — so that the
 * classifier gives the same bits in all of them (the int8 path relies on that).
 */
export function dense(
  x: usize, inFeatures: i32, weights: usize, bias: usize, outFeatures: i32, relu: bool, y: usize,
): void {
  denseRows<f32>(x, inFeatures, weights, 0, bias, outFeatures, relu, y);
}

/**
 * dense() over per-row int8 weights: y[o] = scale[o]·Σᵢ q[o][i]·x[i] + bias[o], the sum in f32 and in dense()'s
 * order. A quarter of the float32 weights' memory, for the classifier of an int8 model.
 */
export function denseInt8(
  x: usize, inFeatures: i32, weights: usize, scales: usize, bias: usize, outFeatures: i32, relu: bool, y: usize,
): void {
  denseRows<i8>(x, inFeatures, weights, scales, bias, outFeatures, relu, y);
}

// @ts-ignore: decorator
@inline function denseRows<W>(
  x: usize, inFeatures: i32, weights: usize, scales: usize, bias: usize, outFeatures: i32, relu: bool, y: usize,
): void {
  const blocked = inFeatures & ~3;
  for (let o = 0; o < outFeatures; o++) {
    const row = weights + <usize>o * inFeatures * sizeof<W>();
    let sum: f32;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let i = 0; i < blocked; i += 4) {
        acc = f32x4.add(acc, f32x4.mul(weightLanes<W>(row + <usize>i * sizeof<W>()), v128.load(x + (<usize>i << 2))));
      }
      sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    } else {
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      for (let i = 0; i < blocked; i += 4) {
        const at = x + (<usize>i << 2);
        s0 += weightAt<W>(row, i) * load<f32>(at);
        s1 += weightAt<W>(row, i + 1) * load<f32>(at, 4);
        s2 += weightAt<W>(row, i + 2) * load<f32>(at, 8);
        s3 += weightAt<W>(row, i + 3) * load<f32>(at, 12);
      }
      sum = s0 + s1 + s2 + s3;
    }
    for (let i = blocked; i < inFeatures; i++) sum += weightAt<W>(row, i) * load<f32>(x + (<usize>i << 2));
    if (!isFloat<W>()) sum *= load<f32>(scales + (<usize>o << 2));
    sum += load<f32>(bias + (<usize>o << 2));
    store<f32>(y + (<usize>o << 2), relu ? largerOf(sum, 0) : sum);
  }
}

/** Weight i of a row, as f32. */
// @ts-ignore: decorator
@inline function weightAt<W>(row: usize, i: i32): f32 {
  return <f32>load<W>(row + <usize>i * sizeof<W>());
}

/** Four consecutive weights as f32 lanes. */
// @ts-ignore: decorator
@inline function weightLanes<W>(at: usize): v128 {
  if (isFloat<W>()) return v128.load(at);
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(at))));
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
      store<f32>(output + at, load<f32>(input + at) / positivePower(bias + scale * squares, beta));
    }
  }
}

/**
 * base^exponent for a positive base (inferShapes requires LRN's bias to be positive). GoogLeNet's and AlexNet's
 * exponent, 0.75, takes √b·√√b: three times faster than exp(β · ln b) and closer to the exact power, as no
 * rounding of β · ln b is magnified by exp.
 */
// @ts-ignore: decorator
@inline function positivePower(base: f32, exponent: f32): f32 {
  if (exponent == 0.75) {
    const root = sqrt(base);
    return root * sqrt(root);
  }
  return exp32(exponent * ln32(base));
}

export function relu(x: usize, n: i32, y: usize): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), largerOf(load<f32>(x + (<usize>i << 2)), 0));
}
