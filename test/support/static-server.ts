/** A minimal static file server for browser tests: 127.0.0.1 on a free port, with the MIME types browsers check. */

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm', // WebAssembly.compileStreaming accepts nothing else
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
};

export interface StaticServer {
  /** The root's URL, ending in a slash. */
  url: string;
  /** Stops listening and drops open connections, so that nothing more can be fetched (again: nothing happens). */
  close(): Promise<void>;
}

/**
 * `crossOriginIsolated`: send the two headers that make a page cross-origin isolated (SharedArrayBuffer, shared
 * wasm memory, threads).
 */
export async function serveStatic(root: string, { crossOriginIsolated = false } = {}): Promise<StaticServer> {
  const isolation = crossOriginIsolated
    ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
    : {};
  const base = normalize(root + sep);
  const server = createServer(async (request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    const path = normalize(join(base, decodeURIComponent(pathname), pathname.endsWith('/') ? 'index.html' : ''));
    if (!path.startsWith(base)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(path);
      response.writeHead(200, { 'Content-Type': MIME_TYPES[extname(path)] ?? 'application/octet-stream', ...isolation }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve, reject) => {
      if (!server.listening) return resolve();
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    }),
  };
}
