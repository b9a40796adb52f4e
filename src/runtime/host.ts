/**
 * What the platform provides beyond web-standard APIs. The core runs on fetch alone; each host entry
 * (src/hosts/) fills in what its platform has: a local file reader and threads (Node, Bun, Deno) or compiled
 * kernel builds (Cloudflare Workers, which forbid compiling wasm from bytes).
 */

/**
 * Reads a local file by path or file: URL, reading no more than `maxBytes` (a device or pipe has no size to
 * check first): past it, throws overModelLimit()'s error (read-capped.ts).
 */
export type LocalFileReader = (file: string | URL, maxBytes: number) => Promise<Uint8Array<ArrayBuffer>>;

/**
 * Reads one of the package's kernel builds by its file: URL, synchronously: they are small (about 20 KB) and the
 * package's own, and a synchronous read takes 0.05 ms where an asynchronous open, stat and read take 0.6–2.5 ms
 * of round trips through the event loop, at every cold start.
 */
export type PackageFileReader = (url: URL) => Uint8Array<ArrayBuffer>;

/** The main thread's end of a started thread. */
export interface ThreadPort {
  postMessage(message: unknown): void;
  /** Calls `listener` with the first message the thread posts (the only one: it says whether the thread started). */
  onFirstMessage(listener: (message: unknown) => void): void;
  /** Calls `listener` if the thread fails to start or throws. */
  onError(listener: (error: Error) => void): void;
  terminate(): void;
}

export interface Host {
  /** Absent where there is no file system (browsers, Workers). */
  readLocalFile?: LocalFileReader;
  /** Absent where there is no file system; kernel builds are then read as any other URL. */
  readPackageFile?: PackageFileReader;
  /**
   * Whether kernel builds are compiled and instantiated synchronously (Node, Bun, Deno): 0.4–0.8 ms for a build,
   * where WebAssembly.compile() and instantiate(), which wait for the event loop, took up to 4 ms in Deno. Browsers
   * refuse synchronous compiles of more than 4 KB on their main thread.
   */
  compilesSynchronously?: boolean;
  /**
   * Starts a thread that runs the package's thread worker (threads.ts's serveThread); a thread left idle must not
   * keep the process alive. Absent where the package runs single-threaded (browsers, Workers).
   */
  startThread?: () => ThreadPort;
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
