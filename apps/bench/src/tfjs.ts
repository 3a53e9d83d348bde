import { GATES, RnnError } from '@recurrent/core';
import type * as tfNamespace from '@tensorflow/tfjs';
import { taskOf, type BenchConfig } from './configs.js';
import { flattenGradients, transpose, type Runner } from './runner.js';

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
  if (taskOf(config) === 'stream') return 'not measured: tfjs streams through stateful layers, which need a model built for a fixed batch, not session state fed per call';
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
 *
 * Training (task `train`): tf.variableGrads of loss = Σ output·G through the same layers, with respect
 * to the input (a tf.Variable) and every weight: tfjs's own forward + backward. Its gradients are mapped
 * back to PyTorch's layout for the check (kernels transposed; its one bias's gradient is both b_ih's and b_hh's).
 */
export function tfjsRunner(backendName: 'cpu' | 'wasm', load: TfjsLoader): Runner {
  const label = `tfjs ${backendName}`;
  return {
    id: `tfjs-${backendName}`,
    label,
    group: 'peer',
    async prepare({ config, weights, input, upstream }) {
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
      const batchMajor = (data: Float32Array, width: number): tfNamespace.Tensor3D => (r.batchFirst ? tf.tensor3d(data, [N, L, width]) : tf.tidy(() => tf.transpose(tf.tensor3d(data, [L, N, width]), [1, 0, 2])));
      const x = batchMajor(input.data, r.inputSize);
      const engineBytes = (): number | undefined => {
        // The wasm backend's whole WebAssembly memory; the cpu backend's tensor bytes.
        const backend = tf.engine().findBackend(backendName) as unknown as { wasm?: { HEAPU8?: Uint8Array } } | null;
        return backendName === 'wasm' ? backend?.wasm?.HEAPU8?.length : tf.memory().numBytes;
      };
      if (taskOf(config) === 'train') {
        const xVar = tf.variable(x, true, `bench_input_${Math.random().toString(36).slice(2)}`);
        const dOutput = batchMajor(upstream!.data, D * H);
        const weightVars = model.trainableWeights.map((w) => (w as unknown as { val: tfNamespace.Variable }).val);
        const names = Object.keys(weights);
        return {
          async run() {
            if (tf.getBackend() !== backendName) await tf.setBackend(backendName);
            let value: tfNamespace.Scalar;
            let grads: tfNamespace.NamedTensorMap;
            try {
              ({ value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(xVar) as tfNamespace.Tensor, dOutput)) as tfNamespace.Scalar, [xVar, ...weightVars]));
            } catch (error) {
              // The wasm backend keeps every step's intermediates for the backward in its WebAssembly memory
              // (about 700 MiB at B32 T16 of the M size): past its limit it aborts, saying only "Aborted()".
              const bytes = engineBytes();
              throw new Error(`${String((error as Error).message ?? error).split('\n')[0]}${backendName === 'wasm' && bytes ? ` (its WebAssembly memory held ${Math.round(bytes / 2 ** 20)} MiB: the tape of every step's intermediates outgrew it)` : ''}`, { cause: error });
            }
            const dx = tf.tidy(() => (r.batchFirst ? grads[xVar.name]! : tf.transpose(grads[xVar.name]!, [1, 0, 2])));
            const byTfName = await Promise.all(weightVars.map(async (v) => (await grads[v.name]!.data()) as Float32Array));
            const dInput = (await dx.data()) as Float32Array;
            tf.dispose([value, dx, ...Object.values(grads)]);
            // Back to PyTorch's names, in the order the model's weights were set (see values above).
            let k = 0;
            const pytorch: Record<string, { data: Float32Array }> = {};
            for (let layer = 0; layer < r.numLayers; layer++) {
              const I = layer === 0 ? r.inputSize : D * H;
              for (const suffix of D === 2 ? [`_l${layer}`, `_l${layer}_reverse`] : [`_l${layer}`]) {
                pytorch[`weight_ih${suffix}`] = { data: transpose(byTfName[k++]!, I, G * H) };
                pytorch[`weight_hh${suffix}`] = { data: transpose(byTfName[k++]!, H, G * H) };
                if (r.bias) pytorch[`bias_ih${suffix}`] = pytorch[`bias_hh${suffix}`] = { data: byTfName[k++]! };
              }
            }
            return flattenGradients(dInput, pytorch, names);
          },
          engineBytes,
          dispose() {
            x.dispose();
            xVar.dispose();
            dOutput.dispose();
            model.dispose();
          },
        };
      }
      return {
        batchFirstOutput: true,
        async run() {
          if (tf.getBackend() !== backendName) await tf.setBackend(backendName);
          const y = model.predict(x) as tfNamespace.Tensor;
          const data = (await y.data()) as Float32Array;
          y.dispose();
          return data;
        },
        engineBytes,
        dispose() {
          x.dispose();
          model.dispose();
        },
      };
    },
  };
}
