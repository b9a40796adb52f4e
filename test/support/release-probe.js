// Run by Deno and Bun (test/hosts.test.ts): loads the default model by path through the host's file reader and
// prints, as JSON, whether the model file's bytes were handed back once the model was built, and a label to show
// that the model loaded.
const { loadModel } = await import(typeof Deno === 'undefined' ? '../../dist/hosts/node.js' : '../../dist/hosts/deno.js');
const { configureHost, host } = await import('../../dist/runtime/host.js');

const path = new URL('../../models/googlenet-seed-fmnist.int8.safetensors', import.meta.url).pathname;
const hostOwn = host();
let modelBytes;
configureHost({
  ...hostOwn,
  readLocalFile: async (file, maxBytes) => {
    const bytes = await hostOwn.readLocalFile(file, maxBytes);
    if (String(file) === path) modelBytes = bytes;
    return bytes;
  },
});
const model = await loadModel(path);
console.log(JSON.stringify({ label: model.metadata.labels[7], released: modelBytes?.buffer.byteLength === 0 }));
