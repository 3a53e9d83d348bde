import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '@recurrent/conformance/node';
import { chromium } from 'playwright-core';
import type { CliOptions } from './cli.js';
import { environmentInfo, type BenchRun } from './environment.js';
import { progressBar } from './format.js';
import type { ConfigResult, Progress } from './harness.js';
import type { BenchConfig } from './configs.js';
import { MODELS_DIR, machineCpu, nodeReference } from './node-runners.js';
import { makeWorkload } from './runner.js';

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

const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/**
 * `/reference/<config name>`: PyTorch's output for the config's seeded workload (the page builds the
 * same one), computed here in Node, where python3 runs; the page checks every engine against it.
 */
function serveReference(configs: BenchConfig[], name: string, res: ServerResponse): void {
  const config = configs.find((c) => c.name === name);
  if (!config) {
    res.writeHead(404).end(`no config ${JSON.stringify(name)} in this run`);
    return;
  }
  nodeReference(makeWorkload(config)).then(
    ({ output, source }) => {
      res.writeHead(200, { ...ISOLATION_HEADERS, 'content-type': 'application/octet-stream', 'x-reference-source': source });
      res.end(new Uint8Array(output.buffer, output.byteOffset, output.byteLength));
    },
    (error: unknown) => res.writeHead(500).end(`Node could not compute the reference: ${String((error as Error).message ?? error).split('\n')[0]}`),
  );
}

/** A static server on 127.0.0.1 with COOP/COEP, so the page is cross-origin isolated (WASM threads). */
async function serve(configs: BenchConfig[]): Promise<{ server: Server; origin: string }> {
  const table = routes();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path.startsWith('/reference/')) {
      serveReference(configs, path.slice('/reference/'.length), res);
      return;
    }
    const [prefix, dir] = table.find(([p]) => path.startsWith(p))!;
    const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'));
    if (!file.startsWith(normalize(dir + sep)) && file !== normalize(dir)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...ISOLATION_HEADERS });
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
  const { server, origin } = await serve(cli.configs);
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
    // The page cannot see the machine's CPU use: it asks this side.
    await page.exposeFunction('benchCpu', () => machineCpu());
    await page.goto(`${origin}/index.html`);
    await page.waitForFunction(() => (window as { benchReady?: boolean }).benchReady === true, undefined, { timeout: 60_000 }).catch(() => {
      throw new Error(`the benchmark page did not start: ${errors.join('; ') || 'no error reported'}`);
    });
    debug('page ready');
    const started = new Date();
    const loadAtStart = loadavg()[0]!;
    const { results, runtime } = await page.evaluate(
      ([configs, engines, options]) =>
        (window as unknown as { runBench(...args: unknown[]): Promise<{ results: unknown[]; runtime: string }> }).runBench(configs, engines, options),
      [cli.configs, cli.engines, cli.options] as const,
    );
    const environment = await environmentInfo(`Chromium ${context.browser()?.version() ?? ''} (headless, ${runtime})`.replace('Chromium  ', 'Chromium '));
    return { environment, started: started.toISOString(), options: cli.options, results: results as ConfigResult[], loadAverage: [loadAtStart, loadavg()[0]!] };
  } finally {
    bar.done();
    await context.close();
    server.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}
