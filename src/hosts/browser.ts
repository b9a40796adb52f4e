/**
 * The package in browsers: the universal core, with threads on web Workers where the page is cross-origin
 * isolated (served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
 * require-corp`), the condition for SharedArrayBuffer and shared wasm memory.
 */

import { configureHost, type ThreadPort } from '../runtime/host.js';

function startWebWorkerThread(): ThreadPort {
  // One literal `new Worker(new URL(…, import.meta.url))`, the form bundlers (Vite, webpack) detect and ship.
  const worker = new Worker(new URL('./web-thread-worker.js', import.meta.url), { type: 'module' });
  return {
    postMessage: (message) => worker.postMessage(message),
    onFirstMessage: (listener) => worker.addEventListener('message', (event) => listener(event.data), { once: true }),
    onError: (listener) => worker.addEventListener('error', (event) => listener(new Error(event.message || 'the thread failed to start'))),
    terminate: () => worker.terminate(),
  };
}

if (globalThis.crossOriginIsolated && typeof Worker === 'function') configureHost({ startThread: startWebWorkerThread });

export * from '../index.js';
