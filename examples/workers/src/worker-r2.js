/**
 * The same Worker with the model in an R2 bucket (wrangler.r2.toml: binding MODELS, object key MODEL_KEY), read
 * once per isolate: the bundle stays small enough for the free plan, and the model may exceed 10 MB.
 */

import { modelHandler } from './model-handler.js';

export default {
  fetch: modelHandler(async (env) => {
    const object = await env.MODELS.get(env.MODEL_KEY);
    if (!object) throw new Error(`the R2 bucket bound as MODELS has no object "${env.MODEL_KEY}"`);
    return object.arrayBuffer();
  }, { modelName: 'googlenet-seed-fmnist' }),
};
