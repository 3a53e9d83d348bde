import { RnnError } from '@recurrent/core';
import type * as tfNamespace from '@tensorflow/tfjs';
import { transpose, type Runner } from './runner.js';

export type Tf = typeof tfNamespace;

export interface TfjsLoader {
  /** @tensorflow/tfjs with @tensorflow/tfjs-backend-wasm imported and its wasm paths set. */
  (): Promise<Tf>;
}

/**
 * TensorFlow.js with one backend ('cpu' or 'wasm'): a stack of SimpleRNN layers (in Bidirectional
 * with mergeMode 'concat' when bidirectional) holding our weights. SimpleRNN has one bias, so it gets
 * b_ih + b_hh, and its kernels are W_ihᵀ and W_hhᵀ. Both backends live in one process: each model is
 * built while its backend is active, and run() makes that backend active again (cheap once initialised).
 */
export function tfjsRunner(backendName: 'cpu' | 'wasm', load: TfjsLoader): Runner {
  const label = `tfjs ${backendName}`;
  return {
    id: `tfjs-${backendName}`,
    label,
    group: 'peer',
    async prepare({ config, weights, input }) {
      let tf: Tf;
      try {
        tf = await load();
        if (!(await tf.setBackend(backendName))) throw new Error(`tf.setBackend('${backendName}') failed`);
        await tf.ready();
      } catch (error) {
        throw new RnnError('unavailable', `${label} cannot start here: ${String((error as Error).message ?? error).split('\n')[0]}`, {}, { cause: error });
      }
      const r = config.rnn;
      const { batch: N, seqLen: L } = config;
      const H = r.hiddenSize;
      const D = r.bidirectional ? 2 : 1;
      const model = tf.sequential();
      const values: tfNamespace.Tensor[] = [];
      for (let layer = 0; layer < r.numLayers; layer++) {
        const I = layer === 0 ? r.inputSize : D * H;
        const inputShape = layer === 0 ? [null, I] : undefined;
        // Zero initializers: our weights replace them, and the default orthogonal one is slow to compute.
        const cell = tf.layers.simpleRNN({ units: H, activation: r.nonlinearity, useBias: r.bias, returnSequences: true, kernelInitializer: 'zeros', recurrentInitializer: 'zeros', ...(D === 1 && inputShape ? { inputShape } : {}) });
        model.add(D === 2 ? tf.layers.bidirectional({ layer: cell, mergeMode: 'concat', ...(inputShape ? { inputShape } : {}) }) : cell);
        for (const suffix of D === 2 ? [`_l${layer}`, `_l${layer}_reverse`] : [`_l${layer}`]) {
          values.push(tf.tensor2d(transpose(weights[`weight_ih${suffix}`]!.data, H, I), [I, H]));
          values.push(tf.tensor2d(transpose(weights[`weight_hh${suffix}`]!.data, H, H), [H, H]));
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
