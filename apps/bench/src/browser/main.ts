// The benchmark in a page: the same harness and runners as in Node, minus onnxruntime-node.
// browser-run.ts serves this page (cross-origin isolated) and calls window.runBench.
import * as cpu from '@recurrent/cpu';
import type { BenchConfig } from '../configs.js';
import { cpuReference, runBench, type BenchOptions, type CpuSample, type ConfigResult, type MemoryProbe, type Progress, type Reference } from '../harness.js';
import { ortWebRunner, type FromWorker, type WorkerChannel } from '../ort.js';
import { naiveRunner, oursRunner, wasmRunners, type Runner, type Workload } from '../runner.js';
import { tfjsRunner, type Tf } from '../tfjs.js';

declare global {
  interface Window {
    benchReady?: boolean;
    benchProgress?: (p: Progress) => void;
    benchCpu?: () => Promise<CpuSample | undefined>;
    runBench(configs: BenchConfig[], engines: string[] | undefined, options: BenchOptions): Promise<{ results: ConfigResult[]; runtime: string }>;
  }
}

async function loadModel(file: string): Promise<Uint8Array | undefined> {
  const response = await fetch(`/models/${file}`);
  return response.ok ? new Uint8Array(await response.arrayBuffer()) : undefined;
}

let tfPromise: Promise<Tf> | undefined;
const loadTf = (): Promise<Tf> =>
  (tfPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
    setWasmPaths('/tfjs-wasm/');
    // tfjs's threaded wasm build fails to start its workers once bundled ("e is not defined"), and
    // waits forever: use its single-threaded SIMD build, as in Node.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return tf as unknown as Tf;
  })());

function spawnOrtWebWorker(): WorkerChannel {
  const worker = new Worker(new URL('./ort-web-worker.ts', import.meta.url), { type: 'module' });
  return {
    send: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.addEventListener('message', (e: MessageEvent<FromWorker>) => listener(e.data)),
    terminate: () => worker.terminate(),
  };
}

function browserRunners(): Runner[] {
  const cores = navigator.hardwareConcurrency || 1;
  return [
    oursRunner('cpu', '@recurrent/cpu', async () => cpu),
    ...wasmRunners(() => import('@recurrent/wasm'), cores),
    oursRunner('webgpu', '@recurrent/webgpu', () => import('@recurrent/webgpu')),
    ortWebRunner(1, '1 thread', spawnOrtWebWorker, loadModel),
    ortWebRunner(cores, `${cores} threads (all cores)`, spawnOrtWebWorker, loadModel),
    tfjsRunner('wasm', loadTf),
    tfjsRunner('cpu', loadTf),
    naiveRunner,
  ];
}

const memory: MemoryProbe = {
  // Chromium runs with --js-flags=--expose-gc; performance.memory is Chromium's JS heap figure.
  gc: () => (window as unknown as { gc?: () => void }).gc?.(),
  sample: () => ({ heap: (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize }),
  // The machine's CPU use, from the Node side (browser-run.ts); Chromium's own share is not visible.
  cpu: async () => window.benchCpu?.(),
};

async function adapterName(): Promise<string> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null> } }).gpu;
  const adapter = await gpu?.requestAdapter().catch(() => null);
  if (!adapter) return 'no WebGPU adapter';
  const info = adapter.info ?? {};
  return `WebGPU adapter: ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed'}`;
}

/**
 * The reference comes from the Node side (browser-run.ts), which runs PyTorch on the same seeded
 * workload; where it cannot, the page falls back to @recurrent/cpu, as Node does.
 */
async function reference(w: Workload): Promise<Reference> {
  const response = await fetch(`/reference/${encodeURIComponent(w.config.name)}`);
  if (response.ok) return { output: new Float32Array(await response.arrayBuffer()), source: response.headers.get('x-reference-source') ?? 'Node' };
  return cpuReference(w, (await response.text()) || `no reference from Node (HTTP ${response.status})`);
}

window.runBench = async (configs, engines, options) => {
  const runners = browserRunners().filter((r) => !engines || engines.includes(r.id));
  const results = await runBench(configs, runners, options, memory, (p) => window.benchProgress?.(p), reference);
  const isolated = globalThis.crossOriginIsolated ? 'cross-origin isolated' : 'NOT cross-origin isolated';
  return { results, runtime: `${isolated}, ${navigator.hardwareConcurrency} threads, ${await adapterName()}` };
};
window.benchReady = true;
