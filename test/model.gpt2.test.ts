import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/model/backend.ts';
import { importGpt2 } from '../src/model/gpt2.ts';
import { mulberry32, normalArray } from '../src/model/prng.ts';
import { serializeSafetensors, type Float32Entry } from '../src/model/safetensors.ts';

// A small GPT-2: the shapes and key names of Hugging Face's GPT2LMHeadModel, random weights.
const G = { vocab_size: 37, n_positions: 16, n_embd: 24, n_head: 3, n_layer: 2 };
const C = G.n_embd;

type Weights = Map<string, Float32Entry>;

function gpt2Weights(seed: number): Weights {
  const rand = mulberry32(seed);
  const w: Weights = new Map();
  // Biases and LayerNorm parameters are random too, so a swapped or dropped one shows.
  const add = (name: string, shape: number[], mean = 0) => {
    const data = normalArray(shape.reduce((a, b) => a * b, 1), 0.3, rand).map((x) => x + mean);
    w.set(name, { shape, data });
  };
  add('wte.weight', [G.vocab_size, C]);
  add('wpe.weight', [G.n_positions, C]);
  for (let i = 0; i < G.n_layer; i++) {
    add(`h.${i}.ln_1.weight`, [C], 1);
    add(`h.${i}.ln_1.bias`, [C]);
    add(`h.${i}.attn.c_attn.weight`, [C, 3 * C]); // Conv1D: (in, out)
    add(`h.${i}.attn.c_attn.bias`, [3 * C]);
    add(`h.${i}.attn.c_proj.weight`, [C, C]);
    add(`h.${i}.attn.c_proj.bias`, [C]);
    add(`h.${i}.ln_2.weight`, [C], 1);
    add(`h.${i}.ln_2.bias`, [C]);
    add(`h.${i}.mlp.c_fc.weight`, [C, 4 * C]);
    add(`h.${i}.mlp.c_fc.bias`, [4 * C]);
    add(`h.${i}.mlp.c_proj.weight`, [4 * C, C]);
    add(`h.${i}.mlp.c_proj.bias`, [C]);
  }
  add('ln_f.weight', [C], 1);
  add('ln_f.bias', [C]);
  return w;
}

/** GPT-2's forward pass in float64 loops, written from the paper/reference code: logits (T, V). */
function referenceLogits(w: Weights, ids: number[]): number[][] {
  const get = (name: string) => w.get(name)!.data;
  const T = ids.length;
  const hs = C / G.n_head;
  const layerNorm = (x: number[], g: Float32Array, b: Float32Array) => {
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
    return x.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[i] + b[i]);
  };
  const conv1d = (x: number[], weight: Float32Array, bias: Float32Array) => {
    const nOut = bias.length;
    const out = Array.from(bias);
    for (let i = 0; i < x.length; i++) for (let j = 0; j < nOut; j++) out[j] += x[i] * weight[i * nOut + j];
    return out;
  };
  const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

  let h = ids.map((id, t) => Array.from({ length: C }, (_, c) => get('wte.weight')[id * C + c] + get('wpe.weight')[t * C + c]));
  for (let l = 0; l < G.n_layer; l++) {
    const p = (n: string) => get(`h.${l}.${n}`);
    const qkv = h.map((x) => conv1d(layerNorm(x, p('ln_1.weight'), p('ln_1.bias')), p('attn.c_attn.weight'), p('attn.c_attn.bias')));
    const attended = Array.from({ length: T }, () => new Array<number>(C).fill(0));
    for (let head = 0; head < G.n_head; head++) {
      const q = (t: number, d: number) => qkv[t][head * hs + d];
      const k = (t: number, d: number) => qkv[t][C + head * hs + d];
      const v = (t: number, d: number) => qkv[t][2 * C + head * hs + d];
      for (let i = 0; i < T; i++) {
        const scores = Array.from({ length: i + 1 }, (_, j) => {
          let s = 0;
          for (let d = 0; d < hs; d++) s += q(i, d) * k(j, d);
          return s / Math.sqrt(hs);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < hs; d++) attended[i][head * hs + d] = e.reduce((s, ej, j) => s + (ej / z) * v(j, d), 0);
      }
    }
    h = h.map((x, t) => conv1d(attended[t], p('attn.c_proj.weight'), p('attn.c_proj.bias')).map((a, c) => x[c] + a));
    h = h.map((x) => {
      const hidden = conv1d(layerNorm(x, p('ln_2.weight'), p('ln_2.bias')), p('mlp.c_fc.weight'), p('mlp.c_fc.bias')).map(geluNew);
      return conv1d(hidden, p('mlp.c_proj.weight'), p('mlp.c_proj.bias')).map((m, c) => x[c] + m);
    });
  }
  const wte = get('wte.weight');
  return h.map((x) => {
    const y = layerNorm(x, get('ln_f.weight'), get('ln_f.bias'));
    return Array.from({ length: G.vocab_size }, (_, v) => y.reduce((s, yc, c) => s + yc * wte[v * C + c], 0));
  });
}

function writeFolder(weights: Weights, opts: { prefix?: string; extras?: boolean; config?: object } = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pairwise-gpt2-'));
  const tensors: Weights = new Map([...weights].map(([k, v]) => [`${opts.prefix ?? ''}${k}`, v]));
  if (opts.extras) {
    // What real exports also hold: causal-mask buffers and the (tied) LM head.
    for (let i = 0; i < G.n_layer; i++) tensors.set(`${opts.prefix ?? ''}h.${i}.attn.bias`, { shape: [1, 1, 16, 16], data: new Float32Array(256).fill(1) });
    tensors.set('lm_head.weight', weights.get('wte.weight')!);
  }
  writeFileSync(path.join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(opts.config ?? { ...G, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, model_type: 'gpt2' }));
  return dir;
}

const dirs: string[] = [];
beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('importGpt2', () => {
  const weights = gpt2Weights(7);
  const ids = [3, 36, 0, 17, 17, 5, 22, 9, 1, 30, 12, 2];
  const reference = referenceLogits(weights, ids).flat();

  for (const variant of [{ name: 'plain keys' }, { name: '"transformer." keys, mask buffers, lm_head', prefix: 'transformer.', extras: true }]) {
    it(`reproduces GPT-2's logits (${variant.name})`, async () => {
      const dir = writeFolder(weights, variant);
      dirs.push(dir);
      writeFileSync(path.join(dir, 'vocab.json'), '{"a":0}');
      const { model, tokenizerFiles } = await importGpt2(dir);
      expect(model.config).toEqual({ vocabSize: 37, contextLength: 16, nLayer: 2, nHead: 3, nEmbd: 24 });
      expect(tokenizerFiles).toEqual({ vocabJson: '{"a":0}', mergesTxt: undefined });
      const logits = tf.tidy(() => Array.from(model.forward(tf.tensor2d([ids], [1, ids.length], 'int32')).logits.dataSync()));
      const scale = Math.max(...reference.map(Math.abs));
      expect(scale).toBeGreaterThan(1);
      const worst = Math.max(...logits.map((x, i) => Math.abs(x - reference[i])));
      expect(worst / scale).toBeLessThan(1e-4);
      model.dispose();
    });
  }

  it('explains what is missing or unsupported', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'pairwise-gpt2-'));
    dirs.push(empty);
    await expect(importGpt2(empty)).rejects.toThrow(/config.json not found; the folder needs config.json and model.safetensors/);
    const partial = new Map(weights);
    partial.delete('h.1.mlp.c_fc.bias');
    const noBias = writeFolder(partial);
    dirs.push(noBias);
    await expect(importGpt2(noBias)).rejects.toThrow(/lacks the weights for "h.1.mlp.c_fc.b"/);
    const relu = writeFolder(weights, { config: { ...G, activation_function: 'relu' } });
    dirs.push(relu);
    await expect(importGpt2(relu)).rejects.toThrow(/activation_function "relu" is not supported/);
    const wrong = writeFolder(weights, { config: { ...G, n_embd: 32, n_head: 4 } });
    dirs.push(wrong);
    await expect(importGpt2(wrong)).rejects.toThrow(/"wte.weight" has shape \[37,24\], config.json implies \[37,32\]/);
  });
});
