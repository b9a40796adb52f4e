/**
 * The raw logits of the package's default model for some images, computed as classify() computes them
 * (decodeImage, preprocessImage by the model file's preprocessing, model.run) on a forced kernel build, each as
 * the hex of its float32 bytes so that runtimes can be compared bit for bit; with the SHA-256 of each input
 * tensor's bytes, since int8 quantisation of the input could hide a preprocessing difference from the logits. Plain JavaScript importing the
 * package by name, so that every runtime runs it as it is: test/cross-runtime.test.ts imports it in Node, Deno
 * and Bun, runs it as a Worker in workerd (the default export) and bundles it with Vite for Chromium.
 */

import { decodeImage, loadModelWithMetadata, preprocessImage } from 'googlenet-wasm';

/**
 * @typedef {object} ProbeRequest
 * @property {import('googlenet-wasm').KernelVariant} variant the kernel build to force
 * @property {number} [threads] threads that share each convolution (default 1)
 * @property {{ name: string, bytes: number[] }[]} images encoded PNG or JPEG files
 * @property {string} [modelUrl] where to fetch the default model's file, for hosts that cannot load it by
 *   themselves (Workers have no file system and bundled modules have no URL)
 *
 * @typedef {{ variant: string, threads: number, precision: string, inputs: Record<string, string>, logits: Record<string, string> }
 *   | { error: string }} ProbeResult
 */

/** @param {ProbeRequest} request @returns {Promise<ProbeResult>} */
export async function probeLogits({ variant, threads, images, modelUrl }) {
  let loaded;
  try {
    loaded = await loadModelWithMetadata(modelUrl === undefined ? undefined : new URL(modelUrl), { variant, threads });
  } catch (error) {
    return { error: String(error) }; // a build the host rejects is a result to compare, not a crash
  }
  const { model, metadata } = loaded;
  const preprocess = /** @type {import('googlenet-wasm').Preprocess} */ (metadata?.preprocess); // the default model has it
  try {
    const batchOfOne = [1, ...model.info.inputs[0].dims.slice(1)];
    /** @type {Record<string, string>} */
    const inputs = {};
    /** @type {Record<string, string>} */
    const logits = {};
    for (const { name, bytes } of images) {
      const input = /** @type {Float32Array<ArrayBuffer>} */ (preprocessImage(decodeImage(new Uint8Array(bytes)), preprocess));
      logits[name] = hex(model.run(input, batchOfOne).data);
      inputs[name] = hex(await crypto.subtle.digest('SHA-256', input));
    }
    return { variant: model.info.variant, threads: model.info.threads, precision: model.info.precision, inputs, logits };
  } finally {
    model.dispose();
  }
}

/** @param {ArrayBufferView | ArrayBuffer} data */
function hex(data) {
  const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The Worker: POST a ProbeRequest as JSON, get its ProbeResult as JSON. */
export default {
  /** @param {Request} request */
  async fetch(request) {
    return Response.json(await probeLogits(await request.json()));
  },
};
