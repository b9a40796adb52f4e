import { GoogLeNetError, ModelFormatError } from '../errors.js';
import { decodeModelFile, isModelFile, type ModelFileMetadata } from '../format/model-file.js';
import type { Graph } from '../graph/ir.js';
import { readDefaultModel } from './default-model.js';
import { loadKernels, type KernelOptions, type Kernels } from './kernels.js';
import { checkModelBytes, checkModelGraph, resolveModelLimits, type ModelLimits } from './limits.js';
import { releaseBytes } from './read-capped.js';
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
  if (bytes instanceof Uint8Array) checkModelBytes(bytes.byteLength, limits);
  if (bytes instanceof Uint8Array && isModelFile(bytes)) {
    // The kernels load first, so that no other code runs between decoding and the Model copying the weights
    // into its memory: the decoded weights are views into the file's bytes, not copies of its megabytes.
    return withKernels(await loadKernels(options), (kernels) => {
      const { graph, ...metadata } = decodeModelFile(bytes, { viewWeights: true });
      checkModelGraph(graph, limits);
      return { model: new Model(graph, kernels, execution(precision, metadata), metadata), metadata };
    });
  }
  if (bytes instanceof Uint8Array) {
    // The ONNX importer (and protobufjs, half the package's JavaScript) loads only when an ONNX file comes:
    // model files, the Workers' and web app's format, start without it. As for model files, the kernels load
    // first and the weights stay in the file's bytes until the Model copies them.
    const { importOnnx } = await import('../onnx/import.js');
    return withKernels(await loadKernels(options), (kernels) => {
      const graph = importOnnx(bytes, { viewWeights: true });
      checkModelGraph(graph, limits);
      return { model: new Model(graph, kernels, execution(precision)) };
    });
  }
  const graph = graphSource(bytes);
  checkModelGraph(graph, limits);
  return withKernels(await loadKernels(options), (kernels) => ({ model: new Model(graph, kernels, execution(precision)) }));
}

/** Runs `build`; should it throw, stops the kernels' extra threads first, which would otherwise keep the process alive. */
function withKernels<T>(kernels: Kernels, build: (kernels: Kernels) => T): T {
  try {
    return build(kernels);
  } catch (error) {
    kernels.parallel.close();
    throw error;
  }
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
