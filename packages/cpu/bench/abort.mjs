// Cancellation on the CPU engine, measured:
//  1. abort latency on L-size calls (B64 T256 I512 H512, 1 layer): a forward or backward is started with a
//     signal and aborted after a random delay; printed is how late the rejection came after the moment the
//     abort was due (the timer's due time: what a user who pressed "cancel" waits; it includes the slice
//     the engine was running when the timer came due) and after abort() itself ran. A 1 ms interval timer
//     also records the longest stretch the event loop was held, in wall time and in this process's CPU
//     time: on a busy machine the wall figure includes time the OS gave other processes, the CPU figure
//     is what the engine's slices cost;
//  2. the cost of pacing: forward without a signal (fully synchronous), against the build in
//     node_modules/.before (if present: copy an earlier dist/ there to compare), and with a signal that
//     never fires (the work runs in slices). Runs are interleaved and timed in process CPU time, which a
//     shared machine distorts least; the cost of slicing is also given in wall time, where the waits
//     between slices show.
// Usage: node bench/abort.mjs [--trials N] [--reps N] [--sizes S,M] [--no-speed] [--no-latency]. Build first.
import { existsSync } from 'node:fs';
import { createGru, createLstm, createRnn, initStateDict, isRnnError, randomTensorData } from '@recurrent/core';
import { createBackend } from '@recurrent/cpu';

const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const trials = Number(option('--trials')) || 20;
const reps = Number(option('--reps')) || 5;
const create = { rnn: createRnn, lstm: createLstm, gru: createGru };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const quantiles = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
  return `min ${q(0)} median ${q(0.5)} p90 ${q(0.9)} max ${q(1)} ms`;
};

async function model(mode, config, backend) {
  return create[mode](config, initStateDict(config, 1, mode), backend);
}

if (!process.argv.includes('--no-latency')) {
  const config = { inputSize: 512, hiddenSize: 512 };
  const [L, N] = [256, 64];
  const input = { data: randomTensorData(L * N * 512, 2), shape: [L, N, 512] };
  const backend = await createBackend();
  for (const [mode, call] of [['rnn', 'forward'], ['lstm', 'forward'], ['gru', 'forward'], ['rnn', 'backward']]) {
    const m = await model(mode, config, backend);
    const upstream = { output: { data: randomTensorData(L * N * 512, 3), shape: [L, N, 512] } };
    const fromDue = [], fromCall = [], heldWall = [], heldCpu = [];
    for (let trial = 0; trial < trials; trial++) {
      const controller = new AbortController();
      const delay = 50 + Math.random() * 950;
      let calledAt = 0;
      const start = performance.now();
      let [lastWall, lastCpu, maxWall, maxCpu] = [start, process.cpuUsage(), 0, 0];
      const ticker = setInterval(() => {
        const [wall, cpu] = [performance.now(), process.cpuUsage()];
        maxWall = Math.max(maxWall, wall - lastWall);
        maxCpu = Math.max(maxCpu, (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000);
        [lastWall, lastCpu] = [wall, cpu];
      }, 1);
      setTimeout(() => {
        calledAt = performance.now();
        controller.abort();
      }, delay);
      const work = call === 'forward' ? m.forward(input, undefined, { signal: controller.signal }) : m.backward(input, undefined, upstream, { signal: controller.signal });
      try {
        await work.finally(() => clearInterval(ticker));
        console.log(`${mode} ${call}: finished before the abort (${delay.toFixed(0)} ms)`);
        continue;
      } catch (error) {
        if (!isRnnError(error) || error.code !== 'aborted') throw error;
      }
      const end = performance.now();
      fromDue.push(end - (start + delay));
      fromCall.push(end - calledAt);
      heldWall.push(maxWall);
      heldCpu.push(maxCpu);
      await sleep(20); // the abandoned call stops at its next slice; let it go before the next trial
    }
    console.log(`${mode} ${call} L (B${N} T${L} I512 H512), ${fromDue.length} aborts: latency after the abort was due ${quantiles(fromDue)}; after abort() ran ${quantiles(fromCall)}`);
    console.log(`  longest hold of the event loop per call: wall ${quantiles(heldWall)}; process CPU ${quantiles(heldCpu)}`);
    m.dispose();
  }
}

if (!process.argv.includes('--no-speed')) {
  const beforePath = new URL('../node_modules/.before/dist/index.js', import.meta.url);
  const before = existsSync(beforePath) ? await import(beforePath.href) : null;
  const sizes = [
    { name: 'S', config: { inputSize: 32, hiddenSize: 32 }, L: 64, N: 1 },
    { name: 'M', config: { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true }, L: 128, N: 32 },
  ];
  /** This process's CPU time and the wall time of a run, in ms: waiting between slices shows only in wall time. */
  const timed = async (run) => {
    const [t0, w0] = [process.cpuUsage(), performance.now()];
    await run();
    const t = process.cpuUsage(t0);
    return { cpu: (t.user + t.system) / 1000, wall: performance.now() - w0 };
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const only = (option('--sizes') ?? 'S,M').split(',');
  for (const { name, config, L, N } of sizes.filter((size) => only.includes(size.name))) {
    for (const mode of ['rnn', 'lstm', 'gru']) {
      const shape = config.batchFirst ? [N, L, config.inputSize] : [L, N, config.inputSize];
      const input = { data: randomTensorData(N * L * config.inputSize, 2), shape };
      const now = await model(mode, config, await createBackend());
      const old = before ? await model(mode, config, await before.createBackend()) : null;
      // Small calls are repeated so that each timing is well above the clock's grain.
      const repeat = name === 'S' ? 200 : 1;
      const loop = (run) => async () => { for (let i = 0; i < repeat; i++) await run(); };
      const signal = new AbortController().signal;
      const runs = { now: loop(() => now.forward(input)), sliced: loop(() => now.forward(input, undefined, { signal })) };
      if (old) runs.before = loop(() => old.forward(input));
      const times = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
      for (const run of Object.values(runs)) await run(); // warm-up
      for (let r = 0; r < reps; r++) for (const [k, run] of Object.entries(runs)) times[k].push(await timed(run));
      const t = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, median(xs.map((x) => x.cpu)) / repeat]));
      const wall = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, median(xs.map((x) => x.wall)) / repeat]));
      console.log(
        `${mode.padEnd(4)} ${name}: forward without a signal ${t.now.toFixed(2)} ms CPU` +
          (old ? `, before ${t.before.toFixed(2)} ms (now/before ${(t.now / t.before).toFixed(3)})` : '') +
          `; with a signal (in slices) ${t.sliced.toFixed(2)} ms (${(t.sliced / t.now).toFixed(3)}× without; wall time ${(wall.sliced / wall.now).toFixed(3)}×); median of ${reps}`,
      );
    }
  }
}
