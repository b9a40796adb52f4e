/** The flags every command that loads a model takes: --variant, --precision and --threads. */

import { KERNEL_VARIANTS, MAX_THREADS, type KernelVariant } from '../runtime/kernels.js';
import { PRECISIONS, type LoadOptions } from '../runtime/load.js';
import { parseInteger, UsageError } from './errors.js';

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
