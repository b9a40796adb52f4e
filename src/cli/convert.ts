/** `googlenet convert`: an ONNX file → a compact model file (src/format/model-file.ts). */

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogLeNetError, InputError } from '../errors.js';
import {
  encodeModelFile, isModelFile, WEIGHT_PRECISIONS, type ActivationRanges, type Preprocess, type WeightPrecision,
} from '../format/model-file.js';
import { defaultPreprocess } from '../format/preprocess.js';
import { decodeImage } from '../image/decode.js';
import { preprocessImage } from '../image/preprocess.js';
import type { Graph } from '../graph/ir.js';
import { importOnnx } from '../onnx/import.js';
import { collectActivationRanges } from '../runtime/calibrate.js';
import type { KernelVariant } from '../runtime/kernels.js';
import { UsageError } from './errors.js';
import { readUserFile, writeUserFile } from './files.js';
import { formatBytes } from './inspect.js';
import { parseNpy } from './npy.js';
import { ProgressBar } from './progress.js';

export const CONVERT_HELP = `googlenet convert IN.onnx -o OUT.safetensors [--weights int8|f16|f32] [--labels FILE]
                  [preprocessing flags] [--calibrate DIR] [--variant V]

Writes a compact model file: one safetensors file with the graph, the weights, the class labels and the
preprocessing the model expects. Prints sizes before and after; shows progress when stderr is a terminal.

  -o, --output FILE    the model file to write
  --weights P          how Conv and Dense weights are stored: int8 (default; per-channel scales, about a
                       quarter of the float size), f16 or f32 (exact)
  --labels FILE        class names, one per line, as many as the model has classes
  --calibrate DIR      run the float model over the float32 .npy tensors [N, C, H, W] and the PNG/JPEG images
                       (preprocessed as the file says) in DIR and record each activation's [min, max]
  --variant V          kernel build for --calibrate

Preprocessing (how an image becomes the input; defaults: gray or rgb by the input's channels, scale 1/255,
mean 0, std 1, resized straight to the input size):
  --input-size H[xW]   must match the model input
  --channels C         rgb | bgr | gray
  --scale S            multiplies the 0…255 pixels first, e.g. 1/255 or 1
  --mean A,B,C         subtracted per channel after scaling, in the model's channel order
  --std A,B,C          then divided by, per channel
  --resize N           resize the shorter side to N keeping the aspect ratio, then crop the input size
  --crop center|none   none resizes straight to the input size (default: center with --resize, else none)
  --resize-method M    bilinear (default) | area`;

export const CONVERT_OPTIONS = {
  output: { type: 'string', short: 'o' },
  weights: { type: 'string' },
  labels: { type: 'string' },
  calibrate: { type: 'string' },
  variant: { type: 'string' },
  'input-size': { type: 'string' },
  channels: { type: 'string' },
  scale: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  resize: { type: 'string' },
  crop: { type: 'string' },
  'resize-method': { type: 'string' },
} as const;

export type ConvertFlags = { [K in keyof typeof CONVERT_OPTIONS]?: string };

/** Converts `inputPath` as `flags` say (calibrating with the checked `variant`); returns the one-line summary. */
export async function convert(
  inputPath: string, flags: ConvertFlags, variant?: KernelVariant, progress = new ProgressBar(),
): Promise<string> {
  const outputPath = flags.output ?? usage('convert needs -o OUT.safetensors');
  const weights = (flags.weights ?? 'int8') as WeightPrecision;
  if (!WEIGHT_PRECISIONS.includes(weights)) usage(`--weights must be one of ${WEIGHT_PRECISIONS.join(', ')}`);
  const onnx = await readUserFile(inputPath);
  if (isModelFile(onnx)) throw new InputError(`${inputPath} is a model file already; convert reads ONNX files`);
  const graph = importOnnx(onnx);
  const labels = flags.labels === undefined ? undefined : readLabels(await readUserFile(flags.labels));
  const preprocess = preprocessFromFlags(flags, graph);
  let file: Uint8Array;
  try {
    const activationRanges = flags.calibrate === undefined
      ? undefined
      : await calibrate(graph, preprocess, flags.calibrate, variant, progress);
    file = encodeModelFile(graph, {
      weights, labels, preprocess, activationRanges,
      onProgress: (done, total) => progress.update('storing weights', done, total),
    });
  } finally {
    progress.clear(); // also before an error message, which then starts on a clean line
  }
  await writeUserFile(outputPath, file);
  const ratio = (file.length / onnx.length).toFixed(3);
  return `${inputPath} (${formatBytes(onnx.length)}) → ${outputPath} (${formatBytes(file.length)}, ${weights} weights): ${ratio}× the size`;
}

function usage(message: string): never {
  throw new UsageError(message);
}

/** One label per line; trailing blank lines and line-end whitespace (\r) do not count. */
function readLabels(bytes: Uint8Array): string[] {
  return new TextDecoder().decode(bytes).trimEnd().split('\n').map((line) => line.trimEnd());
}

/** The defaults for the model's input, overridden by the flags given; encodeModelFile() checks the result. */
function preprocessFromFlags(flags: ConvertFlags, graph: Graph): Preprocess {
  const preprocess = defaultPreprocess(graph.inputs[0]);
  if (flags['input-size'] !== undefined) {
    const [height, width = height] = numberList('--input-size', flags['input-size'], /[x,]/);
    preprocess.inputSize = [height, width];
  }
  if (flags.channels !== undefined) preprocess.channels = flags.channels as Preprocess['channels'];
  if (flags.scale !== undefined) [preprocess.scale] = numberList('--scale', flags.scale);
  if (flags.mean !== undefined) preprocess.mean = numberList('--mean', flags.mean);
  if (flags.std !== undefined) preprocess.std = numberList('--std', flags.std);
  const { resize } = preprocess;
  if (flags.resize !== undefined) {
    [resize.shorterSide] = numberList('--resize', flags.resize);
    resize.crop = 'center';
  }
  if (flags.crop !== undefined) resize.crop = flags.crop as Preprocess['resize']['crop'];
  if (flags['resize-method'] !== undefined) resize.method = flags['resize-method'] as Preprocess['resize']['method'];
  return preprocess;
}

/** Numbers separated by `separator` (a comma by default); each may be a fraction such as 1/255. */
function numberList(flag: string, text: string, separator: RegExp = /,/): number[] {
  return text.split(separator).map((item) => {
    const [numerator, denominator = '1', ...rest] = item.split('/');
    const value = Number(numerator) / Number(denominator);
    if (rest.length || !numerator.trim() || !denominator.trim() || !Number.isFinite(value)) {
      usage(`${flag}: "${item}" is not a number`);
    }
    return value;
  });
}

const CALIBRATION_IMAGE = /\.(png|jpe?g)$/i;

/**
 * Activation ranges over the samples in `dir`: float32 .npy tensors [N, C, H, W] as they are, and PNG or JPEG
 * images through the preprocessing the file will carry, as classify() will feed them. Other files are ignored.
 */
async function calibrate(
  graph: Graph, preprocess: Preprocess, dir: string, variant: KernelVariant | undefined, progress: ProgressBar,
): Promise<ActivationRanges> {
  if (graph.inputs.length !== 1) throw new InputError(`--calibrate needs a model with one input, this one has ${graph.inputs.length}`);
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    throw new GoogLeNetError(`--calibrate: cannot read the folder ${dir}: ${error.code === 'ENOENT' ? 'no such folder' : error.message}`);
  });
  const files = entries.filter((name) => name.toLowerCase().endsWith('.npy') || CALIBRATION_IMAGE.test(name)).sort().map((name) => join(dir, name));
  if (files.length === 0) throw new InputError(`--calibrate: ${dir} holds no .npy, PNG or JPEG files`);
  const [, ...sample] = graph.inputs[0].dims;
  const batches = await Promise.all(files.map(async (path) => {
    const bytes = await readUserFile(path);
    if (CALIBRATION_IMAGE.test(path)) {
      try {
        return [{ data: preprocessImage(decodeImage(bytes), preprocess), dims: [1, ...sample] }];
      } catch (error) {
        throw new InputError(`--calibrate: ${path}: ${(error as Error).message}`);
      }
    }
    const tensor = parseNpy(bytes, path);
    if (tensor.dims.length !== sample.length + 1 || tensor.dims.slice(1).some((dim, axis) => dim !== sample[axis])) {
      throw new InputError(`${path} has shape [${tensor.dims.join(', ')}], the model input is [N, ${sample.join(', ')}]`);
    }
    return [tensor];
  }));
  return collectActivationRanges(graph, batches, {
    variant,
    onProgress: (done, total) => progress.update('calibrating', done, total),
  });
}
