/**
 * Reading bytes by URL or path: the package's own files (the kernel builds, the default model) and models given
 * as a URL or a path. file: URLs and paths go to the host's local file reader where it has one; everything else
 * is fetched (http(s) everywhere, file: in Deno).
 */

import { GoogLeNetError } from '../errors.js';
import { host, type LocalFileReader } from './host.js';
import type { KernelVariant, ThreadedKernelVariant } from './kernels.js';
import { overModelLimit, readStreamCapped } from './read-capped.js';

/** One literal `new URL(…, import.meta.url)` per build, the form bundlers (Vite, webpack) detect and ship. */
const KERNEL_URLS: Record<KernelVariant, () => URL> = {
  'relaxed-simd': () => new URL('../../build/googlenet.relaxed-simd.wasm', import.meta.url),
  simd: () => new URL('../../build/googlenet.simd.wasm', import.meta.url),
  scalar: () => new URL('../../build/googlenet.scalar.wasm', import.meta.url),
};

/** The threaded builds (shared, imported memory): SIMD only. */
const THREADED_KERNEL_URLS: Record<ThreadedKernelVariant, () => URL> = {
  'relaxed-simd': () => new URL('../../build/googlenet.relaxed-simd.threads.wasm', import.meta.url),
  simd: () => new URL('../../build/googlenet.simd.threads.wasm', import.meta.url),
};

export function readKernelBytes(variant: KernelVariant, threaded: boolean): Promise<Uint8Array<ArrayBuffer>> {
  const url = threaded ? THREADED_KERNEL_URLS[variant as ThreadedKernelVariant]() : KERNEL_URLS[variant]();
  const { readPackageFile } = host();
  if (url.protocol !== 'file:' || !readPackageFile) return readUrl(url);
  return readLocal(async () => readPackageFile(url), url, Infinity);
}

/** The bytes at `url`; a response over `maxBytes` (by its Content-Length, or as it streams in) is abandoned. */
export async function readUrl(url: URL, maxBytes = Infinity): Promise<Uint8Array<ArrayBuffer>> {
  const { readLocalFile } = host();
  if (url.protocol === 'file:' && readLocalFile) return readLocal(readLocalFile, url, maxBytes);
  const fail = (reason: string) => new GoogLeNetError(`cannot fetch ${url.href}: ${reason}`);
  const tooLarge = () => fail(overModelLimit(maxBytes)().message);
  try {
    const response = await fetch(url);
    const refuse = async (error: GoogLeNetError) => {
      await response.body?.cancel(); // release the connection
      throw error;
    };
    if (!response.ok) return await refuse(fail(`HTTP ${response.status}`));
    if (Number(response.headers.get('content-length')) > maxBytes) return await refuse(tooLarge());
    if (!response.body) return new Uint8Array(await response.arrayBuffer());
    return await readStreamCapped(response.body, maxBytes, tooLarge);
  } catch (error) {
    throw error instanceof GoogLeNetError ? error : fail((error as Error).message);
  }
}

export function readPath(path: string, maxBytes = Infinity): Promise<Uint8Array<ArrayBuffer>> {
  const { readLocalFile } = host();
  if (!readLocalFile) {
    throw new GoogLeNetError(`cannot read "${path}": this host has no file system; pass the model's bytes or a URL`);
  }
  return readLocal(readLocalFile, path, maxBytes);
}

async function readLocal(read: LocalFileReader, file: string | URL, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await read(file, maxBytes);
  } catch (error) {
    // Node and Bun say ENOENT, Deno throws Deno.errors.NotFound.
    const missing = (error as { code?: string }).code === 'ENOENT' || (error as Error).name === 'NotFound';
    throw new GoogLeNetError(`cannot read ${file}: ${missing ? 'no such file' : (error as Error).message}`);
  }
}
