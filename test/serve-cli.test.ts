/** `googlenet serve` through the built CLI in a child process, over real HTTP. */

import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVE_HELP } from '../src/cli/serve.js';
import { CLI, googlenet } from './support/cli.js';
import { classifySamples, startServer, type ServerProcess } from './support/server-process.js';
import { SAMPLES } from './support/samples.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url));

/** A raw HTTP/1.1 POST, to control Content-Length, chunking and Expect: 100-continue, which fetch hides. */
function rawPost(url: string, headers: Record<string, string>, chunks: Uint8Array[]) {
  return new Promise<{ status: number; body: string; continued: boolean; connection?: string }>((resolve, reject) => {
    let continued = false;
    const request = httpRequest(`${url}classify`, { method: 'POST', headers });
    request.on('continue', () => {
      continued = true;
      for (const chunk of chunks) request.write(chunk);
      request.end();
    });
    request.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (text) => (body += text));
      response.on('end', () => resolve({ status: response.statusCode!, body, continued, connection: response.headers.connection }));
    });
    request.on('error', reject);
    if (headers.expect) return request.flushHeaders();
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}

describe('googlenet serve', () => {
  let server: ServerProcess;
  let small: ServerProcess;

  beforeAll(async () => {
    [server, small] = await Promise.all([
      startServer('node', [CLI, 'serve', '--port', '0']),
      startServer('node', [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--model', DEFAULT_MODEL, '--max-body', '400', '--threads', '2']),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.stop('SIGKILL'), small?.stop('SIGKILL')]);
  });

  it('prints the URL with the real port once listening', () => {
    expect(server.output().stdout).toMatch(/^googlenet: serving the default model \(int8, \w+(-\w+)?\) at http:\/\/127\.0\.0\.1:\d+\/\n$/);
    expect(server.url).not.toMatch(/:0\/$/);
    expect(small.output().stdout).toMatch(/^googlenet: serving googlenet-seed-fmnist\.int8 \(int8, [\w-]+, 2 threads\) at /);
  });

  it('GET /healthz and GET /', async () => {
    const health = await fetch(`${server.url}healthz`);
    expect({ status: health.status, body: await health.json() }).toEqual({ status: 200, body: { status: 'ok' } });
    const info = await (await fetch(server.url)).json();
    expect(info).toMatchObject({ model: 'googlenet', precision: 'int8', maxBodyBytes: 5 * 1024 * 1024 });
    expect(info.labels).toHaveLength(10);
    expect((await (await fetch(small.url)).json())).toMatchObject({ model: 'googlenet-seed-fmnist.int8', maxBodyBytes: 400, threads: 2 });
  });

  it('classifies every sample image, concurrently, as its file name says', async () => {
    const results = await classifySamples(server.url);
    expect(results.map(({ label }) => label)).toEqual(results.map(({ expected }) => expected));
  });

  it('takes a multipart form', async () => {
    const form = new FormData();
    form.append('image', new Blob([SAMPLES[4].bytes as BlobPart], { type: 'image/png' }), 'coat.png');
    const response = await fetch(`${server.url}classify?top=2`, { method: 'POST', body: form });
    const body = await response.json();
    expect(response.status).toBe(200);
    expect(body.predictions).toHaveLength(2);
    expect(body.predictions[0].label).toBe(SAMPLES[4].label);
  });

  it('answers errors as JSON: 400, 404, 405, 415', async () => {
    const cases: [string, RequestInit, number][] = [
      ['classify', { method: 'POST', body: 'not an image', headers: { 'content-type': 'image/png' } }, 400],
      ['classify?top=zero', { method: 'POST', body: SAMPLES[0].bytes as BodyInit, headers: { 'content-type': 'image/png' } }, 400],
      ['nowhere', {}, 404],
      ['classify', {}, 405],
      ['classify', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }, 415],
    ];
    for (const [path, init, status] of cases) {
      const response = await fetch(`${server.url}${path}`, init);
      expect({ path, status: response.status }).toEqual({ path, status });
      expect(Object.keys(await response.json())).toEqual(['error']);
    }
  });

  it('a request no fetch-style handler can take (OPTIONS *, TRACE) is 400 naming it, not a crash', async () => {
    const { port } = new URL(server.url);
    const rawRequest = (line: string) => new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`));
      socket.setEncoding('utf8').on('data', (chunk) => (text += chunk)).on('end', () => resolve(text)).on('error', reject);
    });
    const target = await rawRequest('OPTIONS * HTTP/1.1');
    expect(target).toMatch(/^HTTP\/1\.1 400 /);
    expect(target).toMatch(/\{"error":"malformed request: .+ \(OPTIONS \\"\*\\"\)"\}/);
    const trace = await rawRequest('TRACE / HTTP/1.1');
    expect(trace).toMatch(/^HTTP\/1\.1 400 /);
    expect(trace).toMatch(/"error":"malformed request: .*TRACE.* \(TRACE \\"\/\\"\)"/);
    expect((await fetch(`${server.url}healthz`)).status).toBe(200);
  });

  it('refuses an oversize body by Content-Length without asking for it (no 100 Continue)', async () => {
    const { bytes } = SAMPLES[0];
    const answer = await rawPost(small.url, {
      'content-type': 'image/png', 'content-length': String(bytes.length), expect: '100-continue',
    }, [bytes]);
    expect(answer).toMatchObject({ status: 413, continued: false, connection: 'close' });
    expect(JSON.parse(answer.body)).toEqual({ error: 'the request body is larger than the limit of 400 bytes' });
  });

  it('cuts off an oversize chunked upload, then goes on serving', async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => SAMPLES[0].bytes.subarray(i * 25, i * 25 + 25));
    const answer = await rawPost(small.url, { 'content-type': 'image/png', 'transfer-encoding': 'chunked' }, chunks);
    expect(answer).toMatchObject({ status: 413, connection: 'close' });
    expect((await fetch(`${small.url}healthz`)).status).toBe(200);
    // Within the limit, 100-continue is answered and the image classified.
    const { bytes, label } = SAMPLES[5];
    const ok = await rawPost(server.url, { 'content-type': 'image/png', 'content-length': String(bytes.length), expect: '100-continue' }, [bytes]);
    expect({ continued: ok.continued, status: ok.status }).toEqual({ continued: true, status: 200 });
    expect(JSON.parse(ok.body).predictions[0].label).toBe(label);
  });

  it('stops cleanly on SIGTERM and SIGINT', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const child = await startServer('node', [CLI, 'serve', '--port', '0']);
      expect((await fetch(`${child.url}healthz`)).status).toBe(200);
      const { code, stdout, stderr } = await child.stop(signal);
      expect({ code, stderr, last: stdout.trimEnd().split('\n').at(-1) }).toEqual({ code: 0, stderr: '', last: 'googlenet: stopped' });
    }
  });

  it('--help, and usage errors on stderr with exit code 1', async () => {
    const help = await googlenet('serve', '--help');
    expect(help).toEqual({ code: 0, stdout: `${SERVE_HELP}\n`, stderr: '' });
    const port = new URL(server.url).port;
    const failures: [string[], RegExp][] = [
      [['--port', 'http'], /^googlenet: --port must be an integer from 0 to 65535, not "http" \(see googlenet --help\)$/],
      [['--port', '70000'], /--port must be an integer from 0 to 65535/],
      [['--max-body', '0'], /--max-body must be an integer from 1/],
      [['extra'], /unexpected argument "extra"/],
      [['--precision', 'f16'], /--precision must be one of/],
      [['--model', 'no-such-model.safetensors'], /^googlenet: cannot read no-such-model\.safetensors: no such file$/],
      [['--port', port], new RegExp(`^googlenet: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use$`)],
    ];
    for (const [args, message] of failures) {
      const { code, stdout, stderr } = await googlenet('serve', ...args);
      expect({ args, code, stdout }).toEqual({ args, code: 1, stdout: '' });
      expect(stderr.trimEnd()).toMatch(message);
    }
  });
});
