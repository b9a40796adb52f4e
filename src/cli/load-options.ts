/** Loading the model a command names, with the flags every such command takes: --variant, --precision and --threads. */

import { KERNEL_VARIANTS, MAX_THREADS, type KernelVariant } from '../runtime/kernels.js';
import { loadModelWithMetadata, PRECISIONS, type LoadedModel, type LoadOptions } from '../runtime/load.js';
import { parseInteger, UsageError } from './errors.js';
import { readReleasableFile } from './files.js';

export const LOAD_OPTIONS = {
  variant: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
} as const;

export function loadOptions(values: { variant?: string; precision?: string; threads?: string }): LoadOptions {
  const { precision } = values;
  if (precision !== undefined && !(PRECISIONS as readonly string[]).includes(precision)) {
    throw new UsageError(`--precision must be one of ${PRECISIONS.join(', ')}`);
  }
  const threads = values.threads === undefined ? undefined : parseInteger('--threads', values.threads, 1, MAX_THREADS);
  return { variant: kernelVariant(values.variant), precision: precision as LoadOptions['precision'], threads };
}

export function kernelVariant(variant: string | undefined): KernelVariant | undefined {
  if (variant !== undefined && !KERNEL_VARIANTS.includes(variant as KernelVariant)) {
    throw new UsageError(`--variant must be one of ${KERNEL_VARIANTS.join(', ')}`);
  }
  return variant as KernelVariant | undefined;
}

/**
 * The model file or ONNX file at `path` (the default model without one), loaded with `options`. The file's bytes
 * are released as soon as the model holds its weights, so that they are not still resident when the first
 * inference touches the model's memory. `fileBytes`: the file's size.
 */
export async function loadUserModel(path: string | undefined, options: LoadOptions): Promise<LoadedModel & { fileBytes?: number }> {
  if (path === undefined) return loadModelWithMetadata(undefined, options);
  const file = await readReleasableFile(path);
  try {
    return { ...(await loadModelWithMetadata(file.bytes, options)), fileBytes: file.bytes.length };
  } finally {
    file.release();
  }
}
