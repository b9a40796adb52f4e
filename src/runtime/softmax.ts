/**
 * y = softmax(x) = e^(x − max x) / Σ e^(x − max x), summed in float64; `y` may be `x`. A model's Softmax layer runs
 * here rather than as a kernel: a thousand exponentials per inference are not worth the code in every wasm build.
 */
export function softmaxInto(x: ArrayLike<number>, y: Float32Array | Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += y[i] = Math.exp(x[i] - max);
  for (let i = 0; i < x.length; i++) y[i] /= sum;
}
