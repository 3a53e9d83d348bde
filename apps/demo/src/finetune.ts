// "Teach it": fine-tunes the word generator on a person's own words, in the browser, on the picked engine.
// One training step is what the training script does in PyTorch, written out:
//   logits = head(rnn(x, lengths)),  loss = mean cross-entropy of the next letter over the real steps,
//   gradients: the head's here in JS (a linear layer + softmax cross-entropy), the RNN's from
//   model.backward(x, h0, { output: ∂loss/∂output }), then clip_grad_norm_(1) and Adam (@recurrent/optim).
import { RnnError, createRnn, seededRandom, writeSafetensors } from '@recurrent/core';
import type { Backend, Rnn, StateDict, Tensor } from '@recurrent/core';
import { Adam, clipGradNorm } from '@recurrent/optim';
import { WordGenerator } from './models.js';
import type { Linear, ModelInfo, ModelWeights } from './models.js';

/** The words a person pasted, lower-cased; every letter must be one the model knows. */
export function parseWords(text: string, vocab: string): string[] {
  const words = text.normalize('NFC').toLowerCase().split(/[\s,;]+/).filter((w) => w.length > 0);
  if (words.length === 0) throw new RnnError('shape', 'Paste some words first: names, words of a language, anything in one style, separated by spaces, commas or new lines.');
  const bad = words.filter((w) => [...w].some((c) => !vocab.includes(c)));
  if (bad.length > 0) {
    const letters = [...new Set(bad.flatMap((w) => [...w].filter((c) => !vocab.includes(c))))];
    throw new RnnError('type', `${bad.length} word(s) have letters this model does not know (${letters.map((c) => `“${c}”`).join(' ')}): ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}. It reads only ${vocab}`, { words: bad });
  }
  return words;
}

/** A batch as the training script encodes it: inputs (boundary, c1..cn), targets (c1..cn, boundary). */
export interface Batch {
  /** (L, N, I), time-major, zero past each word's end. */
  input: Tensor;
  /** n + 1 steps per word of n letters. */
  lengths: number[];
  /** (L, N): the token each step should predict, −1 past the word's end. */
  targets: Int32Array;
}

export function encodeBatch(generator: WordGenerator, words: string[], language: number): Batch {
  const tokens = words.map((w) => [0, ...[...w].map((c) => generator.token(c)), 0]);
  const L = Math.max(...tokens.map((t) => t.length - 1));
  const N = words.length;
  const steps = Array.from({ length: L }, (_, t) => tokens.map((row) => (t < row.length - 1 ? row[t]! : -1)));
  const input = generator.encode(steps.map((row) => row.map((token) => Math.max(token, 0))), new Array<number>(N).fill(language));
  const targets = new Int32Array(L * N).fill(-1);
  tokens.forEach((row, b) => {
    for (let t = 0; t < row.length - 1; t++) targets[t * N + b] = row[t + 1]!;
  });
  // Steps past a word's end are zeroed: the engine ignores them with lengths, and so does PyTorch's packing.
  const I = input.shape[2]!;
  steps.forEach((row, t) => row.forEach((token, b) => token < 0 && input.data.fill(0, (t * N + b) * I, (t * N + b + 1) * I)));
  return { input, lengths: tokens.map((row) => row.length - 1), targets };
}

/**
 * The head's part of the step: mean softmax cross-entropy of `head(output)` against `targets`
 * (PyTorch's nn.CrossEntropyLoss with ignore_index), and its gradients. With z = W·o + b and
 * p = softmax(z) at each of the `count` real positions:
 *   loss = −(1/count) Σ log p[target],  ∂loss/∂z = (p − onehot(target)) / count,
 *   ∂loss/∂W = Σ ∂loss/∂z ⊗ o,  ∂loss/∂b = Σ ∂loss/∂z,  ∂loss/∂o = Wᵀ · ∂loss/∂z (what backward starts from).
 */
export function headLoss(head: Linear, output: Float32Array, targets: Int32Array): { loss: number; dOutput: Float32Array; dWeight: Float32Array; dBias: Float32Array } {
  const { inFeatures: H, outFeatures: V, weight: W, bias } = head;
  const dOutput = new Float32Array(output.length);
  const dWeight = new Float64Array(V * H);
  const dBias = new Float64Array(V);
  let count = 0;
  for (const target of targets) if (target >= 0) count++;
  let loss = 0;
  const dz = new Float64Array(V);
  for (let row = 0; row < targets.length; row++) {
    const target = targets[row]!;
    if (target < 0) continue;
    const o = row * H;
    let max = -Infinity;
    for (let v = 0; v < V; v++) {
      let z = bias[v]!;
      for (let i = 0; i < H; i++) z += W[v * H + i]! * output[o + i]!;
      dz[v] = z;
      max = Math.max(max, z);
    }
    let sum = 0;
    for (let v = 0; v < V; v++) sum += dz[v] = Math.exp(dz[v]! - max);
    loss -= Math.log(dz[target]! / sum) / count;
    for (let v = 0; v < V; v++) dz[v] = (dz[v]! / sum - (v === target ? 1 : 0)) / count;
    for (let v = 0; v < V; v++) {
      dBias[v] += dz[v]!;
      for (let i = 0; i < H; i++) {
        dWeight[v * H + i] += dz[v]! * output[o + i]!;
        dOutput[o + i] += dz[v]! * W[v * H + i]!;
      }
    }
  }
  return { loss, dOutput, dWeight: Float32Array.from(dWeight), dBias: Float32Array.from(dBias) };
}

export interface TeachSettings {
  /** The language slot the words are taught under (the style they start from). */
  language: number;
  batchSize: number;
  learningRate: number;
  /** clip_grad_norm_'s max norm; 0 = no clipping. */
  clip: number;
  /** Seeds the order the words are drawn in. */
  seed: number;
}

export interface StepResult {
  loss: number;
  /** The gradients' total 2-norm before clipping. */
  gradNorm: number;
  words: string[];
}

/**
 * A copy of the word generator that learns. `params` holds every weight under the file's names
 * (`rnn.*`, `head.weight`, `head.bias`); Adam updates those arrays in place, the head reads them
 * directly, and the RNN on the engine gets them after each step through loadStateDict.
 */
export class FineTuner {
  readonly params: StateDict;
  readonly generator: WordGenerator;
  private readonly optimizer: Adam;
  private readonly random: () => number;
  private order: string[] = [];

  private constructor(
    readonly info: ModelInfo,
    private readonly rnn: Rnn,
    head: Linear,
    readonly words: string[],
    readonly settings: TeachSettings,
  ) {
    const rnnParams = rnn.stateDict();
    this.params = {
      ...Object.fromEntries(Object.entries(rnnParams).map(([name, tensor]) => [`rnn.${name}`, tensor])),
      'head.weight': { data: head.weight, shape: [head.outFeatures, head.inFeatures] },
      'head.bias': { data: head.bias, shape: [head.outFeatures] },
    };
    this.generator = WordGenerator.wrap(info, rnn, head);
    this.optimizer = new Adam(this.params, { lr: settings.learningRate });
    this.random = seededRandom(settings.seed);
  }

  /** Starts from the pretrained weights (copied: the original model stays as it was). */
  static async create(info: ModelInfo, weights: ModelWeights, backend: Backend, words: string[], settings: TeachSettings): Promise<FineTuner> {
    if (!Number.isInteger(settings.batchSize) || settings.batchSize < 1 || settings.batchSize > 256) {
      throw new RnnError('config', `Words per step must be 1..256, got ${Number.isNaN(settings.batchSize) ? 'nothing' : settings.batchSize}`);
    }
    if (!(settings.learningRate > 0 && settings.learningRate <= 0.1)) {
      throw new RnnError('config', `The learning rate must be above 0 and at most 0.1, got ${Number.isNaN(settings.learningRate) ? 'nothing' : settings.learningRate}`);
    }
    if (!(settings.clip >= 0)) throw new RnnError('config', `Clip must be ≥ 0 (0 = no clipping), got ${Number.isNaN(settings.clip) ? 'nothing' : settings.clip}`);
    const rnn = await createRnn(info.rnn, weights.rnn, backend);
    const head: Linear = { ...weights.head, weight: weights.head.weight.slice(), bias: weights.head.bias.slice() };
    return new FineTuner(info, rnn, head, words, settings);
  }

  get backend(): string {
    return this.rnn.backend;
  }

  get steps(): number {
    return this.optimizer.steps;
  }

  /** The next `batchSize` words: passes over a seeded shuffle of the list, as a DataLoader with shuffle=True. */
  nextBatch(): string[] {
    const batch: string[] = [];
    while (batch.length < Math.min(this.settings.batchSize, this.words.length)) {
      if (this.order.length === 0) {
        this.order = [...this.words];
        for (let i = this.order.length - 1; i > 0; i--) {
          const j = Math.floor(this.random() * (i + 1));
          [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
        }
      }
      batch.push(this.order.pop()!);
    }
    return batch;
  }

  /** Loss and gradients of one batch under PyTorch's names, before clipping; changes nothing. */
  async gradients(words: string[], signal?: AbortSignal): Promise<{ loss: number; grads: StateDict }> {
    const { input, lengths, targets } = encodeBatch(this.generator, words, this.settings.language);
    const { output } = await this.rnn.forward(input, undefined, { lengths, signal });
    const { loss, dOutput, dWeight, dBias } = headLoss(this.generator.head, output.data, targets);
    const { weights } = await this.rnn.backward(input, undefined, { output: { data: dOutput, shape: output.shape } }, { lengths, signal });
    const grads: StateDict = {
      ...Object.fromEntries(Object.entries(weights).map(([name, tensor]) => [`rnn.${name}`, tensor])),
      'head.weight': { data: dWeight, shape: this.params['head.weight']!.shape },
      'head.bias': { data: dBias, shape: this.params['head.bias']!.shape },
    };
    return { loss, grads };
  }

  /** One optimiser step on the next batch. An aborted step changes nothing. */
  async step(signal?: AbortSignal): Promise<StepResult> {
    const words = this.nextBatch();
    const { loss, grads } = await this.gradients(words, signal);
    // With no clipping, an infinite max norm only measures (the factor is then 1).
    const gradNorm = clipGradNorm(grads, this.settings.clip > 0 ? this.settings.clip : Infinity);
    this.optimizer.step(grads);
    await this.rnn.loadStateDict(Object.fromEntries(Object.entries(this.params).filter(([name]) => name.startsWith('rnn.')).map(([name, t]) => [name.slice(4), t])));
    return { loss, gradNorm, words };
  }

  /** Mean loss per letter (nats) over every word in the list, in one batched forward. */
  async loss(signal?: AbortSignal): Promise<number> {
    const { input, lengths, targets } = encodeBatch(this.generator, this.words, this.settings.language);
    const { output } = await this.rnn.forward(input, undefined, { lengths, signal });
    return headLoss(this.generator.head, output.data, targets).loss;
  }

  /** The weights as a .safetensors file, under the same names as the demo's word-generator.safetensors. */
  toSafetensors(): Uint8Array {
    return writeSafetensors(this.params, {
      module: 'rnn',
      config: JSON.stringify(this.info.rnn),
      vocab: this.info.vocab,
      language: this.info.labels[this.settings.language]!,
      steps: String(this.steps),
      'fine-tuned': 'by the recurrent demo\'s "Teach it" tab',
    });
  }

  dispose(): void {
    this.rnn.dispose();
  }
}
