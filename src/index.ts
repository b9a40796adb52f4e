export { loadModel, type ModelSource, type LoadOptions } from './runtime/load.js';
export { Model, type ModelInfo, type LayerInfo, type Tensor, type TensorInfo } from './runtime/model.js';
export { KERNEL_VARIANTS, type KernelVariant, type KernelOptions } from './runtime/kernels.js';
export { GoogLeNetError, ModelFormatError, InputError } from './errors.js';
export { buildGoogLeNet } from './graph/googlenet.js';
export type * from './graph/ir.js';
