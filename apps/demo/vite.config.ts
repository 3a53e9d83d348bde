import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/** Engines the app offers. Each is imported by package name; one missing from this build still loads. */
const OPTIONAL_ENGINES = ['@recurrent/wasm', '@recurrent/webgpu'];
const MISSING = '\0missing-engine:';

/**
 * An engine package that is not installed becomes a stub whose createBackend() rejects with an
 * `unavailable` RnnError, so the page shows that engine disabled with the reason instead of failing to build.
 */
function optionalEngines(): Plugin {
  return {
    name: 'recurrent-optional-engines',
    enforce: 'pre',
    async resolveId(id, importer, options) {
      if (!OPTIONAL_ENGINES.includes(id)) return null;
      const resolved = await this.resolve(id, importer, { ...options, skipSelf: true });
      return resolved ?? MISSING + id;
    },
    load(id) {
      if (!id.startsWith(MISSING)) return null;
      const name = id.slice(MISSING.length);
      return `import { RnnError } from '@recurrent/core';
export async function createBackend() {
  throw new RnnError('unavailable', ${JSON.stringify(`${name} is not part of this build of the demo`)});
}`;
    },
  };
}

/** The conformance vectors (PyTorch's golden files) are served under conformance/ for the Conformance tab. */
function conformanceVectors(): Plugin {
  const dir = fileURLToPath(new URL('../vectors/', import.meta.resolve('@recurrent/conformance')));
  const files = () => readdirSync(dir).filter((f) => f.endsWith('.msgpack') || f === 'manifest.json');
  return {
    name: 'recurrent-conformance-vectors',
    configureServer(server) {
      server.middlewares.use('/conformance/', (request, response, next) => {
        const file = decodeURIComponent((request.url ?? '').replace(/^\//, '').split('?')[0]!);
        if (!files().includes(file)) return next();
        response.setHeader('Content-Type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
        response.end(readFileSync(dir + file));
      });
    },
    generateBundle() {
      for (const file of files()) this.emitFile({ type: 'asset', fileName: `conformance/${file}`, source: readFileSync(dir + file) });
    },
  };
}

// Cross-origin isolation lets the WASM engine use SharedArrayBuffer threads.
const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  base: './',
  plugins: [optionalEngines(), conformanceVectors()],
  build: { target: 'es2022', chunkSizeWarningLimit: 2000 },
  server: { host: '127.0.0.1', headers },
  preview: { host: '127.0.0.1', headers },
});
