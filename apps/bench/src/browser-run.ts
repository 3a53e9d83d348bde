import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPage, type Route } from '@recurrent/conformance/browser-host';
import type { CliOptions } from './cli.js';
import { environmentInfo, type BenchRun } from './environment.js';
import { progressBar } from './format.js';
import type { ConfigResult, Progress } from './harness.js';
import type { BenchConfig } from './configs.js';
import { MODELS_DIR, machineCpu, nodeReference } from './node-runners.js';
import { makeWorkload } from './runner.js';

const require = createRequire(import.meta.url);
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'browser');

/** URL prefix → folder or answer. ORT-web and the tfjs wasm binaries are served from their packages as they ship. */
function routes(configs: BenchConfig[]): Route[] {
  return [
    ['/reference/', (name, res) => serveReference(configs, name, res)],
    ['/ort/', join(dirname(require.resolve('onnxruntime-web')), '')],
    ['/tfjs-wasm/', dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))],
    ['/models/', MODELS_DIR],
    ['/', PAGE_DIR],
  ];
}

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
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-reference-source': source });
      res.end(new Uint8Array(output.buffer, output.byteOffset, output.byteLength));
    },
    (error: unknown) => res.writeHead(500).end(`Node could not compute the reference: ${String((error as Error).message ?? error).split('\n')[0]}`),
  );
}

/** Runs the benchmark page in headless Chromium (Debian's), WebGPU on its software adapter. */
export async function runInChromium(cli: CliOptions): Promise<BenchRun> {
  const bar = progressBar(process.stderr);
  const debug = (text: string): void => void (process.env.RECURRENT_BENCH_DEBUG && process.stderr.write(`[bench] ${text}\n`));
  let close = async (): Promise<void> => {};
  try {
    const opened = await openPage({
      routes: routes(cli.configs),
      args: ['--js-flags=--expose-gc'],
      beforeLoad: async (page) => {
        if (process.env.RECURRENT_BENCH_DEBUG) page.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
        await page.exposeFunction('benchProgress', (p: Progress) => bar.update({ ...p, config: `chromium ${p.config}` }));
        // The page cannot see the machine's CPU use: it asks this side.
        await page.exposeFunction('benchCpu', () => machineCpu());
      },
      ready: (page) => page.waitForFunction(() => (window as { benchReady?: boolean }).benchReady === true, undefined, { timeout: 60_000 }),
    });
    close = opened.close;
    const { page } = opened;
    debug(`page ready at ${page.url()}`);
    const started = new Date();
    const loadAtStart = loadavg()[0]!;
    const { results, runtime } = await page.evaluate(
      ([configs, engines, options]) =>
        (window as unknown as { runBench(...args: unknown[]): Promise<{ results: unknown[]; runtime: string }> }).runBench(configs, engines, options),
      [cli.configs, cli.engines, cli.options] as const,
    );
    const environment = await environmentInfo(`Chromium ${page.context().browser()?.version() ?? ''} (headless, ${runtime})`.replace('Chromium  ', 'Chromium '));
    return { environment, started: started.toISOString(), options: cli.options, results: results as ConfigResult[], loadAverage: [loadAtStart, loadavg()[0]!] };
  } finally {
    bar.done();
    await close();
  }
}
