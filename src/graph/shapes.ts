/**
 * Shape inference over the IR, which doubles as its consistency check: every mismatch between a node, its
 * inputs and its weights is a ModelFormatError naming the node. Shapes include the batch dimension (always 1).
 */
import { ModelFormatError } from '../errors.js';
import type { ConcatNode, ConvNode, DenseNode, Graph, Node, Pads, Pair, PoolNode, ReshapeNode, Weight } from './ir.js';

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((count, dim) => count * dim, 1);
}

export function formatDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/** The shape of every graph input and node output, keyed by tensor name. */
export function inferShapes(graph: Graph): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const input of graph.inputs) {
    if (shapes.has(input.name)) throw new ModelFormatError(`graph input "${input.name}" is listed twice`);
    if (input.dims[0] !== 1 || !input.dims.every((dim) => Number.isInteger(dim) && dim > 0)) {
      const shape = formatDims(input.dims);
      throw new ModelFormatError(`graph input "${input.name}" has shape ${shape}; expected positive sizes and batch 1`);
    }
    shapes.set(input.name, input.dims);
  }
  for (const node of graph.nodes) {
    if (shapes.has(node.output)) fail(node, `output "${node.output}" is already produced elsewhere`);
    shapes.set(node.output, nodeOutputShape(node, shapes, graph.weights));
  }
  for (const output of graph.outputs) {
    if (!shapes.has(output)) throw new ModelFormatError(`graph output "${output}" is not produced by any node`);
  }
  return shapes;
}

/** The output shape of one node whose inputs are already in `shapes`; checks the node against its weights. */
export function nodeOutputShape(
  node: Node, shapes: ReadonlyMap<string, number[]>, weights: ReadonlyMap<string, Weight>,
): number[] {
  if (node.op === 'Concat') return concatShape(node, shapes);
  if (node.inputs.length !== 1) fail(node, `expected 1 input, got ${node.inputs.length}`);
  const input = inputShape(node, node.inputs[0], shapes);
  switch (node.op) {
    case 'Conv':
      return convShape(node, input, weights);
    case 'MaxPool':
    case 'AveragePool':
      return poolShape(node, input);
    case 'GlobalAveragePool': {
      const [, channels] = requireRank(node, input, 4);
      return [1, channels, 1, 1];
    }
    case 'LRN':
      if (!(node.size >= 1)) fail(node, `size must be at least 1, got ${node.size}`);
      // The kernel raises bias + α/size · Σx² to the power β by square roots or through exp and ln (assembly/dense.ts),
      // for a positive base, which a positive bias makes it unless α < 0.
      if (!(node.bias > 0)) fail(node, `bias must be positive, got ${node.bias}`);
      return requireRank(node, input, 4);
    case 'Dense':
      return denseShape(node, input, weights);
    case 'BatchNormalization':
      for (const param of [node.scale, node.shift, node.mean, node.variance]) {
        requireVector(node, weights, param, channelsOf(node, input));
      }
      return input;
    case 'BiasAdd':
      requireVector(node, weights, node.bias, channelsOf(node, input));
      return input;
    case 'Reshape':
      return reshapeShape(node, input);
    case 'Relu':
    case 'Softmax':
      return input;
  }
}

function fail(node: Node, message: string): never {
  throw new ModelFormatError(`node "${node.name}" (${node.op}): ${message}`);
}

function inputShape(node: Node, name: string, shapes: ReadonlyMap<string, number[]>): number[] {
  const dims = shapes.get(name);
  if (!dims) fail(node, `input "${name}" is neither a graph input nor produced by an earlier node`);
  return dims;
}

function requireRank(node: Node, dims: number[], rank: number): number[] {
  if (dims.length !== rank) fail(node, `expected a ${rank}-D input, got ${formatDims(dims)}`);
  return dims;
}

function channelsOf(node: Node, dims: number[]): number {
  if (dims.length < 2) fail(node, `expected an input with a channel axis, got ${formatDims(dims)}`);
  return dims[1];
}

function weightOf(node: Node, weights: ReadonlyMap<string, Weight>, name: string): Weight {
  const weight = weights.get(name);
  if (!weight) fail(node, `weight "${name}" is missing`);
  // Counted as stored: an int8 weight is not dequantized for this, nor an ONNX file's raw floats copied.
  const count = weight.int8?.values.length ?? (weight.float32Bytes ? weight.float32Bytes.length / 4 : weight.data.length);
  if (count !== elementCount(weight.dims)) fail(node, `weight "${name}" has ${count} values but shape ${formatDims(weight.dims)}`);
  return weight;
}

function requireVector(node: Node, weights: ReadonlyMap<string, Weight>, name: string, length: number): void {
  const { dims } = weightOf(node, weights, name);
  if (dims.length !== 1 || dims[0] !== length) {
    fail(node, `weight "${name}" must have shape [${length}], got ${formatDims(dims)}`);
  }
}

function convShape(node: ConvNode, input: number[], weights: ReadonlyMap<string, Weight>): number[] {
  const [, channels, height, width] = requireRank(node, input, 4);
  const { dims } = weightOf(node, weights, node.weight);
  if (dims.length !== 4) fail(node, `weight "${node.weight}" must be 4-D [out, in, kH, kW], got ${formatDims(dims)}`);
  const [outChannels, inChannels, kernelH, kernelW] = dims;
  if (inChannels !== channels) {
    fail(node, `weight "${node.weight}" expects ${inChannels} input channels, the input has ${channels}`);
  }
  if (kernelH !== node.kernel[0] || kernelW !== node.kernel[1]) {
    fail(node, `kernel ${formatDims(node.kernel)} does not match weight "${node.weight}" ${formatDims(dims)}`);
  }
  if (node.bias !== undefined) requireVector(node, weights, node.bias, outChannels);
  checkWindow(node, node.kernel, node.stride, node.pads);
  return [1, outChannels, ...outputSizes(node, [height, width], false)];
}

function poolShape(node: PoolNode, input: number[]): number[] {
  const [, channels, height, width] = requireRank(node, input, 4);
  checkWindow(node, node.kernel, node.stride, node.pads);
  // A window made of padding only would have no value to take (max) or nothing to divide by (average).
  if (node.pads.some((pad, i) => pad >= node.kernel[i % 2])) {
    fail(node, `pads ${formatDims(node.pads)} must be smaller than the kernel ${formatDims(node.kernel)}`);
  }
  return [1, channels, ...outputSizes(node, [height, width], node.ceilMode)];
}

function checkWindow(node: ConvNode | PoolNode, kernel: Pair, stride: Pair, pads: Pads): void {
  const positive = (values: number[]) => values.every((value) => Number.isInteger(value) && value >= 1);
  if (!positive(kernel)) fail(node, `kernel ${formatDims(kernel)} must be positive`);
  if (!positive(stride)) fail(node, `strides ${formatDims(stride)} must be positive`);
  if (!pads.every((pad) => Number.isInteger(pad) && pad >= 0)) {
    fail(node, `pads ${formatDims(pads)} must not be negative`);
  }
}

/** Output height and width of a sliding window, with ONNX's floor or ceil rounding. */
function outputSizes(node: ConvNode | PoolNode, [height, width]: Pair, ceilMode: boolean): Pair {
  const [top, left, bottom, right] = node.pads;
  const sizes: Pair = [
    slidingOutputSize(height, node.kernel[0], node.stride[0], top, bottom, ceilMode),
    slidingOutputSize(width, node.kernel[1], node.stride[1], left, right, ceilMode),
  ];
  if (sizes.some((size) => size < 1)) {
    fail(node, `the ${node.kernel.join('x')} window does not fit the padded ${height}x${width} input`);
  }
  return sizes;
}

/** Output extent of a sliding window (convolution or pool) along one axis, in floor or ceil mode. */
export function slidingOutputSize(
  size: number, kernel: number, stride: number, padBegin: number, padEnd: number, ceilMode: boolean,
): number {
  const span = size + padBegin + padEnd - kernel;
  if (!ceilMode) return Math.floor(span / stride) + 1;
  const count = Math.ceil(span / stride) + 1;
  // As in PyTorch and onnxruntime, a last window starting in the end padding is dropped.
  return (count - 1) * stride >= size + padBegin ? count - 1 : count;
}

function concatShape(node: ConcatNode, shapes: ReadonlyMap<string, number[]>): number[] {
  if (node.inputs.length === 0) fail(node, 'expected at least 1 input');
  const inputs = node.inputs.map((name) => requireRank(node, inputShape(node, name, shapes), 4));
  const [, , height, width] = inputs[0];
  for (const [i, dims] of inputs.entries()) {
    if (dims[2] !== height || dims[3] !== width) {
      fail(node, `input "${node.inputs[i]}" is ${dims[2]}x${dims[3]}, input "${node.inputs[0]}" is ${height}x${width}`);
    }
  }
  const channels = inputs.reduce((sum, dims) => sum + dims[1], 0);
  return [1, channels, height, width];
}

function denseShape(node: DenseNode, input: number[], weights: ReadonlyMap<string, Weight>): number[] {
  const { dims } = weightOf(node, weights, node.weight);
  if (dims.length !== 2) fail(node, `weight "${node.weight}" must be 2-D [out, in], got ${formatDims(dims)}`);
  const [outFeatures, inFeatures] = dims;
  const features = elementCount(input.slice(1));
  if (inFeatures !== features) {
    const mismatch = `expects ${inFeatures} input features, the input ${formatDims(input)} has ${features}`;
    fail(node, `weight "${node.weight}" ${mismatch}`);
  }
  if (node.bias !== undefined) requireVector(node, weights, node.bias, outFeatures);
  return [1, outFeatures];
}

function reshapeShape(node: ReshapeNode, input: number[]): number[] {
  const { dims } = node;
  if (dims[0] !== 1 || !dims.every((dim) => Number.isInteger(dim) && dim > 0)) {
    fail(node, `shape ${formatDims(dims)} must have positive sizes and keep the batch dimension (1) first`);
  }
  if (elementCount(dims) !== elementCount(input)) {
    fail(node, `cannot reshape ${formatDims(input)} into ${formatDims(dims)}`);
  }
  return dims;
}
