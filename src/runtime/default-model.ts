/** The model loadModel() loads when given none: the seed GoogLeNet trained on Fashion-MNIST (models/MODEL_CARD.md). */

import { GoogLeNetError } from '../errors.js';
import { readPackageFile } from './package-files.js';

const DEFAULT_MODEL_URL = new URL('../../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url);

export async function readDefaultModel(): Promise<Uint8Array> {
  try {
    return await readPackageFile(DEFAULT_MODEL_URL);
  } catch (error) {
    const reason = (error as { code?: string }).code === 'ENOENT' ? 'the file is missing' : (error as Error).message;
    throw new GoogLeNetError(
      `cannot load the default model ${DEFAULT_MODEL_URL.href} (${reason}); load a model file or an ONNX model instead`,
    );
  }
}
