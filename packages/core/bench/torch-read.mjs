// How fast readTorchStateDict reads a 200 MB torch.save checkpoint, in Node.
//
//   pnpm --filter @recurrent/core build && node packages/core/bench/torch-read.mjs [megabytes]
//
// The checkpoints are written at run time by PyTorch (PYTHON, default /usr/bin/python3 with Debian's
// python3-torch) into a temporary folder that is removed afterwards: a float32 state dict in the zip
// format (the zero-copy case), the same from an unaligned copy of the bytes and in the legacy format
// (both copy every value), in float16 (converted), and with every weight stored transposed (gathered).
// GB/s is file bytes over the time readTorchStateDict takes on bytes already in memory, best of 5.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTorchStateDict } from '../dist/index.js';

const megabytes = Number(process.argv[2] ?? 200);
const python = process.env.PYTHON ?? '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'torch-read-'));

// An LSTM-shaped state dict: 4-gate weight matrices of 1024 × 1024 and their biases, to the requested size.
const generate = `
import sys, torch
megabytes, dir = float(sys.argv[1]), sys.argv[2]
state, total, layer = {}, 0, 0
while total < megabytes * 1e6:
    for name, shape in (("weight_ih", (4096, 1024)), ("weight_hh", (4096, 1024)), ("bias_ih", (4096,)), ("bias_hh", (4096,))):
        state[f"rnn.{name}_l{layer}"] = torch.randn(*shape)
        total += 4 * state[f"rnn.{name}_l{layer}"].numel()
    layer += 1
torch.save(state, f"{dir}/f32-zip.pt")
torch.save(state, f"{dir}/f32-legacy.pt", _use_new_zipfile_serialization=False)
torch.save({k: v.half() for k, v in state.items()}, f"{dir}/f16-zip.pt")
torch.save({k: v.t().contiguous().t() for k, v in state.items()}, f"{dir}/f32-transposed-zip.pt")
`;

function bestOf(runs, bytes) {
  let best = Infinity;
  let dict;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    dict = readTorchStateDict(bytes);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { seconds: best, dict };
}

try {
  console.log(`writing ${megabytes} MB checkpoints with ${python} (torch) into ${dir} …`);
  execFileSync(python, ['-c', generate, String(megabytes), dir], { stdio: 'inherit' });
  console.log(`node ${process.version}, ${process.arch}\n`);
  console.log('file                          MB      ms    GB/s   how');
  const cases = [
    ['f32-zip.pt', 'aligned', 'zero copy: Float32Array views of the bytes'],
    ['f32-zip.pt', 'unaligned', 'bytes at an odd offset: one copy per storage'],
    ['f32-legacy.pt', 'aligned', 'legacy format: storages unaligned, copied'],
    ['f16-zip.pt', 'aligned', 'float16 → float32 through a 64K table'],
    ['f32-transposed-zip.pt', 'aligned', 'non-contiguous: strided gather'],
  ];
  for (const [name, alignment, how] of cases) {
    const file = readFileSync(join(dir, name));
    let bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
    if (alignment === 'unaligned') {
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      bytes = shifted.subarray(1);
    }
    const { seconds, dict } = bestOf(5, bytes);
    let values = 0;
    for (const { data } of Object.values(dict)) values += data.length;
    const size = statSync(join(dir, name)).size;
    const label = `${name}${alignment === 'unaligned' ? ' (+1 B)' : ''}`.padEnd(28);
    console.log(`${label}${(size / 1e6).toFixed(0).padStart(4)} ${(seconds * 1e3).toFixed(1).padStart(7)} ${(size / seconds / 1e9).toFixed(2).padStart(7)}   ${how} (${Object.keys(dict).length} tensors, ${values} values)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
