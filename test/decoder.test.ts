import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
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
