// Forward throughput of @recurrent/wasm beside @recurrent/cpu and onnxruntime-web's wasm backend (Node,
// numThreads = 1), interleaved in one run so that machine noise hits every engine alike. Outputs are
// checked equal before anything is timed. Run: pnpm --filter @recurrent/wasm bench [S|M|L ...] [rnn|lstm|gru ...]
// [--no-cpu] (leaves out @recurrent/cpu, which takes most of the time at M and L)
// (the script runs Node with --experimental-wasm-relaxed-simd, so that Node 20 has the relaxed-SIMD rows too).
// ORT's RNN model is built by onnx.mjs; its LSTM and GRU models come from torch.onnx.export
// (export-onnx.py, needs python3 with torch and numpy) with the same weights.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import asc from 'assemblyscript/asc';
import * as ort from 'onnxruntime-web';
import { createGru, createLstm, createRnn, forwardFlops, initStateDict, randomTensorData, writeSafetensors } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { createBackend, detectFeatures } from '../dist/index.js';
import { buildOnnxRnn } from './onnx.mjs';

const SIZES = {
  S: { config: { inputSize: 64, hiddenSize: 64 }, N: 1, L: 100, reps: 300 },
  M: { config: { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true }, N: 32, L: 128, reps: 7 },
  L: { config: { inputSize: 512, hiddenSize: 512 }, N: 64, L: 256, reps: 5 },
};
const CREATE = { rnn: createRnn, lstm: createLstm, gru: createGru };
const args = process.argv.slice(2);
const pick = (known) => {
  const wanted = args.filter((a) => a in known);
  return wanted.length > 0 ? wanted : Object.keys(known);
};
const sizes = pick(SIZES);
const modes = pick(CREATE);

ort.env.wasm.numThreads = 1;
const features = detectFeatures();
const engines = [];
for (const relaxedSimd of features.relaxedSimd ? [false, true] : [false]) {
  for (const threads of features.threads ? [1, 2] : [1]) {
    const backend = await createBackend({ relaxedSimd, threads });
    engines.push({ name: `${relaxedSimd ? 'wasm-relaxed-simd' : 'wasm-simd'} ${threads} thread${threads > 1 ? 's' : ''}`, backend, threads });
  }
}
const cpu = await createCpuBackend();
const scratchDir = mkdtempSync(join(tmpdir(), 'recurrent-bench-'));

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The ONNX model of this module and weights, or the reason there is none. */
function onnxModel(mode, config, weights) {
  if (mode === 'rnn') return { bytes: buildOnnxRnn(config, weights) };
  const weightsFile = join(scratchDir, 'weights.safetensors');
  const onnxFile = join(scratchDir, `${mode}.onnx`);
  writeFileSync(weightsFile, writeSafetensors(weights));
  const script = new URL('./export-onnx.py', import.meta.url).pathname;
  // The first Python that has torch: the one on PATH, else Debian's (python3-torch).
  let result;
  for (const python of ['python3', '/usr/bin/python3']) {
    result = spawnSync(python, [script, mode, JSON.stringify(config), weightsFile, onnxFile], { encoding: 'utf8' });
    if (result.status === 0) break;
  }
  if (result.status !== 0) return { reason: `torch.onnx.export failed (needs python3 with torch and numpy): ${(result.stderr || String(result.error)).trim().split('\n').pop()}` };
  return { bytes: readFileSync(onnxFile) };
}

/** GFLOP per CPU-second of peak.ts: the most any 128-bit SIMD kernel can do on this core. */
async function fmaPeak() {
  const wasmFile = join(scratchDir, 'peak.wasm');
  const source = new URL('./peak.ts', import.meta.url).pathname;
  const { error } = await asc.main([source, '--runtime', 'stub', '-O3', '--enable', 'simd', '--enable', 'relaxed-simd', '--outFile', wasmFile]);
  if (error) throw error;
  const { instance } = await WebAssembly.instantiate(readFileSync(wasmFile), { env: { abort() {} } });
  const iterations = 20_000_000;
  let best = 0;
  for (let round = 0; round < 5; round++) {
    const cpu0 = process.cpuUsage();
    instance.exports.peak(iterations);
    const used = process.cpuUsage(cpu0);
    best = Math.max(best, (80 * iterations) / ((used.user + used.system) * 1e3));
  }
  return best;
}

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; "cores got" = this process's CPU time / wall time during the runs (2 threads can only be 2× faster when it nears 2)`);
console.log(`node ${process.version}, ${features.relaxedSimd ? 'relaxed SIMD available' : 'no relaxed SIMD (Node 20: --experimental-wasm-relaxed-simd)'}; median of interleaved runs; GFLOP/s = 2·B·T·D·Σ G·H·(I + H) / time (forwardFlops)`);
if (features.relaxedSimd) console.log(`one core's 128-bit multiply-add peak (bench/peak.ts): ${(await fmaPeak()).toFixed(1)} GFLOP per CPU-second`);
for (const size of sizes) {
  for (const mode of modes) {
    const { config, N, L, reps } = SIZES[size];
    const weights = initStateDict(config, 1, mode);
    const shape = config.batchFirst ? [N, L, config.inputSize] : [L, N, config.inputSize];
    const input = { data: randomTensorData(N * L * config.inputSize, 2), shape };
    const flops = forwardFlops(config, N, L, mode);
    const create = CREATE[mode];

    const runners = [];
    const leftOut = [];
    for (const { name, backend } of engines) {
      const model = await create(config, weights, backend);
      runners.push({ name, run: () => model.forward(input), model });
    }
    if (args.includes('--no-cpu')) {
      leftOut.push('@recurrent/cpu: --no-cpu');
    } else {
      try {
        const cpuModel = await create(config, weights, cpu);
        runners.push({ name: '@recurrent/cpu', run: () => cpuModel.forward(input), model: cpuModel, reps: Math.min(reps, size === 'S' ? reps : 2) });
      } catch (error) {
        leftOut.push(`@recurrent/cpu: ${error.message.split('\n')[0]}`);
      }
    }
    const onnx = onnxModel(mode, config, weights);
    let session = null;
    if (onnx.bytes) {
      session = await ort.InferenceSession.create(onnx.bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      const feed = { input: new ort.Tensor('float32', input.data, shape) };
      runners.push({ name: 'onnxruntime-web wasm 1 thread', run: () => session.run(feed), ort: true });
    } else {
      leftOut.push(`onnxruntime-web: ${onnx.reason}`);
    }

    // Same numbers first: every engine against our first variant; one that differs is left out, loudly.
    const reference = (await runners[0].run()).output.data;
    for (const runner of [...runners.slice(1)]) {
      const data = (await runner.run()).output.data;
      let worst = 0;
      for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(data[i] - reference[i]));
      if (data.length !== reference.length || !(worst < 1e-4)) {
        if (!runner.ort && runner.name.startsWith('wasm')) throw new Error(`${size} ${mode}: ${runner.name} differs from ${runners[0].name} by ${worst}`);
        leftOut.push(`${runner.name}: its output differs from ours by ${worst} (${data.length} vs ${reference.length} values)`);
        runners.splice(runners.indexOf(runner), 1);
      }
    }

    const samples = new Map(runners.map((r) => [r.name, []]));
    // CPU time / wall time of this process during a run: the cores it really got (the machine is shared).
    const cores = new Map(runners.map((r) => [r.name, []]));
    for (let round = 0; round < reps; round++) {
      for (const runner of runners) {
        if (round >= (runner.reps ?? reps)) continue;
        if (round === 0) await runner.run(); // warm-up
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await runner.run();
        const ms = performance.now() - t0;
        const used = process.cpuUsage(cpu0);
        samples.get(runner.name).push(ms);
        cores.get(runner.name).push((used.user + used.system) / 1000 / ms);
      }
    }
    const ortMs = samples.has('onnxruntime-web wasm 1 thread') ? median(samples.get('onnxruntime-web wasm 1 thread')) : null;
    const best = (name) => Math.min(...samples.get(name));
    console.log(`\n${size} ${mode.toUpperCase()}: B${N} T${L} I${config.inputSize} H${config.hiddenSize}, ${config.numLayers ?? 1} layer(s)${config.bidirectional ? ', bidirectional' : ''}${config.batchFirst ? ', batch_first' : ''} — ${(flops / 1e9).toFixed(3)} GFLOP per forward, outputs equal (max |Δ| < 1e-4)`);
    console.log(`  ${'engine'.padEnd(32)} ${'median ms'.padStart(10)}  GFLOP/s (median, best)  cores got  per CPU-s  ratios on medians`);
    for (const runner of runners) {
      const ms = median(samples.get(runner.name));
      let ratio = runner.ort || ortMs === null ? '' : `${(ortMs / ms).toFixed(2)}× ORT-web throughput (best: ${(Math.min(...samples.get('onnxruntime-web wasm 1 thread')) / best(runner.name)).toFixed(2)}×)`;
      if (runner.name.endsWith('2 threads')) {
        const single = runner.name.replace('2 threads', '1 thread');
        ratio += `; ${(median(samples.get(single)) / ms).toFixed(2)}× our 1 thread (best: ${(best(single) / best(runner.name)).toFixed(2)}×)`;
      }
      const gflops = (t) => (flops / t / 1e6).toFixed(2).padStart(7);
      // GFLOP per CPU-second: what the engine does with the CPU time it got, whatever the machine's load.
      const perCpu = Math.max(...samples.get(runner.name).map((t, i) => flops / (t * cores.get(runner.name)[i]) / 1e6));
      console.log(`  ${runner.name.padEnd(32)} ${ms.toFixed(3).padStart(10)}  ${gflops(ms)} ${gflops(best(runner.name))}        ${median(cores.get(runner.name)).toFixed(2).padStart(5)}    ${perCpu.toFixed(1).padStart(6)}   ${ratio}`);
    }
    for (const reason of leftOut) console.log(`  left out: ${reason}`);
    for (const runner of runners) runner.model?.dispose();
    await session?.release();
  }
}
for (const { backend } of engines) backend.dispose();
rmSync(scratchDir, { recursive: true, force: true });
