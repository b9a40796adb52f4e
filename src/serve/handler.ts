/**
 * A loaded model behind HTTP, as a fetch-style handler `(Request) => Promise<Response>`. It uses only
 * web-standard APIs (Request, Response, URL, FormData, ReadableStream, performance), so the same function is
 * the whole server in Cloudflare Workers, Deno.serve, Bun.serve and the browser; Node adapts it in
 * src/cli/node-http.ts.
 *
 * Concurrency: one model instance serves every request safely without a queue. All the awaiting (reading and
 * parsing the body) happens before the model is touched, and model.classify() is synchronous: it writes the
 * input into the wasm memory, runs every layer and copies the output out without ever yielding to the event
 * loop. So no two requests can be inside the shared wasm memory (arena, scratch) at the same time, and nothing
 * per-request is kept across an await.
 */

import { ImageError, InputError } from '../errors.js';
import { resolveImageLimits, type ImageLimits } from '../image/raw-image.js';
import type { Prediction } from '../runtime/classify.js';
import type { Model, Precision, TensorInfo } from '../runtime/model.js';
import type { KernelVariant } from '../runtime/kernels.js';
import { readStreamCapped } from '../runtime/read-capped.js';

export interface HandlerOptions {
  /** The name responses give as `model` (default `googlenet`). */
  modelName?: string;
  /** The largest request body accepted, in bytes (default 5 MiB); larger ones get 413 without being read. */
  maxBodyBytes?: number;
  /**
   * The largest image decoded (default 8192 pixels per side, 16 Mi pixels, 64 MiB of decoder memory: a 5 MiB
   * JPEG can claim far more pixels than a classifier needs, and decoding allocates for all of them).
   */
  imageLimits?: ImageLimits;
  /** Classes per response when the request gives no `?top=` (default 5). */
  defaultTop?: number;
  /** Told about unexpected errors, which answer 500 with a generic message (default: console.error). */
  onError?: (error: unknown, request: Request) => void;
}

export type Handler = (request: Request) => Promise<Response>;

/** The body of a 200 answer to POST /classify. */
export interface ClassifyResponse {
  predictions: Prediction[];
  model: string;
  precision: Precision;
  /** Milliseconds spent decoding, preprocessing and running the model (not reading the body). */
  ms: number;
}

/** The body of GET /. */
export interface ModelInfoResponse {
  model: string;
  precision: Precision;
  variant: KernelVariant;
  /** Threads that share each convolution. */
  threads: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  params: number;
  macs: number;
  /** The model file's class names; absent for models without labels (answers say `class N`). */
  labels?: string[];
  maxBodyBytes: number;
  endpoints: Record<string, string>;
}

/** The body of every answer that is not 2xx. */
export interface ErrorResponse {
  error: string;
}

export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;
export const DEFAULT_SERVE_IMAGE_LIMITS: Required<ImageLimits> = {
  maxSide: 8192, maxPixels: 16 * 1024 * 1024, maxMemoryBytes: 64 * 1024 * 1024,
};
const DEFAULT_TOP = 5;

const IMAGE_TYPES = ['image/png', 'image/jpeg'];
const MULTIPART_TYPE = 'multipart/form-data';
const IMAGE_FIELD = 'image';

const ENDPOINTS = {
  'GET /': 'this description of the model',
  'GET /healthz': 'liveness: {"status":"ok"}',
  'POST /classify': `an image/png or image/jpeg body, or ${MULTIPART_TYPE} with an "${IMAGE_FIELD}" file field; ?top=K`,
};

/** An answer decided on the way (bad request, too large, …), thrown to leave the route early. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

type Route = (request: Request, url: URL) => Promise<Response> | Response;

/**
 * Routes: GET / (model info), GET /healthz, POST /classify (see ClassifyResponse). HEAD is answered like GET
 * without a body; OPTIONS with 204 and an Allow header. Every other answer is JSON; errors are
 * `{ "error": "…" }`: 400 bad image or query, 404 unknown path, 405 wrong method (with Allow), 413 body too
 * large, 415 unsupported Content-Type, 500 only for unexpected failures (logged through onError).
 */
export function createHandler(model: Model, options: HandlerOptions = {}): Handler {
  const {
    modelName = 'googlenet', maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
    defaultTop = DEFAULT_TOP, onError = (error: unknown) => console.error('googlenet handler:', error),
  } = options;
  // A partial imageLimits changes only the limits it names; the others keep the server's defaults.
  const imageLimits = resolveImageLimits(options.imageLimits, DEFAULT_SERVE_IMAGE_LIMITS);
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new InputError(`maxBodyBytes must be a positive integer, not ${maxBodyBytes}`);
  }
  if (!Number.isSafeInteger(defaultTop) || defaultTop < 1) {
    throw new InputError(`defaultTop must be a positive integer, not ${defaultTop}`);
  }

  const { info, metadata } = model;
  const description: ModelInfoResponse = {
    model: modelName, precision: info.precision, variant: info.variant, threads: info.threads, inputs: info.inputs, outputs: info.outputs,
    params: info.params, macs: info.macs, ...(metadata?.labels && { labels: metadata.labels }),
    maxBodyBytes, endpoints: ENDPOINTS,
  };

  const classifyRoute: Route = async (request, url) => {
    const topK = parseTop(url.searchParams.get('top'), defaultTop);
    const image = await readImage(request, maxBodyBytes);
    const started = performance.now();
    const predictions = model.classify(image, { topK, limits: imageLimits });
    const ms = Math.round((performance.now() - started) * 100) / 100;
    return json(200, { predictions, model: modelName, precision: info.precision, ms } satisfies ClassifyResponse);
  };

  const routes = new Map<string, Partial<Record<'GET' | 'POST', Route>>>([
    ['/', { GET: () => json(200, description) }],
    ['/healthz', { GET: () => json(200, { status: 'ok' }) }],
    ['/classify', { POST: classifyRoute }],
  ]);

  return async (request) => {
    try {
      const url = new URL(request.url);
      const methods = routes.get(url.pathname);
      if (!methods) {
        throw new HttpError(404, `no such path ${url.pathname}; the endpoints are ${Object.keys(ENDPOINTS).join(', ')}`);
      }
      const allowed = [...Object.keys(methods), ...(methods.GET ? ['HEAD'] : []), 'OPTIONS'].join(', ');
      if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: { allow: allowed } });
      const route = methods[(request.method === 'HEAD' ? 'GET' : request.method) as 'GET' | 'POST'];
      if (!route) {
        throw new HttpError(405, `${request.method} is not allowed on ${url.pathname} (allowed: ${allowed})`, { allow: allowed });
      }
      const response = await route(request, url);
      return request.method === 'HEAD' ? withoutBody(response) : response;
    } catch (error) {
      if (error instanceof HttpError) return json(error.status, { error: error.message }, error.headers);
      if (error instanceof ImageError || error instanceof InputError) return json(400, { error: error.message });
      onError(error, request);
      return json(500, { error: 'internal error' });
    }
  };
}

/** `?top=K`: absent → the default; otherwise a positive integer in plain digits (more than the classes: all). */
function parseTop(value: string | null, defaultTop: number): number {
  if (value === null) return defaultTop;
  if (!/^[1-9][0-9]*$/.test(value)) throw new HttpError(400, `top must be a positive integer, not "${value}"`);
  return Number(value);
}

/** The image bytes of a POST /classify: the body itself, or the `image` field of a multipart form. */
async function readImage(request: Request, maxBytes: number): Promise<Uint8Array> {
  const contentType = request.headers.get('content-type') ?? '';
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  if (!IMAGE_TYPES.includes(mediaType) && mediaType !== MULTIPART_TYPE) {
    const given = mediaType ? `Content-Type ${mediaType}` : 'no Content-Type';
    throw new HttpError(415, `unsupported ${given}; send ${IMAGE_TYPES.join(' or ')}, or ${MULTIPART_TYPE} with an "${IMAGE_FIELD}" file field`);
  }
  const body = await readBody(request, maxBytes);
  if (mediaType !== MULTIPART_TYPE) return body;

  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new HttpError(400, `the ${MULTIPART_TYPE} body is malformed (check its boundary)`);
  }
  const field = form.get(IMAGE_FIELD);
  if (field === null) throw new HttpError(400, `the form has no "${IMAGE_FIELD}" field`);
  if (typeof field === 'string') throw new HttpError(400, `the form's "${IMAGE_FIELD}" field must be a file, not text`);
  return new Uint8Array(await field.arrayBuffer());
}

/**
 * The whole body, read chunk by chunk and abandoned as soon as it passes `maxBytes` (Content-Length can be
 * absent or wrong, e.g. with chunked uploads); a Content-Length over the maximum is refused before reading.
 */
async function readBody(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () => new HttpError(413, `the request body is larger than the limit of ${maxBytes} bytes`);
  if (Number(request.headers.get('content-length')) > maxBytes) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  try {
    return await readStreamCapped(request.body, maxBytes, tooLarge);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, 'the request body could not be read (the upload was interrupted)');
  }
}

/** The answer to HEAD: GET's status and headers, with the Content-Length of GET's body but no body. */
async function withoutBody(response: Response): Promise<Response> {
  const headers = new Headers(response.headers);
  headers.set('content-length', String((await response.arrayBuffer()).byteLength));
  return new Response(null, { status: response.status, headers });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}
