// Soak test: `googlenet serve` (and the Deno example server) on 127.0.0.1 under a fixed number of requests at a
// fixed concurrency, mixing the sample images (examples/images, labels in their file names) with invalid ones.
// Every valid image must come back with its own label, every invalid one with a 4xx JSON error, nothing with a
// 5xx; the server's resident memory after the run must stay within 5 % of what it was after a warm-up.
// `npm run soak` (after `npm run build`) writes the figures to bench/SOAK.md; test/soak.test.ts runs a short one.
// The warm-up is 3,000 requests because Deno's resident memory keeps growing until about then and then levels off
// (measured: 147 → 180 MB over requests 1,000–2,000, 181 → 185 MB over 3,000–5,000); Node's levels off sooner.
// Options: --requests N (default 1000), --concurrency N (default 50), --warmup N (default 3000),
// --time-limit S (default 300: requests stop there even if the count is not reached), --servers node,deno.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));

export const SERVERS = {
  node: { title: 'googlenet serve (Node)', command: process.execPath, args: ['dist/cli/main.js', 'serve', '--port', '0'] },
  deno: {
    title: 'examples/deno/server.ts (Deno)',
    command: `${root}node_modules/.bin/deno`,
    args: ['run', '--allow-read=.', '--allow-net=127.0.0.1', '--allow-env', 'examples/deno/server.ts'],
  },
};

/** As examples/make_sample_images.mjs names the files: "T-shirt/top" → "tshirt-top". */
const slugOf = (label) => label.toLowerCase().replaceAll('-', '').replace(/[^a-z0-9]+/g, '-');

/** The sample images with the label each file name gives, and invalid bodies each answered by a 4xx. */
export function soakRequests(labels) {
  const directory = `${root}examples/images/`;
  const valid = readdirSync(directory).filter((name) => name.endsWith('.png')).sort().map((name) => {
    const slug = /^\d+-(.+)\.png$/.exec(name)[1];
    const label = labels.find((candidate) => slugOf(candidate) === slug);
    if (!label) throw new Error(`examples/images/${name} names no label of the served model`);
    return { name, body: new Uint8Array(readFileSync(directory + name)), type: 'image/png', label };
  });
  const png = valid[0].body;
  const invalid = [
    { name: 'truncated PNG', body: png.subarray(0, png.length >> 1), type: 'image/png', status: 400 },
    { name: 'PNG with a corrupt byte', body: png.map((byte, i) => (i === 40 ? byte ^ 0xff : byte)), type: 'image/png', status: 400 },
    { name: 'random bytes as JPEG', body: Uint8Array.from({ length: 2048 }, (_, i) => (i * 7919) & 255), type: 'image/jpeg', status: 400 },
    { name: 'empty body', body: new Uint8Array(0), type: 'image/png', status: 400 },
    { name: 'text body', body: new TextEncoder().encode('not an image'), type: 'text/plain', status: 415 },
  ];
  return { valid, invalid };
}

/** Resident memory of `pid` and its descendants, in bytes (Linux /proc). */
export function treeRss(pid) {
  let bytes = 0;
  const visit = (id) => {
    try {
      bytes += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${id}/status`, 'utf8'))[1]) * 1024;
      for (const task of readdirSync(`/proc/${id}/task`)) {
        for (const child of readFileSync(`/proc/${id}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) visit(child);
      }
    } catch {
      // the process has exited
    }
  };
  visit(pid);
  return bytes;
}

/** Spawns a server that prints its URL; resolves with the URL and a stop function. */
export function startServer({ command, args }, timeoutMs = 60_000) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} printed no URL within ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before printing a URL: ${stdout}${stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (text) => {
      stdout += text;
      const match = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      const exited = new Promise((done) => child.once('exit', done));
      resolve({ url: match[1], pid: child.pid, stderr: () => stderr, stop: async () => (child.kill('SIGTERM'), exited) });
    });
  });
}

/** Sends `count` requests, `concurrency` at a time, cycling through valid and invalid ones (one in four invalid). */
async function load(url, { valid, invalid }, count, concurrency, deadline) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const index = next++;
      const request = index % 4 === 3 ? invalid[(index >> 2) % invalid.length] : valid[index % valid.length];
      const started = performance.now();
      const response = await fetch(`${url}/classify?top=1`, { method: 'POST', body: request.body, headers: { 'content-type': request.type } });
      const body = await response.json().catch(() => undefined);
      const ms = performance.now() - started;
      const wrong = request.label
        ? response.status !== 200 || body?.predictions?.[0]?.label !== request.label
        : response.status !== request.status || typeof body?.error !== 'string';
      results.push({ ms, status: response.status, valid: Boolean(request.label), wrong, name: request.name, got: body });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Warm-up, then the measured run; returns the figures. */
export async function soak(serverName, { requests = 1000, concurrency = 50, warmup = 3000, timeLimitS = 300 } = {}) {
  const server = await startServer(SERVERS[serverName]);
  try {
    const info = await (await fetch(`${server.url}/`)).json();
    const set = soakRequests(info.labels);
    const deadline = performance.now() + timeLimitS * 1000;
    await load(server.url, set, warmup, concurrency, deadline);
    const rssAfterWarmup = treeRss(server.pid);
    const started = performance.now();
    const results = await load(server.url, set, requests, concurrency, deadline);
    const seconds = (performance.now() - started) / 1000;
    const rssAtEnd = treeRss(server.pid);
    const latencies = results.map(({ ms }) => ms).sort((a, b) => a - b);
    return {
      server: SERVERS[serverName].title,
      requests: results.length,
      concurrency,
      valid: results.filter((r) => r.valid).length,
      invalid: results.filter((r) => !r.valid).length,
      wrong: results.filter((r) => r.wrong),
      serverErrors: results.filter((r) => r.status >= 500).length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      requestsPerSecond: results.length / seconds,
      rssAfterWarmup,
      rssAtEnd,
      rssGrowth: (rssAtEnd - rssAfterWarmup) / rssAfterWarmup,
    };
  } finally {
    await server.stop();
  }
}

function markdown(reports, options) {
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
  const rows = reports.map((r) => `| ${r.server} | ${r.requests} (${r.valid} valid, ${r.invalid} invalid) | ${r.wrong.length} | ` +
    `${r.serverErrors} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.requestsPerSecond.toFixed(0)} | ` +
    `${mib(r.rssAfterWarmup)} → ${mib(r.rssAtEnd)} (${(r.rssGrowth * 100).toFixed(1)} %) |`);
  return `# Soak test\n\nWritten by \`npm run soak\` (bench/soak.js) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ` +
    `${options.requests} requests at ${options.concurrency} concurrent after ${options.warmup} warm-up requests, over loopback, ` +
    'the default model (seed GoogLeNet, Fashion-MNIST, int8). Three requests in four are sample images (examples/images), which must come ' +
    'back with the label their file names give; one in four is invalid (truncated or corrupt PNG, random bytes, empty body, text), ' +
    'which must get its 4xx JSON error. Latency is per request as the client sees it (body upload to parsed JSON answer). ' +
    'RSS is the server process tree\'s resident memory after the warm-up and at the end.\n\n' +
    '| Server | Requests | Wrong answers | 5xx | p50 ms | p99 ms | Requests/s | RSS MiB (growth) |\n' +
    '|---|---|---|---|---|---|---|---|\n' + rows.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '3000' }, 'time-limit': { type: 'string', default: '300' },
      servers: { type: 'string', default: 'node,deno' },
    },
  });
  const options = {
    requests: Number(values.requests), concurrency: Number(values.concurrency), warmup: Number(values.warmup), timeLimitS: Number(values['time-limit']),
  };
  const reports = [];
  for (const name of values.servers.split(',')) {
    const report = await soak(name, options);
    console.log(JSON.stringify({ ...report, wrong: report.wrong.slice(0, 5) }));
    reports.push(report);
  }
  writeFileSync(new URL('SOAK.md', import.meta.url), markdown(reports, options));
  const failed = reports.filter((r) => r.wrong.length > 0 || r.serverErrors > 0 || r.requests < options.requests || Math.abs(r.rssGrowth) > 0.05);
  if (failed.length > 0) {
    console.error(`soak failed for ${failed.map((r) => r.server).join(', ')}`);
    process.exitCode = 1;
  }
}
