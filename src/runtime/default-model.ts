/** The model loadModel() loads when given none: the seed GoogLeNet trained on Fashion-MNIST (models/MODEL_CARD.md). */

import { GoogLeNetError } from '../errors.js';
import { readUrl } from './package-files.js';

export async function readDefaultModel(): Promise<Uint8Array<ArrayBuffer>> {
  try {
    // Built here, not at import: where modules have no URL (bundled Workers) it throws, and only this call fails.
    return await readUrl(new URL('../../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url));
  } catch (error) {
    throw new GoogLeNetError(
      `cannot load the default model (${(error as Error).message}); pass a model file's or an ONNX model's bytes ` +
        "instead (on Cloudflare Workers, import the model file as a Data module: see the package's README)",
    );
  }
}
