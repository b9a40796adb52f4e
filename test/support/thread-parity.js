// Run by Deno and Bun (test/threads.test.ts): loads the seed GoogLeNet fixture with 1 and 2 threads, in f32 and
// int8, and prints whether the outputs have the same bits, as JSON.
const { loadModel } = await import(typeof Deno === 'undefined' ? '../../dist/hosts/node.js' : '../../dist/hosts/deno.js');

const model = new URL('../fixtures/generated/seed-googlenet.onnx', import.meta.url);
const result = { threads: 0 };
for (const precision of ['f32', 'int8']) {
  const [single, shared] = [await loadModel(model, { precision }), await loadModel(model, { precision, threads: 2 })];
  const dims = [1, ...single.info.inputs[0].dims.slice(1)];
  const input = Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37) + 0.5);
  const expected = single.run(input, dims).data, actual = shared.run(input, dims).data;
  result[precision] = expected.length > 0 && expected.every((value, i) => Object.is(value, actual[i]));
  result.threads = shared.info.threads;
  shared.dispose();
}
console.log(JSON.stringify(result));
