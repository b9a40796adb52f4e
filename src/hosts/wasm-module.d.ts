/** A .wasm import as bundlers for Workers (wrangler, miniflare's CompiledWasm rule) resolve it. */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
