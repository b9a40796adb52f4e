/** `googlenet classify`: the most probable classes of image files, as a table or as JSON. */

import { ImageError } from '../errors.js';
import { loadModel, type LoadOptions } from '../runtime/load.js';
import type { Prediction } from '../runtime/classify.js';
import { UsageError } from './errors.js';
import { LOAD_OPTIONS } from './load-options.js';
import { readUserFile } from './files.js';

export const CLASSIFY_HELP = `googlenet classify IMAGE… [--model FILE] [--top K] [--json] [--variant V] [--precision P] [--threads N]

Classifies PNG and JPEG images, each preprocessed as the model file says (ONNX models: the defaults for
their input), and prints the K most probable classes of each: label, probability and a bar. Without
--model it uses the default model, the seed GoogLeNet trained on Fashion-MNIST.

  --model FILE   an ONNX file or a model file written by convert
  --top K        classes per image (default 5)
  --json         one JSON array with an object per image, in argument order:
                 { "file", "predictions": [{ "label", "index", "probability" }] }
                 or, for an image that cannot be read or decoded, { "file", "error" }
  --variant V, --precision P, --threads N   as for infer

An image that cannot be read or decoded gets one line on stderr; the other images are still classified,
and the exit code is 1. Images may take up to 1 GiB to decode (photos of up to about 40 megapixels); the
library's default, for servers and Workers, is 64 MiB.`;

export const CLASSIFY_OPTIONS = {
  model: { type: 'string' },
  top: { type: 'string' },
  json: { type: 'boolean' },
  ...LOAD_OPTIONS,
} as const;

const DEFAULT_TOP = 5;
/** The command line decodes the user's own files on their machine, so it allows larger images than a server. */
const CLI_IMAGE_LIMITS = { maxMemoryBytes: 2 ** 30 };
const BAR_WIDTH = 20;

export type ImageResult = { file: string; predictions: Prediction[] } | { file: string; error: string };

/** Classifies every file with one model; a file that cannot be read or decoded gets an error instead. */
export async function classifyFiles(
  files: string[], modelPath: string | undefined, top: string | undefined, options: LoadOptions,
): Promise<ImageResult[]> {
  if (!files.length) throw new UsageError('classify needs at least one image');
  const topK = top === undefined ? DEFAULT_TOP : Number(top);
  if (!Number.isInteger(topK) || topK < 1) throw new UsageError(`--top must be a positive integer, not "${top}"`);
  const model = await loadModel(modelPath, options);
  const results: ImageResult[] = [];
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readUserFile(file);
    } catch (error) {
      results.push({ file, error: (error as Error).message });
      continue;
    }
    try {
      results.push({ file, predictions: model.classify(bytes, { topK, limits: CLI_IMAGE_LIMITS }) });
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      results.push({ file, error: `${file}: ${error.message}` });
    }
  }
  return results;
}

/** Per classified image: its file name, then one line per class: label, percentage, bar. */
export function formatClassifications(results: ImageResult[]): string {
  return results.flatMap((result) => {
    if (!('predictions' in result)) return [];
    const labelWidth = Math.max(...result.predictions.map(({ label }) => label.length));
    const lines = result.predictions.map(({ label, probability }) => {
      const percent = `${(probability * 100).toFixed(1)}%`.padStart(6);
      return `  ${label.padEnd(labelWidth)}  ${percent}  ${'█'.repeat(Math.round(probability * BAR_WIDTH))}`.trimEnd();
    });
    return [[result.file, ...lines].join('\n')];
  }).join('\n\n');
}
