import { ModelFormatError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { importOnnx } from '../onnx/import.js';
import { loadKernels, type KernelOptions } from './kernels.js';
import { Model } from './model.js';

export type ModelSource = Uint8Array | ArrayBuffer | Graph;
export type LoadOptions = KernelOptions;

/**
 * Loads a model from ONNX bytes (or an IR graph), picks the best kernel build this host runs correctly and
 * lays out its memory. Throws ModelFormatError for malformed or unsupported models.
 */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<Model> {
  const graph = toGraph(source);
  const kernels = await loadKernels(options);
  return new Model(graph, kernels);
}

function toGraph(source: ModelSource): Graph {
  if (source instanceof Uint8Array) return importOnnx(source);
  if (source instanceof ArrayBuffer) return importOnnx(new Uint8Array(source));
  if (source && typeof source === 'object' && Array.isArray((source as Graph).nodes)) return source as Graph;
  throw new ModelFormatError('model source must be ONNX bytes (Uint8Array or ArrayBuffer) or a graph');
}
