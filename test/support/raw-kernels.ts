/**
 * Direct access to one kernel build, bypassing the runtime's selection and self-test, so that every build can be
 * compared with the scalar reference on this host. Buffers are bump-allocated from heapBase with slack after each.
 */

import { readFile } from 'node:fs/promises';
import { describeKernels, type KernelExports, type Kernels, type KernelVariant } from '../../src/runtime/kernels.js';

export async function readBuild(variant: KernelVariant): Promise<Uint8Array> {
  return new Uint8Array(await readFile(new URL(`../../build/googlenet.${variant}.wasm`, import.meta.url)));
}

export class RawKernels {
  private cursor: number;

  private constructor(readonly exports: KernelExports) {
    this.cursor = exports.heapBase();
  }

  static async load(variant: KernelVariant): Promise<RawKernels> {
    const { instance } = await WebAssembly.instantiate(await readBuild(variant), {});
    return new RawKernels(instance.exports as unknown as KernelExports);
  }

  /** Reserves room for `count` floats (plus slack for tile over-reads), optionally filled; returns the address. */
  alloc(count: number, values?: ArrayLike<number>): number {
    const at = this.cursor;
    this.cursor = Math.ceil((at + count * 4 + 256) / 64) * 64;
    const missing = this.cursor - this.exports.memory.buffer.byteLength;
    if (missing > 0) this.exports.memory.grow(Math.ceil(missing / 65536));
    if (values) this.floats(at, count).set(values);
    return at;
  }

  floats(at: number, count: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, at, count);
  }

  /** A copy of `count` floats at `at`. */
  read(at: number, count: number): Float32Array {
    return this.floats(at, count).slice();
  }
}

/** Deterministic uniform values in [-1, 1) (mulberry32). */
export function randomFloats(count: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    values[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return values;
}

export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

/**
 * A build as the runtime would use it, but without the self-test: Node 20 rejects the relaxed build because its
 * relaxed int8 dot is wrong, yet the f32 relaxed multiply-add it also contains must still be tested end to end.
 */
export async function unverifiedKernels(variant: KernelVariant): Promise<Kernels> {
  const { instance, module } = await WebAssembly.instantiate(await readBuild(variant), {});
  return describeKernels(variant, module, instance.exports as unknown as KernelExports);
}

/** conv2dInt8Share's arguments without `thread, threads`. */
type Int8ConvArguments = Parameters<KernelExports['conv2dInt8Share']> extends [...infer A, number, number] ? A : never;

/** The int8 convolution on one thread: both phases (assembly/conv.ts), as the runtime runs them. */
export function conv2dInt8(k: KernelExports, ...args: Int8ConvArguments): void {
  const [input, C, H, W, , , , , , , , , , , , , , scale, zeroPoint, , , scratch, inputQuantised] = args;
  if (!inputQuantised) k.conv2dInt8QuantiseShare(input, C, H * W, scale, zeroPoint, scratch, 0, 1);
  k.conv2dInt8Share(...args, 0, 1);
}
