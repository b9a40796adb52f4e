/**
 * Builds the offline web app into examples/web/dist (`npx vite build examples/web`), with a service worker that
 * precaches every file of the build.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const SERVICE_WORKER_SOURCE = new URL('src/service-worker.js', import.meta.url);
const SERVICE_WORKER_FILE = 'sw.js';

/**
 * Emits sw.js: the service worker source behind the list of every other emitted file and a cache name that
 * hashes their names and contents, so that any change to the build makes browsers install it afresh.
 */
function precachingServiceWorker(): Plugin {
  return {
    name: 'precaching-service-worker',
    apply: 'build',
    generateBundle: {
      order: 'post', // after index.html is emitted
      handler(_options, bundle) {
        const files = Object.keys(bundle).filter((name) => name !== SERVICE_WORKER_FILE).sort();
        const hash = createHash('sha256');
        for (const name of files) {
          const output = bundle[name];
          hash.update(name).update(output.type === 'chunk' ? output.code : output.source);
        }
        const header = [
          `const PRECACHE_URLS = ${JSON.stringify(files)};`,
          `const CACHE_PREFIX = 'googlenet-web-';`,
          `const CACHE_NAME = CACHE_PREFIX + '${hash.digest('hex').slice(0, 16)}';`,
        ].join('\n');
        this.emitFile({
          type: 'asset',
          fileName: SERVICE_WORKER_FILE,
          source: `${header}\n\n${readFileSync(SERVICE_WORKER_SOURCE, 'utf8')}`,
        });
      },
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './', // the app works from any folder it is served from
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0, // the wasm builds stay files: compiled streaming, and cached as they are
  },
  plugins: [precachingServiceWorker()],
});
