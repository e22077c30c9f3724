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
 * Only the positions where `mask` (B·(T-1), row-major) is 1 are computed; the others hold 0.
 * Every caller reads only reply or target tokens, and skipping the rest skips most of the LM
 * head's work (a quarter of the default model's FLOPs per position). Logits are divided by
 * `temperature` first (PPO trains the distribution it sampled from); `entropy` adds the entropy
 * of that distribution at the same positions.
 */
export function nextTokenLogProbs(model: GPT, ids: tf.Tensor2D, mask: ArrayLike<number>, opts: { temperature?: number; entropy?: boolean } = {}): { logprobs: tf.Tensor2D; values: tf.Tensor2D; entropy?: tf.Tensor2D } {
  const [batch, width] = ids.shape;
  const cols = width - 1;
  if (mask.length !== batch * cols) throw new Error(`nextTokenLogProbs: mask holds ${mask.length} positions but ids (${batch}, ${width}) need ${batch * cols}`);
  const { temperature = 1, entropy = false } = opts;
  const at: number[] = []; // where each computed position sits among the B·T
  const slot = new Int32Array(batch * cols); // 1 + its index in `at`, or 0 for "not computed"
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < cols; t++) {
      if (mask[b * cols + t]) slot[b * cols + t] = at.push(b * width + t);
    }
  }
  return tf.tidy(() => {
    // (N) → (B, T-1), 0 where not computed; a gather, so gradients flow back to the N.
    const spread = (x: tf.Tensor1D) => tf.reshape(tf.gather(tf.concat([tf.zeros([1]), x]), tf.tensor1d(slot, 'int32')), [batch, cols]) as tf.Tensor2D;
    if (at.length === 0) {
      const zeros = tf.zeros([batch, cols]) as tf.Tensor2D;
      return { logprobs: zeros, values: zeros, ...(entropy ? { entropy: zeros } : {}) };
    }
    const positions = tf.tensor1d(at, 'int32');
    const { logits, values } = model.forwardAt(ids, positions); // (N, V), (N)
    const scaled = temperature === 1 ? logits : tf.div<tf.Tensor2D>(logits, temperature);
    const targets = tf.gather(tf.reshape(ids, [batch * width]), tf.add(positions, tf.scalar(1, 'int32'))) as tf.Tensor1D; // (N)
    const out = { logprobs: spread(tokenLogProbs(scaled, targets)), values: spread(values) };
    if (!entropy) return out;
    const logp = tf.logSoftmax(scaled); // (N, V)
    return { ...out, entropy: spread(tf.neg(tf.sum<tf.Tensor1D>(tf.mul(tf.exp(logp), logp), -1))) };
  });
}

/** (B, T-1) 0/1 mask of the positions whose next token is a reply token, matching nextTokenLogProbs. */
export function replyMask(seqs: Sequence[], width: number): Float32Array {
  const mask = new Float32Array(seqs.length * (width - 1));
  seqs.forEach((s, b) => {
    for (let t = s.promptLength - 1; t < s.ids.length - 1; t++) mask[b * (width - 1) + t] = 1;
  });
  return mask;
}

/** Sum of each sequence's reply-token log-probabilities under `model`, (B). Differentiable. */
export function replyLogProbSums(model: GPT, seqs: Sequence[], padId: number, temperature = 1): tf.Tensor1D {
  const ids = padBatch(seqs.map((s) => s.ids), padId);
  // nextTokenLogProbs leaves 0 outside the mask, so a row's sum is its reply's.
  return tf.sum(nextTokenLogProbs(model, ids, replyMask(seqs, ids.shape[1]), { temperature }).logprobs, 1);
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
    const sums = tf.tidy(() => replyLogProbSums(model, chunk, padId, temperature));
    const out = Array.from(await sums.data());
    sums.dispose();
    return out;
  });
}

/** The same, spread over the pool's workers when given one (the pool must hold `model`). */
export async function sequenceLogProbsOn(pool: ModelPool | undefined, model: GPT, seqs: Sequence[], padId: number, batchSize: number): Promise<number[]> {
  return (await spread(pool, 'replyLogProbs', [model], seqs.length, (start, end) => ({ seqs: seqs.slice(start, end), padId, batchSize }))).flat();
}
