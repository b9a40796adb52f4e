/** The fetch handler of both Workers: the model loads on an isolate's first request and serves all later ones. */

import { createHandler, loadModel } from 'googlenet-wasm';

/**
 * `readModel(env, request)` gives the model file's bytes (ArrayBuffer or Uint8Array), or a promise of them; a
 * failed load is retried by the next request.
 */
export function modelHandler(readModel, options) {
  let handler;
  return async (request, env) => {
    handler ??= Promise.resolve(readModel(env, request))
      .then((bytes) => loadModel(bytes))
      .then((model) => createHandler(model, options))
      .catch((error) => {
        handler = undefined;
        throw error;
      });
    return (await handler)(request);
  };
}
