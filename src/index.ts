export { loadModel, loadModelWithMetadata, PRECISIONS, type ModelSource, type LoadOptions, type LoadedModel } from './runtime/load.js';
export {
  encodeModelFile, decodeModelFile, isModelFile,
  type ModelFile, type ModelFileMetadata, type EncodeOptions, type DecodeOptions, type WeightPrecision, type ActivationRanges, type Preprocess,
} from './format/model-file.js';
export { collectActivationRanges } from './runtime/calibrate.js';
export { classify, type ClassifyOptions, type ImageInput, type Prediction } from './runtime/classify.js';
export { decodeImage } from './image/decode.js';
export { preprocessImage } from './image/preprocess.js';
export { defaultPreprocess } from './format/preprocess.js';
export { DEFAULT_IMAGE_LIMITS, type ImageLimits, type RawImage } from './image/raw-image.js';
export { Model, type ModelInfo, type LayerInfo, type Tensor, type TensorInfo, type Precision } from './runtime/model.js';
export { KERNEL_VARIANTS, MAX_THREADS, type KernelVariant, type KernelOptions } from './runtime/kernels.js';
export { GoogLeNetError, ModelFormatError, InputError, ImageError } from './errors.js';
export { buildGoogLeNet } from './graph/googlenet.js';
export {
  createHandler, DEFAULT_MAX_BODY_BYTES, DEFAULT_SERVE_IMAGE_LIMITS,
  type Handler, type HandlerOptions, type ClassifyResponse, type ModelInfoResponse, type ErrorResponse,
} from './serve/handler.js';
export type * from './graph/ir.js';
