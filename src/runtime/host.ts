/**
 * What the platform provides beyond web-standard APIs. The core runs on fetch alone; each host entry
 * (src/hosts/) fills in what its platform has: a local file reader (Node, Bun, Deno) or compiled kernel builds
 * (Cloudflare Workers, which forbid compiling wasm from bytes).
 */

/**
 * Reads a local file by path or file: URL, reading no more than `maxBytes` (a device or pipe has no size to
 * check first): past it, throws overModelLimit()'s error (read-capped.ts).
 */
export type LocalFileReader = (file: string | URL, maxBytes: number) => Promise<Uint8Array<ArrayBuffer>>;

export interface Host {
  /** Absent where there is no file system (browsers, Workers). */
  readLocalFile?: LocalFileReader;
  /** Kernel builds compiled ahead, used when loadModel gets no `wasmModule`. */
  kernelModules?: WebAssembly.Module[];
}

let current: Host = {};

/** Called once by a host entry module, before anything loads. */
export function configureHost(host: Host): void {
  current = host;
}

export function host(): Host {
  return current;
}
