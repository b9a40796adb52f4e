/**
 * Convolutions and max pooling on several threads. Each extra thread (a worker the host starts) instantiates the
 * same threaded kernel build over the same shared wasm memory, with its own instance scratch, and waits for jobs.
 * A job is one of the kernels that take a thread's share of the work (the *Share kernels) and its arguments: the main
 * thread writes it into a small shared control block, wakes the others, runs share 0 itself and waits until
 * every share is done, so that run() returns, like a plain kernel call, when the whole kernel has run.
 *
 *   control block:  Int32 [sequence │ pending │ kernel │ argument count │ failed │ …]  Float64 [arguments …]
 *
 * `sequence` counts jobs (a thread runs each new value once), `pending` the shares still running.
 */

import { GoogLeNetError } from '../errors.js';
import { host, type ThreadPort } from './host.js';
import type { KernelExports } from './kernels.js';

export const PARALLEL_KERNELS = [
  'conv2dShare', 'conv2dInt8QuantiseShare', 'conv2dInt8Share', 'winogradConvShare', 'winogradConvInt8Share',
  'conv2dPointwiseGroupShare', 'conv2dInt8PointwiseGroupShare', 'maxPool2dShare',
] as const;
export type ParallelKernel = (typeof PARALLEL_KERNELS)[number];

/** Runs a share kernel on every thread. */
export interface Parallel {
  readonly threads: number;
  /** Runs `kernel(...args, thread, threads)` for every thread; returns when all have. */
  run(kernel: ParallelKernel, args: number[]): void;
  /** Stops the extra threads; run() must not be called afterwards. */
  close(): void;
}

export function singleThread(exports: KernelExports): Parallel {
  return { threads: 1, run: (kernel, args) => runShare(exports, kernel, args, 0, 1), close: () => {} };
}

function runShare(exports: KernelExports, kernel: ParallelKernel, args: number[], thread: number, threads: number): void {
  (exports[kernel] as (...values: number[]) => void)(...args, thread, threads);
}

const SEQUENCE = 0, PENDING = 1, KERNEL = 2, ARGUMENT_COUNT = 3, FAILED = 4;
const CONTROL_WORDS = 8;
const MAX_ARGUMENTS = 32;
const STOP = -1;
/**
 * How long a waiting thread keeps checking the control block before it sleeps in Atomics.wait: what it waits for
 * usually comes within microseconds (a convolution's next phase, the other shares, the next layer after the main
 * thread's serial work), and a thread woken from Atomics.wait takes tens of microseconds to run again, which adds
 * up over the hundred-odd jobs of an inference. Between inferences the threads sleep.
 */
const SPIN_MS = 1;

/** Whether this thread may block in Atomics.wait: a browser's main thread may not (it throws), workers may. */
function maySleep(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0); // returns at once: the value is not 1
    return true;
  } catch {
    return false;
  }
}

/** Returns once control[index] is no longer `value`; spins throughout where the thread may not sleep. */
function waitWhileEqual(control: Int32Array, index: number, value: number, sleeps = true): void {
  const until = performance.now() + SPIN_MS;
  do {
    for (let spin = 0; spin < 100; spin++) if (Atomics.load(control, index) !== value) return;
  } while (!sleeps || performance.now() < until);
  Atomics.wait(control, index, value);
}

const READY = 'ready';

/** What the main thread posts to start an extra thread. */
export interface ThreadStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  thread: number;
  threads: number;
  /** Where this thread's instance keeps its scratch (INSTANCE_SCRATCH_BYTES, reserved by the main thread). */
  instanceScratch: number;
}

/**
 * Starts threads − 1 extra threads running `module` over `exports`' shared memory; thread t (t ≥ 1) keeps its
 * instance scratch at instanceScratchAt(t).
 */
export async function startThreads(
  module: WebAssembly.Module, exports: KernelExports, threads: number, instanceScratchAt: (thread: number) => number,
): Promise<Parallel> {
  const { startThread } = host();
  if (!startThread) throw new GoogLeNetError(`threads: ${threads} needs a host that starts threads (Node, Bun, Deno); this one runs single-threaded`);
  const control = new SharedArrayBuffer(CONTROL_WORDS * 4 + MAX_ARGUMENTS * 8);
  const ports: ThreadPort[] = [];
  const started = (thread: number) => new Promise<void>((resolve, reject) => {
    const port = startThread();
    ports.push(port);
    port.onError(reject);
    port.onFirstMessage((message) => (message === READY ? resolve() : reject(new Error(String((message as { error?: unknown }).error)))));
    const start: ThreadStart = { module, memory: exports.memory, control, thread, threads, instanceScratch: instanceScratchAt(thread) };
    port.postMessage(start);
  });
  try {
    await Promise.all(Array.from({ length: threads - 1 }, (_, i) => started(i + 1)));
  } catch (error) {
    for (const port of ports) port.terminate();
    throw new GoogLeNetError(`cannot start ${threads - 1} kernel thread(s): ${(error as Error).message}`);
  }
  return new ThreadPool(exports, threads, ports, control);
}

class ThreadPool implements Parallel {
  private readonly control: Int32Array;
  private readonly args: Float64Array;
  private readonly sleeps = maySleep();

  constructor(private readonly exports: KernelExports, readonly threads: number, private readonly ports: ThreadPort[], buffer: SharedArrayBuffer) {
    this.control = new Int32Array(buffer, 0, CONTROL_WORDS);
    this.args = new Float64Array(buffer, CONTROL_WORDS * 4, MAX_ARGUMENTS);
  }

  run(kernel: ParallelKernel, args: number[]): void {
    const control = this.control;
    this.args.set(args);
    control[KERNEL] = PARALLEL_KERNELS.indexOf(kernel);
    control[ARGUMENT_COUNT] = args.length;
    Atomics.store(control, PENDING, this.threads - 1);
    this.post();
    runShare(this.exports, kernel, args, 0, this.threads);
    for (let pending; (pending = Atomics.load(control, PENDING)) > 0;) waitWhileEqual(control, PENDING, pending, this.sleeps);
    if (Atomics.exchange(control, FAILED, 0)) throw new GoogLeNetError(`a kernel thread failed running ${kernel}`);
  }

  close(): void {
    this.control[KERNEL] = STOP;
    this.post();
    for (const port of this.ports) port.terminate();
    this.ports.length = 0;
  }

  /** Publishes the job written into the control block (the atomic add orders the plain writes before it). */
  private post(): void {
    Atomics.add(this.control, SEQUENCE, 1);
    Atomics.notify(this.control, SEQUENCE);
  }
}

/**
 * An extra thread's life: instantiates the kernels over the shared memory, says it is ready through `reply`, then
 * runs its share of each job until told to stop. Blocks the thread's event loop throughout.
 */
export function serveThread(start: ThreadStart, reply: (message: unknown) => void): void {
  let exports: KernelExports;
  try {
    exports = new WebAssembly.Instance(start.module, { env: { memory: start.memory } }).exports as unknown as KernelExports;
    exports.useInstanceScratch(start.instanceScratch);
  } catch (error) {
    reply({ error: (error as Error).message });
    return;
  }
  reply(READY);
  const control = new Int32Array(start.control, 0, CONTROL_WORDS);
  const args = new Float64Array(start.control, CONTROL_WORDS * 4, MAX_ARGUMENTS);
  let seen = 0;
  for (;;) {
    waitWhileEqual(control, SEQUENCE, seen);
    // Read now: the next job can only come after this one's share is done.
    seen = Atomics.load(control, SEQUENCE);
    const kernel = control[KERNEL];
    if (kernel === STOP) return;
    try {
      runShare(exports, PARALLEL_KERNELS[kernel], Array.from(args.subarray(0, control[ARGUMENT_COUNT])), start.thread, start.threads);
    } catch {
      Atomics.store(control, FAILED, 1);
    }
    if (Atomics.sub(control, PENDING, 1) === 1) Atomics.notify(control, PENDING);
  }
}
