import { GoogLeNetError, ModelFormatError } from '../errors.js';
import { decodeModelFile, isModelFile, type ModelFileMetadata } from '../format/model-file.js';
import type { Graph } from '../graph/ir.js';
import { readDefaultModel } from './default-model.js';
import { loadKernels, type KernelOptions, type Kernels } from './kernels.js';
import { checkModelBytes, checkModelGraph, resolveModelLimits, type ModelLimits } from './limits.js';
import { releaseBytes } from './read-capped.js';
import { warmUpKernels } from './warm-up.js';
import { readPath, readUrl } from './package-files.js';
import { Model, type ExecutionOptions, type Precision } from './model.js';

/**
 * ONNX or model-file bytes (told apart by their first bytes), a URL to fetch them from (file: URLs are read
 * from disk on Node, Bun and Deno), a file path (Node, Bun and Deno), or an IR graph.
 */
export type ModelSource = Uint8Array | ArrayBuffer | URL | string | Graph;
export const PRECISIONS = ['auto', 'f32', 'int8'] as const;

export interface LoadOptions extends KernelOptions {
  /**
   * 'int8' runs the convolutions on int8 weights and 8-bit activations, and dense layers on int8 weights over
   * float32 activations; 'f32' runs everything in f32; 'auto' (the default) follows the model: int8 for a
   * model file with int8 weights, f32 otherwise.
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
  const resolved = await readSource(source, limits.maxModelBytes);
  const bytes = resolved instanceof ArrayBuffer ? new Uint8Array(resolved) : resolved;
  // Bytes read here (from a path, a URL or the package) are nobody else's: once the model holds its weights,
  // their memory goes back at once instead of staying resident until a garbage collection.
  const readHere = source === undefined || source instanceof URL || typeof source === 'string';
  try {
    return await modelFrom(bytes, options, precision, limits);
  } finally {
    if (readHere) releaseBytes(bytes as Uint8Array);
  }
}

async function modelFrom(
  bytes: Uint8Array | Graph, options: LoadOptions, precision: LoadOptions['precision'] & string, limits: Required<ModelLimits>,
): Promise<LoadedModel> {
  const decode = await decoderOf(bytes, limits);
  // The kernels load first, so that no other code runs between decoding and the Model copying the weights into
  // its memory (everything in between is synchronous): a model file's weights and an ONNX file's raw floats are
  // views into its bytes, not copies.
  const kernels = await loadKernels(options);
  try {
    const { graph, metadata } = decode();
    checkModelGraph(graph, limits);
    const executionOptions = execution(precision, metadata);
    // The engine optimises the kernels in the background while the Model lays out and packs the weights.
    warmUpKernels(kernels, executionOptions.precision);
    return { model: new Model(graph, kernels, executionOptions, metadata), metadata };
  } catch (error) {
    kernels.parallel.close(); // the extra threads, which would otherwise stay alive
    throw error;
  }
}

/** How to get the graph (and a model file's metadata) out of the source, once the kernels are ready. */
async function decoderOf(bytes: Uint8Array | Graph, limits: Required<ModelLimits>): Promise<() => { graph: Graph; metadata?: ModelFileMetadata }> {
  if (!(bytes instanceof Uint8Array)) {
    const graph = graphSource(bytes);
    return () => ({ graph });
  }
  checkModelBytes(bytes.byteLength, limits);
  if (isModelFile(bytes)) {
    return () => {
      const { graph, ...metadata } = decodeModelFile(bytes, { viewWeights: true });
      return { graph, metadata };
    };
  }
  // The ONNX importer (and protobufjs, half the package's JavaScript) loads only when an ONNX file comes: model
  // files, the Workers' and web app's format, start without it.
  const { importOnnx } = await import('../onnx/import.js');
  return () => ({ graph: importOnnx(bytes, { viewWeights: true }) });
}

function execution(precision: LoadOptions['precision'] & string, metadata?: ModelFileMetadata): ExecutionOptions {
  const resolved: Precision = precision === 'auto' ? (metadata?.weights === 'int8' ? 'int8' : 'f32') : precision;
  return { precision: resolved, activationRanges: metadata?.activationRanges };
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

function graphSource(source: unknown): Graph {
  if (source && typeof source === 'object' && Array.isArray((source as Graph).nodes)) return source as Graph;
  throw new ModelFormatError('model source must be model bytes (Uint8Array or ArrayBuffer), a URL, a path or a graph');
}
