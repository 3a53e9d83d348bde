import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RnnError } from '@recurrent/core';
import { taskOf, type BenchConfig, type Task } from './configs.js';
import type { Runner, Workload } from './runner.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'python', 'torch_runner.py');
/** Debian's python3, which has python3-torch; RECURRENT_BENCH_PYTHON points elsewhere. */
const PYTHON = process.env.RECURRENT_BENCH_PYTHON ?? '/usr/bin/python3';
/** PyTorch runs on one thread: the native single-thread ceiling. */
const THREADS = 1;

interface Reply {
  ok: boolean;
  error?: string;
  torch?: string;
  threads?: number;
  ms?: number;
}

/** nn.RNN / nn.LSTM / nn.GRU's own keyword arguments for a config. */
function torchArgs(c: BenchConfig): Record<string, unknown> {
  const r = c.module;
  return {
    input_size: r.inputSize,
    hidden_size: r.hiddenSize,
    num_layers: r.numLayers,
    bias: r.bias,
    batch_first: r.batchFirst,
    bidirectional: r.bidirectional,
    ...(c.mode === 'rnn' ? { nonlinearity: r.nonlinearity } : {}),
    ...(c.mode === 'lstm' && r.projSize > 0 ? { proj_size: r.projSize } : {}),
  };
}

/**
 * One python3 process with torch imported, for the whole benchmark run (importing torch takes
 * seconds): it holds one model at a time, the workload's, with our weights and input (handed over
 * once per workload, in a temporary file). run() is the task in that process (a forward; every step
 * in turn, the state carried; or forward + loss.backward() with the workload's upstream gradient); its
 * time includes a line of JSON each way (well under a millisecond), as ORT-web's include its postMessage.
 */
class TorchProcess {
  private loaded: Workload | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'recurrent-bench-torch-'));

  private constructor(
    private readonly ask: (message: object) => Promise<Reply>,
    readonly version: string,
  ) {
    process.once('exit', () => rmSync(this.dir, { recursive: true, force: true }));
  }

  static async start(): Promise<TorchProcess> {
    const child = spawn(PYTHON, [SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, OMP_NUM_THREADS: String(THREADS), OPENBLAS_NUM_THREADS: String(THREADS), MKL_NUM_THREADS: String(THREADS) },
    });
    // It lives as long as the benchmark and ends when our stdin pipe closes. It keeps Node alive only
    // while a reply is awaited, so that an idle one never holds a finished benchmark open.
    const pipes = [child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[];
    const hold = (on: boolean): void => {
      if (on) child.ref();
      else child.unref();
      for (const pipe of pipes) (on ? pipe.ref() : pipe.unref());
    };
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-2000)));
    const waiting: ((reply: Reply) => void)[] = [];
    let exited: string | undefined;
    const failAll = (why: string): void => {
      exited = why;
      for (const w of waiting.splice(0)) w({ ok: false, error: why });
    };
    child.on('error', (error) => failAll(`${PYTHON} cannot start: ${error.message}`));
    child.on('exit', (code) => failAll(`${PYTHON} exited (code ${code})${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        return; // not ours (a library printing on stdout)
      }
      waiting.shift()?.(reply);
      if (waiting.length === 0) hold(false);
    });
    const hello = new Promise<Reply>((resolve) => waiting.push(resolve));
    const ask = (message: object): Promise<Reply> =>
      new Promise<Reply>((resolve) => {
        if (exited) return resolve({ ok: false, error: exited });
        waiting.push(resolve);
        hold(true);
        child.stdin.write(JSON.stringify(message) + '\n');
      });
    const ready = await hello;
    if (!ready.ok) throw new RnnError('unavailable', `PyTorch: ${ready.error}`);
    return new TorchProcess(ask, ready.torch ?? '?');
  }

  /** Makes the workload's model the one this process holds (a no-op when it already is). */
  async load(workload: Workload): Promise<void> {
    if (this.loaded === workload) return;
    const { config, weights, input } = workload;
    // Our tensors, back to back in one file; the process reads each at its byte offset.
    const file = join(this.dir, 'workload.f32');
    const handle = await open(file, 'w');
    let offset = 0;
    const write = async (data: Float32Array): Promise<number> => {
      const at = offset;
      await handle.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      offset += data.byteLength;
      return at;
    };
    const params: [string, number[], number][] = [];
    for (const [name, t] of Object.entries(weights)) params.push([name, t.shape, await write(t.data)]);
    const inputAt = await write(input.data);
    const upstream = workload.upstream && [workload.upstream.shape, await write(workload.upstream.data)];
    await handle.close();
    this.loaded = undefined;
    const reply = await this.ask({ cmd: 'load', file, mode: config.mode, config: torchArgs(config), params, input: [input.shape, inputAt], upstream, threads: THREADS });
    if (!reply.ok) throw new RnnError('unavailable', `PyTorch: ${reply.error}`);
    this.loaded = workload;
  }

  /**
   * One run of a task on the loaded model; with `wantOutput`, what it computed: the output sequence
   * (batch_first or not, as PyTorch lays it out), or for `train` the input's gradient and then every
   * parameter's in state-dict order (flattenGradients).
   */
  async run(workload: Workload, wantOutput: boolean, task: Task = taskOf(workload.config)): Promise<Float32Array> {
    await this.load(workload);
    const outFile = wantOutput ? join(this.dir, 'output.f32') : null;
    const reply = await this.ask({ cmd: 'run', task, output: outFile });
    if (!reply.ok) throw new RnnError('internal', `PyTorch: ${reply.error}`);
    if (!outFile) return new Float32Array(0);
    const bytes = await readFile(outFile);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
}

let shared: Promise<TorchProcess> | undefined;
/** The run's python3 process, started on first use (a failure to start is remembered, not retried). */
const torchProcess = (): Promise<TorchProcess> => (shared ??= TorchProcess.start());

/**
 * PyTorch's own output for a workload: the reference every engine and peer is checked against (a
 * stream's is the forward over the whole sequence; a training run's, autograd's gradients).
 */
export async function torchReference(workload: Workload): Promise<{ output: Float32Array; source: string }> {
  const torch = await torchProcess();
  const task = taskOf(workload.config) === 'train' ? 'train' : 'forward';
  return { output: await torch.run(workload, true, task), source: `PyTorch ${torch.version}${task === 'train' ? ' autograd' : ''}` };
}

/**
 * PyTorch on the CPU on one thread (Debian's build, OpenBLAS): the native ceiling we chase. A stream
 * is module(x_t, hx) per step; training is forward + (output·G).sum().backward(), gradients zeroed first.
 */
export const torchRunner: Runner = {
  id: 'torch-1t',
  label: 'PyTorch, 1 thread',
  group: 'peer',
  async prepare(workload) {
    const torch = await torchProcess();
    await torch.load(workload);
    let checked = false;
    return {
      detail: `torch ${torch.version}, ${THREADS} thread`,
      async run() {
        // Only the first (check) run ships the output back; timed runs return an empty array.
        const output = await torch.run(workload, !checked);
        checked = true;
        return output;
      },
      ...(taskOf(workload.config) === 'forward' ? {} : { baseline: () => torch.run(workload, false, 'forward') }),
      dispose() {},
    };
  },
};
