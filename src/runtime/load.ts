import { GoogLeNetError, ModelFormatError } from '../errors.js';
import { decodeModelFile, isModelFile, type ModelFileMetadata } from '../format/model-file.js';
import type { Graph } from '../graph/ir.js';
import { importOnnx } from '../onnx/import.js';
import { readDefaultModel } from './default-model.js';
import { loadKernels, type KernelOptions } from './kernels.js';
import { Model, type Precision } from './model.js';

/** ONNX or model-file bytes (told apart by their first bytes), or an IR graph. */
export type ModelSource = Uint8Array | ArrayBuffer | Graph;
export const PRECISIONS = ['auto', 'f32', 'int8'] as const;

export interface LoadOptions extends KernelOptions {
  /**
   * 'int8' runs the convolutions on int8 weights and 8-bit activations; 'f32' runs everything in f32; 'auto'
   * (the default) follows the model: int8 for a model file with int8 weights, f32 otherwise.
   */
  precision?: (typeof PRECISIONS)[number];
}

export interface LoadedModel {
  model: Model;
  /** What a model file carries besides the graph (labels, preprocessing, …); undefined for ONNX and graphs. */
  metadata?: ModelFileMetadata;
}

/**
 * Loads a model from ONNX or model-file bytes (or an IR graph), picks the best kernel build this host runs
 * correctly and lays out its memory. Without a source (undefined), loads the package's default model, the
 * seed GoogLeNet trained on Fashion-MNIST. Throws ModelFormatError for malformed or unsupported models.
 */
export async function loadModel(source?: ModelSource, options: LoadOptions = {}): Promise<Model> {
  return (await loadModelWithMetadata(source, options)).model;
}

/** loadModel(), also returning the metadata of a model file. */
export async function loadModelWithMetadata(source?: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  const { precision = 'auto' } = options;
  if (!PRECISIONS.includes(precision)) {
    throw new GoogLeNetError(`unknown precision "${precision}" (expected one of ${PRECISIONS.join(', ')})`);
  }
  const { graph, metadata } = toGraph(source ?? (await readDefaultModel()));
  const kernels = await loadKernels(options);
  const resolved: Precision = precision === 'auto' ? (metadata?.weights === 'int8' ? 'int8' : 'f32') : precision;
  const execution = { precision: resolved, activationRanges: metadata?.activationRanges };
  return { model: new Model(graph, kernels, execution, metadata), metadata };
}

function toGraph(source: ModelSource): { graph: Graph; metadata?: ModelFileMetadata } {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
  if (bytes instanceof Uint8Array) {
    if (!isModelFile(bytes)) return { graph: importOnnx(bytes) };
    const { graph, ...metadata } = decodeModelFile(bytes);
    return { graph, metadata };
  }
  if (bytes && typeof bytes === 'object' && Array.isArray(bytes.nodes)) return { graph: bytes };
  throw new ModelFormatError('model source must be model bytes (Uint8Array or ArrayBuffer) or a graph');
}
