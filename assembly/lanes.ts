// Max and min that compile to a single instruction. Wasm's f32x4.max/min must propagate NaN and order
// −0 < +0, which V8 emits as about seven x64 instructions; pooling, ReLU and clamping need neither rule, and
// f32x4.pmax/pmin ("pseudo" max/min, `a < b ? b : a`) are one maxps/minps. The scalar forms choose the same
// operand in every case, NaN and signed zeros included, so all builds give the same bits.

/** a < b ? b : a (a when either is NaN). */
// @ts-ignore: decorator
@inline export function largerOf(a: f32, b: f32): f32 {
  return a < b ? b : a;
}

/** b < a ? b : a (a when either is NaN). */
// @ts-ignore: decorator
@inline export function smallerOf(a: f32, b: f32): f32 {
  return b < a ? b : a;
}

/** largerOf() per lane. */
// @ts-ignore: decorator
@inline export function largerOf4(a: v128, b: v128): v128 {
  return f32x4.pmax(a, b);
}

/** smallerOf() per lane. */
// @ts-ignore: decorator
@inline export function smallerOf4(a: v128, b: v128): v128 {
  return f32x4.pmin(a, b);
}
