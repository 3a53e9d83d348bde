// Forward throughput of the WebGPU engine, and where the time goes (projection, recurrence, read-back).
//   pnpm --filter @recurrent/webgpu bench                     S and M
//   pnpm --filter @recurrent/webgpu bench -- --sizes S,M,L    L is ~17 GFLOP: about a minute per forward on SwiftShader
//   pnpm --filter @recurrent/webgpu bench -- --sizes M --modules lstm,gru --repeats 1
//   options: --repeats N (timed forwards per size, median reported; default 3); --modules rnn,lstm,gru (default rnn)
import { parseArgs } from 'node:util';
import { useSoftwareVulkanUnlessChosen } from '@recurrent/conformance/software-gpu';

useSoftwareVulkanUnlessChosen();

const { createGru, createLstm, createRnn, forwardFlops, initStateDict, planForward, planModel, randomTensorData, resolveConfig } = await import('@recurrent/core');
const { createBackend } = await import('../dist/index.js');

const SIZES = {
  S: { batch: 1, seqLen: 100, config: { inputSize: 64, hiddenSize: 64 } },
  M: { batch: 32, seqLen: 128, config: { inputSize: 256, hiddenSize: 256, numLayers: 2, bidirectional: true, batchFirst: true } },
  L: { batch: 64, seqLen: 256, config: { inputSize: 512, hiddenSize: 512 } },
};

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { sizes: { type: 'string', default: 'S,M' }, repeats: { type: 'string', default: '3' }, modules: { type: 'string', default: 'rnn' } },
});
const names = values.sizes.split(',').map((s) => s.trim().toUpperCase());
const repeats = Math.max(1, Number(values.repeats));
for (const name of names) if (!(name in SIZES)) throw new Error(`unknown size ${name}: pick from ${Object.keys(SIZES).join(', ')}`);
const CREATE = { rnn: createRnn, lstm: createLstm, gru: createGru };
const modes = values.modules.split(',').map((s) => s.trim().toLowerCase());
for (const mode of modes) if (!(mode in CREATE)) throw new Error(`unknown module ${mode}: pick from rnn, lstm, gru`);

const backend = await createBackend();
console.log(`WebGPU adapter: ${backend.adapter}${process.env.VK_ICD_FILENAMES ? ` (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})` : ''}`);
console.log(`forward, float32, median of ${repeats} after one warm-up; the split from one more forward (see below)\n`);
console.log('module size  shape                                        ms/forward  GFLOP/s  projection  recurrence  read-back');

let splitMethod = '';
for (const mode of modes) for (const name of names) {
  const { batch, seqLen, config } = SIZES[name];
  const weights = initStateDict(config, 1, mode);
  const shape = config.batchFirst ? [batch, seqLen, config.inputSize] : [seqLen, batch, config.inputSize];
  const input = { data: randomTensorData(batch * seqLen * config.inputSize, 2), shape };
  const model = await CREATE[mode](config, weights, backend);
  await model.forward(input);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await model.forward(input);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  const gflops = forwardFlops(config, batch, seqLen, mode) / (ms * 1e6);
  model.dispose();

  // The split: the engine model directly, so profile() is reachable.
  const resolved = resolveConfig(config, mode);
  const engineModel = await backend.createModel(planModel(resolved, weights));
  const { timings } = await engineModel.profile(planForward(resolved, input).plan);
  splitMethod = timings.method;
  engineModel.dispose();
  const total = timings.projection + timings.recurrence + timings.readBack;
  const pct = (s) => `${((100 * s) / total).toFixed(1).padStart(5)}%`;
  const describe = `B${batch} T${seqLen} I${config.inputSize} H${config.hiddenSize}${config.numLayers ? ` ×${config.numLayers} layers` : ''}${config.bidirectional ? ' bidi' : ''}${config.batchFirst ? ' batch_first' : ''}`;
  console.log(
    `${mode.toUpperCase().padEnd(6)} ${name.padEnd(5)} ${describe.padEnd(44)} ${ms.toFixed(1).padStart(10)}  ${gflops.toFixed(2).padStart(7)}  ${pct(timings.projection).padStart(10)}  ${pct(timings.recurrence).padStart(10)}  ${pct(timings.readBack).padStart(9)}`,
  );
}
console.log(`\nsplit measured by ${splitMethod}${splitMethod === 'timestamp-query' ? ' (GPU timestamps around each compute pass; read-back = the rest of the wall time: copy, submit and map latency)' : ' (each phase submitted alone, onSubmittedWorkDone after it)'}`);
backend.dispose();
