// The "Your model" tab: an nn.RNN, nn.GRU or nn.LSTM state dict (.safetensors, or a torch.save .pt/.pth,
// training checkpoints included) plus a JSON config, run on random or pasted input.
import { MODULE_NAMES, RnnError, isRnnError, randomTensorData, readSafetensors, readTorchStateDict } from '@recurrent/core';
import type { Backend, Mode, RnnConfig, StateDict, Tensor } from '@recurrent/core';
import { createRecurrent, stripPrefix } from './models.js';
import type { RunInfo } from './models.js';
import { $, el, formatMs, guarded } from './ui.js';

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

/** torch.save writes a zip ("PK") or, in the legacy format, a pickle (protocol opcode 0x80). */
function isTorchFile(name: string, bytes: Uint8Array): boolean {
  return /\.(pt|pth|bin|ckpt)$/i.test(name) || (bytes[0] === 0x50 && bytes[1] === 0x4b) || bytes[0] === 0x80;
}

/** The module paths in a state dict's names ('encoder.rnn.weight_ih_l0' → 'encoder.rnn.'), with their tensor counts. */
export function modulePrefixes(dict: StateDict): Map<string, number> {
  const prefixes = new Map<string, number>();
  for (const name of Object.keys(dict)) {
    const prefix = name.slice(0, name.lastIndexOf('.') + 1);
    prefixes.set(prefix, (prefixes.get(prefix) ?? 0) + 1);
  }
  return prefixes;
}

/** A loaded weights file: its whole state dict (after the checkpoint key, if one was needed), and how to re-read it. */
interface WeightsFile {
  name: string;
  bytes: Uint8Array;
  torch: boolean;
  /** For a checkpoint whose top level holds no tensors: the dicts that do (RnnError details.keysWithTensors). */
  keys: string[];
  /** Which of them `dict` was read from. */
  key: string | undefined;
  dict: StateDict;
}

/**
 * Reads a file once to learn what it holds. A torch checkpoint whose top level has no tensors is a
 * `format` error listing the dicts that do: those become the choices, and the likeliest is read.
 */
export function inspectWeights(name: string, bytes: Uint8Array, key?: string): WeightsFile {
  if (!isTorchFile(name, bytes)) return { name, bytes, torch: false, keys: [], key: undefined, dict: readSafetensors(bytes) };
  if (key !== undefined) return { name, bytes, torch: true, keys: [key], key, dict: readTorchStateDict(bytes, { key }) };
  try {
    return { name, bytes, torch: true, keys: [], key: undefined, dict: readTorchStateDict(bytes) };
  } catch (error) {
    const keys = isRnnError(error) && error.code === 'format' ? (error.details.keysWithTensors as string[] | undefined) : undefined;
    if (!keys || keys.length === 0) throw error;
    const preferred = ['model', 'state_dict', 'model_state_dict', 'net'].find((k) => keys.includes(k)) ?? keys[0]!;
    return { ...inspectWeights(name, bytes, preferred), keys };
  }
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
  let weights: WeightsFile | null = null;
  /** The chosen file as read from disk: a file that fails to load fails again, with its message, on Run. */
  let chosen: { name: string; bytes: Uint8Array } | null = null;
  const config = $('own-config') as HTMLTextAreaElement;
  config.value = '{"inputSize": 8, "hiddenSize": 16, "numLayers": 2, "bidirectional": true}';
  const keySelect = $('own-key') as HTMLSelectElement;
  const prefixSelect = $('own-prefix') as HTMLSelectElement;

  /** Forgets the previous file's choices and description (a new file may fail to load). */
  function clearFile(): void {
    weights = null;
    $('own-pick').hidden = true;
    $('own-key-label').hidden = true;
    $('own-prefix-label').hidden = true;
    $('own-file').textContent = '';
  }

  /** Shows what the file holds, and the dict and module choices when there is more than one. */
  function showFile(file: WeightsFile): void {
    weights = file;
    $('own-key-label').hidden = file.key === undefined;
    keySelect.replaceChildren(...file.keys.map((key) => el('option', { value: key }, key)));
    keySelect.value = file.key ?? '';
    const prefixes = modulePrefixes(file.dict);
    const recurrent = [...prefixes.keys()].filter((p) => `${p}weight_ih_l0` in file.dict);
    $('own-prefix-label').hidden = prefixes.size < 2;
    prefixSelect.replaceChildren(
      ...[...prefixes].map(([prefix, count]) =>
        el('option', { value: prefix }, `${prefix || '(no prefix)'} — ${count} tensor${count === 1 ? '' : 's'}${recurrent.includes(prefix) ? ', a recurrent module' : ''}`)),
    );
    let configPrefix: string | undefined;
    try {
      configPrefix = parseConfig(config.value).prefix;
    } catch {
      configPrefix = undefined;
    }
    prefixSelect.value = configPrefix !== undefined && prefixes.has(configPrefix) ? configPrefix : (recurrent[0] ?? [...prefixes.keys()][0] ?? '');
    $('own-pick').hidden = $('own-key-label').hidden && $('own-prefix-label').hidden;
    const what = file.torch ? `a torch.save file${file.key !== undefined ? ` (a checkpoint; the tensors below are under "${file.key}")` : ''}` : 'a .safetensors file';
    $('own-file').textContent =
      `${file.name}: ${what}, ${Object.keys(file.dict).length} tensors` +
      (prefixes.size > 1 ? ` in ${prefixes.size} modules: pick the module to run below.` : '.');
    $('own-file').dataset.keys = file.keys.join(' ');
    $('own-file').dataset.prefixes = [...prefixes.keys()].join(' ');
  }

  /** The state dict the run uses: the picked dict of a checkpoint, then the picked (or configured) module. */
  function pickedStateDict(file: WeightsFile, configPrefix: string): StateDict {
    const prefix = $('own-prefix-label').hidden ? configPrefix : prefixSelect.value;
    if (file.torch) return readTorchStateDict(file.bytes, { ...(file.key !== undefined ? { key: file.key } : {}), ...(prefix ? { prefix } : {}) });
    return prefix ? stripPrefix(file.dict, prefix) : file.dict;
  }

  $('own-weights').addEventListener('change', (event) => {
    void guarded('own-error', async () => {
      clearFile();
      const file = (event.target as HTMLInputElement).files?.[0];
      chosen = file ? { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) } : null;
      if (chosen) showFile(inspectWeights(chosen.name, chosen.bytes));
    });
  });
  keySelect.addEventListener('change', () => {
    void guarded('own-error', async () => {
      if (!weights) return;
      showFile({ ...inspectWeights(weights.name, weights.bytes, keySelect.value), keys: weights.keys });
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
      chosen = null;
      showFile(inspectWeights(`${name}.safetensors`, new Uint8Array(bytes)));
      $('own-output').textContent = `Loaded ${name}.safetensors (${bytes.byteLength} bytes). Press Run.`;
    });
  });
  $('own-run').addEventListener('click', () => {
    void guarded('own-error', async () => {
      $('own-output').textContent = '';
      const { module, config: moduleConfig, prefix } = parseConfig(config.value);
      if (!weights && chosen) showFile(inspectWeights(chosen.name, chosen.bytes));
      if (!weights) throw new RnnError('weights', 'Choose a weights file first: .safetensors, .pt or .pth (or “Use the language classifier”).');
      const stateDict = pickedStateDict(weights, prefix);
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
