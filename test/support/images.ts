import { randomFloats } from './raw-kernels.js';

/**
 * Seeded inputs that differ between samples in their large-scale structure (a plane wave of random direction
 * and phase per channel, plus noise): global pooling averages pure noise away, and the logits would hardly
 * depend on the input.
 */
export function imageLikeBatch(batch: number, [channels, height, width]: number[], seed = 7): Float32Array {
  const noise = randomFloats(batch * channels * height * width, seed);
  const waves = randomFloats(batch * channels * 3, seed + 1);
  return noise.map((value, i) => {
    const x = i % width, y = Math.floor(i / width) % height, plane = Math.floor(i / (width * height));
    const [fx, fy, phase] = waves.subarray(plane * 3, plane * 3 + 3);
    return 0.5 * value + Math.sin((fx * x + fy * y) * 0.2 + phase * Math.PI) + phase;
  });
}
