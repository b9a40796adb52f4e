/**
 * The offline web app (examples/web), built with Vite and driven in Debian's Chromium at a phone viewport: it
 * classifies an image, then, with the network and the server gone, reloads from its service worker's cache and
 * classifies another.
 */

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeModelFile, encodeModelFile } from '../src/format/model-file.js';
import { KERNEL_VARIANTS } from '../src/runtime/kernels.js';
import { FASHION_MNIST_LABELS } from './support/image-files.js';
import { serveStatic, type StaticServer } from './support/static-server.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('..', import.meta.url));
const sample = (name: string) => fileURLToPath(new URL(`../examples/images/${name}`, import.meta.url));
const SCREENSHOT = fileURLToPath(new URL('output/web-app-offline.png', import.meta.url));
const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

let browser: Browser | undefined;
const servers: StaticServer[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the web app test drives Debian's Chromium at ${CHROMIUM}, which is missing: apt-get install chromium (.ci/run does)`);
  }
  // vitest sets NODE_ENV=test, which would make Vite build the app as in development (no service worker).
  const { NODE_ENV: _, ...env } = process.env;
  await promisify(execFile)(process.execPath, ['node_modules/vite/bin/vite.js', 'build', 'examples/web', '--logLevel', 'error'], { cwd: root, env });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(servers.map((server) => server.close()));
});

async function serveApp(): Promise<StaticServer> {
  const server = await serveStatic(`${root}examples/web/dist`);
  servers.push(server);
  return server;
}

/** Each page's uncaught errors: they say why a page never got ready, and there should be none. */
const uncaughtErrors = new WeakMap<Page, Error[]>();

async function newAppPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  const errors: Error[] = [];
  page.on('pageerror', (error) => errors.push(error));
  uncaughtErrors.set(page, errors);
  return page;
}

/** Picks an image once the model is ready; returns the labels shown, most probable first. */
async function classifyImage(page: Page, file: string): Promise<string[]> {
  await page.locator('#app:not([data-state="loading"])').waitFor().catch((timeout: Error) => {
    const errors = uncaughtErrors.get(page)!.map(({ message }) => message).join('; ') || 'none';
    throw new Error(`the page never finished loading the model (uncaught errors: ${errors}): ${timeout.message}`);
  });
  if ((await page.locator('#app').getAttribute('data-state')) !== 'ready') {
    throw new Error(`the page did not load the model: ${await page.locator('#error').textContent()}`);
  }
  await page.setInputFiles('#file', file);
  await page.locator('#result').waitFor({ state: 'visible' });
  return page.locator('#predictions .label').allTextContents();
}

/** Picks `name` from examples/images (`<class index>-<label>.png`) and checks that its class comes first. */
/** Returns how many threads the page says run ("2 threads"), or undefined for one. */
async function expectClassifiedAsItsClass(page: Page, name: string): Promise<string | undefined> {
  const labels = await classifyImage(page, sample(name));
  const percentages = (await page.locator('#predictions .probability').allTextContents()).map((text) => parseFloat(text));
  expect(labels).toHaveLength(5);
  expect(labels[0]).toBe(FASHION_MNIST_LABELS[parseInt(name, 10)]);
  expect(percentages).toEqual([...percentages].sort((a, b) => b - a));
  expect(percentages[0]).toBeGreaterThan(50);
  expect(await page.locator('#time').textContent()).toMatch(/^\d+\.\d ms$/);
  const [variant, precision, ...threads] = (await page.locator('#variant').textContent())!.split(' · ');
  expect(KERNEL_VARIANTS).toContain(variant);
  expect(precision).toBe('int8');
  return threads[0];
}

/** The default model file with every label replaced by `label`. */
function defaultModelLabelled(label: string): Uint8Array {
  // A plain Uint8Array: decodeModelFile misreads a Node Buffer (its slice() is a view, not a copy).
  const file = new Uint8Array(readFileSync(new URL('../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url)));
  const { graph, weights, preprocess, activationRanges } = decodeModelFile(file);
  return encodeModelFile(graph, { weights, preprocess, activationRanges, labels: FASHION_MNIST_LABELS.map(() => label) });
}

it('classifies at a phone viewport, then offline after a reload from the service worker cache', async () => {
  const server = await serveApp();
  const context = await browser!.newContext(PHONE);
  const page = await newAppPage(context);

  await page.goto(server.url);
  // The server sends no isolation headers: the first visit runs on one thread.
  expect(await expectClassifiedAsItsClass(page, '9-ankle-boot.png')).toBeUndefined();
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  expect(await page.locator('#storage').textContent()).toMatch(/persist/);
  expect(await page.locator('#offline').textContent()).toMatch(/^ready/);

  await page.setInputFiles('#file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
  await page.locator('#error').waitFor({ state: 'visible' });
  expect(await page.locator('#error').textContent()).toMatch(/^Cannot classify broken\.png: /);
  expect(await page.locator('#result').isHidden()).toBe(true);

  await context.setOffline(true);
  await server.close();
  await page.reload();
  // Anything not precached fails now: the page below comes from the cache alone.
  expect(await page.evaluate(() => fetch('not-precached.txt').then(() => 'fetched', () => 'failed'))).toBe('failed');
  // Served by the service worker, the page is cross-origin isolated and runs on the device's cores (up to 4).
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const threads = await expectClassifiedAsItsClass(page, '7-sneaker.png');
  expect(threads).toBe(cores > 1 ? `${Math.min(4, cores)} threads` : undefined);

  mkdirSync(fileURLToPath(new URL('output/', import.meta.url)), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  expect(uncaughtErrors.get(page)).toEqual([]);
  await context.close();
});

it('shows model labels as text, never as HTML', async () => {
  const server = await serveApp();
  // No service worker here, so that the page's request for the model reaches the route below.
  const context = await browser!.newContext({ ...PHONE, serviceWorkers: 'block' });
  const page = await newAppPage(context);
  const markup = '<img src="x" onerror="document.title = \'injected\'">';
  const model = defaultModelLabelled(markup);
  await page.route('**/*.safetensors', (route) => route.fulfill({ body: Buffer.from(model), contentType: 'application/octet-stream' }));

  await page.goto(server.url);
  expect(await classifyImage(page, sample('9-ankle-boot.png'))).toEqual(Array(5).fill(markup));
  expect(await page.locator('#predictions img').count()).toBe(0);
  expect(await page.title()).not.toBe('injected');
  expect(uncaughtErrors.get(page)).toEqual([]);
  await context.close();
});
