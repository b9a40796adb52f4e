/** Serves a fetch-style handler from node:http: IncomingMessage → Request, Response → ServerResponse. */

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Handler } from '../serve/handler.js';

/**
 * A node:http listener that answers every request with `handler`; `origin` is the server's own URL. Register it
 * for 'checkContinue' too: a client that sends `Expect: 100-continue` is then told to go on only when the handler
 * starts reading the body, so a refusal (413 by Content-Length, 415, …) costs it no upload.
 */
export function nodeListener(handler: Handler, origin: string): RequestListener {
  return (message, response) => {
    answer(handler, origin, message, response).catch((error: unknown) => {
      // Only writing the answer can fail here (the client went away); the handler answers its own errors.
      response.destroy(error as Error);
    });
  };
}

async function answer(handler: Handler, origin: string, message: IncomingMessage, out: ServerResponse): Promise<void> {
  let request: Request;
  try {
    request = toRequest(message, origin, () => {
      if (/100-continue/i.test(message.headers.expect ?? '') && !out.headersSent) out.writeContinue();
    });
  } catch (error) {
    // new Request() refuses what no fetch-style handler can take: a target that is no path, a forbidden method…
    const reason = `${(error as Error).message} (${message.method} ${JSON.stringify(message.url)})`;
    return send(out, Response.json({ error: `malformed request: ${reason}` }, { status: 400 }), message);
  }
  await send(out, await handler(request), message);
}

function toRequest(message: IncomingMessage, origin: string, onFirstRead: () => void): Request {
  const headers = new Headers();
  const raw = message.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  const method = message.method ?? 'GET';
  const body = method === 'GET' || method === 'HEAD' ? null : bodyStream(message, onFirstRead);
  // Concatenated, not resolved against the origin: a target like //x must stay a path.
  return new Request(`${origin}${message.url ?? '/'}`, { method, headers, body, duplex: 'half' } as RequestInit);
}

/**
 * The request body as a web stream that reads only as fast as the handler pulls. Cancelling it (the handler
 * refusing an oversize body) discards the rest without destroying the socket, so the answer still gets out.
 */
function bodyStream(message: IncomingMessage, onFirstRead: () => void): ReadableStream<Uint8Array> {
  let stop = () => {};
  let firstRead = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const onData = (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) message.pause();
      };
      const onEnd = () => controller.close();
      const onError = (error: Error) => controller.error(error);
      const onClose = () => {
        if (!message.complete) controller.error(new Error('the client closed the connection during the upload'));
      };
      message.pause();
      message.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
      stop = () => {
        message.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
        message.resume();
      };
    },
    pull() {
      if (firstRead) onFirstRead();
      firstRead = false;
      message.resume();
    },
    cancel() {
      stop();
    },
  }, { highWaterMark: 0 }); // no read ahead: nothing is pulled (nor 100 Continue sent) until the handler reads
}

/** Every answer of the handler is a small JSON body, so it is sent in one piece (no drain to wait for). */
async function send(out: ServerResponse, response: Response, message: IncomingMessage): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer());
  out.statusCode = response.status;
  response.headers.forEach((value, name) => out.setHeader(name, value));
  // An answer given before the whole upload arrived (413, 415, …) closes the connection instead of reading on.
  if (!message.complete && !message.readableEnded) out.setHeader('connection', 'close');
  out.end(body);
}
