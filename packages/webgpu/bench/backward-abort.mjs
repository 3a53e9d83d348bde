// Cancellation of the WebGPU engine's backward: what pacing costs (a signal that never fires against
// one submission) and how soon an aborted backward stops, at the benchmark's sizes.
//   pnpm --filter @recurrent/webgpu build && node bench/backward-abort.mjs              M and L, RNN
//   options: --sizes M,L; --modules rnn,lstm,gru; --aborts N (aborts at random times; default 5);
//            --repeats N (backwards timed per variant, median; default 1: L takes minutes on SwiftShader);
//            --within S (abort within the first S seconds of a backward; default: its whole signalled time);
//            --no-cost (skip timing whole backwards: abort latency only, --within then needed)
// Figures: s/backward without a signal (one submission) and with one that never fires (blocks of ~15 ms
// at the model's measured pace, signal checked between them) and the blocks it took; then for N aborts
// at uniformly random times of a signalled backward, the time from abort() to the engine's backward
// rejecting (it submits nothing more; the model's next call may start) and to the GPU going idle (the
// blocks in flight done): median and max. The module's own promise rejects at once (core races the
// signal), so these are engine-level calls.
import { parseArgs } from 'node:util';
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';

useSoftwareVulkanUnlessChosen();

const { planForward, randomTensorData } = await import('@recurrent/core');
const { chosen, countingBackend, median, sizedModel } = await import('./sizes.mjs');

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    sizes: { type: 'string', default: 'M,L' },
    modules: { type: 'string', default: 'rnn' },
    aborts: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '1' },
    within: { type: 'string' },
    'no-cost': { type: 'boolean', default: false },
  },
});
const { names, modes } = chosen(values);
const aborts = Math.max(1, Number(values.aborts));
const repeats = Math.max(1, Number(values.repeats));
if (values['no-cost'] && values.within === undefined) throw new Error('--no-cost needs --within S: when to abort');

const { backend, submissions } = await countingBackend();
const { queue } = backend.device;
const ms = (x) => x.toFixed(x < 10 ? 1 : 0);
console.log(`WebGPU adapter: ${backend.adapter}`);
console.log(`backward, float32; ${repeats} timed run(s) per variant after a small warm-up; ${aborts} aborts at random times\n`);

for (const mode of modes) for (const name of names) {
  const { model, resolved, input, batch, seqLen, config } = await sizedModel(backend, name, mode);
  const D = config.bidirectional ? 2 : 1;
  const layers = config.numLayers ?? 1;
  const HO = resolved.projSize || resolved.hiddenSize;
  const gradOutput = randomTensorData(seqLen * batch * D * HO, 3);
  const gradHN = randomTensorData(D * layers * batch * HO, 4);
  const plan = (signal) => ({ ...planForward(resolved, input, undefined, signal ? { signal } : undefined).plan, gradOutput, gradHN, gradCN: null });

  const time = async (signal) => {
    const times = [];
    let blocks = 0;
    for (let i = 0; i < repeats; i++) {
      const before = submissions();
      const start = performance.now();
      await model.backward(plan(signal));
      times.push(performance.now() - start);
      blocks = submissions() - before;
    }
    return { ms: median(times), blocks };
  };
  // Warm-up: a two-step backward of one sequence builds the pipelines (the timed runs' buffers are
  // made by the first of them, a small part of its time).
  const tiny = { data: input.data.subarray(0, 2 * config.inputSize), shape: [...(config.batchFirst ? [1, 2] : [2, 1]), config.inputSize] };
  await model.backward({ ...planForward(resolved, tiny).plan, gradOutput: null, gradHN: null, gradCN: null });
  console.log(`${mode} ${name}: ${JSON.stringify(config)} B${batch} T${seqLen}`);
  let window = Number(values.within) * 1000;
  if (!values['no-cost']) {
    const plain = await time(null);
    const paced = await time(new AbortController().signal);
    console.log(`  no signal      ${(plain.ms / 1000).toFixed(2)} s/backward  ${plain.blocks} submission`);
    console.log(`  unused signal  ${(paced.ms / 1000).toFixed(2)} s/backward  ${paced.blocks} submissions (${((paced.ms / plain.ms - 1) * 100).toFixed(1)}% vs no signal)`);
    if (values.within === undefined) window = paced.ms;
  }

  const settled = [];
  const idle = [];
  for (let i = 0; i < aborts; i++) {
    const controller = new AbortController();
    const run = model.backward(plan(controller.signal));
    let aborted = 0;
    const stopped = run.then(() => NaN, () => performance.now() - aborted);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * window));
    aborted = performance.now();
    controller.abort();
    const toSettled = await stopped;
    await queue.onSubmittedWorkDone();
    if (Number.isNaN(toSettled)) continue; // finished before the abort
    settled.push(toSettled);
    idle.push(performance.now() - aborted);
  }
  const row = (xs) => (xs.length ? `median ${ms(median(xs))} ms, max ${ms(Math.max(...xs))} ms` : '-');
  console.log(`  ${settled.length} aborts at random times within ${(window / 1000).toFixed(1)} s: abort → backward rejected ${row(settled)}; abort → GPU idle ${row(idle)}`);
  console.log(`    each (ms): ${settled.map(ms).join(', ')}`);
  model.dispose();
  console.log();
}
console.log(`live GPU buffers after every model's dispose: ${backend.stats().liveBuffers}`);
backend.dispose();
