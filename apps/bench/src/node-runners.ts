import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { cpuReference, type MemoryProbe, type Reference } from './harness.js';
import { ortNodeRunner, ortWebRunner, type FromWorker, type OrtLike, type WorkerChannel } from './ort.js';
import { naiveRunner, oursRunner, wasmRunners, type EngineModule, type Runner, type Workload } from './runner.js';
import { tfjsRunner, type Tf } from './tfjs.js';
import { torchReference, torchRunner } from './torch.js';

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
    ...wasmRunners(() => importByName('@recurrent/wasm') as Promise<EngineModule>, cores),
    oursRunner('webgpu', '@recurrent/webgpu', () => importByName('@recurrent/webgpu') as Promise<EngineModule>),
    ortNodeRunner(1, async () => interop<OrtLike>(await import('onnxruntime-node')), loadModel),
    ortNodeRunner('default', async () => interop<OrtLike>(await import('onnxruntime-node')), loadModel),
    ortWebRunner(1, '1 thread', spawnOrtWebWorker, loadModel),
    ortWebRunner(cores, `${cores} threads (all cores)`, spawnOrtWebWorker, loadModel),
    tfjsRunner('wasm', loadTf),
    tfjsRunner('cpu', loadTf),
    torchRunner,
    naiveRunner,
  ];
}

/** PyTorch's own output where python3 with torch runs here, else @recurrent/cpu's (saying why). */
export async function nodeReference(workload: Workload): Promise<Reference> {
  try {
    return await torchReference(workload);
  } catch (error) {
    return cpuReference(workload, `PyTorch did not run: ${String((error as Error).message ?? error).split('\n')[0]}`);
  }
}

/**
 * CPU time the whole machine has spent busy (Linux /proc/stat: all but idle and iowait, in USER_HZ
 * ticks of 10 ms), or undefined elsewhere.
 */
export async function machineCpu(): Promise<{ cores: number; machineBusyMs: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    return { cores: availableParallelism(), machineBusyMs: (total - ticks[3]! - ticks[4]!) * 10 };
  } catch {
    return undefined;
  }
}

/** CPU time of this process's live children (PyTorch's python3), from /proc/<pid>/stat utime + stime. */
async function childrenCpuMs(): Promise<number> {
  let ms = 0;
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid) ms += (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return ms;
}

export const nodeMemory: MemoryProbe = {
  gc: () => (globalThis as { gc?: () => void }).gc?.(),
  sample() {
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed + m.external };
  },
  async cpu() {
    const machine = await machineCpu();
    const own = process.cpuUsage();
    return machine && { ...machine, ownMs: (own.user + own.system) / 1000 + (await childrenCpuMs()) };
  },
};
