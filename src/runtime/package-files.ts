/**
 * Files that ship with the package (the kernel builds, the default model), read from disk on hosts with a file
 * system and fetched elsewhere.
 */

import type { KernelVariant } from './kernels.js';

export async function readKernelBytes(variant: KernelVariant): Promise<Uint8Array<ArrayBuffer>> {
  return readPackageFile(new URL(`../../build/googlenet.${variant}.wasm`, import.meta.url));
}

export async function readPackageFile(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
