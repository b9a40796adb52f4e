/**
 * Precaches the built app and serves it cache-first, so that it works with no network after the first visit. Every
 * response it serves carries the two headers that make the page cross-origin isolated, whatever the server sent:
 * shared wasm memory needs it, and with it the app runs the convolutions on several threads.
 * The build (vite.config.ts) prepends PRECACHE_URLS, every file it emitted, and CACHE_NAME, CACHE_PREFIX followed
 * by a hash of those files: a new build installs a new cache, and activating it deletes the old one.
 */
/* global PRECACHE_URLS, CACHE_PREFIX, CACHE_NAME */

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE_NAME);
      // Straight from the network: the HTTP cache may still hold the previous build's index.html.
      await cache.addAll(PRECACHE_URLS.map((url) => new Request(url, { cache: 'reload' })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((name) => name.startsWith(CACHE_PREFIX) && name !== CACHE_NAME).map((name) => caches.delete(name)));
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  if (event.request.method !== 'GET') return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE_NAME);
      // Any URL of the app's pages (the folder, index.html, with a query) is the one precached index.html.
      const cached = event.request.mode === 'navigate'
        ? await cache.match('index.html')
        : await cache.match(event.request);
      return isolated(cached ?? (await fetch(event.request)));
    })(),
  );
});

/** The response with Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy set (the app's own files only). */
function isolated(response) {
  if (response.type === 'opaque' || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
