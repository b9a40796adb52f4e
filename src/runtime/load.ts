import { GoogLeNetError, ModelFormatError } from '../errors.js';
import { decodeModelFile, isModelFile, type ModelFileMetadata } from '../format/model-file.js';
import type { Graph } from '../graph/ir.js';
import { readDefaultModel } from './default-model.js';
import { loadKernels, type KernelOptions } from './kernels.js';
import { checkModelBytes, checkModelGraph, resolveModelLimits, type ModelLimits } from './limits.js';
import { readPath, readUrl } from './package-files.js';
import { Model, type Precision } from './model.js';

/**
 * ONNX or model-file bytes (told apart by their first bytes), a URL to fetch them from (file: URLs are read
 * from disk on Node, Bun and Deno), a file path (Node, Bun and Deno), or an IR graph.
 */
export type ModelSource = Uint8Array | ArrayBuffer | URL | string | Graph;
export const PRECISIONS = ['auto', 'f32', 'int8'] as const;

export interface LoadOptions extends KernelOptions {
  /**
   * 'int8' runs the convolutions on int8 weights and 8-bit activations; 'f32' runs everything in f32; 'auto'
   * (the default) follows the model: int8 for a model file with int8 weights, f32 otherwise.
   */
  precision?: (typeof PRECISIONS)[number];
  /** How large a model to accept (see ModelLimits for the defaults); checked before allocating for it. */
  limits?: ModelLimits;
}

export interface LoadedModel {
  model: Model;
  /** What a model file carries besides the graph (labels, preprocessing, …); undefined for ONNX and graphs. */
  metadata?: ModelFileMetadata;
}

/**
 * Loads a model from ONNX or model-file bytes, a URL or path to them, or an IR graph, picks the best kernel build this host runs
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
  const limits = resolveModelLimits(options.limits);
  const { graph, metadata } = await toGraph(await readSource(source, limits.maxModelBytes), limits);
  checkModelGraph(graph, limits);
  const kernels = await loadKernels(options);
  const resolved: Precision = precision === 'auto' ? (metadata?.weights === 'int8' ? 'int8' : 'f32') : precision;
  const execution = { precision: resolved, activationRanges: metadata?.activationRanges };
  return { model: new Model(graph, kernels, execution, metadata), metadata };
}

/** What a URL or path source stands for: its bytes. */
type ResolvedSource = Exclude<ModelSource, URL | string>;

/** Reads a URL or path source (or the default model, without a source); other sources are returned as they are. */
async function readSource(source: ModelSource | undefined, maxBytes: number): Promise<ResolvedSource> {
  if (source === undefined) return readDefaultModel();
  if (source instanceof URL) return readUrl(source, maxBytes);
  if (typeof source === 'string') return readPath(source, maxBytes);
  return source;
}

async function toGraph(source: ResolvedSource, limits: Required<ModelLimits>): Promise<{ graph: Graph; metadata?: ModelFileMetadata }> {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
  if (bytes instanceof Uint8Array) {
    checkModelBytes(bytes.byteLength, limits);
    if (!isModelFile(bytes)) {
      // The ONNX importer (and protobufjs, half the package's JavaScript) loads only when an ONNX file comes:
      // model files, the Workers' and web app's format, start without it.
      const { importOnnx } = await import('../onnx/import.js');
      return { graph: importOnnx(bytes) };
    }
    const { graph, ...metadata } = decodeModelFile(bytes);
    return { graph, metadata };
  }
  if (bytes && typeof bytes === 'object' && Array.isArray(bytes.nodes)) return { graph: bytes };
  throw new ModelFormatError('model source must be model bytes (Uint8Array or ArrayBuffer), a URL, a path or a graph');
}
