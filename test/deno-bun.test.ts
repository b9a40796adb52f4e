/**
 * The Deno and Bun examples (examples/deno/server.ts, examples/bun/server.ts) run for real by the deno and bun
 * binaries from node_modules: each serves the built package (dist/) over HTTP on a free port.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifySamples, startServer, type ServerProcess } from './support/server-process.js';
import { SAMPLES } from './support/samples.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name: string) => `${root}node_modules/.bin/${name}`;
const MODEL_FILE = 'models/googlenet-seed-fmnist.int8.safetensors';

/** How each runtime starts its example, as the example's header says (with PORT=0 for a free port). */
const RUNTIMES = {
  deno: [bin('deno'), ['run', '--allow-read=.', '--allow-net=127.0.0.1', '--allow-env', 'examples/deno/server.ts']],
  bun: [bin('bun'), ['examples/bun/server.ts']],
} as const;

describe.each(Object.keys(RUNTIMES) as (keyof typeof RUNTIMES)[])('the %s example', (runtime) => {
  const [command, args] = RUNTIMES[runtime];
  let server: ServerProcess;
  let withModelFile: ServerProcess;

  beforeAll(async () => {
    const start = (env: Record<string, string>) => startServer(command, [...args], { cwd: root, env: { ...process.env, PORT: '0', ...env } });
    [server, withModelFile] = await Promise.all([start({}), start({ GOOGLENET_MODEL: MODEL_FILE })]);
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), withModelFile?.stop()]);
  });

  it('prints its URL on a free port and answers GET /healthz', async () => {
    expect(server.output().stdout).toBe(`googlenet: serving on ${runtime === 'deno' ? 'Deno' : 'Bun'} at ${server.url}\n`);
    const response = await fetch(`${server.url}healthz`);
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('classifies every sample image, concurrently, as its file name says', async () => {
    const results = await classifySamples(server.url);
    expect(results.map(({ label }) => label)).toEqual(results.map(({ expected }) => expected));
  });

  it('takes a multipart form and answers errors as JSON', async () => {
    const form = new FormData();
    form.append('image', new Blob([SAMPLES[8].bytes as BlobPart], { type: 'image/png' }), 'bag.png');
    const multipart = await (await fetch(`${server.url}classify?top=3`, { method: 'POST', body: form })).json();
    expect(multipart.predictions).toHaveLength(3);
    expect(multipart.predictions[0].label).toBe(SAMPLES[8].label);

    const oversize = await fetch(`${server.url}classify`, {
      method: 'POST', body: new Uint8Array(5 * 1024 * 1024 + 1), headers: { 'content-type': 'image/png' },
    });
    expect({ status: oversize.status, body: await oversize.json() })
      .toEqual({ status: 413, body: { error: 'the request body is larger than the limit of 5242880 bytes' } });
    const wrongType = await fetch(`${server.url}classify`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(wrongType.status).toBe(415);
    const broken = await fetch(`${server.url}classify`, { method: 'POST', body: 'hello', headers: { 'content-type': 'image/png' } });
    expect({ status: broken.status, error: (await broken.json()).error }).toEqual({ status: 400, error: expect.stringMatching(/^not a PNG or JPEG/) });
  });

  it('serves the model file GOOGLENET_MODEL names, under its file name', async () => {
    const info = await (await fetch(withModelFile.url)).json();
    expect(info).toMatchObject({ model: 'googlenet-seed-fmnist.int8', precision: 'int8' });
    const results = await classifySamples(withModelFile.url);
    expect(results.map(({ label }) => label)).toEqual(results.map(({ expected }) => expected));
  });
});

it('the Deno example type-checks against the package types', async () => {
  await promisify(execFile)(bin('deno'), ['check', 'examples/deno/server.ts'], { cwd: root });
});
