/**
 * How an image becomes the model's input tensor, as a model file records it (for the model's first input,
 * [1, C, H, W]):
 *
 * 1. resize: `crop: 'none'` resizes straight to inputSize (the aspect ratio is not kept); `crop: 'center'`
 *    resizes keeping the aspect ratio so that the shorter side is `shorterSide` pixels (default: the larger of
 *    inputSize's two sides), then takes the central inputSize window. `method` is the resampling filter.
 * 2. channels: the order of the input's channels ('rgb', 'bgr', or one 'gray' channel).
 * 3. value = (pixel · scale − mean[c]) / std[c], with pixels 0…255 and mean/std listed in the model's channel
 *    order: torchvision uses scale 1/255 and the ImageNet mean/std; Caffe models use scale 1 and std 1.
 */
import { InputError } from '../errors.js';
import type { TensorSpec } from '../graph/ir.js';
import { formatDims } from '../graph/shapes.js';
import type { JsonField } from './json-field.js';

export const CHANNEL_ORDERS = ['rgb', 'bgr', 'gray'] as const;
export const RESIZE_METHODS = ['bilinear', 'area'] as const;
export const CROPS = ['center', 'none'] as const;

export type ChannelOrder = (typeof CHANNEL_ORDERS)[number];

export interface Preprocess {
  /** [height, width]: the model input's spatial size. */
  inputSize: [number, number];
  channels: ChannelOrder;
  /** One value per input channel, in the model's channel order. */
  mean: number[];
  /** One positive value per input channel, in the model's channel order. */
  std: number[];
  /** Multiplies the 0…255 pixel values before mean and std apply, e.g. 1/255. */
  scale: number;
  resize: {
    method: (typeof RESIZE_METHODS)[number];
    /** Only with crop 'center'. */
    shorterSide?: number;
    crop: (typeof CROPS)[number];
  };
}

const PREPROCESS_FIELDS = ['inputSize', 'channels', 'mean', 'std', 'scale', 'resize'] as const;
const RESIZE_FIELDS = ['method', 'shorterSide', 'crop'] as const;

/** Defaults for an input [1, C, H, W]: gray or rgb by C, pixels scaled to 0…1, mean 0, std 1, resized to H×W. */
export function defaultPreprocess(input: TensorSpec): Preprocess {
  const { channels, height, width } = imageInput(input, (message) => {
    throw new InputError(`default preprocessing ${message}; give the preprocessing explicitly`);
  });
  return {
    inputSize: [height, width],
    channels: channels === 1 ? 'gray' : 'rgb',
    mean: Array<number>(channels).fill(0),
    std: Array<number>(channels).fill(1),
    scale: 1 / 255,
    resize: { method: 'bilinear', crop: 'none' },
  };
}

/** Checks a preprocessing description against the model input it describes. */
export function readPreprocess(field: JsonField, input: TensorSpec): Preprocess {
  const { channels, height, width } = imageInput(input, (message) => field.fail(message));
  field.object(PREPROCESS_FIELDS);
  const sizeField = field.get('inputSize');
  const [inputHeight, inputWidth] = sizeField.integers(1, 2);
  if (inputHeight !== height || inputWidth !== width) {
    sizeField.fail(`[${inputHeight}, ${inputWidth}] does not match input "${input.name}" ${formatDims(input.dims)}`);
  }
  const orderField = field.get('channels');
  const order = orderField.oneOf(CHANNEL_ORDERS);
  if ((order === 'gray' ? 1 : 3) !== channels) {
    orderField.fail(`"${order}" does not fit input "${input.name}" with ${channels} channel(s)`);
  }
  const mean = field.get('mean').numbers(channels);
  const std = field.get('std').array(channels).map((item) => item.positiveNumber());
  const scale = field.get('scale').positiveNumber();

  const resizeField = field.get('resize').object(RESIZE_FIELDS);
  const method = resizeField.get('method').oneOf(RESIZE_METHODS);
  const crop = resizeField.get('crop').oneOf(CROPS);
  const shorterSideField = resizeField.optional('shorterSide');
  const resize: Preprocess['resize'] = { method, crop };
  if (shorterSideField) {
    if (crop !== 'center') shorterSideField.fail('needs crop "center" (with crop "none" the image goes straight to inputSize)');
    resize.shorterSide = shorterSideField.integer(Math.max(height, width));
  }
  return { inputSize: [height, width], channels: order, mean, std, scale, resize };
}

function imageInput(input: TensorSpec, fail: (message: string) => never) {
  const [, channels, height, width] = input.dims;
  if (input.dims.length !== 4 || (channels !== 1 && channels !== 3)) {
    fail(`describes images, but input "${input.name}" ${formatDims(input.dims)} is not [1, 1 or 3, H, W]`);
  }
  return { channels, height, width };
}
