// Sampling replies from the policy: all candidates of one message in one batch, one position
// per step through the KV cache, tokens drawn on the JS side from a seeded PRNG.
import * as tf from '@tensorflow/tfjs-core';
import { canDecodeFused, FusedDecoder } from './decoder.ts';
import { mulberry32 } from './prng.ts';
import type { GPT, KVCache } from './transformer.ts';

export interface GenerateOptions {
  /** Candidates sampled for the prompt (2: A and B), all in one batch. */
  numSamples: number;
  /** Most tokens generated per candidate, the end token included. */
  maxNewTokens: number;
  /** Softmax temperature of the sampling distribution; 0 picks the most likely token. */
  temperature: number;
  /** Nucleus sampling: draw from the smallest set of tokens holding this much probability (1 = all). */
  topP: number;
  /** Seed of the PRNG: the same seed, model and prompt give the same samples. */
  seed: number;
  /** Token that ends a candidate (kept as its last token); -1 never stops early. */
  eotId: number;
  /** Reuse keys and values of earlier positions (default). false recomputes the whole prefix each step. */
  useCache?: boolean;
  /** With the cache on the wasm backend, run each step as one fused wasm call (default); false keeps TF.js's kernels. */
  fused?: boolean;
}

export interface Sample {
  /** Generated tokens, ending with eotId unless maxNewTokens ran out first. */
  tokenIds: number[];
  /**
   * log π(token | prefix) of each generated token under the policy itself, at temperature 1 and
   * without top-p: the behaviour log-probabilities PPO's ratio needs, comparable with
   * tokenLogProbs on the same sequence (not the tempered, truncated distribution sampled from).
   */
  logprobs: number[];
}

/**
 * Samples `numSamples` continuations of `promptIds`. The prompt is cut from the left so that
 * prompt + maxNewTokens fits the model's contextLength.
 */
export async function generate(model: GPT, promptIds: number[], opts: GenerateOptions): Promise<Sample[]> {
  const { numSamples, maxNewTokens, temperature, topP, seed, eotId } = opts;
  const { contextLength, vocabSize } = model.config;
  checkOptions(opts, contextLength, vocabSize);
  if (promptIds.length === 0) throw new Error('generate: promptIds is empty; the prompt needs at least one token (e.g. the bot token)');
  for (const id of promptIds) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`generate: prompt token ${id} is not an id in 0..${vocabSize - 1}`);
  }
  const prompt = promptIds.slice(-(contextLength - maxNewTokens));
  const rand = mulberry32(seed);
  const samples: Sample[] = Array.from({ length: numSamples }, () => ({ tokenIds: [], logprobs: [] }));
  const done: boolean[] = new Array(numSamples).fill(false);
  const scratch: Scratch = { probs: new Float64Array(vocabSize), work: new Float64Array(vocabSize), logNorm: NaN };
  const step =
    opts.useCache === false
      ? fullRecompute(model, prompt, numSamples)
      : opts.fused !== false && canDecodeFused(model)
        ? fusedSteps(model, prompt, numSamples)
        : cachedSteps(model, prompt, numSamples);
  try {
    let next: number[] | undefined; // tokens fed at this step; undefined = the prompt
    for (let t = 0; t < maxNewTokens; t++) {
      const out = step.logits(next); // (B, V) logits of the next position
      // The fused path answers synchronously: no other task may run (and change weights) between its steps.
      const rows = out instanceof Float32Array ? out : await out;
      next = samples.map((sample, b) => {
        if (done[b]) return Math.max(eotId, 0); // finished rows still fill the batch; ignored
        const row = rows.subarray(b * vocabSize, (b + 1) * vocabSize);
        const token = sampleToken(row, temperature, topP, rand, scratch);
        sample.tokenIds.push(token);
        sample.logprobs.push(temperature === 1 ? row[token]! - scratch.logNorm : logSoftmaxAt(row, token));
        done[b] = token === eotId;
        return token;
      });
      if (done.every(Boolean)) break;
    }
  } finally {
    step.dispose();
  }
  return samples;
}

function checkOptions(o: GenerateOptions, contextLength: number, vocabSize: number): void {
  if (!Number.isInteger(o.numSamples) || o.numSamples < 1) throw new Error(`generate: numSamples must be a positive integer, got ${o.numSamples}`);
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1 || o.maxNewTokens >= contextLength) {
    throw new Error(`generate: maxNewTokens must be an integer in 1..${contextLength - 1} (the context is ${contextLength}), got ${o.maxNewTokens}`);
  }
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw new Error(`generate: temperature must be >= 0, got ${o.temperature}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${o.topP}`);
  if (!Number.isInteger(o.seed)) throw new Error(`generate: seed must be an integer, got ${o.seed}`);
  if (!Number.isInteger(o.eotId) || o.eotId < -1 || o.eotId >= vocabSize) throw new Error(`generate: eotId must be a token id in 0..${vocabSize - 1} or -1, got ${o.eotId}`);
}

/** Produces the last position's logits (B·V, row-major) after feeding the next tokens (one per row). */
interface Stepper {
  logits(next: number[] | undefined): Float32Array | Promise<Float32Array>;
  dispose(): void;
}

/** Reads and disposes a (B, V) logits tensor. */
async function rowsOf(logits: tf.Tensor2D): Promise<Float32Array> {
  try {
    return (await logits.data()) as Float32Array;
  } finally {
    logits.dispose();
  }
}

/** The fused wasm decoder (decoder.ts), prompt once as one row, then one call per step. */
function fusedSteps(model: GPT, prompt: number[], batch: number): Stepper {
  const decoder = new FusedDecoder(model, batch, prompt.length);
  return { logits: (next) => (next ? decoder.step(next) : decoder.prefill(prompt)), dispose: () => decoder.dispose() };
}

/** The prompt runs once, as one row; its cached keys and values are then repeated for every candidate. */
function cachedSteps(model: GPT, prompt: number[], batch: number): Stepper {
  const cache: KVCache = model.initCache(1);
  return {
    logits: (next) =>
      rowsOf(tf.tidy(() => {
        if (next) return model.nextLogits(tf.tensor2d(next, [batch, 1], 'int32'), cache);
        const logits = model.nextLogits(tf.tensor2d([prompt], [1, prompt.length], 'int32'), cache);
        cache.repeat(batch);
        return tf.tile(logits, [batch, 1]);
      })),
    dispose: () => cache.dispose(),
  };
}

function fullRecompute(model: GPT, prompt: number[], batch: number): Stepper {
  const rows = Array.from({ length: batch }, () => prompt.slice());
  return {
    logits: (next) =>
      rowsOf(tf.tidy(() => {
        next?.forEach((token, b) => rows[b].push(token));
        return lastPosition(model.forward(tf.tensor2d(rows, [batch, rows[0].length], 'int32')).logits);
      })),
    dispose: () => {},
  };
}

/** logits (B, T, V) → (B, V) of position T-1. */
function lastPosition(logits: tf.Tensor3D): tf.Tensor2D {
  const [B, T, V] = logits.shape;
  return tf.reshape(T === 1 ? logits : tf.slice(logits, [0, T - 1, 0], [B, 1, V]), [B, V]);
}

/** log softmax(row)[token] in float64. */
function logSoftmaxAt(row: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[token] - max - Math.log(sum);
}

interface Scratch {
  probs: Float64Array;
  work: Float64Array;
  /** max + log Σ exp(row − max) of the last row sampled at temperature 1: its log-softmax is row − logNorm. */
  logNorm: number;
}

/**
 * Draws from softmax(row / temperature) restricted to its top-p nucleus: the most likely tokens
 * whose probabilities add up to topP (ties at the cut are kept).
 */
function sampleToken(row: Float32Array, temperature: number, topP: number, rand: () => number, scratch: Scratch): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  if (temperature === 0) return best;
  const { probs, work } = scratch; // probs unnormalised
  let sum = 0;
  const max = row[best];
  const inv = 1 / temperature;
  for (let i = 0; i < row.length; i++) sum += probs[i] = Math.exp((row[i] - max) * inv);
  scratch.logNorm = max + Math.log(sum); // used at temperature 1 only, where it is exact
  let cut = 0;
  if (topP < 1) {
    work.set(probs);
    cut = nucleusCut(work, topP * sum);
  }
  let mass = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] >= cut) mass += probs[i];
  let u = rand() * mass;
  let last = best;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] < cut) continue;
    u -= probs[i];
    last = i;
    if (u < 0) return i;
  }
  return last; // u fell on the rounding edge
}

/** Bucket of a positive double: its exponent and top 3 mantissa bits, so buckets are ordered like the values (IEEE 754). */
const KEY_SHIFT = 17;
const KEYS = 1 << (31 - KEY_SHIFT);
const bucketMass = new Float64Array(KEYS);
/** Which 32-bit half of a double holds its sign and exponent: the second on little-endian machines. */
const HI_WORD = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f ? 1 : 0;

/**
 * The smallest probability in the nucleus: the largest p such that the values >= p add up to
 * `need`. Values must be finite and >= 0; reorders `values`. One pass sums the mass per bucket of the
 * float's bits (a factor 2^(1/8) wide), a walk down the buckets finds the one holding the cut,
 * and only that bucket's values are selected exactly (a three-way quickselect). About 10x
 * faster than quickselect over the whole vocabulary, which itself was 2.5x faster than a sort.
 */
export function nucleusCut(values: Float64Array, need: number): number {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  let lowest = KEYS;
  let highest = -1;
  for (let i = 0; i < values.length; i++) {
    const key = words[2 * i + HI_WORD]! >>> KEY_SHIFT;
    bucketMass[key]! += values[i]!;
    if (key < lowest) lowest = key;
    if (key > highest) highest = key;
  }
  let above = 0;
  let key = highest;
  for (; key > lowest && above + bucketMass[key]! < need; key--) above += bucketMass[key]!;
  bucketMass.fill(0, lowest, highest + 1);
  // The cut lies in bucket `key` (or is the lowest value when need exceeds the total).
  let n = 0;
  for (let i = 0; i < values.length; i++) if (words[2 * i + HI_WORD]! >>> KEY_SHIFT === key) values[n++] = values[i]!;
  return quickselectCut(values, n, need - above);
}

/** nucleusCut over values[0, n) by a three-way quickselect that keeps to the side holding the cut. */
function quickselectCut(values: Float64Array, n: number, need: number): number {
  let lo = 0;
  let hi = n;
  let above = 0; // mass of the values already known to be above the range [lo, hi)
  let pivot = values[0]!;
  while (lo < hi) {
    pivot = values[(lo + hi) >>> 1]!;
    // Dutch flag, descending: [lo, gt) > pivot, [gt, i) == pivot, [lt, hi) < pivot.
    let gt = lo;
    let i = lo;
    let lt = hi;
    let massGt = 0;
    while (i < lt) {
      const x = values[i]!;
      if (x > pivot) {
        massGt += x;
        values[i++] = values[gt]!;
        values[gt++] = x;
      } else if (x < pivot) {
        values[i] = values[--lt]!;
        values[lt] = x;
      } else i++;
    }
    if (above + massGt >= need) hi = gt;
    else if (above + massGt + (lt - gt) * pivot >= need) return pivot;
    else {
      above += massGt + (lt - gt) * pivot;
      lo = lt;
    }
  }
  return pivot; // need is above the total (rounding): every value is kept
}
