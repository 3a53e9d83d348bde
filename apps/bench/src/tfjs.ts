import { GATES, RnnError } from '@recurrent/core';
import type * as tfNamespace from '@tensorflow/tfjs';
import type { BenchConfig } from './configs.js';
import { transpose, type Runner } from './runner.js';

export type Tf = typeof tfNamespace;

export interface TfjsLoader {
  /** @tensorflow/tfjs with @tensorflow/tfjs-backend-wasm imported and its wasm paths set. */
  (): Promise<Tf>;
}

/**
 * Why tfjs cannot run a config, or undefined when it can. tfjs's GRU cell resets before the recurrent
 * product, h̃ = tanh(W·x + U·(r ⊙ h) + b); PyTorch's (Keras's reset_after, which tfjs lacks) applies r
 * after it, n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn)): no choice of weights turns one into the other.
 */
export function tfjsCannotRun(config: BenchConfig): string | undefined {
  if (config.mode === 'gru') return 'tf.layers.gru cannot express PyTorch\'s GRU: it applies the reset gate before the recurrent product (r ⊙ h)·U, PyTorch after it, r ⊙ (W_hn·h + b_hn), and tfjs has no reset_after option';
  if (config.module.projSize > 0) return 'tf.layers.lstm has no projection (PyTorch\'s proj_size)';
  return undefined;
}

/**
 * TensorFlow.js with one backend ('cpu' or 'wasm'): a stack of SimpleRNN or LSTM layers (in
 * Bidirectional with mergeMode 'concat' when bidirectional) holding our weights. Their kernels are
 * W_ihᵀ and W_hhᵀ and they have one bias, b_ih + b_hh. tfjs's LSTM gates come in PyTorch's order
 * (i, f, c, o), so the LSTM weights need no reordering, only recurrentActivation 'sigmoid' (tfjs's
 * default is hardSigmoid). Both backends live in one process: each model is built while its backend
 * is active, and run() makes that backend active again (cheap once initialised).
 */
export function tfjsRunner(backendName: 'cpu' | 'wasm', load: TfjsLoader): Runner {
  const label = `tfjs ${backendName}`;
  return {
    id: `tfjs-${backendName}`,
    label,
    group: 'peer',
    async prepare({ config, weights, input }) {
      const cannot = tfjsCannotRun(config);
      if (cannot) throw new RnnError('unavailable', cannot);
      let tf: Tf;
      try {
        tf = await load();
        if (!(await tf.setBackend(backendName))) throw new Error(`tf.setBackend('${backendName}') failed`);
        await tf.ready();
      } catch (error) {
        throw new RnnError('unavailable', `${label} cannot start here: ${String((error as Error).message ?? error).split('\n')[0]}`, {}, { cause: error });
      }
      const r = config.module;
      const { batch: N, seqLen: L } = config;
      const H = r.hiddenSize;
      const G = GATES[config.mode];
      const D = r.bidirectional ? 2 : 1;
      const model = tf.sequential();
      const values: tfNamespace.Tensor[] = [];
      for (let layer = 0; layer < r.numLayers; layer++) {
        const I = layer === 0 ? r.inputSize : D * H;
        const inputShape = layer === 0 ? [null, I] : undefined;
        // Zero initializers: our weights replace them, and the default orthogonal one is slow to compute.
        const common = { units: H, useBias: r.bias, returnSequences: true, kernelInitializer: 'zeros', recurrentInitializer: 'zeros', ...(D === 1 && inputShape ? { inputShape } : {}) } as const;
        const cell = config.mode === 'lstm'
          ? tf.layers.lstm({ ...common, activation: 'tanh', recurrentActivation: 'sigmoid' })
          : tf.layers.simpleRNN({ ...common, activation: r.nonlinearity });
        model.add(D === 2 ? tf.layers.bidirectional({ layer: cell, mergeMode: 'concat', ...(inputShape ? { inputShape } : {}) }) : cell);
        for (const suffix of D === 2 ? [`_l${layer}`, `_l${layer}_reverse`] : [`_l${layer}`]) {
          values.push(tf.tensor2d(transpose(weights[`weight_ih${suffix}`]!.data, G * H, I), [I, G * H]));
          values.push(tf.tensor2d(transpose(weights[`weight_hh${suffix}`]!.data, G * H, H), [H, G * H]));
          if (r.bias) {
            const b_ih = weights[`bias_ih${suffix}`]!.data;
            const b_hh = weights[`bias_hh${suffix}`]!.data;
            values.push(tf.tensor1d(b_ih.map((v, j) => v + b_hh[j]!)));
          }
        }
      }
      model.setWeights(values);
      for (const v of values) v.dispose();
      // tfjs is batch-major: a time-major input is transposed once here, outside the timed runs.
      const x = r.batchFirst ? tf.tensor3d(input.data, [N, L, r.inputSize]) : tf.tidy(() => tf.transpose(tf.tensor3d(input.data, [L, N, r.inputSize]), [1, 0, 2]));
      return {
        batchFirstOutput: true,
        async run() {
          if (tf.getBackend() !== backendName) await tf.setBackend(backendName);
          const y = model.predict(x) as tfNamespace.Tensor;
          const data = (await y.data()) as Float32Array;
          y.dispose();
          return data;
        },
        engineBytes() {
          // The wasm backend's whole WebAssembly memory; the cpu backend's tensor bytes.
          const backend = tf.engine().findBackend(backendName) as unknown as { wasm?: { HEAPU8?: Uint8Array } } | null;
          return backendName === 'wasm' ? backend?.wasm?.HEAPU8?.length : tf.memory().numBytes;
        },
        dispose() {
          x.dispose();
          model.dispose();
        },
      };
    },
  };
}
