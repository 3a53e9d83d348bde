import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '@recurrent/conformance/node';
import { chromium } from 'playwright-core';
import { expect, it } from 'vitest';

// Headless Chromium: the built engine bundled by Vite into one crossOriginIsolated page that aborts
// forwards (one thread and two) and kills a worker in the middle of a threaded one.
it('in Chromium: abort() mid-forward rejects with aborted and leaves the model exact; a worker killed mid-forward gives internal, and the next call is exact', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'recurrent-wasm-faults-'));
  let server: Server | null = null;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const entry = fileURLToPath(new URL('./entries/faults-page.ts', import.meta.url));
    await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>\n');
    await writeFile(join(dir, 'main.js'), `import { run } from ${JSON.stringify(entry)};\nglobalThis.__faults = run().catch((error) => ({ failed: String(error) }));\n`);
    const { build } = await import('vite');
    await build({ configFile: false, root: dir, logLevel: 'error', build: { outDir: join(dir, 'dist'), target: 'esnext', minify: false } });
    server = createServer(async (request, response) => {
      const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
      // Cross-origin isolation: SharedArrayBuffer, so the threaded variant.
      const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
      try {
        const body = await readFile(join(dir, 'dist', path === '/' ? 'index.html' : path));
        response.writeHead(200, { ...headers, 'Content-Type': path.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body);
      } catch {
        response.writeHead(404, headers).end();
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (globalThis as { __faults?: unknown }).__faults !== undefined, null, { timeout: 60_000 }).catch((error: Error) => {
      throw new Error(`the page did not start (${error.message.split('\n')[0]}); it said:\n${errors.join('\n')}`);
    });
    const report = (await page.evaluate(() => (globalThis as unknown as { __faults: Promise<Record<string, unknown>> }).__faults)) as Record<string, any>;
    console.log(`Chromium abort latencies (ms after the scheduled abort): 1 thread ${report.threads1?.latencies}; 2 threads ${report.threads2?.latencies}; killed worker detected in ${report.killedWithinMs} ms`);
    expect(report.failed).toBeUndefined();
    expect(report.crossOriginIsolated).toBe(true);
    for (const [key, threads] of [['threads1', ''], ['threads2', '-threads-2']] as const) {
      expect(report[key]).toMatchObject({ codes: ['aborted'], exactAfterAbort: true, statsAfterAbort: true });
      expect(report[key].variant).toMatch(new RegExp(`^wasm-(relaxed-)?simd${threads}$`));
    }
    expect(report).toMatchObject({ killed: 'internal', exactAfterKill: true });
    expect(report.variantAfterKill).toMatch(/-threads-2$/);
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);
