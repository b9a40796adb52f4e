/**
 * The builds are valid modules with the features their names promise (the threaded ones over a shared memory), and
 * the runtime picks among them safely.
 */

import initWabt from 'wabt';
import { basename } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { KERNEL_VARIANTS, loadKernels, type KernelVariant } from '../src/runtime/kernels.js';
import { readBuild } from './support/raw-kernels.js';

const wabt = await initWabt();

function disassemble(bytes: Uint8Array, features: { simd: boolean; relaxed_simd: boolean }): string {
  const module = wabt.readWasm(bytes, { readDebugNames: false, ...features });
  try {
    module.validate();
    return module.toText({});
  } finally {
    module.destroy();
  }
}

const count = (text: string, pattern: RegExp) => text.match(pattern)?.length ?? 0;

describe('kernel builds', () => {
  it('the scalar build validates without SIMD and contains no v128 instruction', async () => {
    const text = disassemble(await readBuild('scalar'), { simd: false, relaxed_simd: false });
    expect(count(text, /v128|f32x4|i32x4/g)).toBe(0);
  });

  it('the simd build uses v128 instructions but no relaxed ones', async () => {
    const bytes = await readBuild('simd');
    expect(() => disassemble(bytes, { simd: false, relaxed_simd: false })).toThrow();
    const text = disassemble(bytes, { simd: true, relaxed_simd: false });
    expect(count(text, /f32x4\.(add|mul)/g)).toBeGreaterThan(8);
    expect(count(text, /relaxed/g)).toBe(0);
  });

  it('the relaxed-simd build uses relaxed multiply-add and the relaxed int8 dot', async () => {
    const bytes = await readBuild('relaxed-simd');
    expect(() => disassemble(bytes, { simd: true, relaxed_simd: false })).toThrow();
    const text = disassemble(bytes, { simd: true, relaxed_simd: true });
    expect(count(text, /f32x4\.relaxed_madd/g)).toBeGreaterThanOrEqual(8);
    expect(count(text, /relaxed_dot_i8x16_i7x16_add_s/g)).toBe(1);
  });

  it('every build exports the same kernel ABI and names itself', async () => {
    const exportNames = await Promise.all(KERNEL_VARIANTS.map(async (variant) => {
      const module = await WebAssembly.compile(await readBuild(variant));
      const { exports } = await WebAssembly.instantiate(module, {});
      expect((exports.kernelVariant as () => number)()).toBe({ scalar: 0, simd: 1, 'relaxed-simd': 2 }[variant]);
      return WebAssembly.Module.exports(module).map((e) => e.name).sort();
    }));
    expect(exportNames[1]).toEqual(exportNames[0]);
    expect(exportNames[2]).toEqual(exportNames[0]);
  });

  it('the threaded builds import a shared memory and export the same kernel ABI as the others', async () => {
    const plain = WebAssembly.Module.exports(await WebAssembly.compile(await readBuild('simd'))).map((e) => e.name).sort();
    for (const variant of ['simd', 'relaxed-simd']) {
      const module = await WebAssembly.compile(await readBuild(`${variant}.threads` as KernelVariant));
      expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
      expect(WebAssembly.Module.exports(module).map((e) => e.name).sort()).toEqual(plain);
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
      await expect(WebAssembly.instantiate(module, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 2 }) } })).rejects.toThrow();
      const { exports } = await WebAssembly.instantiate(module, { env: { memory } });
      expect((exports.kernelVariant as () => number)()).toBe(variant === 'simd' ? 1 : 2);
    }
  });

  it('all five builds together are at most 100 KB', async () => {
    const builds = ['scalar', 'simd', 'relaxed-simd', 'simd.threads', 'relaxed-simd.threads'] as KernelVariant[];
    const sizes = await Promise.all(builds.map(async (build) => (await readBuild(build)).length));
    expect(sizes.every((size) => size > 4000)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(100 * 1024);
  });
});

describe('kernel selection', () => {
  /** Whether the relaxed build's int8 dot agrees with the scalar build's on this host. */
  async function relaxedDotIsCorrect(): Promise<boolean> {
    const probe = async (variant: KernelVariant) => {
      const { instance } = await WebAssembly.instantiate(await readBuild(variant), {});
      return (instance.exports.probeInt8Dot as () => number)();
    };
    return (await probe('relaxed-simd')) === (await probe('scalar'));
  }

  it('picks relaxed-simd only where its self-test passes, otherwise simd', async () => {
    const kernels = await loadKernels();
    expect(kernels.variant).toBe((await relaxedDotIsCorrect()) ? 'relaxed-simd' : 'simd');
  });

  it('reads and compiles builds only until one passes: the ones after it are never touched', async () => {
    vi.resetModules(); // a fresh kernels.ts, whose cache of compiled builds is empty
    await import('./support/node-host.js');
    const { configureHost, host } = await import('../src/runtime/host.js');
    const fresh = await import('../src/runtime/kernels.js');
    const read: string[] = [];
    const { readPackageFile } = host();
    configureHost({ ...host(), readPackageFile: (url) => (read.push(basename(String(url))), readPackageFile!(url)) });
    const { variant } = await fresh.loadKernels();
    const tried = KERNEL_VARIANTS.slice(0, KERNEL_VARIANTS.indexOf(variant) + 1);
    expect(read).toEqual(tried.map((name) => `googlenet.${name}.wasm`));
    expect(read).not.toContain('googlenet.scalar.wasm');
  });

  it('compiles asynchronously where a thread refuses synchronous compiles (as a Chromium main thread does past 4 KB)', async () => {
    vi.resetModules(); // a fresh kernels.ts, whose cache of compiled builds is empty
    await import('./support/node-host.js');
    const fresh = await import('../src/runtime/kernels.js');
    const refused: string[] = [];
    const refuse = (name: string) => function () {
      refused.push(name);
      throw new RangeError(`WebAssembly.${name}(): refused synchronously`);
    };
    const stubs: Record<string, unknown> = { Module: refuse('Module'), Instance: refuse('Instance') };
    vi.stubGlobal('WebAssembly', new Proxy(WebAssembly, { get: (target, key) => stubs[key as string] ?? Reflect.get(target, key) }));
    try {
      const kernels = await fresh.loadKernels({ variant: 'simd' });
      expect(kernels.variant).toBe('simd');
      expect(kernels.exports.kernelVariant()).toBe(1);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(refused).toEqual(['Module', 'Instance']);
  });

  it('forcing a build that fails its self-test is a clear error; forcing simd or scalar works', async () => {
    if (await relaxedDotIsCorrect()) {
      expect((await loadKernels({ variant: 'relaxed-simd' })).variant).toBe('relaxed-simd');
    } else {
      // Node 20 with --experimental-wasm-relaxed-simd: the relaxed int8 dot returns twice the right value.
      await expect(loadKernels({ variant: 'relaxed-simd' })).rejects.toThrow(/relaxed-simd: int8 dot self-test returned/);
    }
    for (const variant of ['simd', 'scalar'] as KernelVariant[]) expect((await loadKernels({ variant })).variant).toBe(variant);
    await expect(loadKernels({ variant: 'avx' as KernelVariant })).rejects.toThrow(/unknown kernel variant "avx"/);
  });

  it('accepts precompiled WebAssembly.Module objects, as Cloudflare Workers require', async () => {
    const scalar = await WebAssembly.compile(await readBuild('scalar'));
    const simd = await WebAssembly.compile(await readBuild('simd'));
    expect((await loadKernels({ wasmModule: scalar })).variant).toBe('scalar');
    expect((await loadKernels({ wasmModule: [scalar, simd] })).variant).toBe('simd');
    expect((await loadKernels({ wasmModule: [scalar, simd], variant: 'scalar' })).variant).toBe('scalar');
  });
});
