/** The script of each extra thread in browsers (browser.ts starts it as a module Worker). */

import { serveThread } from '../runtime/threads.js';

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void, options: { once: boolean }): void;
};
scope.addEventListener('message', (event) => serveThread(event.data, (reply) => scope.postMessage(reply)), { once: true });
