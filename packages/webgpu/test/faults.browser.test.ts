import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '@recurrent/conformance/node';
import { chromium } from 'playwright-core';
import { expect, it } from 'vitest';

// Headless Chromium (SwiftShader without a GPU): the built engine bundled by Vite into one page that
// aborts a forward between its submissions and destroys the device in the middle of another.
it('in Chromium: abort() mid-forward rejects with aborted and leaves the model exact; a device destroyed mid-forward rejects with device-lost, later calls too; a new backend works', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'recurrent-webgpu-faults-'));
  let server: Server | null = null;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const entry = fileURLToPath(new URL('./entries/faults-page.ts', import.meta.url));
    await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>\n');
    // The package is sideEffects: false, so the page calls the entry rather than importing it bare.
    await writeFile(join(dir, 'main.js'), `import { run } from ${JSON.stringify(entry)};\nglobalThis.__faults = run().catch((error) => ({ failed: String(error) }));\n`);
    const { build } = await import('vite');
    await build({
      configFile: false,
      root: dir,
      logLevel: 'error',
      build: { outDir: join(dir, 'dist'), target: 'esnext', minify: false, rollupOptions: { external: ['webgpu'] } },
    });
    server = createServer(async (request, response) => {
      const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
      try {
        const body = await readFile(join(dir, 'dist', path === '/' ? 'index.html' : path));
        response.writeHead(200, { 'Content-Type': path.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body);
      } catch {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => errors.push(`${message.type()}: ${message.text()}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (globalThis as { __faults?: unknown }).__faults !== undefined, null, { timeout: 60_000 }).catch((error: Error) => {
      throw new Error(`the page did not start (${error.message.split('\n')[0]}); it said:\n${errors.join('\n')}`);
    });
    const report = await page.evaluate(() => (globalThis as unknown as { __faults: Promise<Record<string, unknown>> }).__faults);
    expect(report).toEqual({
      aborted: 'aborted',
      submissionsOfAbortedCall: 2,
      exactAfterAbort: true,
      statsAfterAbort: true,
      lost: 'device-lost',
      later: 'device-lost',
      newBackendExact: true,
    });
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);
