// The "Your model" tab: an nn.RNN, nn.GRU or nn.LSTM state dict (.safetensors) plus a JSON config, run on
// random or pasted input.
import { MODULE_NAMES, RnnError, randomTensorData, readSafetensors } from '@recurrent/core';
import type { Backend, Mode, RnnConfig, Tensor } from '@recurrent/core';
import { createRecurrent, stripPrefix } from './models.js';
import type { RunInfo } from './models.js';
import { $, formatMs, guarded } from './ui.js';

/**
 * `{ inputSize, hiddenSize, … }`, optionally with `"module"` (rnn, gru or lstm; default rnn) and `"prefix"`,
 * or `{ "module"?, "rnn": {…}, "prefix"? }` as the demo's own model files.
 */
export function parseConfig(text: string): { module: Mode; config: RnnConfig; prefix: string } {
  if (text.trim() === '') throw new RnnError('config', 'The config is empty: give JSON like {"inputSize": 8, "hiddenSize": 16}');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RnnError('config', `The config is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RnnError('config', 'The config must be a JSON object like {"inputSize": 8, "hiddenSize": 16}');
  }
  const { prefix, rnn, module = 'rnn', ...rest } = value as Record<string, unknown>;
  if (prefix !== undefined && typeof prefix !== 'string') throw new RnnError('config', `"prefix" must be a string like "rnn.", got ${JSON.stringify(prefix)}`);
  if (typeof module !== 'string' || !Object.hasOwn(MODULE_NAMES, module)) {
    throw new RnnError('config', `"module" must be "rnn", "gru" or "lstm", got ${JSON.stringify(module)}`);
  }
  if (rnn !== undefined) return { module: module as Mode, config: rnn as RnnConfig, prefix: prefix ?? 'rnn.' };
  return { module: module as Mode, config: rest as unknown as RnnConfig, prefix: prefix ?? '' };
}

/** Pasted numbers → one unbatched sequence (L, inputSize). */
export function parseInput(text: string, inputSize: number): Tensor {
  const parts = text.trim().split(/[\s,;]+/);
  const values = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === '' || !Number.isFinite(values[i]));
  if (bad >= 0) throw new RnnError('type', `Input value ${bad + 1} (“${parts[bad]}”) is not a number`);
  if (values.length % inputSize !== 0) {
    throw new RnnError('shape', `Pasted input has ${values.length} numbers, not a multiple of inputSize ${inputSize}: give L × ${inputSize} numbers`);
  }
  return { data: Float32Array.from(values), shape: [values.length / inputSize, inputSize] };
}

function preview(data: Float32Array): string {
  const head = [...data.subarray(0, 6)].map((v) => v.toFixed(5)).join(', ');
  return `[${head}${data.length > 6 ? ', …' : ''}]`;
}

export function setupOwnModel({ currentEngine, currentClassifier, showRun }: {
  currentEngine: () => { backend?: Backend };
  /** The file name (without extension) of the classifier of the cell type picked above. */
  currentClassifier: () => string;
  showRun: (run: RunInfo, what?: string) => void;
}): void {
  let weights: { bytes: ArrayBuffer; name: string } | null = null;
  const config = $('own-config') as HTMLTextAreaElement;
  config.value = '{"inputSize": 8, "hiddenSize": 16, "numLayers": 2, "bidirectional": true}';

  $('own-weights').addEventListener('change', (event) => {
    void guarded('own-error', async () => {
      const file = (event.target as HTMLInputElement).files?.[0];
      weights = file ? { bytes: await file.arrayBuffer(), name: file.name } : null;
    });
  });
  $('own-config-file').addEventListener('change', (event) => {
    void guarded('own-error', async () => {
      const file = (event.target as HTMLInputElement).files?.[0];
      if (file) config.value = await file.text();
    });
  });
  $('own-example').addEventListener('click', () => {
    void guarded('own-error', async () => {
      const name = currentClassifier();
      const base = new URL(`models/${name}`, document.baseURI).href;
      const [info, bytes] = await Promise.all([fetch(`${base}.json`).then((r) => r.json()), fetch(`${base}.safetensors`).then((r) => r.arrayBuffer())]);
      config.value = JSON.stringify({ module: info.module ?? 'rnn', rnn: info.rnn, prefix: 'rnn.' });
      weights = { bytes, name: `${name}.safetensors` };
      $('own-output').textContent = `Loaded ${name}.safetensors (${bytes.byteLength} bytes). Press Run.`;
    });
  });
  $('own-run').addEventListener('click', () => {
    void guarded('own-error', async () => {
      $('own-output').textContent = '';
      const { module, config: moduleConfig, prefix } = parseConfig(config.value);
      if (!weights) throw new RnnError('weights', 'Choose a .safetensors weights file first (or “Use the language classifier”).');
      const dict = readSafetensors(weights.bytes);
      const stateDict = prefix ? stripPrefix(dict, prefix) : dict;
      const model = await createRecurrent(module, moduleConfig, stateDict, currentEngine().backend!);
      try {
        const pasted = ($('own-input') as HTMLTextAreaElement).value;
        let input: Tensor;
        if (pasted.trim() !== '') {
          input = parseInput(pasted, model.config.inputSize);
        } else {
          const L = ($('own-length') as HTMLInputElement).valueAsNumber;
          const N = ($('own-batch') as HTMLInputElement).valueAsNumber;
          if (!Number.isInteger(L) || L < 1 || !Number.isInteger(N) || N < 1) throw new RnnError('shape', 'Sequence length and batch must be whole numbers ≥ 1');
          const shape = model.config.batchFirst ? [N, L, model.config.inputSize] : [L, N, model.config.inputSize];
          input = { data: randomTensorData(L * N * model.config.inputSize, 7), shape };
        }
        const start = performance.now();
        const result = await model.forward(input);
        const { output, hN } = result;
        const ms = performance.now() - start;
        showRun({ backend: model.backend, ms }, 'your model');
        $('own-output').textContent = [
          `${weights.name} on ${model.backend} in ${formatMs(ms)}`,
          `module  nn.${MODULE_NAMES[module]}`,
          `config  ${JSON.stringify(model.config)}`,
          `input   [${input.shape.join(', ')}]${pasted.trim() ? ' (pasted)' : ' (random, seed 7)'}`,
          `output  [${output.shape.join(', ')}] ${preview(output.data)}`,
          `h_n     [${hN.shape.join(', ')}] ${preview(hN.data)}`,
          ...('cN' in result ? [`c_n     [${(result.cN as Tensor).shape.join(', ')}] ${preview((result.cN as Tensor).data)}`] : []),
        ].join('\n');
      } finally {
        model.dispose();
      }
    });
  });
}
