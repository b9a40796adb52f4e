// The kernel ABI: every argument is a byte offset into this module's memory or a plain number.
// The TypeScript runtime plans the memory (weights, activations, scratch) above heapBase().

export { GEMM_MR, GEMM_NR, INSTANCE_SCRATCH_BYTES, packGemmWeights, useInstanceScratch } from './gemm';
export {
  conv2dShare, conv2dInt8QuantiseShare, conv2dInt8Share, convScratchBytes,
  conv2dPointwiseGroupShare, conv2dInt8PointwiseGroupShare, GROUP_MEMBER_BYTES,
} from './conv';
export { winogradConvShare, winogradScratchBytes, winogradTransformWeights, winogradWeightBytes } from './winograd';
export {
  winogradConvInt8Share, winogradInt8ScratchBytes, winogradInt8TransformWeights, winogradInt8WeightBytes,
  WINOGRAD_INT8_MAX_CHANNELS,
} from './winograd-int8';
export { maxPool2dShare, maxPoolScratchBytes, averagePool2d, globalAveragePool } from './pool';
export { dense, denseInt8, lrn, relu } from './dense';
export { int8WeightBytes, packInt8Weights, activationRange, quantiseActivations } from './gemm-int8';
export { probeInt8Dot } from './probe';

/** First byte the runtime may use; everything below holds this module's static data. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

/** Which build this is (0 scalar, 1 simd, 2 relaxed-simd), so that a bare WebAssembly.Module identifies itself. */
export function kernelVariant(): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return 2;
  if (ASC_FEATURE_SIMD) return 1;
  return 0;
}
