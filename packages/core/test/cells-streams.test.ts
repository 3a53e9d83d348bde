import { describe, expect, it } from 'vitest';
import {
  createGru, createGruCell, createLstm, createLstmCell, createRnn, createRnnCell, initStateDict, RnnError,
  type Backend, type EngineStream, type ForwardPlan, type ModelPlan, type StateDict, type StreamStart, type Tensor,
} from '../src/index.js';
import { expectRnnError } from './helpers.js';

/**
 * An engine that records plans and answers h_n = h0 + (number of steps run), c_n = c0 − steps, so the
 * states a stream carries can be followed through the pushes.
 */
function countingBackend() {
  const models: ModelPlan[] = [];
  const plans: ForwardPlan[] = [];
  const backend: Backend = {
    name: 'counting',
    async createModel(model) {
      models.push(model);
      return {
        async forward(plan) {
          plans.push(plan);
          await new Promise((resolve) => setTimeout(resolve, 1));
          const rows = model.numLayers * model.numDirections * plan.batch;
          const hN = new Float32Array(rows * model.outputSize).map((_, i) => (plan.h0?.[i] ?? 0) + plan.seqLen);
          const cN = new Float32Array(rows * model.hiddenSize).map((_, i) => (plan.c0?.[i] ?? 0) - plan.seqLen);
          return {
            output: new Float32Array(plan.seqLen * plan.batch * model.numDirections * model.outputSize),
            hN,
            ...(model.mode === 'lstm' ? { cN } : {}),
          };
        },
        dispose() {},
      };
    },
    dispose() {},
  };
  return { backend, models, plans };
}

const zeros = (...shape: number[]): Tensor => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });
const cellWeights = (mode: 'rnn' | 'lstm' | 'gru', inputSize: number, hiddenSize: number, bias = true): StateDict =>
  Object.fromEntries(Object.entries(initStateDict({ inputSize, hiddenSize, bias }, 3, mode)).map(([k, t]) => [k.replace(/_l0$/, ''), t]));

describe('cells: nn.RNNCell, nn.LSTMCell, nn.GRUCell as one step of a one-layer module', () => {
  it('plans a one-layer, one-direction model from the suffix-less cell weights and runs one step', async () => {
    const { backend, models, plans } = countingBackend();
    const cell = await createLstmCell({ inputSize: 3, hiddenSize: 4 }, cellWeights('lstm', 3, 4), backend);
    expect(models[0]).toMatchObject({ mode: 'lstm', gates: 4, numLayers: 1, numDirections: 1, projSize: 0 });
    const h = zeros(2, 4);
    const c = zeros(2, 4);
    const [h1, c1] = await cell.forward(zeros(2, 3), [h, c]);
    expect([plans[0]!.seqLen, plans[0]!.batch]).toEqual([1, 2]);
    expect(plans[0]!.h0).toBe(h.data);
    expect([h1.shape, c1.shape, h1.data[0], c1.data[0]]).toEqual([[2, 4], [2, 4], 1, -1]);
    expect(cell.config).toEqual({ inputSize: 3, hiddenSize: 4, bias: true });
  });

  it('takes unbatched 1-D input and state, and gives h′ back in the same layout', async () => {
    const { backend } = countingBackend();
    const cell = await createGruCell({ inputSize: 3, hiddenSize: 4 }, cellWeights('gru', 3, 4), backend);
    expect((await cell.forward(zeros(3))).shape).toEqual([4]);
    expect((await cell.forward(zeros(3), zeros(4))).shape).toEqual([4]);
    const rnnCell = await createRnnCell({ inputSize: 3, hiddenSize: 4, nonlinearity: 'relu', bias: false }, cellWeights('rnn', 3, 4, false), backend);
    expect((await rnnCell.forward(zeros(5, 3))).shape).toEqual([5, 4]);
    expect(rnnCell.config).toEqual({ inputSize: 3, hiddenSize: 4, bias: false, nonlinearity: 'relu' });
  });

  it('takes a signal: one already fired rejects with aborted and runs nothing; other options are refused', async () => {
    const { backend, plans } = countingBackend();
    const cell = await createLstmCell({ inputSize: 2, hiddenSize: 3 }, cellWeights('lstm', 2, 3), backend);
    const controller = new AbortController();
    controller.abort(new Error('the user typed again'));
    await expectRnnError(() => cell.forward(zeros(4, 2), undefined, { signal: controller.signal }), 'aborted', /LSTMCell forward was aborted: the user typed again/);
    expect(plans).toHaveLength(0);
    await expectRnnError(() => cell.forward(zeros(4, 2), undefined, { lengths: [1] } as never), 'type', /unknown field\(s\) "lengths" for LSTMCell.forward/);
    await expectRnnError(() => cell.forward(zeros(4, 2), undefined, { signal: 'stop' } as never), 'type', /options\.signal must be an AbortSignal/);
    const live = new AbortController();
    const [h] = await cell.forward(zeros(4, 2), undefined, { signal: live.signal });
    expect(h.shape).toEqual([4, 3]);
    expect(plans[0]!.signal).toBe(live.signal); // the engine sees it, to check between blocks
  });

  it("checks cell weights strictly under the cell's names, and says when a module's were given", async () => {
    const { backend } = countingBackend();
    await expectRnnError(() => createLstmCell({ inputSize: 3, hiddenSize: 4 }, initStateDict({ inputSize: 3, hiddenSize: 4 }, 1, 'lstm'), backend), 'weights',
      'Error(s) in loading state_dict for LSTMCell:', 'Missing key(s) in state_dict: "weight_ih", "weight_hh", "bias_ih", "bias_hh".', /keys such as weight_ih_l0 belong to a full module/);
    await expectRnnError(() => createGruCell({ inputSize: 3, hiddenSize: 4 }, cellWeights('lstm', 3, 4), backend), 'weights', /looks like an LSTMCell's state dict.*Use createLstmCell\(\)/);
    await expectRnnError(() => createLstm({ inputSize: 3, hiddenSize: 4 }, cellWeights('lstm', 3, 4), backend), 'weights', /belong to a cell: use createRnnCell\/createLstmCell\/createGruCell/);
    await expectRnnError(() => createGruCell({ inputSize: 3, hiddenSize: 4, numLayers: 2 } as never, cellWeights('gru', 3, 4), backend), 'config', /unknown option\(s\) "numLayers" for GRUCell/);
  });

  it.each([
    ['a 3-D input', () => [zeros(1, 2, 3)], 'shape', 'LSTMCell: Expected input to be 1D or 2D, got 3D tensor of shape [1, 2, 3] instead'],
    ['the wrong input size', () => [zeros(2, 5)], 'shape', 'input has inconsistent input_size: got 5 expected 3'],
    ['a batch mismatch', () => [zeros(2, 3), [zeros(3, 4), zeros(3, 4)]], 'shape', "Input batch size 2 doesn't match hidden0 batch size 3 (h)"],
    ['a wrong c', () => [zeros(2, 3), [zeros(2, 4), zeros(2, 5)]], 'shape', 'hidden1 has inconsistent hidden_size: got 5, expected 4 (c)'],
    ['a 2-D state for 1-D input', () => [zeros(3), [zeros(1, 4), zeros(1, 4)]], 'shape', /Expected h to be 1-D \[4\] for unbatched 1-D input, got 2-D/],
    ['h alone', () => [zeros(2, 3), zeros(2, 4)], 'type', /LSTMCell: hx must be a pair \[h, c\]/],
  ] as const)('rejects %s', async (_name, args, code, message) => {
    const { backend } = countingBackend();
    const cell = await createLstmCell({ inputSize: 3, hiddenSize: 4 }, cellWeights('lstm', 3, 4), backend);
    await expectRnnError(() => cell.forward(...(args() as [Tensor, [Tensor, Tensor]])), code, message);
    cell.dispose();
    await expectRnnError(() => cell.forward(zeros(3)), 'disposed', /This LSTMCell was disposed: create a new one with createLstmCell\(\)/);
  });
});

/** `backend` whose models hold their stream states themselves: openStream(model, start) makes each stream. */
function withOpenStream(backend: Backend, openStream: (model: ModelPlan, start: StreamStart) => EngineStream): Backend {
  return {
    ...backend,
    async createModel(model) {
      return { ...(await backend.createModel(model)), openStream: (start) => openStream(model, start) };
    },
  };
}

describe('streams: each push is forward(chunk, carried states)', () => {
  it('carries h_n (and c_n) of one push into the next, from the given initial states', async () => {
    const { backend, plans } = countingBackend();
    const lstm = await createLstm({ inputSize: 2, hiddenSize: 3, numLayers: 2 }, initStateDict({ inputSize: 2, hiddenSize: 3, numLayers: 2 }, 1, 'lstm'), backend);
    const h0 = zeros(2, 1, 3);
    h0.data.fill(10);
    const stream = lstm.stream([h0, zeros(2, 1, 3)]);
    h0.data.fill(99); // the stream copied its initial states
    await stream.push(zeros(3, 1, 2));
    const second = await stream.push(zeros(1, 1, 2));
    expect(plans.map((p) => p.seqLen)).toEqual([3, 1]);
    expect(plans[1]!.h0![0]).toBe(13);
    expect([second.hN.data[0], second.cN.data[0]]).toEqual([14, -4]);
  });

  it('runs pushes in call order even when they are made at once, and a rejected push changes nothing', async () => {
    const { backend, plans } = countingBackend();
    const gru = await createGru({ inputSize: 2, hiddenSize: 3 }, initStateDict({ inputSize: 2, hiddenSize: 3 }, 1, 'gru'), backend);
    const stream = gru.stream();
    const results = await Promise.all([1, 2, 3].map((L) => stream.push(zeros(L, 2, 2))));
    expect(results.map((r) => r.hN.data[0])).toEqual([1, 3, 6]);
    await expectRnnError(() => stream.push(zeros(1, 3, 2)), 'shape', /the chunk is batched with N = 3 .* but the stream's states are batched with N = 2/);
    await expectRnnError(() => stream.push(zeros(1, 2, 5)), 'shape', 'input.size(-1) must be equal to input_size. Expected 2, got 5');
    await expectRnnError(() => stream.push(zeros(2, 2, 2), { lengths: [3, 1] }), 'lengths', /lengths\[0\] must be an integer in 1\.\.2/);
    expect((await stream.push(zeros(1, 2, 2))).hN.data[0]).toBe(7);
    expect(plans).toHaveLength(4);
  });

  it('refuses bidirectional models, disposed streams and disposed models', async () => {
    const { backend } = countingBackend();
    const config = { inputSize: 2, hiddenSize: 3, bidirectional: true };
    const bi = await createRnn(config, initStateDict(config), backend);
    expect(() => bi.stream()).toThrowError(/A bidirectional RNN cannot stream: its reverse direction needs the whole sequence/);
    const uni = await createRnn({ inputSize: 2, hiddenSize: 3 }, initStateDict({ inputSize: 2, hiddenSize: 3 }), backend);
    const stream = uni.stream();
    stream.dispose();
    await expectRnnError(() => stream.push(zeros(1, 1, 2)), 'disposed', /This stream was disposed/);
    const other = uni.stream();
    uni.dispose();
    await expectRnnError(() => other.push(zeros(1, 1, 2)), 'disposed', /This model was disposed/);
    expect(() => uni.stream()).toThrowError(/disposed/);
  });

  it("keeps the states on the engine when it can hold them (openStream), opened once with the stream's batch", async () => {
    const { backend, plans } = countingBackend();
    const opened: { batch: number; h0: Float32Array | null; pushes: number[]; disposed: boolean }[] = [];
    const holding = withOpenStream(backend, (model, start) => {
      const record = { batch: start.batch, h0: start.h0, pushes: [] as number[], disposed: false };
      opened.push(record);
      let h = start.h0 ?? new Float32Array(start.batch * model.outputSize);
      return {
        async push(plan) {
          record.pushes.push(plan.seqLen);
          expect(plan.batch).toBe(start.batch);
          h = h.map((v) => v + plan.seqLen);
          return { output: new Float32Array(plan.seqLen * plan.batch * model.outputSize), hN: h.slice() };
        },
        dispose() {
          record.disposed = true;
        },
      };
    });
    const gru = await createGru({ inputSize: 2, hiddenSize: 3 }, initStateDict({ inputSize: 2, hiddenSize: 3 }, 1, 'gru'), holding);
    const h0 = zeros(1, 2, 3);
    h0.data.fill(5);
    const stream = gru.stream(h0);
    h0.data.fill(99);
    const results = await Promise.all([2, 1].map((L) => stream.push(zeros(L, 2, 2))));
    expect(results.map((r) => [r.hN.shape, r.hN.data[0]])).toEqual([[[1, 2, 3], 7], [[1, 2, 3], 8]]);
    expect(plans).toHaveLength(0); // no forward: the engine's stream ran every push
    expect(opened).toHaveLength(1);
    expect([opened[0]!.batch, opened[0]!.h0![0], opened[0]!.pushes]).toEqual([2, 5, [2, 1]]);
    await expectRnnError(() => stream.push(zeros(1, 3, 2)), 'shape', /the chunk is batched with N = 3/);
    stream.dispose();
    await expectRnnError(() => stream.push(zeros(1, 2, 2)), 'disposed', /This stream was disposed/);
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(opened[0]!.disposed).toBe(true);
    // Without hx, the first push sets the batch (and nothing is opened before it).
    const fresh = gru.stream();
    expect(opened).toHaveLength(1);
    await fresh.push(zeros(1, 4, 2));
    expect(opened[1]!.batch).toBe(4);
    await expectRnnError(() => fresh.push(zeros(1, 2, 2)), 'shape', /the chunk is batched with N = 2 .* states are batched with N = 4/);
  });

  it('takes a push the engine ran at once (a value, or a throw) as it takes a promise, and in call order', async () => {
    const { backend } = countingBackend();
    const log: string[] = [];
    let release: (() => void) | null = null;
    const synchronous = withOpenStream(backend, (model, start) => {
      let h = new Float32Array(start.batch * model.outputSize);
      return {
        push(plan) {
          const tag = plan.input[0]!;
          if (tag < 0) {
            log.push(`throw ${tag}`);
            throw new RnnError('internal', 'refused at once');
          }
          const done = () => {
            log.push(`ran ${tag}`);
            h = h.map((v) => v + 1);
            return { output: new Float32Array(plan.seqLen * plan.batch * model.outputSize), hN: h.slice() };
          };
          // Tag 9 waits for the test, as an engine busy with an earlier call would; others finish now.
          return tag === 9 ? new Promise((resolve) => (release = () => resolve(done()))) : done();
        },
        dispose() {},
      };
    });
    const rnn = await createRnn({ inputSize: 2, hiddenSize: 3 }, initStateDict({ inputSize: 2, hiddenSize: 3 }), synchronous);
    const stream = rnn.stream();
    const step = (tag: number) => ({ data: Float32Array.of(tag, 0), shape: [1, 2] });
    const first = stream.push(step(1));
    expect(first).toBeInstanceOf(Promise);
    expect(log).toEqual(['ran 1']); // nothing pending: it ran in the call itself
    expect((await first).hN).toEqual({ data: Float32Array.of(1, 1, 1), shape: [1, 3] });
    // A throw becomes the push's rejection, and the stream goes on.
    await expectRnnError(() => stream.push(step(-1)), 'internal', /refused at once/);
    // A push made while another is pending waits for it, even when the engine would run it at once.
    const slow = stream.push(step(9));
    const next = stream.push(step(2));
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(log).toEqual(['ran 1', 'throw -1']);
    release!();
    expect([(await slow).hN.data[0], (await next).hN.data[0]]).toEqual([2, 3]);
    expect(log).toEqual(['ran 1', 'throw -1', 'ran 9', 'ran 2']);
  });

  it('checks the initial states when the stream starts', async () => {
    const { backend } = countingBackend();
    const lstm = await createLstm({ inputSize: 2, hiddenSize: 3 }, initStateDict({ inputSize: 2, hiddenSize: 3 }, 1, 'lstm'), backend);
    expect(() => lstm.stream([zeros(1, 2, 3), zeros(1, 2, 4)])).toThrowError(/Expected hidden\[1\] size \[1, 2, 3\], got \[1, 2, 4\]/);
    expect(() => lstm.stream(zeros(1, 2, 3) as never)).toThrowError(/hx must be a pair/);
    const unbatched = lstm.stream([zeros(1, 3), zeros(1, 3)]);
    expect((await unbatched.push(zeros(4, 2))).hN.shape).toEqual([1, 3]);
    await expectRnnError(() => unbatched.push(zeros(4, 1, 2)), 'shape', /the chunk is batched with N = 1 .* states are unbatched/);
  });
});
