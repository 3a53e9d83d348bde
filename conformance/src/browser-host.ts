import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
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
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.msgpack': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wgsl': 'text/plain',
};

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, so WASM threads); every answer has them. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
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

/**
 * URL prefix → what answers below it: a directory whose files are served (`index.html` for the prefix
 * itself), or a function given the rest of the path that answers the request (the headers are set).
 */
export type Route = [prefix: string, target: string | ((rest: string, response: ServerResponse) => void)];

/** Serves `routes` (the first whose prefix matches) with the headers that make the page cross-origin isolated. */
function serve(routes: Route[]): Promise<Server> {
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    const [prefix, target] = routes.find(([p]) => path.startsWith(p))!;
    const relative = path.slice(prefix.length);
    for (const [name, value] of Object.entries(ISOLATION_HEADERS)) response.setHeader(name, value);
    if (typeof target === 'function') {
      target(relative, response);
      return;
    }
    const root = resolve(target);
    const file = resolve(root, relative || 'index.html');
    if (!file.startsWith(root + sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** A page open in headless Chromium, and what it has said so far. */
export interface OpenPage {
  page: Page;
  /** Console errors and uncaught exceptions, for the caller to take. */
  errors: string[];
  /** Every console message and uncaught exception, to explain a page that did not start. */
  said: string[];
  /** Closes the browser and the server. */
  close(): Promise<void>;
}

export interface OpenPageOptions {
  /** What is served on 127.0.0.1; the page is the one at `/`, so one route's prefix is `/`. */
  routes: Route[];
  /** Resolves once the page has started (an uncaught exception while it loads means it never will). */
  ready(page: Page): Promise<unknown>;
  /** Chromium flags besides CHROMIUM_ARGS. */
  args?: string[];
  /** The page's size; Playwright's default (1280 × 720) when absent. */
  viewport?: { width: number; height: number };
  /** Runs on the blank page before it loads: exposeFunction, listeners, default timeouts. */
  beforeLoad?(page: Page): unknown;
}

/**
 * Serves `routes` on 127.0.0.1, cross-origin isolated, opens `/` in headless Chromium (a fresh profile,
 * CHROMIUM_ARGS: WebGPU on SwiftShader) through playwright-core, and waits until `ready` resolves.
 */
export async function openPage(options: OpenPageOptions): Promise<OpenPage> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new RnnError('unavailable', `Chromium is not at ${CHROMIUM_PATH}: install Debian's chromium (scripts/setup.sh does) or set CHROMIUM_PATH`);
  }
  const home = options.routes.find(([prefix]) => prefix === '/')?.[1];
  if (typeof home === 'string' && !existsSync(join(home, 'index.html'))) {
    throw new RnnError('unavailable', `The page ${join(home, 'index.html')} does not exist: build it first (pnpm build)`, { entry: home });
  }
  let server: Server | null = null;
  let browser: Browser | null = null;
  const close = async () => {
    await browser?.close().catch(() => {});
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  };
  try {
    server = await serve(options.routes);
    const { port } = server.address() as AddressInfo;

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...(options.args ?? [])] });
    const page = await browser.newPage(options.viewport && { viewport: options.viewport });
    const errors: string[] = [];
    const said: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console.error: ${message.text()} (${message.location().url})`);
      said.push(`console.${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => {
      errors.push(`uncaught: ${error.message}`);
      said.push(`uncaught: ${error.message}`);
    });
    await options.beforeLoad?.(page);
    let onPageError: (error: Error) => void = () => {};
    const crashed = new Promise<never>((_, reject) => (onPageError = reject));
    crashed.catch(() => {}); // handled by the race below, even when it rejects before the race starts
    page.once('pageerror', onPageError);
    try {
      await page.goto(`http://127.0.0.1:${port}/`);
      await Promise.race([options.ready(page), crashed]);
      page.off('pageerror', onPageError);
    } catch (error) {
      throw new Error(`the page did not start (${(error as Error).message.split('\n')[0]}); the page said:\n${said.join('\n') || '(nothing)'}`);
    }
    return { page, errors, said, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Bundles a page whose module is `main` (JS importing by absolute path) with Vite, then opens it as
 * openPage does, beside `routes`, and waits until the page has defined `globalThis[ready]`.
 */
async function openBundledPage(entryPath: string, main: string, ready: string, routes: Route[] = []): Promise<OpenPage> {
  if (!existsSync(entryPath)) {
    throw new RnnError('unavailable', `The entry ${entryPath} does not exist: build the package first (pnpm build)`, { entry: entryPath });
  }
  const dir = await mkdtemp(join(tmpdir(), 'recurrent-browser-'));
  try {
    await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>recurrent</title><link rel="icon" href="data:,"><script type="module" src="./main.js"></script>\n');
    await writeFile(join(dir, 'main.js'), main);
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
    const opened = await openPage({
      routes: [...routes, ['/', join(dir, 'dist')]],
      ready: (page) => page.waitForFunction((name) => (globalThis as Record<string, unknown>)[name] !== undefined, ready, { timeout: 60_000 }),
    });
    return { ...opened, close: () => opened.close().finally(() => rm(dir, { recursive: true, force: true })) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Bundles a page that imports `entry` (the engine) and the in-page runner, serves it and the vectors,
 * and opens it in headless Chromium.
 */
export async function startBrowserSession(options: { entry: URL | string; vectorsDir?: string }): Promise<BrowserSession> {
  const main =
    `import * as engine from ${JSON.stringify(toPath(options.entry))};\n` +
    `import { installBrowserRunner } from ${JSON.stringify(runnerPath())};\n` +
    `installBrowserRunner(engine, new URL('/vectors/', location.href).href);\n`;
  const { page, errors, close } = await openBundledPage(toPath(options.entry), main, '__recurrentConformance', [
    ['/vectors/', options.vectorsDir ?? VECTORS_DIR],
    ['/gradient-vectors/', GRADIENT_VECTORS_DIR],
    ['/trajectory-vectors/', TRAJECTORY_VECTORS_DIR],
  ]);
  type Window = { __recurrentConformance: BrowserRunner };
  return {
    page,
    init: () => page.evaluate(() => (globalThis as unknown as Window).__recurrentConformance.init()),
    runCase: (id, check = 'forward') =>
      page.evaluate(([caseId, kind]) => (globalThis as unknown as Window).__recurrentConformance.runCase(caseId, kind), [id, check] as const),
    takeConsoleErrors: () => errors.splice(0),
    close,
  };
}

/**
 * Runs a test page in headless Chromium: bundles `entry` (a module exporting `run(): Promise<T>`, which
 * imports the built engine) with Vite, serves it cross-origin isolated (SharedArrayBuffer, so WASM threads)
 * on 127.0.0.1, opens it with the WebGPU flags, and gives back what `run()` resolved with. A `run()` that
 * rejects, or a page that does not start, rejects with what the page said.
 *
 *     const report = await runInChromium<Report>(new URL('./entries/faults-page.ts', import.meta.url));
 */
export async function runInChromium<T = unknown>(entry: URL | string): Promise<T> {
  // The page calls run() rather than importing the entry bare: engine packages are sideEffects: false.
  const main =
    `import { run } from ${JSON.stringify(toPath(entry))};\n` +
    `globalThis.__recurrentRun = run().then((value) => ({ value }), (error) => ({ failed: String(error?.stack ?? error) }));\n`;
  const { page, said, close } = await openBundledPage(toPath(entry), main, '__recurrentRun');
  try {
    type Outcome = { value: T } | { failed: string };
    const outcome = await page.evaluate(() => (globalThis as unknown as { __recurrentRun: Promise<Outcome> }).__recurrentRun);
    if ('failed' in outcome) throw new Error(`run() failed in the page: ${outcome.failed}\nthe page said:\n${said.join('\n') || '(nothing)'}`);
    return outcome.value;
  } finally {
    await close();
  }
}
