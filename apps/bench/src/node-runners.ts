import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MemoryProbe } from './harness.js';
import { ortNodeRunner, ortWebRunner, type FromWorker, type OrtLike, type WorkerChannel } from './ort.js';
import { naiveRunner, oursRunner, type EngineModule, type Runner } from './runner.js';
import { tfjsRunner, type Tf } from './tfjs.js';

const require = createRequire(import.meta.url);
export const MODELS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'models');

/** Engines that may not exist yet are imported by a name TypeScript does not resolve. */
const importByName = (name: string): Promise<unknown> => import(name);
const interop = <T>(mod: unknown): T => ((mod as { default?: T }).default ?? mod) as T;

async function loadModel(file: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(join(MODELS_DIR, file)));
  } catch {
    return undefined;
  }
}

let tfPromise: Promise<Tf> | undefined;
const loadTf = (): Promise<Tf> =>
  (tfPromise ??= (async () => {
    // tfjs's cpu backend greets Node users with an advert for tfjs-node on first use; keep the output clean.
    const warn = console.warn;
    console.warn = (...args: unknown[]) => void (String(args[0]).includes('tfjs-node') || warn(...args));
    const tf = interop<Tf>(await import('@tensorflow/tfjs'));
    const wasm = interop<typeof import('@tensorflow/tfjs-backend-wasm')>(await import('@tensorflow/tfjs-backend-wasm'));
    wasm.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/');
    return tf;
  })());

function spawnOrtWebWorker(): WorkerChannel {
  const worker = new Worker(new URL('./ort-web-worker.node.js', import.meta.url));
  worker.unref();
  return {
    send: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.on('message', (m: FromWorker) => listener(m)),
    terminate: () => void worker.terminate(),
  };
}

/** Every engine and peer the benchmark knows in Node, ours first. */
export function nodeRunners(): Runner[] {
  const cores = availableParallelism();
  return [
    oursRunner('cpu', '@recurrent/cpu', () => import('@recurrent/cpu')),
    oursRunner('wasm', '@recurrent/wasm', () => importByName('@recurrent/wasm') as Promise<EngineModule>),
    oursRunner('webgpu', '@recurrent/webgpu', () => importByName('@recurrent/webgpu') as Promise<EngineModule>),
    ortNodeRunner(1, async () => interop<OrtLike>(await import('onnxruntime-node')), loadModel),
    ortNodeRunner('default', async () => interop<OrtLike>(await import('onnxruntime-node')), loadModel),
    ortWebRunner(1, '1 thread', spawnOrtWebWorker, loadModel),
    ortWebRunner(cores, `${cores} threads (all cores)`, spawnOrtWebWorker, loadModel),
    tfjsRunner('wasm', loadTf),
    tfjsRunner('cpu', loadTf),
    naiveRunner,
  ];
}

export const nodeMemory: MemoryProbe = {
  gc: () => (globalThis as { gc?: () => void }).gc?.(),
  sample() {
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed + m.external };
  },
};
