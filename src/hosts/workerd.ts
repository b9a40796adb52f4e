/**
 * The package on Cloudflare Workers. Workers forbid compiling wasm from bytes, so the kernel builds are imported
 * as modules (wrangler's default rules make a .wasm import a WebAssembly.Module) and used when loadModel gets no
 * `wasmModule`. There is no file system: pass the model's bytes (a Data module, an R2 object or a static asset)
 * or an http(s) URL.
 */

import relaxedSimd from '../../build/googlenet.relaxed-simd.wasm';
import simd from '../../build/googlenet.simd.wasm';
import scalar from '../../build/googlenet.scalar.wasm';
import { configureHost } from '../runtime/host.js';

configureHost({ kernelModules: [relaxedSimd, simd, scalar] });

export * from '../index.js';
