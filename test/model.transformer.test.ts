import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextTokenLogProbs } from '../src/learn/sequences.ts';
import { initBackend } from '../src/model/backend.ts';
import { countParams, GPT, MODEL_SIZES, RewardModel, tokenLogProbs, type ModelConfig } from '../src/model/transformer.ts';

// Context 48 > 32 so attention's per-head products (T·hs·T ≥ 16k multiply-adds) take the
// stacked-2D path on wasm, and single new positions take the batched kernel.
const CFG: ModelConfig = { ...MODEL_SIZES.tiny, contextLength: 48, vocabSize: 61 };

function ids(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0].length], 'int32');
}

function randomRows(B: number, T: number, seed: number): number[][] {
  return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (seed * 7919 + b * 131 + t * 31 + ((t * t) % 7)) % CFG.vocabSize));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The scalar `loss()` and its gradient for each of `vars`, as plain numbers. */
function lossAndGrads(vars: tf.Variable[], loss: () => tf.Scalar): { loss: number; grads: number[][] } {
  const { value, grads } = tf.variableGrads(loss, vars);
  const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => Array.from(grads[v.name]!.dataSync())) };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

let model: GPT;
beforeAll(async () => {
  await initBackend('wasm');
  model = new GPT(CFG, { seed: 3 });
});
afterAll(() => model.dispose());

describe('GPT', () => {
  it('has the documented parameter counts', () => {
    expect(countParams({ ...MODEL_SIZES.small, vocabSize: 2048 })).toBe(1_072_001);
    expect(countParams({ ...MODEL_SIZES.tiny, vocabSize: 2048 })).toBe(93_089);
    const total = model.trainableVariables().reduce((n, v) => n + v.size, 0);
    expect(total).toBe(countParams(CFG));
  });

  it('maps ids (B, T) to logits (B, T, V) and values (B, T)', () => {
    const { logits, values } = model.forward(ids(randomRows(3, 5, 1)));
    expect(logits.shape).toEqual([3, 5, CFG.vocabSize]);
    expect(values.shape).toEqual([3, 5]);
    expect(logits.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([logits, values]);
  });

  it('names its weights like GPT-2', () => {
    const names = [...model.getWeights().keys()];
    expect(names.slice(0, 4)).toEqual(['wte', 'wpe', 'h.0.ln_1.g', 'h.0.ln_1.b']);
    expect(names).toContain('h.1.attn.c_attn.w');
    expect(names).toContain('h.1.mlp.c_proj.b');
    expect(names.slice(-4)).toEqual(['ln_f.g', 'ln_f.b', 'value_head.w', 'value_head.b']);
    expect(model.getWeights().get('h.0.attn.c_attn.w')!.shape).toEqual([32, 96]);
  });

  it('initialises deterministically from the seed', () => {
    const again = new GPT(CFG, { seed: 3 });
    const other = new GPT(CFG, { seed: 4 });
    const w = (m: GPT) => m.getWeights().get('h.1.mlp.c_fc.w')!.dataSync();
    expect(maxAbsDiff(w(again), w(model))).toBe(0);
    expect(maxAbsDiff(w(other), w(model))).toBeGreaterThan(0.01);
    again.dispose();
    other.dispose();
  });

  it('is causal: later tokens never change earlier positions', () => {
    const a = randomRows(1, 40, 2);
    const b = [a[0].slice(0, 20).concat(randomRows(1, 20, 9)[0])];
    const [la, lb] = [a, b].map((rows) => tf.tidy(() => tf.slice(model.forward(ids(rows)).logits, [0, 0, 0], [1, 20, CFG.vocabSize]).dataSync()));
    expect(maxAbsDiff(la, lb)).toBeLessThan(1e-5);
  });

  it('gives the same logits and values with the KV cache as without (within 1e-4)', () => {
    const rows = randomRows(2, 45, 5);
    const full = model.forward(ids(rows));
    const cache = model.initCache(2);
    const chunks = [[0, 33], [33, 34], [34, 36], [36, 45]]; // a prefill, single steps, a short chunk
    const parts = chunks.map(([from, to]) => model.forwardCached(ids(rows.map((r) => r.slice(from, to))), cache));
    expect(cache.length).toBe(45);
    const cachedLogits = tf.concat(parts.map((p) => p.logits), 1);
    const cachedValues = tf.concat(parts.map((p) => p.values), 1);
    expect(maxAbsDiff(cachedLogits.dataSync(), full.logits.dataSync())).toBeLessThan(1e-4);
    expect(maxAbsDiff(cachedValues.dataSync(), full.values.dataSync())).toBeLessThan(1e-4);
    expect(() => tf.tidy(() => model.forwardCached(ids(randomRows(2, 4, 1)), cache))).toThrow(/exceeds the model's contextLength 48/);
    expect(() => tf.tidy(() => model.forwardCached(ids(randomRows(3, 1, 1)), cache))).toThrow(/KV cache was made for 2/);
    tf.dispose([full.logits, full.values, cachedLogits, cachedValues, ...parts.flatMap((p) => [p.logits, p.values])]);
    cache.dispose();
  });

  it('gives the next-token logits of a prompt run once and repeated, as the full forward does for each row', () => {
    const prompt = randomRows(1, 30, 6)[0]!;
    const next = [7, 11, 13];
    const rows = next.map((t) => [...prompt, t]);
    const full = tf.tidy(() => tf.slice(model.forward(ids(rows)).logits, [0, 30, 0], [3, 1, CFG.vocabSize]).dataSync());
    const cache = model.initCache(1);
    const first = model.nextLogits(ids([prompt]), cache);
    cache.repeat(3);
    expect(() => cache.repeat(2)).toThrow(/only a one-row KV cache can be repeated/);
    const stepped = model.nextLogits(ids(next.map((t) => [t])), cache);
    expect(stepped.shape).toEqual([3, CFG.vocabSize]);
    expect(cache.length).toBe(31);
    expect(maxAbsDiff(stepped.dataSync(), full)).toBeLessThan(1e-4);
    const lastOfPrompt = tf.tidy(() => tf.slice(model.forward(ids([prompt])).logits, [0, 29, 0], [1, 1, CFG.vocabSize]).dataSync());
    expect(maxAbsDiff(first.dataSync(), lastOfPrompt)).toBeLessThan(1e-4);
    tf.dispose([first, stepped]);
    cache.dispose();
  });

  it('rejects sequences longer than the context and non-int32 ids', () => {
    expect(() => model.forward(ids(randomRows(1, 49, 1)))).toThrow(/49 tokens exceeds the model's contextLength 48/);
    expect(() => model.forward(tf.tensor2d([[1, 2]]))).toThrow(/int32/);
  });

  it('clones into independent variables; setWeights checks names and shapes', () => {
    const copy = model.clone();
    const wte = () => model.getWeights().get('wte')!.dataSync().slice();
    expect(maxAbsDiff(copy.getWeights().get('wte')!.dataSync(), wte())).toBe(0);
    const before = wte();
    const changed = new Map([...copy.getWeights()].map(([k, v]) => [k, tf.add(v, 1)]));
    copy.setWeights(changed);
    expect(maxAbsDiff(wte(), before)).toBe(0);
    expect(copy.getWeights().get('wte')!.dataSync()[0]).toBeCloseTo(before[0] + 1, 5);
    const missing = new Map(changed);
    missing.delete('ln_f.b');
    expect(() => copy.setWeights(missing)).toThrow(/missing policy parameter "ln_f.b"/);
    expect(() => copy.setWeights(new Map([...changed, ['extra', tf.zeros([1])]]))).toThrow(/unknown policy parameter "extra"/);
    const wrong = new Map(changed);
    wrong.set('wpe', tf.zeros([3, 3]));
    expect(() => copy.setWeights(wrong)).toThrow(/"wpe" has shape \[3,3\] but the model config needs \[48,32\]/);
    tf.dispose([...changed.values(), ...wrong.values()]);
    copy.dispose();
  });

  it('rejects a bad config with the field named', () => {
    expect(() => new GPT({ ...CFG, nHead: 5 })).toThrow(/nEmbd \(32\) must be divisible by nHead \(5\)/);
    expect(() => new GPT({ ...CFG, vocabSize: 0 })).toThrow(/vocabSize must be a positive integer/);
  });
});

describe('tokenLogProbs', () => {
  it('equals log-softmax at the targets, with gradient onehot − softmax', () => {
    const logits = tf.tensor3d([[[1, 2, 3, -50], [0.5, 0.5, 9, 1]]]);
    const targets = tf.tensor2d([[3, 0]], [1, 2], 'int32');
    const got = tokenLogProbs(logits, targets).dataSync();
    const want = [[1, 2, 3, -50, 3], [0.5, 0.5, 9, 1, 0]].map((r) => {
      const xs = r.slice(0, 4);
      const lse = Math.log(xs.reduce((s, x) => s + Math.exp(x), 0));
      return xs[r[4]] - lse;
    });
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tokenLogProbs(x as tf.Tensor3D, targets)))(logits).dataSync();
    const reference = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.logSoftmax(x), tf.oneHot(tf.tensor2d([[3, 0]], [1, 2], 'int32'), 4))))(logits).dataSync();
    expect(maxAbsDiff(grad, reference)).toBeLessThan(1e-5);
  });
});

describe('nextTokenLogProbs', () => {
  it('computes only the masked positions: the same values and gradients as the full forward there, 0 elsewhere', () => {
    const rows = randomRows(3, 20, 5);
    const [B, T] = [3, 20];
    const mask = new Float32Array(B * (T - 1)).map((_, i) => (i % (T - 1) >= 4 + (i % 3) ? 1 : 0));
    mask[2 * (T - 1) + 1] = 1; // a lone position out of a row's run
    const weights = tf.tensor2d(Array.from(mask, (m, i) => m * (1 + (i % 5))), [B, T - 1]);
    const vars = model.trainableVariables();
    const run = (f: () => { logprobs: tf.Tensor2D; values: tf.Tensor2D }) => {
      let parts: tf.Tensor[] = [];
      const result = lossAndGrads(vars, () => {
        const { logprobs, values } = f();
        parts = [tf.keep(logprobs), tf.keep(values)];
        return tf.sum(tf.mul(tf.add(logprobs, tf.square(values)), weights)) as tf.Scalar;
      });
      const out = { ...result, logprobs: parts[0]!.dataSync(), values: parts[1]!.dataSync() };
      tf.dispose(parts);
      return out;
    };
    const full = run(() => {
      const { logits, values } = model.forward(ids(rows));
      const lp = tokenLogProbs(tf.slice(logits, [0, 0, 0], [B, T - 1, -1]), tf.slice(ids(rows), [0, 1], [B, T - 1]));
      return { logprobs: lp as tf.Tensor2D, values: tf.slice(values, [0, 0], [B, T - 1]) };
    });
    const masked = run(() => nextTokenLogProbs(model, ids(rows), mask));
    expect(Math.abs(masked.loss - full.loss)).toBeLessThan(1e-4);
    for (let i = 0; i < mask.length; i++) {
      expect(Math.abs(masked.logprobs[i]! - (mask[i] ? full.logprobs[i]! : 0))).toBeLessThan(1e-5);
      expect(Math.abs(masked.values[i]! - (mask[i] ? full.values[i]! : 0))).toBeLessThan(1e-5);
    }
    masked.grads.forEach((g, i) => expect(maxAbsDiff(g, full.grads[i]!)).toBeLessThan(1e-4));
    expect(() => nextTokenLogProbs(model, ids(rows), mask.subarray(1))).toThrow(/mask holds 56 positions but ids \(3, 20\) need 57/);
    weights.dispose();
  });

  it('gives the entropy of the tempered distribution at the masked positions', () => {
    const rows = randomRows(2, 12, 6);
    const mask = new Float32Array(2 * 11).fill(1, 5, 11).fill(1, 13, 20);
    const { entropy } = tf.tidy(() => nextTokenLogProbs(model, ids(rows), mask, { temperature: 0.7, entropy: true }));
    const want = tf.tidy(() => {
      const logp = tf.logSoftmax(tf.div(tf.slice(model.forward(ids(rows)).logits, [0, 0, 0], [2, 11, -1]), 0.7));
      return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)).dataSync();
    });
    const got = entropy!.dataSync();
    for (let i = 0; i < mask.length; i++) expect(Math.abs(got[i]! - (mask[i] ? want[i]! : 0))).toBeLessThan(1e-4);
    entropy!.dispose();
  });
});

describe('RewardModel', () => {
  it('starts from the policy trunk and scores the last real token, ignoring padding', () => {
    const rm = RewardModel.fromPolicy(model, 1);
    const trunk = [...model.getWeights()].filter(([k]) => !k.startsWith('value_head'));
    for (const [name, w] of trunk) expect(maxAbsDiff(rm.getWeights().get(name)!.dataSync(), w.dataSync())).toBe(0);
    expect([...rm.getWeights().keys()].slice(-2)).toEqual(['reward_head.w', 'reward_head.b']);

    const rows = randomRows(2, 10, 4);
    const padded = rows.map((r, b) => r.map((t, i) => (i >= 6 + b ? (b ? 0 : 60) : t)));
    const scores = rm.score(ids(padded), [6, 7]).dataSync();
    const alone = [rm.score(ids([rows[0].slice(0, 6)]), [6]).dataSync()[0], rm.score(ids([rows[1].slice(0, 7)]), [7]).dataSync()[0]];
    expect(maxAbsDiff(scores, alone)).toBeLessThan(1e-5);
    expect(Math.abs(scores[0] - scores[1])).toBeGreaterThan(1e-6);
    expect(() => rm.score(ids(padded), [6, 11])).toThrow(/length 11 of row 1 must be an integer in 1..10/);
    rm.dispose();
  });
});

describe('RewardModel.score', () => {
  it('equals the full forward with the same weights at each row\'s last real token, values and gradients', () => {
    const rm = RewardModel.fromPolicy(model, 4);
    // A policy with the reward model's trunk and its head as the value head: its forward runs every
    // block at every position, the reference for score's shortened last block.
    const asPolicy = new GPT(CFG, { weights: new Map([...rm.getWeights()].map(([k, v]) => [k.replace('reward_head', 'value_head'), v])) });
    const rows = randomRows(3, 30, 9);
    const lengths = [30, 17, 4];
    const pick = new Float32Array(3 * 30);
    lengths.forEach((n, b) => (pick[b * 30 + n - 1] = 1 + b));
    const weights = tf.tensor1d([1, 2, 3]);
    const got = lossAndGrads(rm.trainableVariables(), () => tf.sum(tf.mul(rm.score(ids(rows), lengths), weights)));
    const want = lossAndGrads(asPolicy.trainableVariables(), () => tf.sum(tf.mul(asPolicy.forward(ids(rows)).values, tf.tensor2d(pick, [3, 30]))));
    expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5);
    got.grads.forEach((g, i) => expect(maxAbsDiff(g, want.grads[i]!), `parameter ${i}`).toBeLessThan(1e-5));
    tf.dispose([weights]);
    rm.dispose();
    asPolicy.dispose();
  });
});

describe('gradients on wasm equal the cpu backend', () => {
  it('for every parameter, the embedding included', async () => {
    const rows = randomRows(2, 40, 8);
    const gradsOn = async (backend: string) => {
      await initBackend(backend);
      const m = new GPT(CFG, { seed: 11 });
      const rm = RewardModel.fromPolicy(m, 2);
      const { grads, value } = tf.variableGrads(() => {
        const { logits, values } = m.forward(ids(rows));
        const score = rm.score(ids(rows), [40, 25]);
        return tf.sum(tf.stack([tf.mean(tokenLogProbs(logits, ids(rows))), tf.mean(tf.square(values)), tf.sum(score)])) as tf.Scalar;
      }, [...m.trainableVariables(), ...rm.trainableVariables()]);
      const names = [...[...m.getWeights().keys()].map((k) => `policy ${k}`), ...[...rm.getWeights().keys()].map((k) => `reward ${k}`)];
      const vars = [...m.trainableVariables(), ...rm.trainableVariables()];
      const out = new Map(names.map((n, i) => [n, Array.from(grads[vars[i].name].dataSync())]));
      out.set('loss', [value.dataSync()[0]]);
      tf.dispose([value, ...Object.values(grads)]);
      m.dispose();
      rm.dispose();
      return out;
    };
    const cpu = await gradsOn('cpu');
    const wasm = await gradsOn('wasm');
    expect(Math.abs(wasm.get('loss')![0] - cpu.get('loss')![0])).toBeLessThan(1e-4);
    for (const [name, g] of cpu) {
      const scale = Math.max(1e-3, ...g.map(Math.abs));
      expect(maxAbsDiff(wasm.get(name)!, g) / scale, name).toBeLessThan(1e-3);
    }
    expect(Math.max(...cpu.get('policy wte')!.map(Math.abs))).toBeGreaterThan(1e-4);
  });
});
