/**
 * The graph IR: what the ONNX importer and the model-file reader produce, what the optimiser rewrites and what
 * the planner and executor consume. Tensors are NCHW float32; every shape is per sample (batch dimension 1),
 * the executor loops over the batch.
 */

/** Kernel height and width, or stride along height and width. */
export type Pair = [number, number];
/** Zero padding in pixels: top, left, bottom, right (ONNX order is [top, left, bottom, right] too). */
export type Pads = [number, number, number, number];

export interface TensorSpec {
  name: string;
  /** Full shape with the batch dimension first (always 1 inside the IR). */
  dims: number[];
}

/** Symmetric per-output-channel int8 values (see format/quantize.ts): w ≈ values[i] · scales[channel of i]. */
export interface QuantizedWeight {
  values: Int8Array;
  /** One float32 scale per output channel, always finite and positive. */
  scales: Float32Array;
}

export interface Weight {
  dims: number[];
  /** The values in float32; an int8 weight computes them when first read. */
  readonly data: Float32Array;
  /** An int8 model file's weight as stored: the int8 path packs it without going through float32. */
  readonly int8?: QuantizedWeight;
  /**
   * The float32 values as stored in an ONNX file: little-endian bytes at any alignment, which the runtime copies
   * into its memory as they are (`data` is an aligned copy made when first read). The runtime prefers `int8` and
   * this to `data`: a weight derived from another one must not carry them over.
   */
  readonly float32Bytes?: Uint8Array;
}

interface NodeBase {
  /** Unique, human-readable (ONNX node name or a generated one); used in errors and `inspect`. */
  name: string;
  inputs: string[];
  output: string;
}

export interface ConvNode extends NodeBase {
  op: 'Conv';
  /** Weight tensor [outChannels, inChannels, kernelH, kernelW]. */
  weight: string;
  /** Bias tensor [outChannels], optional. */
  bias?: string;
  kernel: Pair;
  stride: Pair;
  pads: Pads;
  /** ReLU fused into the epilogue. */
  relu: boolean;
}

export interface PoolNode extends NodeBase {
  op: 'MaxPool' | 'AveragePool';
  kernel: Pair;
  stride: Pair;
  pads: Pads;
  ceilMode: boolean;
  /** AveragePool only: divide by the full window including padding. */
  countIncludePad: boolean;
}

export interface GlobalAveragePoolNode extends NodeBase {
  op: 'GlobalAveragePool';
}

export interface ReluNode extends NodeBase {
  op: 'Relu';
}

/** Concatenation along the channel axis (axis 1). */
export interface ConcatNode extends NodeBase {
  op: 'Concat';
}

/** Local response normalisation across channels, ONNX semantics. */
export interface LrnNode extends NodeBase {
  op: 'LRN';
  size: number;
  alpha: number;
  beta: number;
  bias: number;
}

/** Fully connected: y = x · Wᵀ + b, x flattened to [1, inFeatures]. */
export interface DenseNode extends NodeBase {
  op: 'Dense';
  /** Weight tensor [outFeatures, inFeatures]. */
  weight: string;
  bias?: string;
  relu: boolean;
}

/** Inference-mode batch normalisation; the optimiser folds it into the preceding Conv. */
export interface BatchNormNode extends NodeBase {
  op: 'BatchNormalization';
  scale: string;
  shift: string;
  mean: string;
  variance: string;
  epsilon: number;
}

/** Adds a constant per-channel (or per-feature) bias; the optimiser folds it into the preceding Conv/Dense. */
export interface BiasAddNode extends NodeBase {
  op: 'BiasAdd';
  bias: string;
}

/** A view with another shape; no data moves. `dims` includes the batch dimension (1). */
export interface ReshapeNode extends NodeBase {
  op: 'Reshape';
  dims: number[];
}

/** Softmax over the last axis. */
export interface SoftmaxNode extends NodeBase {
  op: 'Softmax';
}

export type Node =
  | ConvNode
  | PoolNode
  | GlobalAveragePoolNode
  | ReluNode
  | ConcatNode
  | LrnNode
  | DenseNode
  | BatchNormNode
  | BiasAddNode
  | ReshapeNode
  | SoftmaxNode;

export type OpType = Node['op'];

export interface Graph {
  inputs: TensorSpec[];
  /** Names of the graph outputs, in order. */
  outputs: string[];
  /** Topologically sorted. */
  nodes: Node[];
  weights: Map<string, Weight>;
}
