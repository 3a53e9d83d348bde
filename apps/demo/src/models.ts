// The PyTorch-trained models of the demo and the few layers around the recurrent module (one-hot
// input, a linear head, softmax), in plain TypeScript. The module itself (nn.RNN, nn.GRU or nn.LSTM)
// runs on whichever engine is picked.
import { MODULE_NAMES, RnnError, createGru, createLstm, createRnn, readSafetensors, seededRandom } from '@recurrent/core';
import type { Backend, ForwardOptions, ForwardResult, Mode, Rnn, RnnConfig, StateDict, Stream, Tensor } from '@recurrent/core';

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

  /** One word, one forward; `signal` cancels it (the call then rejects with RnnError('aborted')). */
  async classify(input: string, options: { signal?: AbortSignal } = {}): Promise<Classification> {
    const word = checkWord(input, this.info.vocab);
    const L = [...word].length;
    const start = performance.now();
    const { output, hN } = await this.model.forward({ data: this.oneHot([word], false), shape: [L, this.info.vocab.length] }, options);
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
 * previous character (index 0 = word boundary) and the language; a stream carries the hidden state from
 * one step to the next, so each sampled letter costs one step, never a re-run of the prefix. All words
 * advance together as one batch; sampling uses one seeded stream of random numbers, so a seed gives the
 * same words on every engine.
 */
export class WordGenerator {
  private constructor(
    readonly info: ModelInfo,
    readonly rnn: Rnn,
    readonly head: Linear,
  ) {}

  static async create(info: ModelInfo, weights: ModelWeights, backend: Backend): Promise<WordGenerator> {
    return new WordGenerator(info, await createRnn(info.rnn, weights.rnn, backend), weights.head);
  }

  /** A generator over a model and head someone else owns (the "Teach it" tab's fine-tuned copy). */
  static wrap(info: ModelInfo, rnn: Rnn, head: Linear): WordGenerator {
    return new WordGenerator(info, rnn, head);
  }

  get tokens(): number {
    return this.info.vocab.length + 1;
  }

  /** A letter's token: its index in the vocabulary + 1 (0 is the word boundary). */
  token(letter: string): number {
    return this.info.vocab.indexOf(letter) + 1;
  }

  /**
   * Time-major input (L, N, I): at step t, element b reads one-hot(tokens[t][b]) ‖ one-hot(languages[b]).
   */
  encode(tokens: number[][], languages: number[]): Tensor {
    const I = this.rnn.config.inputSize;
    const N = languages.length;
    const x = new Float32Array(tokens.length * N * I);
    tokens.forEach((row, t) =>
      row.forEach((token, b) => {
        x[(t * N + b) * I + token] = 1;
        x[(t * N + b) * I + this.tokens + languages[b]!] = 1;
      }),
    );
    return { data: x, shape: [tokens.length, N, I] };
  }

  /** The head's logits for the next token after the boundary and `prefix`: one push of the whole prefix. */
  async logits(prefix: string, language: number): Promise<Float32Array> {
    const tokens = [0, ...[...prefix].map((c) => this.token(c))];
    const stream = this.rnn.stream();
    try {
      const { output } = await stream.push(this.encode(tokens.map((token) => [token]), [language]));
      const H = this.rnn.config.hiddenSize;
      return linear(this.head, output.data, (tokens.length - 1) * H);
    } finally {
      stream.dispose();
    }
  }

  /** Next-token probabilities after the boundary and `prefix` (what the training script checks). */
  async nextProbabilities(prefix: string, language: number): Promise<Float64Array> {
    return softmax(await this.logits(prefix, language));
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
    const languages = new Array<number>(count).fill(language);
    let previous = new Array<number>(count).fill(0);
    const firstWordStates: number[] = [];
    let steps = 0;
    let ms = 0;
    const stream = this.rnn.stream();
    try {
      while (steps < maxLength + 1 && done.includes(false)) {
        const start = performance.now();
        // One step: the letters just sampled go in, the state stays in the stream.
        const { output, hN } = await stream.push(this.encode([previous], languages));
        ms += performance.now() - start;
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
    } finally {
      stream.dispose();
    }
    const stateSteps = firstWordStates.length / H;
    return { words, hidden: { data: Float32Array.from(firstWordStates), shape: [stateSteps, H] }, steps, backend: this.rnn.backend, ms };
  }

  dispose(): void {
    this.rnn.dispose();
  }
}

/** log softmax(logits)[index], in float64. */
export function logProbability(logits: ArrayLike<number>, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[index]! - max - Math.log(sum);
}

export interface StreamedGuess extends RunInfo {
  word: string;
  /** P(language | the letters so far), from log P(letters | language) with every language equally likely. */
  probabilities: Float64Array;
  /** log P(letters so far | language), in nats, per language. */
  logLikelihood: Float64Array;
  /** Letters this update pushed into the stream, and whether it had to start over (an edit, not an append). */
  pushed: number;
  restarted: boolean;
}

/**
 * A second opinion on "which language?", streamed per keystroke: the word generator is unidirectional,
 * so it can read a word letter by letter, keeping its state in `rnn.stream()`. Run once per language
 * (a batch of N = 7, element b with language b's one-hot), it gives P(next letter | letters so far,
 * language); the product over the typed letters is P(letters | language), and Bayes with equal priors
 * gives P(language | letters). Appending letters pushes only the new ones; any other edit starts a new
 * stream over the whole word in one push. Updates run one after another; an aborted one leaves the
 * stream as it was (a push that rejects carries no state), so the next update picks up from there.
 */
export class StreamingGuesser {
  private stream: Stream<ForwardResult> | null = null;
  /** The letters the stream has read after the boundary, or null before it has read anything. */
  private consumed: string[] | null = null;
  /** The top layer's output at the stream's last step, (N, H): it predicts the letter typed next. */
  private next: Float32Array | null = null;
  private logLikelihood: Float64Array;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly generator: WordGenerator) {
    this.logLikelihood = new Float64Array(generator.info.labels.length);
  }

  update(input: string, options: { signal?: AbortSignal } = {}): Promise<StreamedGuess> {
    const run = this.queue.then(() => this.advance(input, options.signal));
    this.queue = run.catch(() => {});
    return run;
  }

  private async advance(input: string, signal: AbortSignal | undefined): Promise<StreamedGuess> {
    const { generator } = this;
    const word = checkWord(input, generator.info.vocab);
    const letters = [...word];
    const appends = this.consumed !== null && this.consumed.length <= letters.length && this.consumed.every((c, i) => c === letters[i]);
    const N = this.logLikelihood.length;
    const H = generator.rnn.config.hiddenSize;
    const languages = Array.from({ length: N }, (_, b) => b);
    if (!appends) {
      this.stream?.dispose();
      this.stream = generator.rnn.stream();
      this.consumed = null;
      this.next = null;
    }
    const fresh = this.consumed === null;
    const added = letters.slice(fresh ? 0 : this.consumed!.length);
    // A fresh stream reads the boundary first; its outputs then predict every typed letter.
    const inputs = fresh ? [0, ...added.map((c) => generator.token(c))] : added.map((c) => generator.token(c));
    const logLikelihood = fresh ? new Float64Array(N) : this.logLikelihood.slice();
    let ms = 0;
    if (added.length > 0) {
      const start = performance.now();
      const { output } = await this.stream!.push(generator.encode(inputs.map((token) => new Array<number>(N).fill(token)), languages), { signal });
      ms = performance.now() - start;
      // Letter i is predicted by the step before it: the previous push's last output, or this push's.
      const predictor = (i: number): [Float32Array, number] => (fresh ? [output.data, i * N * H] : i === 0 ? [this.next!, 0] : [output.data, (i - 1) * N * H]);
      added.forEach((letter, i) => {
        const [rows, offset] = predictor(i);
        for (let b = 0; b < N; b++) logLikelihood[b] += logProbability(linear(generator.head, rows, offset + b * H), generator.token(letter));
      });
      this.next = output.data.slice((inputs.length - 1) * N * H, inputs.length * N * H);
      this.consumed = letters;
      this.logLikelihood = logLikelihood;
    }
    return {
      word,
      probabilities: softmax(logLikelihood),
      logLikelihood,
      pushed: inputs.length,
      restarted: fresh,
      backend: generator.rnn.backend,
      ms,
    };
  }

  dispose(): void {
    this.stream?.dispose();
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
