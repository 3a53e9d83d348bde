#!/usr/bin/env node
// Serves the built demo (dist/) on 127.0.0.1 with the cross-origin isolation headers WASM threads need.
// Usage: node scripts/serve.mjs [port]    (port 0 or absent: 5180, or the next free one)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../dist/', import.meta.url)));
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.msgpack': 'application/octet-stream', '.safetensors': 'application/octet-stream', '.wgsl': 'text/plain',
};

/** Starts the server; resolves to { url, close }. */
export async function serve({ port = 5180, host = '127.0.0.1', root = ROOT } = {}) {
  await stat(join(root, 'index.html')).catch(() => {
    throw new Error(`${root}index.html is missing: build the demo first (pnpm --filter @recurrent/demo build)`);
  });
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path.endsWith('/') ? path + 'index.html' : path));
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    if (!file.startsWith(root)) {
      response.writeHead(403, headers).end('forbidden');
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise((ok, fail) => {
        server.once('error', fail);
        server.listen(port === 0 ? 0 : port + attempt, host, () => ok(undefined));
      });
      break;
    } catch (error) {
      if (error.code !== 'EADDRINUSE' || port === 0 || attempt >= 20) throw error;
    }
  }
  const address = server.address();
  return { url: `http://${host}:${address.port}/`, close: () => new Promise((ok) => server.close(() => ok(undefined))) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = process.argv[2] ? Number(process.argv[2]) : 5180;
  const { url } = await serve({ port });
  console.log(`recurrent demo: open ${url}  (Ctrl+C to stop)`);
}
