// Cancellation on the WebGPU engine: what a signal costs when it never fires, and how soon an aborted
// forward stops.
//   pnpm --filter @recurrent/webgpu build && node bench/abort.mjs                 S and M, RNN
//   node bench/abort.mjs --sizes L --repeats 1     L is ~17 GFLOP: about a minute per forward on SwiftShader
//   options: --sizes S,M,L; --modules rnn,lstm,gru; --repeats N (forwards timed per variant, median; default 3);
//            --at 0.1,0.5,0.9 (when to abort, as fractions of a forward's time)
// Figures: ms/forward without a signal (one submission) and with one that never fires (blocks of ~15 ms,
// signal checked between them), and the blocks it took; then, for an abort at each point, the time from
// abort() to: the call's rejection (core's race), the engine's run settling (it stops submitting; the
// model's next call may start) and the GPU going idle (the blocks in flight done).
import { parseArgs } from 'node:util';
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';

useSoftwareVulkanUnlessChosen();

const { abortable, planForward } = await import('@recurrent/core');
const { chosen, countingBackend, median, sizedModel } = await import('./sizes.mjs');

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    sizes: { type: 'string', default: 'S,M' },
    modules: { type: 'string', default: 'rnn' },
    repeats: { type: 'string', default: '3' },
    at: { type: 'string', default: '0.1,0.5,0.9' },
  },
});
const { names, modes } = chosen(values);
const repeats = Math.max(1, Number(values.repeats));
const fractions = values.at.split(',').map(Number);

const { backend, submissions } = await countingBackend();
const { queue } = backend.device;
const ms = (x) => (Number.isNaN(x) ? '-' : x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)).padStart(8);
console.log(`WebGPU adapter: ${backend.adapter}`);
console.log(`forward, float32; median of ${repeats} after one warm-up run of each variant\n`);

for (const mode of modes) for (const name of names) {
  const { model, resolved, input, batch, seqLen, config } = await sizedModel(backend, name, mode);
  const plan = (signal) => planForward(resolved, input, undefined, signal ? { signal } : undefined).plan;

  const time = async (signal) => {
    await model.forward(plan(signal)); // warm-up; with a signal it also teaches the model its pace
    const times = [];
    let blocks = 0;
    for (let i = 0; i < repeats; i++) {
      const before = submissions();
      const start = performance.now();
      await model.forward(plan(signal));
      times.push(performance.now() - start);
      blocks = submissions() - before;
    }
    return { ms: median(times), blocks };
  };
  const plain = await time(null);
  const signalled = await time(new AbortController().signal);
  console.log(`${mode} ${name}: ${JSON.stringify(config)} B${batch} T${seqLen}`);
  console.log(`  no signal      ${ms(plain.ms)} ms/forward  ${plain.blocks} submission`);
  console.log(`  unused signal  ${ms(signalled.ms)} ms/forward  ${signalled.blocks} submissions (${((signalled.ms / plain.ms - 1) * 100).toFixed(1)}% vs no signal)`);

  console.log('  abort at   abort→rejection  abort→engine settled  abort→GPU idle');
  for (const fraction of fractions) {
    const controller = new AbortController();
    const run = model.forward(plan(controller.signal));
    const call = abortable(controller.signal, () => run);
    let aborted = 0;
    const rejected = call.then(() => NaN, () => performance.now() - aborted);
    const settled = run.then(() => NaN, () => performance.now() - aborted);
    await new Promise((resolve) => setTimeout(resolve, fraction * signalled.ms));
    aborted = performance.now();
    controller.abort();
    const [toRejection, toSettled] = await Promise.all([rejected, settled]);
    await queue.onSubmittedWorkDone();
    const toIdle = performance.now() - aborted;
    const late = Number.isNaN(toSettled) ? '  (finished before the abort)' : '';
    console.log(`  ${(fraction * 100).toFixed(0).padStart(5)}%   ${ms(toRejection)} ms     ${ms(toSettled)} ms          ${ms(toIdle)} ms${late}`);
  }
  model.dispose();
  console.log();
}
console.log(`live GPU buffers after every model's dispose: ${backend.stats().liveBuffers}`);
backend.dispose();
