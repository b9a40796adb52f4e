/**
 * Picks and instantiates a kernel build. Each of the three builds (scalar, simd, relaxed-simd) exports the same
 * pointer ABI (assembly/index.ts). A build is used only after the host validates it and it passes a numeric
 * self-test: hosts differ in which SIMD features they accept and in how correctly they run them.
 *
 * With threads > 1, the SIMD builds' threaded versions are used instead: the same kernels over a shared memory,
 * which the extra threads instantiate the build over too (threads.ts).
 */

import { GoogLeNetError } from '../errors.js';
import { host } from './host.js';
import { readKernelBytes } from './package-files.js';
import { singleThread, startThreads, type Parallel } from './threads.js';

export const KERNEL_VARIANTS = ['relaxed-simd', 'simd', 'scalar'] as const;
export type KernelVariant = (typeof KERNEL_VARIANTS)[number];
/** The builds that have a threaded version. */
export type ThreadedKernelVariant = Exclude<KernelVariant, 'scalar'>;
export const MAX_THREADS = 16;
/**
 * The most a threaded build's shared memory may grow to, in 64 KiB pages (1 GiB): a shared memory needs a maximum
 * up front. The largest models the default limits admit need a few hundred MB.
 */
const THREADED_MEMORY_PAGES = 16384;

/** The build's own answer to kernelVariant(). */
const VARIANT_IDS: Record<number, KernelVariant> = { 0: 'scalar', 1: 'simd', 2: 'relaxed-simd' };

type Ptr = number;
export interface KernelExports {
  memory: WebAssembly.Memory;
  GEMM_MR: WebAssembly.Global;
  GEMM_NR: WebAssembly.Global;
  INSTANCE_SCRATCH_BYTES: WebAssembly.Global;
  GROUP_MEMBER_BYTES: WebAssembly.Global;
  heapBase(): Ptr;
  useInstanceScratch(at: Ptr): void;
  kernelVariant(): number;
  packGemmWeights(src: Ptr, dst: Ptr, M: number, K: number): void;
  conv2dShare(
    input: Ptr, C: number, H: number, W: number,
    packedWeights: Ptr, bias: Ptr, M: number, KH: number, KW: number, SH: number, SW: number,
    padTop: number, padLeft: number, padBottom: number, padRight: number,
    relu: number, output: Ptr, scratch: Ptr, thread: number, threads: number,
  ): void;
  /** Pointwise groups: a table of member records at `members` (assembly/conv.ts). */
  conv2dPointwiseGroupShare(input: Ptr, C: number, HW: number, members: Ptr, memberCount: number, scratch: Ptr, thread: number, threads: number): void;
  conv2dInt8PointwiseGroupShare(
    input: Ptr, C: number, HW: number, activationScale: number, zeroPoint: number, inputQuantised: number,
    members: Ptr, memberCount: number, scratch: Ptr, thread: number, threads: number,
  ): void;
  /** Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions (assembly/winograd.ts). */
  winogradWeightBytes(M: number, C: number): number;
  winogradTransformWeights(weights: Ptr, M: number, C: number, dst: Ptr): void;
  winogradScratchBytes(
    C: number, H: number, W: number, M: number, padTop: number, padLeft: number, padBottom: number, padRight: number,
  ): number;
  winogradConvShare(
    input: Ptr, C: number, H: number, W: number, transformedWeights: Ptr, bias: Ptr, M: number,
    padTop: number, padLeft: number, padBottom: number, padRight: number, relu: number, output: Ptr, scratch: Ptr,
    thread: number, threads: number,
  ): void;
  /** Winograd F(2×2, 3×3) for int8 3×3 stride-1 convolutions, bit-identical to the direct int8 convolution (assembly/winograd-int8.ts). */
  WINOGRAD_INT8_MAX_CHANNELS: WebAssembly.Global;
  winogradInt8WeightBytes(M: number, C: number): number;
  winogradInt8TransformWeights(weights: Ptr, M: number, C: number, dst: Ptr): void;
  winogradInt8ScratchBytes(
    C: number, H: number, W: number, M: number, padTop: number, padLeft: number, padBottom: number, padRight: number,
  ): number;
  winogradConvInt8Share(
    input: Ptr, C: number, H: number, W: number, transformedWeights: Ptr, weightScales: Ptr, bias: Ptr, M: number,
    padTop: number, padLeft: number, padBottom: number, padRight: number, activationScale: number, zeroPoint: number,
    relu: number, output: Ptr, scratch: Ptr, inputQuantised: number, outputScale: number, outputZeroPoint: number,
    thread: number, threads: number,
  ): void;
  maxPool2dShare(
    input: Ptr, C: number, H: number, W: number, KH: number, KW: number, SH: number, SW: number,
    padTop: number, padLeft: number, OH: number, OW: number, output: Ptr, scratch: Ptr, quantised: number,
    thread: number, threads: number,
  ): void;
  maxPoolScratchBytes(W: number): number;
  averagePool2d(
    input: Ptr, C: number, H: number, W: number, KH: number, KW: number, SH: number, SW: number,
    padTop: number, padLeft: number, padBottom: number, padRight: number, countIncludePad: number,
    OH: number, OW: number, output: Ptr,
  ): void;
  globalAveragePool(input: Ptr, C: number, HW: number, output: Ptr): void;
  dense(x: Ptr, inFeatures: number, weights: Ptr, bias: Ptr, outFeatures: number, relu: number, y: Ptr): void;
  denseInt8(x: Ptr, inFeatures: number, weights: Ptr, scales: Ptr, bias: Ptr, outFeatures: number, relu: number, y: Ptr): void;
  lrn(input: Ptr, C: number, HW: number, size: number, alpha: number, beta: number, bias: number, output: Ptr): void;
  relu(x: Ptr, n: number, y: Ptr): void;
  int8WeightBytes(M: number, K: number): number;
  packInt8Weights(src: Ptr, dst: Ptr, M: number, K: number, rowSums: Ptr): void;
  activationRange(x: Ptr, n: number, out: Ptr): void;
  quantiseActivations(src: Ptr, n: number, inverseScale: number, zeroPoint: number, dst: Ptr): void;
  convScratchBytes(
    C: number, H: number, W: number, KH: number, KW: number, SH: number, SW: number,
    padTop: number, padLeft: number, padBottom: number, padRight: number, int8: number, threads: number,
  ): number;
  conv2dInt8QuantiseShare(
    input: Ptr, C: number, HW: number, activationScale: number, zeroPoint: number, scratch: Ptr, thread: number, threads: number,
  ): void;
  conv2dInt8Share(
    input: Ptr, C: number, H: number, W: number,
    packedWeights: Ptr, weightScales: Ptr, rowSums: Ptr, bias: Ptr, M: number, KH: number, KW: number, SH: number, SW: number,
    padTop: number, padLeft: number, padBottom: number, padRight: number, activationScale: number, zeroPoint: number,
    relu: number, output: Ptr, scratch: Ptr, inputQuantised: number, outputScale: number, outputZeroPoint: number,
    thread: number, threads: number,
  ): void;
  probeInt8Dot(): number;
}

/** Grows a wasm memory, in whole 64 KiB pages, until it holds at least `bytes` bytes. */
export function growMemoryTo(memory: WebAssembly.Memory, bytes: number): void {
  const missing = bytes - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / 65536));
}

/** One member of a pointwise group (assembly/conv.ts); the int8 fields are 0 in an f32 group. */
export interface GroupMember {
  rows: number;
  packedWeights: Ptr;
  bias: Ptr;
  output: Ptr;
  relu: boolean;
  weightScales: Ptr;
  rowSums: Ptr;
  /** 0: f32 output; else the scale of its quantised bytes. */
  outputScale: number;
  outputZeroPoint: number;
}

/** Writes the records of a pointwise group's members at `at` (GROUP_MEMBER_BYTES each), as the kernels read them. */
export function writeGroupTable(exports: KernelExports, at: Ptr, members: GroupMember[]): void {
  const memberBytes = exports.GROUP_MEMBER_BYTES.value as number;
  const words = new Int32Array(exports.memory.buffer, at, (members.length * memberBytes) / 4);
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  members.forEach((member, i) => {
    const record = (i * memberBytes) / 4;
    words.set([member.rows, member.packedWeights, member.bias, member.output, +member.relu, member.weightScales, member.rowSums], record);
    floats[record + 7] = member.outputScale;
    words[record + 8] = member.outputZeroPoint;
  });
}

export interface Kernels {
  variant: KernelVariant;
  /** The compiled build the exports are an instance of. */
  module: WebAssembly.Module;
  exports: KernelExports;
  /** Rows per packed weight panel of the GEMM microkernels. */
  gemmRows: number;
  /** Output columns per tile of the GEMM microkernels. */
  gemmColumns: number;
  /** First byte of the memory the runtime may lay out (above the extra threads' instance scratch). */
  heapBase: number;
  /** Runs the convolutions' share kernels on every thread (one, unless loaded with `threads`). */
  parallel: Parallel;
}

export interface KernelOptions {
  /** Force one build instead of the best one that passes its checks. */
  variant?: KernelVariant;
  /**
   * Already compiled builds (required where compiling from bytes is forbidden, e.g. Cloudflare Workers, whose
   * package entry passes its bundled builds by default). Each module says which build it is; candidates are
   * tried best first.
   */
  wasmModule?: WebAssembly.Module | WebAssembly.Module[];
  /**
   * Threads that share each convolution (default 1): the calling thread and threads − 1 that the host starts
   * (Node, Bun and Deno; not Workers or browsers). Uses a SIMD build's threaded version; Model.dispose() stops them.
   */
  threads?: number;
}

const compiledModules = new Map<string, Promise<WebAssembly.Module | undefined>>();

/** Compiles a build from the package's files once per process; undefined when the host rejects it. */
function compileVariant(variant: KernelVariant, threaded: boolean): Promise<WebAssembly.Module | undefined> {
  const key = `${variant}${threaded ? ' threads' : ''}`;
  let compiled = compiledModules.get(key);
  if (!compiled) {
    compiled = readKernelBytes(variant, threaded).then((bytes) => {
      if (!WebAssembly.validate(bytes)) return undefined;
      return synchronously(() => new WebAssembly.Module(bytes)) ?? WebAssembly.compile(bytes);
    });
    compiled.catch(() => compiledModules.delete(key)); // a failed read is retried by the next load
    compiledModules.set(key, compiled);
  }
  return compiled;
}

/**
 * `compile()` where the host compiles synchronously (see Host.compilesSynchronously); undefined elsewhere, or where
 * the thread refuses it (a Chromium main thread, as under Electron, refuses modules over 4 KB with a RangeError).
 */
function synchronously<T>(compile: () => T): T | undefined {
  if (!host().compilesSynchronously) return undefined;
  try {
    return compile();
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

interface Candidate {
  module: WebAssembly.Module;
  exports: KernelExports;
}

/** Instantiates a build; a threaded one over a new shared memory. */
async function instantiate(module: WebAssembly.Module, threaded: boolean): Promise<Candidate> {
  const imports: WebAssembly.Imports = threaded ? { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: THREADED_MEMORY_PAGES, shared: true }) } } : {};
  const instance = synchronously(() => new WebAssembly.Instance(module, imports)) ?? await WebAssembly.instantiate(module, imports);
  return { module, exports: instance.exports as unknown as KernelExports };
}

/** The caller's `wasmModule`, else the host's bundled builds; undefined when the builds are compiled here. */
function compiledAhead({ wasmModule }: KernelOptions): WebAssembly.Module[] | undefined {
  if (!wasmModule) return host().kernelModules;
  return Array.isArray(wasmModule) ? wasmModule : [wasmModule];
}

/**
 * The builds to try, best first, each compiled and instantiated only when the one before it was turned down:
 * loading stops at the first build that passes its self-test, so a host that runs relaxed SIMD never compiles
 * the others. A build that is unavailable comes with the reason instead. Modules compiled ahead (which say
 * which build they are) are all instantiated up front, to learn which is which.
 */
async function* candidates(options: KernelOptions, wanted: readonly KernelVariant[], threaded: boolean): AsyncGenerator<[KernelVariant, Candidate | string]> {
  const modules = compiledAhead(options);
  if (modules) {
    const given = new Map<KernelVariant, Candidate>();
    for (const module of modules) {
      const candidate = await instantiate(module, false);
      const variant = VARIANT_IDS[candidate.exports.kernelVariant()];
      if (variant && !given.has(variant)) given.set(variant, candidate);
    }
    for (const variant of wanted) yield [variant, given.get(variant) ?? 'no module given for it'];
    return;
  }
  for (const variant of wanted) {
    const module = await compileVariant(variant, threaded);
    yield [variant, module ? await instantiate(module, threaded) : 'this host does not validate it (WebAssembly.validate)'];
  }
}

/** options.threads, checked against what this host and these options allow. */
function threadsOf(options: KernelOptions): number {
  const { threads = 1 } = options;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new GoogLeNetError(`threads must be an integer from 1 to ${MAX_THREADS}, not ${threads}`);
  }
  if (threads === 1) return 1;
  if (options.wasmModule) throw new GoogLeNetError('threads > 1 uses the package\'s threaded kernel builds and cannot take a wasmModule');
  if (options.variant === 'scalar') throw new GoogLeNetError('the scalar build has no threaded version (threads > 1 needs simd or relaxed-simd)');
  if (!host().startThread) throw new GoogLeNetError(`threads: ${threads} needs a host that starts threads (Node, Bun, Deno); this one runs single-threaded`);
  if (typeof SharedArrayBuffer !== 'function') throw new GoogLeNetError(`threads: ${threads} needs SharedArrayBuffer, which this host does not provide`);
  return threads;
}

export async function loadKernels(options: KernelOptions = {}): Promise<Kernels> {
  if (options.variant && !KERNEL_VARIANTS.includes(options.variant)) {
    throw new GoogLeNetError(`unknown kernel variant "${options.variant}" (expected one of ${KERNEL_VARIANTS.join(', ')})`);
  }
  const threads = threadsOf(options);
  const wanted = options.variant ? [options.variant] : KERNEL_VARIANTS.filter((variant) => threads === 1 || variant !== 'scalar');
  const rejected: string[] = [];
  for await (const [variant, candidate] of candidates(options, wanted, threads > 1)) {
    if (typeof candidate === 'string') {
      rejected.push(`${variant}: ${candidate}`);
      continue;
    }
    const kernels = describeKernels(variant, candidate.module, candidate.exports);
    const failure = selfTest(kernels);
    if (failure) {
      rejected.push(`${variant}: ${failure}`);
      continue;
    }
    return threads === 1 ? kernels : withThreads(kernels, threads);
  }
  throw new GoogLeNetError(`no usable kernel build (${rejected.join('; ')})`);
}

export function describeKernels(variant: KernelVariant, module: WebAssembly.Module, exports: KernelExports): Kernels {
  return {
    variant,
    module,
    exports,
    gemmRows: exports.GEMM_MR.value as number,
    gemmColumns: exports.GEMM_NR.value as number,
    heapBase: exports.heapBase(),
    parallel: singleThread(exports),
  };
}

/** The kernels with threads − 1 extra threads, whose instance scratch goes first above the heap base. */
async function withThreads(kernels: Kernels, threads: number): Promise<Kernels> {
  const scratchBytes = kernels.exports.INSTANCE_SCRATCH_BYTES.value as number;
  const scratchAt = (thread: number) => kernels.heapBase + (thread - 1) * scratchBytes;
  const parallel = await startThreads(kernels.module, kernels.exports, threads, scratchAt);
  return { ...kernels, heapBase: scratchAt(threads), parallel };
}

/**
 * Runs a small padded, strided convolution and the int8 dot probe against plain JavaScript; returns why the
 * build is unusable, or undefined when it is fine.
 */
function selfTest({ exports, gemmRows }: Kernels): string | undefined {
  const expectedDot = 1000 + [1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15, -16]
    .reduce((sum, a, i) => sum + a * [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3][i], 0);
  const dot = exports.probeInt8Dot();
  if (dot !== expectedDot) return `int8 dot self-test returned ${dot}, expected ${expectedDot}`;

  // Small, as its JavaScript reference runs cold at every load: two weight panels, a partial tile, padding, stride.
  const [C, H, W, M, KH, KW, stride, pad] = [2, 5, 6, 5, 3, 3, 2, 1];
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  const input = Float32Array.from({ length: C * H * W }, (_, i) => Math.sin(i * 0.37) + 0.1);
  const weights = Float32Array.from({ length: M * C * KH * KW }, (_, i) => Math.cos(i * 0.91));
  const bias = Float32Array.from({ length: Math.ceil(M / gemmRows) * gemmRows }, (_, i) => (i < M ? 0.01 * i : 0));
  const expected = referenceConv(input, C, H, W, weights, bias, M, KH, KW, stride, pad, OH, OW);

  const floats = (count: number) => count * 4 + 64;
  const base = exports.heapBase();
  const scratchBytes = exports.convScratchBytes(C, H, W, KH, KW, stride, stride, pad, pad, pad, pad, 0, 1);
  const layout = [input.length, weights.length, Math.ceil(M / gemmRows) * gemmRows * C * KH * KW, bias.length,
    expected.length, scratchBytes / 4];
  const offsets: number[] = [];
  let cursor = base;
  for (const count of layout) {
    offsets.push(cursor);
    cursor += floats(count);
  }
  const [inputAt, weightsAt, packedAt, biasAt, outputAt, scratchAt] = offsets;
  const memory = exports.memory;
  growMemoryTo(memory, cursor);
  const heap = new Float32Array(memory.buffer);
  heap.set(input, inputAt / 4);
  heap.set(weights, weightsAt / 4);
  heap.set(bias, biasAt / 4);
  exports.packGemmWeights(weightsAt, packedAt, M, C * KH * KW);
  exports.conv2dShare(inputAt, C, H, W, packedAt, biasAt, M, KH, KW, stride, stride, pad, pad, pad, pad, 1, outputAt, scratchAt, 0, 1);
  const actual = new Float32Array(memory.buffer, outputAt, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= 1e-4 * (1 + Math.abs(expected[i])))) {
      return `convolution self-test differs at element ${i}: ${actual[i]} instead of ${expected[i]}`;
    }
  }
  return undefined;
}

function referenceConv(
  input: Float32Array, C: number, H: number, W: number, weights: Float32Array, bias: Float32Array,
  M: number, KH: number, KW: number, stride: number, pad: number, OH: number, OW: number,
): Float32Array {
  const output = new Float32Array(M * OH * OW);
  for (let m = 0; m < M; m++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let sum = bias[m];
        for (let c = 0; c < C; c++) {
          for (let ky = 0; ky < KH; ky++) {
            for (let kx = 0; kx < KW; kx++) {
              const iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                sum += input[(c * H + iy) * W + ix] * weights[((m * C + c) * KH + ky) * KW + kx];
              }
            }
          }
        }
        output[(m * OH + oy) * OW + ox] = Math.max(sum, 0);
      }
    }
  }
  return output;
}
