/** Image classification: an image → the model's input (by its preprocessing) → the top-k classes. */

import { InputError } from '../errors.js';
import { defaultPreprocess } from '../format/preprocess.js';
import { decodeImage } from '../image/decode.js';
import { preprocessImage } from '../image/preprocess.js';
import type { ImageLimits, RawImage } from '../image/raw-image.js';
import type { Model, ModelInfo } from './model.js';
import { softmaxInto } from './softmax.js';

/** Encoded PNG or JPEG bytes, or decoded pixels. */
export type ImageInput = Uint8Array | ArrayBuffer | RawImage;

export interface ClassifyOptions {
  /** How many classes to return, most probable first (default 5; all of them if the model has fewer). */
  topK?: number;
  /** The largest image to decode (default 16384 pixels per side, 40 million pixels). */
  limits?: ImageLimits;
}

export interface Prediction {
  /** The model file's label of the class, else `class <index>`. */
  label: string;
  index: number;
  probability: number;
}

/**
 * Classifies one image with `model`, preprocessed as its model file says (ONNX models and graphs: the defaults
 * for their input, see defaultPreprocess). Probabilities are the softmax of the first output, unless the model
 * ends in a Softmax already. Throws ImageError for an image that cannot be decoded, InputError for bad options.
 */
export function classify(model: Model, image: ImageInput, options: ClassifyOptions = {}): Prediction[] {
  const { topK = 5 } = options;
  if (!Number.isInteger(topK) || topK < 1) throw new InputError(`topK must be a positive integer, not ${topK}`);
  const [input] = model.info.inputs;
  const preprocess = model.metadata?.preprocess ?? defaultPreprocess(input);
  const pixels = image instanceof Uint8Array || image instanceof ArrayBuffer ? decodeImage(image, options.limits) : image;
  const { data } = model.run(preprocessImage(pixels, preprocess), [1, ...input.dims.slice(1)]);
  const probabilities = endsInSoftmax(model.info) ? data : new Float64Array(data.length);
  if (probabilities !== data) softmaxInto(data, probabilities);
  const labels = model.metadata?.labels;
  return [...probabilities]
    .map((probability, index) => ({ label: labels?.[index] ?? `class ${index}`, index, probability }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, topK);
}

/** Whether the first output is computed by a Softmax layer. */
function endsInSoftmax({ layers, outputs }: ModelInfo): boolean {
  return layers.find((layer) => layer.output === outputs[0].name)?.op === 'Softmax';
}
