import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RnnError } from '@recurrent/core';
import type { Browser, Page } from 'playwright-core';
import type { BrowserRunner } from './browser.js';
import { GRADIENT_VECTORS_DIR } from './gradients-node.js';
import { TRAJECTORY_VECTORS_DIR } from './trajectories-node.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, VECTORS_DIR } from './node.js';
import type { CaseResult, Check } from './run.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.msgpack': 'application/octet-stream',
  '.map': 'application/json',
};

export interface BrowserSession {
  page: Page;
  /** Creates the engine's backend in the page; null, or why it failed. */
  init(): Promise<string | null>;
  /** The case's forward check, or (`stream`) its stream check, run in the page. */
  runCase(id: string, check?: Check): Promise<CaseResult>;
  /** Console errors and uncaught exceptions since the last call. */
  takeConsoleErrors(): string[];
  close(): Promise<void>;
}

function toPath(entry: URL | string): string {
  return entry instanceof URL || entry.startsWith('file:') ? fileURLToPath(entry) : entry;
}

/** The in-page runner: dist/browser.js when running built, src/browser.ts when tests run the sources. */
function runnerPath(): string {
  const js = fileURLToPath(new URL('./browser.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('./browser.ts', import.meta.url));
}

/** Serves `roots` (URL prefix → directory) with the headers that make the page cross-origin isolated. */
function serve(roots: [prefix: string, dir: string][]): Promise<Server> {
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    const [prefix, dir] = roots.find(([p]) => path.startsWith(p))!;
    const relative = path.slice(prefix.length) || 'index.html';
    const root = resolve(dir);
    const file = resolve(root, relative);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    if (!file.startsWith(root + sep)) {
      response.writeHead(403, headers).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, { ...headers, 'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404, headers).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * Bundles a page that imports `entry` (the engine) and the in-page runner with Vite, serves it and the
 * vectors on 127.0.0.1, and opens it in headless Chromium through playwright-core.
 */
export async function startBrowserSession(options: { entry: URL | string; vectorsDir?: string }): Promise<BrowserSession> {
  const entryPath = toPath(options.entry);
  if (!existsSync(entryPath)) {
    throw new RnnError('unavailable', `The engine entry ${entryPath} does not exist: build the package first (pnpm build)`, { entry: entryPath });
  }
  if (!existsSync(CHROMIUM_PATH)) {
    throw new RnnError('unavailable', `Chromium is not at ${CHROMIUM_PATH}: install Debian's chromium (scripts/setup.sh does) or set CHROMIUM_PATH`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'recurrent-conformance-'));
  let server: Server | null = null;
  let browser: Browser | null = null;
  const close = async () => {
    await browser?.close().catch(() => {});
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>recurrent conformance</title><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>\n');
    await writeFile(
      join(dir, 'main.js'),
      `import * as engine from ${JSON.stringify(entryPath)};\n` +
        `import { installBrowserRunner } from ${JSON.stringify(runnerPath())};\n` +
        `installBrowserRunner(engine, new URL('/vectors/', location.href).href);\n`,
    );
    const { build } = await import('vite');
    await build({
      configFile: false,
      root: dir,
      logLevel: 'error',
      build: {
        outDir: join(dir, 'dist'),
        emptyOutDir: true,
        target: 'esnext',
        minify: false,
        // Engines load Node-only packages (Dawn's `webgpu`) behind a runtime check: never bundle them.
        rollupOptions: { external: ['webgpu'] },
      },
    });
    server = await serve([
      ['/vectors/', options.vectorsDir ?? VECTORS_DIR],
      ['/gradient-vectors/', GRADIENT_VECTORS_DIR],
      ['/trajectory-vectors/', TRAJECTORY_VECTORS_DIR],
      ['/', join(dir, 'dist')],
    ]);
    const { port } = server.address() as AddressInfo;

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console.error: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
    // Ready when the runner is installed; an uncaught exception while the page loads means it never will be.
    let onPageError: (error: Error) => void = () => {};
    const crashed = new Promise<never>((_, reject) => (onPageError = reject));
    crashed.catch(() => {}); // handled by the race below, even when it rejects before the race starts
    page.once('pageerror', onPageError);
    try {
      await page.goto(`http://127.0.0.1:${port}/`);
      await Promise.race([
        page.waitForFunction(() => (globalThis as { __recurrentConformance?: unknown }).__recurrentConformance !== undefined, null, { timeout: 60_000 }),
        crashed,
      ]);
      page.off('pageerror', onPageError);
    } catch (error) {
      throw new Error(`the conformance page did not start (${(error as Error).message.split('\n')[0]}); the page said:\n${errors.join('\n') || '(nothing)'}`);
    }
    type Window = { __recurrentConformance: BrowserRunner };
    return {
      page,
      init: () => page.evaluate(() => (globalThis as unknown as Window).__recurrentConformance.init()),
      runCase: (id, check = 'forward') =>
        page.evaluate(([caseId, kind]) => (globalThis as unknown as Window).__recurrentConformance.runCase(caseId, kind), [id, check] as const),
      takeConsoleErrors: () => errors.splice(0),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
