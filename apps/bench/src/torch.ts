import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RnnError } from '@recurrent/core';
import type { BenchConfig } from './configs.js';
import type { Runner, Workload } from './runner.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'python', 'torch_runner.py');
/** Debian's python3, which has python3-torch; RECURRENT_BENCH_PYTHON points elsewhere. */
const PYTHON = process.env.RECURRENT_BENCH_PYTHON ?? '/usr/bin/python3';

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
 * One python3 process holding one PyTorch model of the workload, with our weights and input (handed
 * over once, in a temporary file). run() is a forward in that process; its time includes the line of
 * JSON each way (well under a millisecond), as ORT-web's include its postMessage.
 */
export class TorchProcess {
  private constructor(
    private readonly ask: (message: object) => Promise<Reply>,
    private readonly dir: string,
    private readonly end: () => void,
    readonly version: string,
    readonly threads: number,
  ) {}

  static async start({ config, weights, input }: Workload, threads: number): Promise<TorchProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'recurrent-bench-torch-'));
    // Our tensors, back to back in one file; the process reads each at its byte offset.
    const file = join(dir, 'workload.f32');
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
    await handle.close();

    const child = spawn(PYTHON, [SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-2000)));
    const lines = createInterface({ input: child.stdout });
    const waiting: ((reply: Reply) => void)[] = [];
    let exited: string | undefined;
    const failAll = (why: string): void => {
      exited = why;
      for (const w of waiting.splice(0)) w({ ok: false, error: why });
    };
    child.on('error', (error) => failAll(`${PYTHON} cannot start: ${error.message}`));
    child.on('exit', (code) => failAll(`${PYTHON} exited (code ${code})${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`));
    lines.on('line', (line) => {
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        return; // not ours (a library printing on stdout)
      }
      waiting.shift()?.(reply);
    });
    const ask = (message: object): Promise<Reply> =>
      new Promise<Reply>((resolve) => {
        if (exited) return resolve({ ok: false, error: exited });
        waiting.push(resolve);
        child.stdin.write(JSON.stringify(message) + '\n');
      });
    const end = (): void => {
      if (!exited) child.stdin.end(JSON.stringify({ cmd: 'exit' }) + '\n');
    };
    // A process that has no torch says so at once, before reading any command.
    const loaded = await ask({ cmd: 'load', file, mode: config.mode, config: torchArgs(config), params, input: [input.shape, inputAt], threads });
    if (!loaded.ok) {
      end();
      await rm(dir, { recursive: true, force: true });
      throw new RnnError('unavailable', `PyTorch: ${loaded.error}`);
    }
    return new TorchProcess(ask, dir, end, loaded.torch ?? '?', loaded.threads ?? threads);
  }

  /** One forward; with `wantOutput`, the output sequence (as PyTorch lays it out: batch_first or not). */
  async run(wantOutput: boolean): Promise<Float32Array> {
    const outFile = wantOutput ? join(this.dir, 'output.f32') : null;
    const reply = await this.ask({ cmd: 'run', output: outFile });
    if (!reply.ok) throw new RnnError('internal', `PyTorch: ${reply.error}`);
    if (!outFile) return new Float32Array(0);
    const bytes = await readFile(outFile);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  async close(): Promise<void> {
    this.end();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** PyTorch's own output for a workload: the reference every engine and peer is checked against. */
export async function torchReference(workload: Workload): Promise<{ output: Float32Array; source: string }> {
  const torch = await TorchProcess.start(workload, 1);
  try {
    return { output: await torch.run(true), source: `PyTorch ${torch.version}` };
  } finally {
    await torch.close();
  }
}

/** PyTorch on the CPU with a fixed thread count (Debian's build, OpenBLAS): the native ceiling we chase. */
export function torchRunner(threads: number): Runner {
  return {
    id: 'torch-1t',
    label: `PyTorch, ${threads} thread${threads === 1 ? '' : 's'}`,
    group: 'peer',
    async prepare(workload) {
      const torch = await TorchProcess.start(workload, threads);
      let checked = false;
      return {
        detail: `torch ${torch.version}, ${torch.threads} thread(s)`,
        async run() {
          // Only the first (check) run ships the output back; timed runs return an empty array.
          const output = await torch.run(!checked);
          checked = true;
          return output;
        },
        dispose: () => torch.close(),
      };
    },
  };
}
