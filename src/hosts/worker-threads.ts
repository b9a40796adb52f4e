/** Threads on Node, Bun and Deno: node:worker_threads (which Deno and Bun provide too) running thread-worker.js. */

import { Worker } from 'node:worker_threads';
import type { ThreadPort } from '../runtime/host.js';

/** Starts a thread running `script` (the built thread-worker.js beside this module unless told otherwise). */
export function startWorkerThread(script = new URL('./thread-worker.js', import.meta.url)): ThreadPort {
  // No Node options from the parent (V8's flags are the process's anyway): one such as --input-type, of a script
  // run with -e, would stop the thread from starting.
  const worker = new Worker(script, { execArgv: [] });
  // Idle threads wait in Atomics.wait for work; unlike a web Worker, an unref'd one lets the process exit.
  worker.unref();
  return {
    postMessage: (message) => worker.postMessage(message),
    // `once`: a Worker with a 'message' listener keeps the process alive, unref'd or not.
    onFirstMessage: (listener) => void worker.once('message', listener),
    onError: (listener) => void worker.on('error', listener),
    terminate: () => void worker.terminate(),
  };
}
