// Loads an nn.LSTM (proj_size 3) and an nn.GRU that PyTorch saved as .safetensors, runs them on
// @recurrent/cpu over a padded batch with lengths (pack_padded_sequence in PyTorch) and compares with
// PyTorch's own results (both written by fixtures/make_fixtures.py).
import { readFileSync } from 'node:fs';
import { createGru, createLstm, readSafetensors } from '@recurrent/core';
import { createBackend } from '@recurrent/cpu';

const backend = await createBackend();
const maxDiff = (ours, theirs) => ours.reduce((max, v, i) => Math.max(max, Math.abs(v - theirs[i])), 0);

for (const [name, create] of [['lstm', createLstm], ['gru', createGru]]) {
  const pytorch = JSON.parse(readFileSync(new URL(`fixtures/${name}-expected.json`, import.meta.url), 'utf8'));
  const weights = readSafetensors(readFileSync(new URL(`fixtures/${name}.safetensors`, import.meta.url)));
  const model = await create(pytorch.config, weights, backend);
  const input = { data: Float32Array.from(pytorch.input.data), shape: pytorch.input.shape };
  const result = await model.forward(input, undefined, { lengths: pytorch.lengths });

  console.log(`nn.${name.toUpperCase()}(${JSON.stringify(pytorch.config)}) on engine "${model.backend}", lengths ${JSON.stringify(pytorch.lengths)}`);
  for (const key of ['output', 'hN', 'cN'].filter((k) => k in pytorch)) {
    console.log(`  ${key.padEnd(6)} ${JSON.stringify(result[key].shape).padEnd(10)} max |ours − PyTorch| ${maxDiff(result[key].data, pytorch[key].data).toExponential(2)}`);
  }
  model.dispose();
}
