import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL, COLUMN_SUM_KERNEL, GELU_GRAD_KERNEL, GELU_KERNEL, initBackend, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from '../src/model/backend.ts';
import { canDecodeFused, FusedDecoder } from '../src/model/decoder.ts';
import { generate } from '../src/model/generate.ts';
import { GPT, MODEL_SIZES } from '../src/model/transformer.ts';

// Two shapes: the tiny test model (head size 16) and one with 3 heads of 8 and an odd vocabulary.
const CONFIGS = [
  { ...MODEL_SIZES.tiny, contextLength: 40, vocabSize: 53 },
  { contextLength: 24, nLayer: 3, nHead: 3, nEmbd: 24, vocabSize: 37 },
];

let models: GPT[];
beforeAll(async () => {
  await initBackend('wasm');
  models = CONFIGS.map((cfg, i) => new GPT(cfg, { seed: 11 + i }));
});
afterAll(() => models.forEach((m) => m.dispose()));

/** GPT.forward's logits (rows, V) at the last position of each row. */
function lastLogits(model: GPT, rows: number[][]): Float32Array {
  return tf.tidy(() => {
    const T = rows[0].length;
    const { logits } = model.forward(tf.tensor2d(rows, [rows.length, T], 'int32'));
    return tf.reshape(tf.slice(logits, [0, T - 1, 0], [rows.length, 1, -1]), [rows.length, -1]).dataSync() as Float32Array;
  });
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

describe('fused wasm decoder', () => {
  it('gives GPT.forward logits after the prompt and after every step, for every row', () => {
    for (const model of models) {
      expect(canDecodeFused(model)).toBe(true);
      const prompt = [3, 1, 4, 1, 5, 9, 2];
      const rows = [prompt.slice(), prompt.slice(), prompt.slice()];
      const decoder = new FusedDecoder(model, rows.length, prompt.length);
      try {
        expect(maxDiff(decoder.prefill(prompt).slice(), lastLogits(model, rows))).toBeLessThan(1e-4);
        for (let t = 0; t < 12; t++) {
          const next = rows.map((_, r) => (7 * t + 5 * r + 2) % model.config.vocabSize); // rows diverge
          rows.forEach((row, r) => row.push(next[r]));
          expect(maxDiff(decoder.step(next).slice(), lastLogits(model, rows))).toBeLessThan(1e-4);
        }
      } finally {
        decoder.dispose();
      }
    }
  });

  it('samples what the TF.js KV cache samples, with the same log-probs', async () => {
    const opts = { numSamples: 2, maxNewTokens: 20, temperature: 0.8, topP: 0.9, seed: 4, eotId: -1 };
    for (const model of models) {
      const fused = await generate(model, [2, 7, 1, 8], opts);
      const kernels = await generate(model, [2, 7, 1, 8], { ...opts, fused: false });
      expect(fused.map((s) => s.tokenIds)).toEqual(kernels.map((s) => s.tokenIds));
      fused.forEach((s, b) => s.logprobs.forEach((lp, i) => expect(Math.abs(lp - kernels[b].logprobs[i])).toBeLessThan(1e-4)));
    }
  });

  it('frees what it allocates and refuses to run past the context', () => {
    const model = models[1];
    const before = tf.memory();
    const decoder = new FusedDecoder(model, 2, 20);
    decoder.prefill(Array.from({ length: 20 }, (_, i) => i % 30));
    for (let t = 0; t < 4; t++) decoder.step([1, 2]);
    expect(() => decoder.step([1, 2])).toThrow(/exceeds the model's contextLength 24/);
    decoder.dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });
});

/** Plain TF.js ops for what the training kernels compute: causal attention of qkv (B, T, 3, H, hs) → (B, T, H, hs). */
function referenceAttention(qkv: tf.Tensor): tf.Tensor {
  const [B, T, , H, hs] = qkv.shape;
  const [q, k, v] = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4])) as tf.Tensor4D[]; // 3 × (B, H, T, hs)
  const mask = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // 1 on and below the diagonal
  const scores = tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(hs)), tf.mul(tf.sub(1, mask), -1e9));
  return tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [B, T, H, hs]);
}

const referenceGelu = (x: tf.Tensor) => tf.mul(0.5, tf.mul(x, tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))));

function wavy(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed) * 1.5), shape);
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const [x, y] = [a.dataSync() as Float32Array, b.dataSync() as Float32Array];
  expect(x.length).toBe(y.length);
  const scale = Math.max(1e-3, ...Array.from(y, Math.abs));
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0) / scale;
}

describe('wasm training kernels', () => {
  it('attention forward and backward equal plain TF.js ops, masked half included', () => {
    for (const [B, T, H, hs] of [[2, 37, 3, 8], [1, 1, 2, 4], [3, 6, 1, 16]]) {
      tf.tidy(() => {
        const qkv = wavy([B, T, 3, H, hs], T);
        const dy = wavy([B, T, H, hs], 7);
        const [y, probs] = tf.engine().runKernel(ATTENTION_KERNEL, { qkv }) as tf.Tensor[];
        const dqkv = tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, qkv, probs }) as tf.Tensor;
        const ref = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(referenceAttention(x), dy)))(qkv);
        expect(maxRelDiff(y, referenceAttention(qkv)), `y ${[B, T, H, hs]}`).toBeLessThan(1e-5);
        expect(dqkv.shape).toEqual(qkv.shape);
        expect(maxRelDiff(dqkv, ref), `dqkv ${[B, T, H, hs]}`).toBeLessThan(1e-4);
      });
    }
  });

  it('gelu forward and backward equal the tanh form, on a length that is not a multiple of 4', () => {
    tf.tidy(() => {
      const x = tf.mul(wavy([1023], 1), 4); // −6..6: both tails
      const dy = wavy([1023], 2);
      expect(maxRelDiff(tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor, referenceGelu(x))).toBeLessThan(1e-6);
      const [y, s] = tf.engine().runKernel(GELU_KERNEL, { x }, { sigmoid: true }) as tf.Tensor[];
      expect(maxRelDiff(y!, referenceGelu(x))).toBeLessThan(1e-6);
      const u = tf.mul(x, tf.add(tf.mul(tf.square(x), 0.044715 * 2 * Math.sqrt(2 / Math.PI)), 2 * Math.sqrt(2 / Math.PI)));
      expect(maxRelDiff(s!, tf.sigmoid(u))).toBeLessThan(1e-6);
      const ref = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(referenceGelu(v), dy)))(x);
      expect(maxRelDiff(tf.engine().runKernel(GELU_GRAD_KERNEL, { x, s: s!, dy }) as tf.Tensor, ref)).toBeLessThan(1e-5);
    });
  });

  it('LayerNorm forward and backward equal plain TF.js ops, widths with and without a partial vector', () => {
    for (const C of [16, 7]) {
      tf.tidy(() => {
        const [x, g, b, dy] = [wavy([9, C], 1), wavy([C], 2), wavy([C], 3), wavy([9, C], 4)];
        const reference = (xv: tf.Tensor, gv: tf.Tensor, bv: tf.Tensor) => {
          const centred = tf.sub(xv, tf.mean(xv, -1, true));
          return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), 1e-5))), gv), bv);
        };
        const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, g, b }, { epsilon: 1e-5 }) as tf.Tensor[];
        expect(maxRelDiff(y, reference(x, g, b)), `y C=${C}`).toBeLessThan(1e-5);
        const grads = tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, x, g, mean, rstd }) as tf.Tensor[];
        const ref = tf.grads((xv: tf.Tensor, gv: tf.Tensor, bv: tf.Tensor) => tf.sum(tf.mul(reference(xv, gv, bv), dy)))([x, g, b]);
        grads.forEach((got, i) => expect(maxRelDiff(got, ref[i]), `grad ${i} C=${C}`).toBeLessThan(1e-4));
      });
    }
  });

  it('column sums equal tf.sum over the rows, for widths with and without a 16-column block', () => {
    for (const [n, c] of [[37, 40], [5, 1], [1, 19], [300, 16]]) {
      tf.tidy(() => {
        const x = wavy([n, c], c);
        expect(maxRelDiff(tf.engine().runKernel(COLUMN_SUM_KERNEL, { x }) as tf.Tensor, tf.sum(x, 0)), `${n}x${c}`).toBeLessThan(1e-5);
      });
    }
  });

  it('frees its scratch', () => {
    const qkv = wavy([2, 5, 3, 2, 4], 0);
    const before = tf.memory();
    const outs = tf.engine().runKernel(ATTENTION_KERNEL, { qkv }) as tf.Tensor[];
    tf.dispose([tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy: outs[0], qkv, probs: outs[1] }) as tf.Tensor, ...outs]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    qkv.dispose();
  });
});
