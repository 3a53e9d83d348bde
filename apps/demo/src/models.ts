// The PyTorch-trained models of the demo and the few layers around the recurrent module (one-hot
// input, a linear head, softmax), in plain TypeScript. The module itself (nn.RNN, nn.GRU or nn.LSTM)
// runs on whichever engine is picked.
import { MODULE_NAMES, RnnError, createGru, createLstm, createRnn, readSafetensors, seededRandom } from '@recurrent/core';
import type { Backend, ForwardOptions, ForwardResult, Mode, Rnn, RnnConfig, StateDict, Tensor } from '@recurrent/core';

/** The JSON written next to each .safetensors by apps/demo/training/*.py. */
export interface ModelInfo {
  task: 'classify' | 'generate';
  /** Which torch.nn module the `rnn.*` weights belong to; absent means nn.RNN. */
  module?: Mode;
  /** The module's constructor arguments, camelCased (nonlinearity only for an nn.RNN). */
  rnn: RnnConfig;
  /** The characters the model knows, in one-hot order. */
  vocab: string;
  /** Languages, in the order of the classifier's outputs and of the generator's language one-hot. */
  labels: string[];
  maxLength?: number;
  validationAccuracy?: number;
  validationLoss?: number;
  heldOutWords?: number;
  /** How the model was trained: CPU-time budget (and the wall-clock time it took), torch threads, optimiser steps, passes over the data. */
  training?: { cpuSeconds: number; wallSeconds: number; threads: number; steps: number; epochs: number; wordsPerLanguage: number };
  checks: { word?: string; prefix?: string; language?: number; probabilities: number[] }[];
}

/** nn.Linear: y = x · Wᵀ + b. */
export interface Linear {
  weight: Float32Array; // (out, in)
  bias: Float32Array; // (out)
  inFeatures: number;
  outFeatures: number;
}

/** Weights as exported: `rnn.*` (an nn.RNN, nn.GRU or nn.LSTM state dict) and `head.weight`/`head.bias` (an nn.Linear). */
export interface ModelWeights {
  rnn: StateDict;
  head: Linear;
}

/** Keeps the keys that start with `prefix`, without it (what `module.rnn.state_dict()` would give). */
export function stripPrefix(dict: StateDict, prefix: string): StateDict {
  const out: StateDict = {};
  for (const [name, tensor] of Object.entries(dict)) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = tensor;
  return out;
}

export function readModelWeights(file: ArrayBuffer | Uint8Array, headIn: number, headOut: number): ModelWeights {
  const dict = readSafetensors(file);
  const weight = dict['head.weight'];
  const bias = dict['head.bias'];
  if (!weight || !bias) {
    throw new RnnError('weights', `The model file has no linear head: expected keys "head.weight" and "head.bias", found ${Object.keys(dict).join(', ') || 'no tensors'}`);
  }
  if (weight.shape.join() !== `${headOut},${headIn}` || bias.shape.join() !== `${headOut}`) {
    throw new RnnError('weights', `head.weight must be [${headOut}, ${headIn}] and head.bias [${headOut}], got [${weight.shape.join(', ')}] and [${bias.shape.join(', ')}]`);
  }
  return { rnn: stripPrefix(dict, 'rnn.'), head: { weight: weight.data, bias: bias.data, inFeatures: headIn, outFeatures: headOut } };
}

/** y = x · Wᵀ + b for one row x, read from `x` at `offset`. */
export function linear(head: Linear, x: Float32Array, offset = 0): Float32Array {
  const y = new Float32Array(head.outFeatures);
  for (let o = 0; o < head.outFeatures; o++) {
    let sum = head.bias[o]!;
    const row = o * head.inFeatures;
    for (let i = 0; i < head.inFeatures; i++) sum += x[offset + i]! * head.weight[row + i]!;
    y[o] = sum;
  }
  return y;
}

/** softmax(logits / temperature), computed stably in float64. */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]! / temperature);
  const p = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp(logits[i]! / temperature - max);
  for (let i = 0; i < p.length; i++) p[i]! /= sum;
  return p;
}

/** The index whose cumulative probability first exceeds u ∈ [0, 1). */
export function sampleIndex(probabilities: ArrayLike<number>, u: number): number {
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < probabilities.length; i++) {
    if (probabilities[i]! <= 0) continue;
    cumulative += probabilities[i]!;
    last = i;
    if (u < cumulative) return i;
  }
  return last; // u landed past the rounding error of the sum
}

/** Checks a word against the vocabulary: the messages the page shows for bad input. */
export function checkWord(word: string, vocab: string): string {
  const w = word.normalize('NFC').trim().toLowerCase();
  if (w.length === 0) throw new RnnError('shape', 'Type a word first: an empty word has no characters to run the RNN over.');
  for (const c of w) {
    if (!vocab.includes(c)) {
      throw new RnnError('type', `“${c}” is not a letter this model knows. It reads lower-case letters only: ${vocab}`, { character: c });
    }
  }
  return w;
}

/** Per-run facts the page shows. */
export interface RunInfo {
  backend: string;
  ms: number;
}

export interface Classification extends RunInfo {
  word: string;
  probabilities: Float64Array;
  /** The top layer's output over time, (L, 2·H): forward states then reverse states, per character. */
  hidden: Tensor;
}

/** Any of the three modules behind one forward from zero initial states (an LSTM's c_n is not needed). */
export interface Recurrent {
  readonly module: Mode;
  readonly config: Readonly<Required<Omit<RnnConfig, 'nonlinearity'>>>;
  readonly backend: string;
  forward(input: Tensor, options?: ForwardOptions): Promise<ForwardResult>;
  dispose(): void;
}

/** Builds an nn.RNN, nn.GRU or nn.LSTM through createRnn, createGru or createLstm. */
export async function createRecurrent(module: Mode, config: RnnConfig, weights: StateDict, backend: Backend): Promise<Recurrent> {
  const model =
    module === 'lstm' ? await createLstm(config, weights, backend)
    : module === 'gru' ? await createGru(config, weights, backend)
    : await createRnn(config, weights, backend);
  return {
    module,
    config: model.config,
    backend: model.backend,
    forward: (input, options) => model.forward(input, undefined, options),
    dispose: () => model.dispose(),
  };
}

/** "nn.GRU", for the page. */
export function moduleName(info: ModelInfo): string {
  return `nn.${MODULE_NAMES[info.module ?? 'rnn']}`;
}

/**
 * "Which language is this word?": a bidirectional 2-layer nn.RNN, nn.GRU or nn.LSTM, many-to-one, with a
 * linear head over [h_fwd, h_rev] of the top layer.
 */
export class LanguageClassifier {
  private constructor(
    readonly info: ModelInfo,
    readonly model: Recurrent,
    private readonly head: Linear,
  ) {}

  static async create(info: ModelInfo, weights: ModelWeights, backend: Backend): Promise<LanguageClassifier> {
    return new LanguageClassifier(info, await createRecurrent(info.module ?? 'rnn', info.rnn, weights.rnn, backend), weights.head);
  }

  /** (L, V) one-hot of one word, or (L, N, V) time-major for several, zero-padded. */
  private oneHot(words: string[], batched: boolean): Float32Array {
    const V = this.info.vocab.length;
    const L = Math.max(...words.map((w) => [...w].length));
    const x = new Float32Array(L * words.length * V);
    words.forEach((w, b) => [...w].forEach((c, t) => (x[(t * words.length + b) * V + this.info.vocab.indexOf(c)] = 1)));
    return batched ? x : x.subarray(0, L * V);
  }

  /** The head reads [h_n of the top layer's forward direction, h_n of its reverse direction]. */
  private features(hN: Float32Array, batch: number, b: number): Float32Array {
    const H = this.model.config.hiddenSize;
    const top = 2 * (this.model.config.numLayers - 1);
    const f = new Float32Array(2 * H);
    f.set(hN.subarray((top * batch + b) * H, (top * batch + b + 1) * H), 0);
    f.set(hN.subarray(((top + 1) * batch + b) * H, ((top + 1) * batch + b + 1) * H), H);
    return f;
  }

  async classify(input: string): Promise<Classification> {
    const word = checkWord(input, this.info.vocab);
    const L = [...word].length;
    const start = performance.now();
    const { output, hN } = await this.model.forward({ data: this.oneHot([word], false), shape: [L, this.info.vocab.length] });
    const ms = performance.now() - start;
    const probabilities = softmax(linear(this.head, this.features(hN.data, 1, 0)));
    return { word, probabilities, hidden: output, backend: this.model.backend, ms };
  }

  /** Many words in one batched forward, each running over its own length (`lengths`). */
  async classifyMany(inputs: string[]): Promise<RunInfo & { words: string[]; probabilities: Float64Array[] }> {
    const words = inputs.map((w) => checkWord(w, this.info.vocab));
    if (words.length === 0) throw new RnnError('shape', 'Paste at least one word to classify.');
    const L = Math.max(...words.map((w) => [...w].length));
    const start = performance.now();
    const { hN } = await this.model.forward(
      { data: this.oneHot(words, true), shape: [L, words.length, this.info.vocab.length] },
      { lengths: words.map((w) => [...w].length) },
    );
    const ms = performance.now() - start;
    const probabilities = words.map((_, b) => softmax(linear(this.head, this.features(hN.data, words.length, b))));
    return { words, probabilities, backend: this.model.backend, ms };
  }

  dispose(): void {
    this.model.dispose();
  }
}

export interface GenerateOptions {
  language: number;
  temperature: number;
  seed: number;
  count: number;
}

export interface Generation extends RunInfo {
  words: string[];
  /** The top layer's state after each step of the first word, (steps, H). */
  hidden: Tensor;
  steps: number;
}

/**
 * "Invent a word": a unidirectional 2-layer RNN language model, one-to-many. Each step feeds the
 * previous character (index 0 = word boundary) and the language, carrying h_n into the next step's h_0.
 * All words advance together as one batch; sampling uses one seeded stream, so a seed gives the same
 * words on every engine.
 */
export class WordGenerator {
  private constructor(
    readonly info: ModelInfo,
    readonly rnn: Rnn,
    private readonly head: Linear,
  ) {}

  static async create(info: ModelInfo, weights: ModelWeights, backend: Backend): Promise<WordGenerator> {
    return new WordGenerator(info, await createRnn(info.rnn, weights.rnn, backend), weights.head);
  }

  get tokens(): number {
    return this.info.vocab.length + 1;
  }

  /** One step's input, (1, N, I): one-hot(previous token) ‖ one-hot(language). */
  private stepInput(previous: number[], language: number): Tensor {
    const I = this.rnn.config.inputSize;
    const x = new Float32Array(previous.length * I);
    previous.forEach((token, b) => {
      x[b * I + token] = 1;
      x[b * I + this.tokens + language] = 1;
    });
    return { data: x, shape: [1, previous.length, I] };
  }

  /** Next-token probabilities after the boundary and `prefix` (what the training script checks). */
  async nextProbabilities(prefix: string, language: number): Promise<Float64Array> {
    let h: Tensor | undefined;
    let output: Tensor | undefined;
    for (const token of [0, ...[...prefix].map((c) => this.info.vocab.indexOf(c) + 1)]) {
      ({ output, hN: h } = await this.rnn.forward(this.stepInput([token], language), h));
    }
    return softmax(linear(this.head, output!.data));
  }

  async generate({ language, temperature, seed, count }: GenerateOptions): Promise<Generation> {
    if (!Number.isInteger(language) || language < 0 || language >= this.info.labels.length) {
      throw new RnnError('config', `Pick a language: expected 0..${this.info.labels.length - 1}, got ${language}`);
    }
    if (!(temperature >= 0.05 && temperature <= 5)) {
      throw new RnnError('config', `Temperature must be a number between 0.05 and 5, got ${Number.isNaN(temperature) ? 'nothing' : temperature}`);
    }
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RnnError('config', `Seed must be a whole number ≥ 0, got ${Number.isNaN(seed) ? 'nothing' : seed}`);
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new RnnError('config', `How many words must be 1..64, got ${Number.isNaN(count) ? 'nothing' : count}`);

    const H = this.rnn.config.hiddenSize;
    const top = this.rnn.config.numLayers - 1;
    const maxLength = this.info.maxLength ?? 20;
    const random = seededRandom(seed);
    const words = Array.from({ length: count }, () => '');
    const done = new Array<boolean>(count).fill(false);
    let previous = new Array<number>(count).fill(0);
    let h: Tensor | undefined;
    const firstWordStates: number[] = [];
    let steps = 0;
    let ms = 0;
    while (steps < maxLength + 1 && done.includes(false)) {
      const start = performance.now();
      const { output, hN } = await this.rnn.forward(this.stepInput(previous, language), h);
      ms += performance.now() - start;
      h = hN;
      steps++;
      if (!done[0]) firstWordStates.push(...hN.data.subarray(top * count * H, top * count * H + H));
      previous = previous.map((token, b) => {
        if (done[b]) return token;
        const p = softmax(linear(this.head, output.data, b * H), temperature);
        if (steps === 1) p[0] = 0; // a word has at least one letter: no boundary right after the start
        const next = sampleIndex(p, random() * p.reduce((a, v) => a + v, 0));
        if (next === 0 || [...words[b]!].length >= maxLength) done[b] = true;
        else words[b] += this.info.vocab[next - 1];
        return next;
      });
    }
    const stateSteps = firstWordStates.length / H;
    return { words, hidden: { data: Float32Array.from(firstWordStates), shape: [stateSteps, H] }, steps, backend: this.rnn.backend, ms };
  }

  dispose(): void {
    this.rnn.dispose();
  }
}

/** Loads a model's JSON and .safetensors from the app's public folder. */
export async function fetchModel(name: string): Promise<{ info: ModelInfo; weights: ModelWeights }> {
  const base = new URL(`models/${name}`, document.baseURI).href;
  const [infoResponse, weightsResponse] = await Promise.all([fetch(`${base}.json`), fetch(`${base}.safetensors`)]);
  if (!infoResponse.ok || !weightsResponse.ok) throw new RnnError('format', `Could not load the model "${name}" (HTTP ${infoResponse.status}/${weightsResponse.status})`);
  const info = (await infoResponse.json()) as ModelInfo;
  return { info, weights: readModelWeightsFor(info, await weightsResponse.arrayBuffer()) };
}

/** The head's shape follows from the task: classes for the classifier, vocab + boundary for the generator. */
export function readModelWeightsFor(info: ModelInfo, file: ArrayBuffer | Uint8Array): ModelWeights {
  const H = info.rnn.hiddenSize;
  return info.task === 'classify'
    ? readModelWeights(file, (info.rnn.bidirectional ? 2 : 1) * H, info.labels.length)
    : readModelWeights(file, H, info.vocab.length + 1);
}
