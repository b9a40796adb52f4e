/**
 * A Cloudflare Worker that classifies images: POST /classify with a PNG or JPEG body, GET / describes the model,
 * GET /healthz. googlenet-wasm's `workerd` entry brings its kernel builds as compiled wasm modules; the model
 * file is bundled as data (wrangler.toml's Data rule).
 */

import { createHandler, loadModel } from 'googlenet-wasm';
import modelFile from 'googlenet-wasm/models/googlenet-seed-fmnist.int8.safetensors';

/** The handler of this isolate, made by the first request; later requests reuse the loaded model. */
let handler;

export default {
  async fetch(request) {
    handler ??= loadModel(new Uint8Array(modelFile)).then(
      (model) => createHandler(model, { modelName: 'googlenet-seed-fmnist' }),
      (error) => {
        handler = undefined; // let the next request try again
        throw error;
      },
    );
    return (await handler)(request);
  },
};
