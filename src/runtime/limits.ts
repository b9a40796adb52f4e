/**
 * How large a model loadModel() accepts, checked before the runtime allocates for it: the file before it is
 * parsed, the graph's tensors and activation arena before any wasm memory is grown. The defaults fit a 128 MB
 * Cloudflare Worker with room to spare and admit the 224² GoogLeNets (largest tensor ~1.8 M elements counting
 * the unfolded input of the first convolution, arena ~4.8 MB, f32 ONNX file ~28 MB).
 */

import { ModelFormatError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { planMemory } from '../graph/plan.js';
import { elementCount, formatDims, inferShapes } from '../graph/shapes.js';

export interface ModelLimits {
  /** Bytes of the model file (ONNX or model file) or of the response that carries it (default 48 MiB). */
  maxModelBytes?: number;
  /**
   * Elements of any one tensor: a weight, an activation, or the unfolded (im2col) input of a convolution, which
   * is as large as the convolution's input × kernel taps per output pixel (default 8 Mi, 32 MiB in f32). The
   * kernels unfold it a band at a time, but its size still measures the convolution's work and bounds its 32-bit
   * offsets.
   */
  maxTensorElements?: number;
  /** Bytes of the activation arena, every intermediate tensor as the planner lays them out (default 32 MiB). */
  maxArenaBytes?: number;
}

export const DEFAULT_MODEL_LIMITS: Required<ModelLimits> = {
  maxModelBytes: 48 * 2 ** 20,
  maxTensorElements: 8 * 2 ** 20,
  maxArenaBytes: 32 * 2 ** 20,
};

/** The limits with the defaults filled in; throws ModelFormatError for a limit that is no positive number. */
export function resolveModelLimits(limits: ModelLimits = {}): Required<ModelLimits> {
  const resolved = { ...DEFAULT_MODEL_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!(typeof value === 'number' && value > 0)) throw new ModelFormatError(`limits.${name} must be a positive number, not ${value}`);
  }
  return resolved;
}

export function checkModelBytes(byteLength: number, { maxModelBytes }: Required<ModelLimits>): void {
  if (byteLength > maxModelBytes) {
    throw new ModelFormatError(`the model is ${byteLength} bytes, more than the limit of ${maxModelBytes} (limits.maxModelBytes)`);
  }
}

/** Throws ModelFormatError naming the first tensor or the arena that is over `limits`. */
export function checkModelGraph(graph: Graph, { maxTensorElements, maxArenaBytes }: Required<ModelLimits>): void {
  const shapes = inferShapes(graph);
  const tooLarge = (what: string, elements: number) => new ModelFormatError(
    `${what} has ${elements} elements, more than the limit of ${maxTensorElements} (limits.maxTensorElements)`,
  );
  for (const [name, { dims }] of graph.weights) {
    if (elementCount(dims) > maxTensorElements) throw tooLarge(`weight "${name}" ${formatDims(dims)}`, elementCount(dims));
  }
  for (const [name, dims] of shapes) {
    if (elementCount(dims) > maxTensorElements) throw tooLarge(`tensor "${name}" ${formatDims(dims)}`, elementCount(dims));
  }
  for (const node of graph.nodes) {
    if (node.op !== 'Conv') continue;
    const [, channels] = shapes.get(node.inputs[0])!;
    const [, , height, width] = shapes.get(node.output)!;
    const unfolded = channels * node.kernel[0] * node.kernel[1] * height * width;
    if (unfolded > maxTensorElements) throw tooLarge(`the unfolded input of convolution "${node.name}"`, unfolded);
  }
  const { arenaBytes } = planMemory(graph, shapes);
  if (arenaBytes > maxArenaBytes) {
    throw new ModelFormatError(`the model's activations need ${arenaBytes} bytes, more than the limit of ${maxArenaBytes} (limits.maxArenaBytes)`);
  }
}
