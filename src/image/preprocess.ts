/** RawImage → the model's input tensor, as a Preprocess (src/format/preprocess.ts) describes it. */

import type { ChannelOrder, Preprocess } from '../format/preprocess.js';
import { roundHalfToEven } from '../format/quantize.js';
import { checkRawImage, type RawImage } from './raw-image.js';
import { resizePlane, type Plane, type ResizeWindow } from './resize.js';

/**
 * The image as one float32 NCHW sample [1, C, H, W]: resized (in float, without rounding to 8 bits), center
 * cropped, converted to the model's channels and normalised. Alpha is ignored; a color image becomes gray as
 * PIL's convert('L') does, a gray one is repeated into each color channel.
 */
export function preprocessImage(image: RawImage, preprocess: Preprocess): Float32Array {
  checkRawImage(image);
  const window = resizeWindow(image, preprocess);
  const { width, height } = window;
  const planes = channelPlanes(image, preprocess.channels);
  const resized = new Map<Plane, Float32Array>(); // a gray image feeds all three color channels
  const tensor = new Float32Array(planes.length * height * width);
  planes.forEach((plane, channel) => {
    if (!resized.has(plane)) resized.set(plane, resizePlane(plane, window, preprocess.resize.method));
    const values = resized.get(plane)!;
    const { scale } = preprocess, mean = preprocess.mean[channel], std = preprocess.std[channel];
    const out = tensor.subarray(channel * height * width, (channel + 1) * height * width);
    for (let i = 0; i < values.length; i++) out[i] = (values[i] * scale - mean) / std;
  });
  return tensor;
}

/** Where the input window lies in the resized image, with torchvision's Resize(int) and CenterCrop arithmetic. */
function resizeWindow(image: RawImage, { inputSize: [height, width], resize }: Preprocess): ResizeWindow {
  if (resize.crop === 'none') return { fullWidth: width, fullHeight: height, left: 0, top: 0, width, height };
  const shorter = resize.shorterSide ?? Math.max(height, width);
  const [fullWidth, fullHeight] = image.width <= image.height
    ? [shorter, Math.floor((shorter * image.height) / image.width)]
    : [Math.floor((shorter * image.width) / image.height), shorter];
  return {
    fullWidth, fullHeight, width, height,
    left: roundHalfToEven((fullWidth - width) / 2),
    top: roundHalfToEven((fullHeight - height) / 2),
  };
}

/** The source plane of each model channel, in the model's order. */
function channelPlanes(image: RawImage, order: ChannelOrder): Plane[] {
  const { data, width, height, channels } = image;
  const plane = (offset: number): Plane => ({ data, width, height, stride: channels, offset });
  if (order === 'gray') return [channels === 1 ? plane(0) : lumaPlane(image)];
  if (channels === 1) {
    const gray = plane(0);
    return [gray, gray, gray];
  }
  const [red, green, blue] = [plane(0), plane(1), plane(2)];
  return order === 'rgb' ? [red, green, blue] : [blue, green, red];
}

/** ITU-R 601 luma in PIL's fixed-point arithmetic, so that gray pixels stay exactly what they were. */
function lumaPlane({ data, width, height, channels }: RawImage): Plane {
  const luma = new Uint8Array(width * height);
  for (let i = 0, at = 0; i < luma.length; i++, at += channels) {
    luma[i] = (data[at] * 19595 + data[at + 1] * 38470 + data[at + 2] * 7471 + 0x8000) >>> 16;
  }
  return { data: luma, width, height, stride: 1, offset: 0 };
}
