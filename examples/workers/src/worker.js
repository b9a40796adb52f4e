/**
 * A Cloudflare Worker that classifies images: POST /classify with a PNG or JPEG body, GET / describes the model,
 * GET /healthz. googlenet-wasm's `workerd` entry brings its kernel builds as compiled wasm modules; the model
 * file is bundled as data (wrangler.toml's Data rule).
 */

import modelFile from 'googlenet-wasm/models/googlenet-seed-fmnist.int8.safetensors';
import { modelHandler } from './model-handler.js';

export default {
  fetch: modelHandler(() => modelFile, { modelName: 'googlenet-seed-fmnist' }),
};
