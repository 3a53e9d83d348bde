import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '@recurrent/conformance/node';
import { chromium } from 'playwright-core';
import type { CliOptions } from './cli.js';
import { environmentInfo, type BenchRun } from './environment.js';
import { progressBar } from './format.js';
import type { ConfigResult, Progress } from './harness.js';
import { MODELS_DIR } from './node-runners.js';

const require = createRequire(import.meta.url);
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'browser');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
};

/** URL prefix → folder. ORT-web and the tfjs wasm binaries are served from their packages as they ship. */
function routes(): [string, string][] {
  return [
    ['/ort/', join(dirname(require.resolve('onnxruntime-web')), '')],
    ['/tfjs-wasm/', dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))],
    ['/models/', MODELS_DIR],
    ['/', PAGE_DIR],
  ];
}

/** A static server on 127.0.0.1 with COOP/COEP, so the page is cross-origin isolated (WASM threads). */
async function serve(): Promise<{ server: Server; origin: string }> {
  const table = routes();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [prefix, dir] = table.find(([p]) => path.startsWith(p))!;
    const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'));
    if (!file.startsWith(normalize(dir + sep)) && file !== normalize(dir)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'cross-origin-opener-policy': 'same-origin',
          'cross-origin-embedder-policy': 'require-corp',
          'cross-origin-resource-policy': 'same-origin',
          'cache-control': 'no-store',
        });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server has no port');
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

/** Runs the benchmark page in headless Chromium (Debian's), WebGPU on its software adapter. */
export async function runInChromium(cli: CliOptions): Promise<BenchRun> {
  const { server, origin } = await serve();
  const userDataDir = await mkdtemp(join(tmpdir(), 'recurrent-bench-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, '--js-flags=--expose-gc'],
  });
  const bar = progressBar(process.stderr);
  const debug = (text: string): void => void (process.env.RECURRENT_BENCH_DEBUG && process.stderr.write(`[bench] ${text}\n`));
  debug(`Chromium started, page at ${origin}`);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    if (process.env.RECURRENT_BENCH_DEBUG) page.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
    await page.exposeFunction('benchProgress', (p: Progress) => bar.update({ ...p, config: `chromium ${p.config}` }));
    await page.goto(`${origin}/index.html`);
    await page.waitForFunction(() => (window as { benchReady?: boolean }).benchReady === true, undefined, { timeout: 60_000 }).catch(() => {
      throw new Error(`the benchmark page did not start: ${errors.join('; ') || 'no error reported'}`);
    });
    debug('page ready');
    const started = new Date();
    const { results, runtime } = await page.evaluate(
      ([configs, engines, options]) =>
        (window as unknown as { runBench(...args: unknown[]): Promise<{ results: unknown[]; runtime: string }> }).runBench(configs, engines, options),
      [cli.configs, cli.engines, cli.options] as const,
    );
    const environment = await environmentInfo(`Chromium ${context.browser()?.version() ?? ''} (headless, ${runtime})`.replace('Chromium  ', 'Chromium '));
    return { environment, started: started.toISOString(), options: cli.options, results: results as ConfigResult[] };
  } finally {
    bar.done();
    await context.close();
    server.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}
