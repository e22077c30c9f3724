// The one data path from chat turns to model inputs, shared by the reward model, PPO, DPO and the
// gate: a rendered prompt followed by a reply's tokens, right-padded into a batch.
import * as tf from '@tensorflow/tfjs-core';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import { tokenLogProbs, type GPT } from '../model/transformer.ts';
import { spread, type ModelPool } from './parallel.ts';

/** A prompt and one reply as token ids: ids = prompt ++ reply. */
export interface Sequence {
  ids: number[];
  /** Tokens of the prompt; the reply starts at this position. */
  promptLength: number;
}

/**
 * `context` rendered for the model, then `reply` tokenised and closed with the end token. The reply
 * keeps at most `replyBudget` tokens (its end token included) and the prompt gets the rest of
 * the context window, its oldest turns dropped first.
 */
export function encodeReply(tokenizer: Tokenizer, context: Turn[], reply: string, contextLength: number, replyBudget: number): Sequence {
  if (replyBudget < 1 || replyBudget > contextLength - 3) {
    throw new Error(`reply budget ${replyBudget} does not fit a ${contextLength}-token context: use 1..${contextLength - 3}`);
  }
  const prompt = tokenizer.renderChat(context, contextLength - replyBudget);
  const body = tokenizer.encode(reply).slice(0, replyBudget - 1);
  return { ids: [...prompt, ...body, tokenizer.special.eot], promptLength: prompt.length };
}

/** Rows right-padded to `width` (default the longest): ids (B, T) int32. Causal attention keeps padding out of real positions. */
export function padBatch(rows: number[][], padId: number, width = Math.max(...rows.map((r) => r.length))): tf.Tensor2D {
  const flat = new Int32Array(rows.length * width).fill(padId);
  rows.forEach((r, b) => flat.set(r, b * width));
  return tf.tensor2d(flat, [rows.length, width], 'int32');
}

/**
 * Per-token log-probabilities of each next token and the value predictions, for a right-padded
 * batch: position t holds log π(ids[t+1] | ids[..t]) and V(ids[..t]), so both are (B, T-1).
 * Logits are divided by `temperature` first (PPO trains the distribution it sampled from).
 */
export function nextTokenLogProbs(model: GPT, ids: tf.Tensor2D, temperature = 1): { logprobs: tf.Tensor2D; values: tf.Tensor2D; logits: tf.Tensor3D } {
  const [batch, width] = ids.shape;
  const { logits, values } = model.forward(ids);
  const inputs = tf.slice(logits, [0, 0, 0], [batch, width - 1, -1]); // (B, T-1, V)
  const scaled = temperature === 1 ? inputs : tf.div<tf.Tensor3D>(inputs, temperature);
  const targets = tf.slice(ids, [0, 1], [batch, width - 1]); // (B, T-1)
  return { logprobs: tokenLogProbs(scaled, targets), values: tf.slice(values, [0, 0], [batch, width - 1]), logits: scaled };
}

/** (B, T-1) 0/1 mask of the positions whose next token is a reply token, matching nextTokenLogProbs. */
export function replyMask(seqs: Sequence[], width: number): Float32Array {
  const mask = new Float32Array(seqs.length * (width - 1));
  seqs.forEach((s, b) => {
    for (let t = s.promptLength - 1; t < s.ids.length - 1; t++) mask[b * (width - 1) + t] = 1;
  });
  return mask;
}

/** Sum of the reply tokens' log-probabilities per sequence, (B). */
export function replyLogProbSums(logprobs: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(logprobs, mask), 1);
}

/** Runs `fn` over consecutive chunks of at most `size` items and concatenates the results. */
export async function inChunks<T, R>(items: T[], size: number, fn: (chunk: T[], offset: number) => R[] | Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await fn(items.slice(i, i + size), i)));
  return out;
}

/** Sum of reply-token log-probabilities of each sequence under `model`, without gradients, batched. */
export async function sequenceLogProbs(model: GPT, seqs: Sequence[], padId: number, batchSize: number, temperature = 1): Promise<number[]> {
  return inChunks(seqs, batchSize, async (chunk) => {
    const sums = tf.tidy(() => {
      const ids = padBatch(chunk.map((s) => s.ids), padId);
      const mask = tf.tensor2d(replyMask(chunk, ids.shape[1]), [chunk.length, ids.shape[1] - 1]);
      return replyLogProbSums(nextTokenLogProbs(model, ids, temperature).logprobs, mask);
    });
    const out = Array.from(await sums.data());
    sums.dispose();
    return out;
  });
}

/** The same, spread over the pool's workers when given one (the pool must hold `model`). */
export async function sequenceLogProbsOn(pool: ModelPool | undefined, model: GPT, seqs: Sequence[], padId: number, batchSize: number): Promise<number[]> {
  return (await spread(pool, 'replyLogProbs', [model], seqs.length, (start, end) => ({ seqs: seqs.slice(start, end), padId, batchSize }))).flat();
}
