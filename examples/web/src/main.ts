/**
 * The offline web app: loads the default model and the kernel builds as assets of this page (so that the service
 * worker can precache them), then classifies picked or dropped images and shows the top 5. Once the service worker
 * serves the page, the page is cross-origin isolated and the convolutions run on several threads.
 * Model labels are data: they only ever reach the page as textContent.
 */

import { loadModel, type Model, type Prediction } from '../../../src/hosts/browser.js';
import relaxedSimdUrl from '../../../build/googlenet.relaxed-simd.wasm?url';
import simdUrl from '../../../build/googlenet.simd.wasm?url';
import scalarUrl from '../../../build/googlenet.scalar.wasm?url';
import modelUrl from '../../../models/googlenet-seed-fmnist.int8.safetensors?url';

const KERNEL_BUILD_URLS = [relaxedSimdUrl, simdUrl, scalarUrl];
const TOP_K = 5;
/**
 * Threads that share the convolutions: several only where the page is cross-origin isolated (shared wasm memory
 * needs it; the service worker's responses make it so) and the device has the cores.
 */
const THREADS = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const page = {
  app: element<HTMLElement>('app'),
  status: element<HTMLElement>('status'),
  file: element<HTMLInputElement>('file'),
  dropZone: element<HTMLElement>('drop-zone'),
  error: element<HTMLElement>('error'),
  result: element<HTMLElement>('result'),
  preview: element<HTMLImageElement>('preview'),
  predictions: element<HTMLOListElement>('predictions'),
  time: element<HTMLElement>('time'),
  variant: element<HTMLElement>('variant'),
  offline: element<HTMLElement>('offline'),
  storage: element<HTMLElement>('storage'),
};

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return response;
}

/** Streams the compile when the server says it is wasm (compileStreaming insists on the MIME type). */
async function compileWasm(url: string): Promise<WebAssembly.Module> {
  const response = await fetchOk(url);
  return response.headers.get('Content-Type')?.startsWith('application/wasm')
    ? WebAssembly.compileStreaming(response)
    : WebAssembly.compile(await response.arrayBuffer());
}

/** Every build this browser compiles; loadModel picks the best one that passes its self-test. */
async function compileKernelBuilds(): Promise<WebAssembly.Module[]> {
  const results = await Promise.allSettled(KERNEL_BUILD_URLS.map(compileWasm));
  const modules = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  if (modules.length === 0) {
    const reasons = results.map((result) => (result.status === 'rejected' ? String(result.reason) : ''));
    throw new Error(`this browser compiles none of the kernel builds: ${reasons.join('; ')}`);
  }
  return modules;
}

/** On several threads the package loads its threaded kernel builds itself (assets of this page too). */
async function loadDefaultModel(): Promise<Model> {
  const modelBytes = fetchOk(modelUrl).then(async (response) => new Uint8Array(await response.arrayBuffer()));
  if (THREADS > 1) return loadModel(await modelBytes, { threads: THREADS });
  const [bytes, wasmModule] = await Promise.all([modelBytes, compileKernelBuilds()]);
  return loadModel(bytes, { wasmModule });
}

/** What runs: kernel build, precision and, if several, threads. */
function describeModel(model: Model): string {
  const { variant, precision, threads } = model.info;
  return [variant, precision, ...(threads > 1 ? [`${threads} threads`] : [])].join(' · ');
}

function showError(message: string | undefined): void {
  page.error.textContent = message ?? '';
  page.error.hidden = message === undefined;
}

function renderPredictions(predictions: Prediction[]): void {
  page.predictions.replaceChildren(
    ...predictions.map(({ label, probability }) => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'label';
      name.textContent = label;
      const percent = document.createElement('span');
      percent.className = 'probability';
      percent.textContent = `${(probability * 100).toFixed(1)} %`;
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${probability * 100}%`;
      bar.append(fill);
      item.append(name, percent, bar);
      return item;
    }),
  );
}

async function classifyFile(model: Model, file: File): Promise<void> {
  showError(undefined);
  URL.revokeObjectURL(page.preview.src);
  page.preview.src = URL.createObjectURL(file);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const started = performance.now();
    const predictions = model.classify(bytes, { topK: TOP_K });
    const elapsed = performance.now() - started;
    renderPredictions(predictions);
    page.time.textContent = `${elapsed.toFixed(1)} ms`;
    page.variant.textContent = describeModel(model);
    page.result.hidden = false;
  } catch (error) {
    page.result.hidden = true;
    showError(`Cannot classify ${file.name}: ${(error as Error).message}`);
  }
}

/** The file picker and drag-and-drop onto the whole page both classify the (first) file. */
function acceptImages(model: Model): void {
  page.file.disabled = false;
  page.file.addEventListener('change', () => {
    const [file] = page.file.files ?? [];
    if (file) void classifyFile(model, file);
    page.file.value = ''; // picking the same file again is a change too
  });
  document.addEventListener('dragover', (event) => {
    event.preventDefault();
    page.dropZone.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => page.dropZone.classList.remove('dragging'));
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    page.dropZone.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file) void classifyFile(model, file);
  });
}

async function registerServiceWorker(): Promise<void> {
  if (!('serviceWorker' in navigator)) {
    page.offline.textContent = 'not available in this browser';
    return;
  }
  if (!import.meta.env.PROD) {
    page.offline.textContent = 'only in the built app (vite build)';
    return;
  }
  try {
    await navigator.serviceWorker.register('./sw.js');
    await navigator.serviceWorker.ready;
    page.offline.textContent = 'ready: the app works without a network';
  } catch (error) {
    page.offline.textContent = `unavailable (${(error as Error).message})`;
  }
}

/** Asks the browser not to evict the precached model under storage pressure. */
async function requestPersistentStorage(): Promise<void> {
  if (!navigator.storage?.persist) {
    page.storage.textContent = 'persistence not supported';
    return;
  }
  try {
    const persisted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
    page.storage.textContent = persisted ? 'persistent' : 'not persistent (the browser may evict the cache)';
  } catch (error) {
    page.storage.textContent = `unknown (${(error as Error).message})`;
  }
}

async function main(): Promise<void> {
  void registerServiceWorker();
  void requestPersistentStorage();
  try {
    const model = await loadDefaultModel();
    acceptImages(model);
    page.status.textContent = `Ready: ${describeModel(model)}`;
    page.app.dataset.state = 'ready';
  } catch (error) {
    page.status.textContent = 'The model could not be loaded.';
    showError((error as Error).message);
    page.app.dataset.state = 'failed';
  }
}

void main();
