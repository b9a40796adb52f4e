/**
 * Where the kernel builds come from when the caller does not pass compiled modules: the package's build/
 * folder, read from disk on hosts with a file system and fetched elsewhere.
 */

import type { KernelVariant } from './kernels.js';

export async function readKernelBytes(variant: KernelVariant): Promise<Uint8Array<ArrayBuffer>> {
  const url = new URL(`../../build/googlenet.${variant}.wasm`, import.meta.url);
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
