/** createHandler in process: every route, status code and error body, multipart, limits, ?top and concurrency. */

import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createHandler, decodeImage, loadModel, DEFAULT_MAX_BODY_BYTES, InputError,
  type ClassifyResponse, type Handler, type HandlerOptions, type Model, type ModelInfoResponse,
} from '../src/index.js';
import { FASHION_MNIST_LABELS, seededBytes, withPngSize } from './support/image-files.js';
import { SAMPLES } from './support/samples.js';

const ORIGIN = 'http://googlenet.test';

let model: Model;
let handler: Handler;

beforeAll(async () => {
  model = await loadModel();
  handler = createHandler(model, { modelName: 'fmnist' });
});

/** Sends `body` (bytes, a form, or a stream) to `path`; streams go as chunked uploads without a length. */
function request(path: string, init: { method?: string; body?: BodyInit; type?: string; headers?: Record<string, string> } = {}) {
  const headers = new Headers(init.headers);
  if (init.type) headers.set('content-type', init.type);
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  return new Request(`${ORIGIN}${path}`, { method, body: init.body, headers, duplex: 'half' } as RequestInit);
}

async function send(path: string, init?: Parameters<typeof request>[1], using = handler) {
  const response = await using(request(path, init));
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) : undefined };
}

const png = (bytes: Uint8Array) => ({ body: bytes as BodyInit, type: 'image/png' });

/** A sample re-encoded as JPEG (quality 95). */
function sampleAsJpeg(bytes: Uint8Array): Uint8Array {
  const { data, width, height, channels } = decodeImage(bytes);
  const rgba = new Uint8Array(width * height * 4).map((_, i) => (i % 4 === 3 ? 255 : data[Math.floor(i / 4) * channels]));
  return jpeg.encode({ data: rgba, width, height }, 95).data;
}

function imageForm(image: Blob | string, field = 'image'): FormData {
  const form = new FormData();
  form.append(field, image);
  return form;
}

/** A body streamed in `chunkBytes` pieces, waiting `delayMs` before each; records reads and cancellation. */
function slowStream(bytes: Uint8Array, chunkBytes: number, delayMs: () => number, onPull: () => void = () => {}) {
  let offset = 0;
  const state = { cancelled: false, bytesSent: 0 };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, delayMs()));
      onPull();
      if (offset >= bytes.length) return controller.close();
      const chunk = bytes.slice(offset, offset + chunkBytes);
      offset += chunk.length;
      state.bytesSent = offset;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

describe('GET routes', () => {
  it('GET / describes the model, its labels and the endpoints', async () => {
    const { status, headers, body } = await send('/');
    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('application/json; charset=utf-8');
    const info = body as ModelInfoResponse;
    expect(info).toMatchObject({
      model: 'fmnist', precision: 'int8', variant: model.info.variant, threads: 1, labels: FASHION_MNIST_LABELS,
      inputs: model.info.inputs, outputs: model.info.outputs, params: model.info.params, macs: model.info.macs,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    });
    expect(Object.keys(info.endpoints)).toEqual(['GET /', 'GET /healthz', 'POST /classify']);
  });

  it('GET /healthz answers ok', async () => {
    expect(await send('/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('HEAD answers as GET without a body; OPTIONS lists the allowed methods', async () => {
    const [head, get] = [await send('/', { method: 'HEAD' }), await send('/')];
    expect({ status: head.status, text: head.text, type: head.headers.get('content-type'), length: head.headers.get('content-length') })
      .toEqual({ status: 200, text: '', type: 'application/json; charset=utf-8', length: String(new TextEncoder().encode(get.text).length) });
    const options = await send('/classify', { method: 'OPTIONS' });
    expect({ status: options.status, text: options.text, allow: options.headers.get('allow') })
      .toEqual({ status: 204, text: '', allow: 'POST, OPTIONS' });
    expect((await send('/healthz', { method: 'OPTIONS' })).headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  });

  it('the model name defaults to googlenet', async () => {
    expect((await send('/', {}, createHandler(model))).body.model).toBe('googlenet');
  });
});

describe('POST /classify', () => {
  it.each(SAMPLES)('names the class of $file, as model.classify does', async ({ bytes, label }) => {
    const { status, body } = await send('/classify', png(bytes));
    expect(status).toBe(200);
    const answer = body as ClassifyResponse;
    expect(Object.keys(answer)).toEqual(['predictions', 'model', 'precision', 'ms']);
    expect(answer).toMatchObject({ model: 'fmnist', precision: 'int8' });
    expect(answer.ms).toBeGreaterThan(0);
    expect(answer.predictions).toEqual(model.classify(bytes));
    expect(answer.predictions).toHaveLength(5);
    expect(answer.predictions[0].label).toBe(label);
  });

  it('takes image/jpeg, and a Content-Type with parameters in any case', async () => {
    const { bytes, label } = SAMPLES[7];
    const photo = sampleAsJpeg(bytes);
    const { status, body } = await send('/classify', { body: photo as BodyInit, type: 'Image/JPEG; q=1' });
    expect(status).toBe(200);
    expect(body.predictions).toEqual(model.classify(photo));
    expect(body.predictions[0].label).toBe(label);
  });

  it('decodes by the bytes, whichever of the image types is declared', async () => {
    const { bytes, label } = SAMPLES[5];
    const { status, body } = await send('/classify', { body: bytes as BodyInit, type: 'image/jpeg' });
    expect({ status, label: body.predictions[0].label }).toEqual({ status: 200, label });
  });

  it('takes multipart/form-data with the image in the "image" field', async () => {
    const { bytes, label } = SAMPLES[3];
    const { status, body } = await send('/classify?top=3', { body: imageForm(new Blob([bytes as BlobPart], { type: 'image/png' })) });
    expect(status).toBe(200);
    expect(body.predictions).toEqual(model.classify(bytes, { topK: 3 }));
    expect(body.predictions[0].label).toBe(label);
  });

  it('?top=K returns K classes, all of them when K is more', async () => {
    const { bytes } = SAMPLES[0];
    expect((await send('/classify?top=1', png(bytes))).body.predictions).toEqual(model.classify(bytes, { topK: 1 }));
    const all = (await send('/classify?top=99999999999999999999', png(bytes))).body as ClassifyResponse;
    expect(all.predictions.map(({ index }) => index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it.each(['0', '-1', '1.5', 'abc', '', '1e3', '01', '0x10', ' 2'])('?top=%j is 400', async (top) => {
    const { status, body } = await send(`/classify?top=${top}`, png(SAMPLES[0].bytes));
    expect({ status, body }).toEqual({ status: 400, body: { error: `top must be a positive integer, not "${top}"` } });
  });

  it('defaultTop sets the count when there is no ?top', async () => {
    const { body } = await send('/classify', png(SAMPLES[0].bytes), createHandler(model, { defaultTop: 2 }));
    expect(body.predictions).toHaveLength(2);
  });
});

describe('errors', () => {
  const expectError = async (path: string, init: Parameters<typeof request>[1], status: number, message: RegExp, using?: Handler) => {
    const answer = await send(path, init, using);
    expect(answer.status).toBe(status);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Object.keys(answer.body)).toEqual(['error']);
    expect(answer.body.error).toMatch(message);
    return answer;
  };

  it('an undecodable, empty or truncated image is 400', async () => {
    await expectError('/classify', png(seededBytes(500, 3)), 400, /^not a PNG or JPEG image \(it starts with/);
    await expectError('/classify', png(new Uint8Array()), 400, /^the image is empty/);
    await expectError('/classify', png(SAMPLES[0].bytes.slice(0, 200)), 400, /PNG/);
    const pastPalette = encodePng({ width: 4, height: 4, data: new Uint8Array(16).fill(5), channels: 1, depth: 8, palette: [[0, 0, 0], [9, 9, 9]] });
    await expectError('/classify', png(pastPalette), 400, /corrupt or truncated PNG/); // fast-png's own error, typed
  });

  it('an image beyond the decoding limits is 400 and names the limit', async () => {
    const huge = withPngSize(SAMPLES[0].bytes, 9000, 100);
    await expectError('/classify', png(huge), 400, /more than the limit of 8192 per side/);
    const tight = createHandler(model, { imageLimits: { maxPixels: 100 } });
    await expectError('/classify', png(SAMPLES[0].bytes), 400, /more than the limit of 100 pixels/, tight);
    // A partial imageLimits keeps the server's other defaults (16 Mi pixels here, not the library's 40 million).
    const widerSides = createHandler(model, { imageLimits: { maxSide: 6000 } });
    await expectError('/classify', png(withPngSize(SAMPLES[0].bytes, 4100, 4100)), 400, /more than the limit of 16777216 pixels/, widerSides);
  });

  it('refuses image limits that are not positive numbers when it is created', () => {
    for (const maxSide of [0, -1, Number.NaN, undefined, '4096']) {
      expect(() => createHandler(model, { imageLimits: { maxSide } as HandlerOptions['imageLimits'] })).toThrow(InputError);
    }
    expect(() => decodeImage(SAMPLES[0].bytes, { maxPixels: undefined })).toThrow(/limits.maxPixels must be a positive number/);
  });

  it('an unsupported or missing Content-Type is 415, before the body is read', async () => {
    for (const type of ['text/plain', 'application/json', 'image/gif', 'application/octet-stream']) {
      await expectError('/classify', { body: SAMPLES[0].bytes as BodyInit, type }, 415, new RegExp(`^unsupported Content-Type ${type}; send image/png or image/jpeg`));
    }
    const { stream, state } = slowStream(SAMPLES[0].bytes, 100, () => 0);
    await expectError('/classify', { body: stream }, 415, /^unsupported no Content-Type/);
    expect(state.bytesSent).toBe(0);
  });

  it('a multipart form without a file in "image", or malformed, is 400', async () => {
    const blob = new Blob([SAMPLES[0].bytes as BlobPart], { type: 'image/png' });
    await expectError('/classify', { body: imageForm(blob, 'photo') }, 400, /^the form has no "image" field$/);
    await expectError('/classify', { body: imageForm('not a file') }, 400, /^the form's "image" field must be a file/);
    await expectError('/classify', { body: 'garbage', type: 'multipart/form-data; boundary=xyz' }, 400, /malformed/);
    await expectError('/classify', { body: imageForm(new Blob([seededBytes(64, 1) as BlobPart])) }, 400, /^not a PNG or JPEG/);
  });

  it('a body over the limit is 413: refused by Content-Length, or cut off while streaming', async () => {
    const small = createHandler(model, { maxBodyBytes: 400 });
    const { bytes } = SAMPLES[0];
    expect(bytes.length).toBeGreaterThan(500);
    const declared = slowStream(bytes, 100, () => 1);
    const withLength = { body: declared.stream, type: 'image/png', headers: { 'content-length': String(bytes.length) } };
    await expectError('/classify', withLength, 413, /^the request body is larger than the limit of 400 bytes$/, small);
    expect(declared.state.bytesSent).toBe(0);
    await expectError('/classify', { body: imageForm(new Blob([bytes as BlobPart])) }, 413, /limit of 400 bytes/, small);

    // No Content-Length: the handler stops reading at the first chunk past the limit and cancels the upload.
    const { stream, state } = slowStream(bytes, 100, () => 1);
    await expectError('/classify', { body: stream, type: 'image/png' }, 413, /limit of 400 bytes/, small);
    expect(state).toEqual({ cancelled: true, bytesSent: 500 });

    // The default limit is 5 MiB.
    const oversize = new Uint8Array(DEFAULT_MAX_BODY_BYTES + 1);
    await expectError('/classify', png(oversize), 413, new RegExp(`limit of ${DEFAULT_MAX_BODY_BYTES} bytes`));
    expect((await send('/classify', png(oversize.subarray(1)))).status).toBe(400); // at the limit: read, not an image
  });

  it('a wrong method is 405 with Allow', async () => {
    const get = await expectError('/classify', {}, 405, /^GET is not allowed on \/classify \(allowed: POST, OPTIONS\)$/);
    expect(get.headers.get('allow')).toBe('POST, OPTIONS');
    const post = await expectError('/', png(SAMPLES[0].bytes), 405, /^POST is not allowed on \//);
    expect(post.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    await expectError('/healthz', { method: 'DELETE' }, 405, /^DELETE is not allowed/);
  });

  it('an unknown path is 404 and lists the endpoints', async () => {
    await expectError('/classify/', png(SAMPLES[0].bytes), 404, /^no such path \/classify\/; the endpoints are GET \/, GET \/healthz, POST \/classify$/);
    await expectError('/__proto__', {}, 404, /no such path/);
    await expectError('/constructor', {}, 404, /no such path/);
  });

  it('an unexpected failure is 500 with a generic message, reported to onError', async () => {
    const disposed = await loadModel();
    const onError = vi.fn();
    const broken = createHandler(disposed, { onError });
    disposed.dispose();
    const answer = await expectError('/classify', png(SAMPLES[0].bytes), 500, /^internal error$/, broken);
    expect(answer.text).not.toMatch(/disposed/);
    expect(onError).toHaveBeenCalledOnce();
    expect((onError.mock.calls[0][0] as Error).message).toBe('the model has been disposed');
    expect(onError.mock.calls[0][1]).toBeInstanceOf(Request);
  });

  it('bad input never reaches 500: random bodies under every accepted type', async () => {
    const onError = vi.fn();
    const guarded = createHandler(model, { onError });
    const bodies = [
      ...Array.from({ length: 20 }, (_, seed) => seededBytes(1 + seed * 37, seed)),
      ...SAMPLES.slice(0, 5).map(({ bytes }, i) => bytes.map((byte, j) => (j > 40 && j % (7 + i) === 0 ? byte ^ 0x5a : byte))),
      sampleAsJpeg(SAMPLES[1].bytes).slice(0, 300),
    ];
    for (const bytes of bodies) {
      for (const type of ['image/png', 'image/jpeg']) {
        const { status } = await send('/classify', { body: bytes as BodyInit, type });
        expect([200, 400]).toContain(status);
      }
      const { status } = await send('/classify', { body: imageForm(new Blob([bytes as BlobPart])) });
      expect([200, 400]).toContain(status);
    }
    expect(onError).not.toHaveBeenCalled();
  });

  it('options are checked when the handler is made', () => {
    const bad: HandlerOptions[] = [{ maxBodyBytes: 0 }, { maxBodyBytes: 1.5 }, { defaultTop: 0 }];
    for (const options of bad) expect(() => createHandler(model, options)).toThrow(InputError);
  });
});

describe('concurrency', () => {
  it('interleaved slow uploads on one model each get the answer for their own image', async () => {
    // Every sample as PNG, as JPEG and as a form, plus broken images, all streamed slowly at the same time.
    const cases = SAMPLES.flatMap(({ bytes, label }) => [
      { bytes, type: 'image/png', label, expected: model.classify(bytes) },
      { bytes: sampleAsJpeg(bytes), type: 'image/jpeg', label, expected: model.classify(sampleAsJpeg(bytes)) },
    ]);
    const broken = SAMPLES.map(({ bytes }) => ({ bytes: bytes.slice(0, 150), type: 'image/png', label: undefined, expected: undefined }));
    const all = [...cases, ...broken];
    const pulls: number[] = [];
    let seed = 1;
    const jitter = () => (seed = (seed * 48271) % 2147483647) % 4; // 0–3 ms, deterministic

    const answers = await Promise.all(all.map(({ bytes, type }, i) => {
      const { stream } = slowStream(bytes, 64, jitter, () => pulls.push(i));
      return send('/classify', { body: stream, type });
    }));

    all.forEach(({ label, expected }, i) => {
      if (!expected) {
        expect(answers[i].status).toBe(400);
        return;
      }
      expect(answers[i].status).toBe(200);
      expect(answers[i].body.predictions).toEqual(expected);
      expect(answers[i].body.predictions[0].label).toBe(label);
    });
    // The uploads really overlapped: reads of different requests alternate many times.
    const switches = pulls.filter((request, i) => i > 0 && request !== pulls[i - 1]).length;
    expect(switches).toBeGreaterThan(all.length * 5);
  });
});
