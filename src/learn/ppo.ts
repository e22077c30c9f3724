// PPO against the reward model (Ziegler et al. 2019; the recipe of TRL's PPOTrainer): rollouts from
// the current policy, a per-token KL penalty to the reference plus the reward-model score at the
// last token, GAE advantages from the policy's value head, the clipped surrogate and clipped value
// loss, several epochs over minibatches, and an adaptive KL coefficient.
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../model/prng.ts';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import type { GPT, RewardModel } from '../model/transformer.ts';
import { Adam } from './adam.ts';
import type { LearnerConfig } from './config.ts';
import { lossStep, spread, type ModelPool } from './parallel.ts';
import { scoreReplies, shuffled, type Normaliser } from './reward.ts';
import { sampleReplies, type SampledReply } from './rollouts.ts';
import { nextTokenLogProbs, padBatch, replyMask, type Sequence } from './sequences.ts';

// ---------------------------------------------------------------------------------------------
// Pure pieces.

/**
 * Generalised advantage estimation per row over the masked (reply) positions, in order:
 * δ_t = r_t + γ·V_{t+1} − V_t (V after the last reply token is 0: the episode ends),
 * A_t = δ_t + γλ·A_{t+1}; returns R_t = A_t + V_t. Unmasked positions get 0.
 */
export function gae(rewards: ArrayLike<number>[], values: ArrayLike<number>[], mask: ArrayLike<number>[], gamma: number, lambda: number): { advantages: number[][]; returns: number[][] } {
  const advantages: number[][] = [];
  const returns: number[][] = [];
  rewards.forEach((r, b) => {
    const v = values[b]!;
    const m = mask[b]!;
    const adv = new Array<number>(r.length).fill(0);
    const ret = new Array<number>(r.length).fill(0);
    let nextValue = 0;
    let nextAdv = 0;
    for (let t = r.length - 1; t >= 0; t--) {
      if (!m[t]) continue;
      const delta = r[t]! + gamma * nextValue - v[t]!;
      nextAdv = delta + gamma * lambda * nextAdv;
      adv[t] = nextAdv;
      ret[t] = nextAdv + v[t]!;
      nextValue = v[t]!;
    }
    advantages.push(adv);
    returns.push(ret);
  });
  return { advantages, returns };
}

/** Mean of x over the positions where mask is 1. */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1)));
}

/**
 * PPO's clipped surrogate: loss = mean over masked tokens of max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)) with
 * ρ = exp(logRatio); clipFraction = share of tokens where |ρ − 1| > ε (where the clip bites).
 */
export function clippedSurrogate(logRatio: tf.Tensor, advantages: tf.Tensor, mask: tf.Tensor, clipRange: number): { loss: tf.Scalar; clipFraction: tf.Scalar } {
  return tf.tidy(() => {
    const ratio = tf.exp(logRatio);
    const unclipped = tf.mul(tf.neg(advantages), ratio);
    const clipped = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clipRange, 1 + clipRange));
    const loss = maskedMean(tf.maximum(unclipped, clipped), mask);
    const clipFraction = maskedMean(tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), clipRange), 'float32'), mask);
    return { loss, clipFraction };
  });
}

/** ½·mean of max((V − R)², (V_clipped − R)²) with V_clipped = V_old + clip(V − V_old, ±ε_v). */
export function clippedValueLoss(values: tf.Tensor, oldValues: tf.Tensor, returns: tf.Tensor, mask: tf.Tensor, clipRange: number): tf.Scalar {
  return tf.tidy(() => {
    const clipped = tf.add(oldValues, tf.clipByValue(tf.sub(values, oldValues), -clipRange, clipRange));
    const worst = tf.maximum(tf.square(tf.sub(values, returns)), tf.square(tf.sub(clipped, returns)));
    return tf.mul(maskedMean(worst, mask), 0.5);
  });
}

/**
 * The adaptive KL coefficient of Ziegler et al. (2019): β ← β·(1 + e·n/horizon) with the
 * proportional error e = clip(KL/target − 1, ±0.2), after each batch of n rollouts.
 */
export class AdaptiveKLController {
  constructor(
    public value: number,
    readonly target: number,
    readonly horizon: number,
    readonly adaptive = true,
  ) {}

  update(currentKL: number, nSteps: number): number {
    if (this.adaptive && Number.isFinite(currentKL)) {
      const error = Math.min(Math.max(currentKL / this.target - 1, -0.2), 0.2);
      this.value *= 1 + (error * nSteps) / this.horizon;
    }
    return this.value;
  }
}

/** Normalises to mean 0, std 1 over the masked entries (in place on copies). */
function whiten(rows: number[][], mask: ArrayLike<number>[]): number[][] {
  let n = 0;
  let sum = 0;
  rows.forEach((r, b) => r.forEach((x, t) => mask[b]![t] && (n++, (sum += x))));
  const mean = sum / Math.max(n, 1);
  let sq = 0;
  rows.forEach((r, b) => r.forEach((x, t) => mask[b]![t] && (sq += (x - mean) ** 2)));
  const std = Math.sqrt(sq / Math.max(n - 1, 1)) + 1e-8;
  return rows.map((r, b) => r.map((x, t) => (mask[b]![t] ? (x - mean) / std : 0)));
}

// ---------------------------------------------------------------------------------------------
// One PPO iteration.

export interface PpoStepStats {
  policyLoss: number;
  valueLoss: number;
  clipFraction: number;
  /** Mean per-token KL(old‖new) over the update, k3 estimator (ρ − 1 − log ρ). */
  approxKl: number;
  /** Mean per-token entropy of the rollout policy over reply tokens. */
  entropy: number;
  /** Mean KL to the reference per reply: Σ over its tokens of log π − log π_ref (rollout policy). */
  kl: number;
  /** Gradient steps taken. */
  steps: number;
  earlyStopped: boolean;
}

/** Row-major (B, W) Float32Array → B rows of W. */
function rowsOf(flat: Float32Array, batch: number, width: number): Float32Array[] {
  return Array.from({ length: batch }, (_, b) => flat.subarray(b * width, (b + 1) * width));
}

/** What a chunk of rollouts needs for its forward-only statistics. */
export interface StatsChunk {
  rows: Sequence[];
  /** Width every row is padded to (the rollout batch's longest), so chunks line up. */
  width: number;
  padId: number;
  temperature: number;
  /** Rows per forward pass. */
  batchSize: number;
}

/** Per-token log π, log π_ref, values and entropy of the rows' reply tokens at the rollout temperature (0 elsewhere): (rows, width-1) each, flattened. */
export async function rolloutStatsChunk(policy: GPT, reference: GPT, p: StatsChunk) {
  const n = p.rows.length;
  const cols = p.width - 1;
  const out = { logprobs: new Float32Array(n * cols), refLogprobs: new Float32Array(n * cols), values: new Float32Array(n * cols), entropy: new Float32Array(n * cols) };
  for (let i = 0; i < n; i += p.batchSize) {
    const parts = tf.tidy(() => {
      const rows = p.rows.slice(i, i + p.batchSize);
      const ids = padBatch(rows.map((r) => r.ids), p.padId, p.width);
      const mask = replyMask(rows, p.width);
      const pol = nextTokenLogProbs(policy, ids, mask, { temperature: p.temperature, entropy: true });
      const ref = nextTokenLogProbs(reference, ids, mask, { temperature: p.temperature });
      return { logprobs: pol.logprobs, refLogprobs: ref.logprobs, values: pol.values, entropy: pol.entropy! };
    });
    for (const key of Object.keys(out) as (keyof typeof out)[]) out[key].set(await parts[key].data(), i * cols);
    tf.dispose(Object.values(parts));
  }
  return out;
}

/** The rollout batch's statistics, spread over the pool's workers when given one: B rows of W-1 each. */
async function rolloutStats(policy: GPT, reference: GPT, rollouts: SampledReply[], padId: number, cfg: LearnerConfig, width: number, pool?: ModelPool) {
  const rows = rollouts.map((r) => r.seq);
  const parts = await spread(pool, 'rolloutStats', [policy, reference], rows.length, (start, end) => ({
    rows: rows.slice(start, end),
    width,
    padId,
    temperature: cfg.temperature,
    batchSize: cfg.minibatchSize,
  }));
  const joined = (key: keyof (typeof parts)[number]) => parts.flatMap((part) => rowsOf(part[key], part[key].length / (width - 1), width - 1));
  return { logprobs: joined('logprobs'), refLogprobs: joined('refLogprobs'), values: joined('values'), entropy: joined('entropy') };
}

/** A PPO minibatch as plain rows, each cut to the minibatch's width − 1. */
export interface PpoMinibatch {
  ids: number[][];
  mask: number[][];
  oldLogp: number[][];
  oldValues: number[][];
  adv: number[][];
  ret: number[][];
  padId: number;
  temperature: number;
  clipRange: number;
  clipRangeValue: number;
  valueCoef: number;
}

/**
 * PPO's loss on a minibatch: clipped surrogate + valueCoef · clipped value loss, both means over
 * its reply tokens; aux = [policy loss, value loss, clip fraction, approximate KL(old‖new)].
 */
export function ppoMinibatchLoss(policy: GPT, p: PpoMinibatch): { loss: tf.Scalar; aux: tf.Scalar[] } {
  const rows = p.ids.length;
  const cols = p.mask[0]!.length;
  const t = (src: number[][]) => tf.tensor2d(src.flat(), [rows, cols]);
  const ids = padBatch(p.ids, p.padId, cols + 1);
  const [mask, oldLogp, oldValues, adv, ret] = [p.mask, p.oldLogp, p.oldValues, p.adv, p.ret].map(t) as tf.Tensor2D[];
  const { logprobs, values } = nextTokenLogProbs(policy, ids, p.mask.flat(), { temperature: p.temperature });
  const logRatio = tf.sub(logprobs, oldLogp!);
  const pg = clippedSurrogate(logRatio, adv!, mask!, p.clipRange);
  const vf = clippedValueLoss(values, oldValues!, ret!, mask!, p.clipRangeValue);
  const approxKl = maskedMean(tf.sub(tf.sub(tf.exp(logRatio), 1), logRatio), mask!);
  return { loss: tf.add(pg.loss, tf.mul(vf, p.valueCoef)), aux: [pg.loss, vf, pg.clipFraction, approxKl] };
}

/**
 * One PPO iteration on a batch of scored rollouts: per-token rewards −β·(log π − log π_ref) with
 * `scores[i]` added at reply i's last token, GAE, then `ppoEpochs` passes of clipped updates over
 * shuffled minibatches; stops early once the update's approximate KL passes updateKlLimit.
 */
export async function ppoStep(
  policy: GPT,
  reference: GPT,
  rollouts: SampledReply[],
  scores: number[],
  klCoef: number,
  optimizer: tf.Optimizer,
  padId: number,
  cfg: LearnerConfig,
  rand: () => number,
  pool?: ModelPool,
): Promise<PpoStepStats> {
  const n = rollouts.length;
  const seqs = rollouts.map((r) => r.seq);
  const width = Math.max(...seqs.map((s) => s.ids.length));
  const cols = width - 1;
  const mask = rowsOf(replyMask(seqs, width), n, cols);
  const old = await rolloutStats(policy, reference, rollouts, padId, cfg, width, pool);

  let klSum = 0;
  let entropySum = 0;
  let tokens = 0;
  const rewards = mask.map((m, b) => {
    const r = new Array<number>(cols).fill(0);
    let last = -1;
    for (let t = 0; t < cols; t++) {
      if (!m[t]) continue;
      const kl = old.logprobs[b]![t]! - old.refLogprobs[b]![t]!;
      r[t] = -klCoef * kl;
      klSum += kl;
      entropySum += old.entropy[b]![t]!;
      tokens++;
      last = t;
    }
    r[last]! += scores[b]!;
    return r;
  });
  const { advantages: rawAdv, returns } = gae(rewards, old.values, mask, cfg.gamma, cfg.lambda);
  const advantages = cfg.whitenAdvantages ? whiten(rawAdv, mask) : rawAdv;

  const totals = { policyLoss: 0, valueLoss: 0, clipFraction: 0, approxKl: 0 };
  let steps = 0;
  let earlyStopped = false;
  for (let epoch = 0; epoch < cfg.ppoEpochs && !earlyStopped; epoch++) {
    const order = shuffled(n, rand);
    for (let i = 0; i < n && !earlyStopped; i += cfg.minibatchSize) {
      const rows = order.slice(i, i + cfg.minibatchSize);
      // Each minibatch is cut to its own longest row: padding costs compute.
      const w = Math.max(...rows.map((b) => seqs[b]!.ids.length));
      const minibatch = (part: number[]): PpoMinibatch => {
        const take = (src: ArrayLike<number>[]) => part.map((b) => Array.from(src[b]!).slice(0, w - 1));
        const { temperature, clipRange, clipRangeValue, valueCoef } = cfg;
        return { ids: part.map((b) => seqs[b]!.ids), mask: take(mask), oldLogp: take(old.logprobs), oldValues: take(old.values), adv: take(advantages), ret: take(returns), padId, temperature, clipRange, clipRangeValue, valueCoef };
      };
      // Shards weigh by their share of the reply tokens: the losses are means over tokens.
      const tokens = (part: number[]) => part.reduce((n, b) => n + mask[b]!.reduce((a, x) => a + x, 0), 0);
      const total = tokens(rows);
      const { loss, aux } = await lossStep(pool, optimizer, policy, 'ppo', rows, minibatch, (part) => tokens(part) / total, { maxGradNorm: cfg.maxGradNorm, cost: (b) => seqs[b]!.ids.length });
      const [pl, vl, cf, ak] = aux;
      if (!Number.isFinite(loss)) throw new Error(`PPO loss became ${loss}: lower ppoLr (now ${cfg.ppoLr}) or maxGradNorm`);
      totals.policyLoss += pl!;
      totals.valueLoss += vl!;
      totals.clipFraction += cf!;
      totals.approxKl += ak!;
      steps++;
      // ak was measured before this step's update: it is the drift of the updates so far.
      if (ak! > cfg.updateKlLimit) earlyStopped = true;
      await tf.nextFrame();
    }
  }
  const per = (x: number) => x / Math.max(steps, 1);
  return {
    policyLoss: per(totals.policyLoss),
    valueLoss: per(totals.valueLoss),
    clipFraction: per(totals.clipFraction),
    approxKl: per(totals.approxKl),
    entropy: entropySum / Math.max(tokens, 1),
    kl: klSum / n,
    steps,
    earlyStopped,
  };
}

// ---------------------------------------------------------------------------------------------
// A whole PPO phase of a learner cycle.

export interface PpoResult {
  /** Mean normalised reward-model score of the first iteration's rollouts (the starting policy). */
  meanRewardBefore: number;
  /** The same for fresh samples of the trained policy on the first iteration's prompts. */
  meanRewardAfter: number;
  /** Mean KL to the reference per reply (nats), averaged over the iterations' rollouts. */
  kl: number;
  /** β after the last iteration. */
  klCoef: number;
  clipFraction: number;
  entropy: number;
  approxKl: number;
  valueLoss: number;
  policyLoss: number;
  /** Gradient steps in all. */
  steps: number;
  iterations: number;
  /** Iterations whose epochs stopped early on the approximate-KL limit. */
  earlyStopped: number;
  /** Wall time spent sampling and scoring rollouts, and in the updates. */
  rolloutSeconds: number;
  updateSeconds: number;
}

export interface PpoOptions {
  seed: number;
  /** Workers holding `policy`, `reference` and `rm` (see parallel.ts): sampling, scoring and updates are spread over them. */
  pool?: ModelPool;
  /** β to start from, e.g. the previous cycle's klCoef, so the adaptive controller carries over (default initKlCoef). */
  klCoef?: number;
  onProgress?: (iteration: number, iterations: number, stats: PpoStepStats & { meanReward: number }) => void;
}

/**
 * Reward-model score per rollout as PPO sees it: clipped, then the missing-end and length terms.
 * An empty reply is never shown (the content filter blocks it), so it gets the lowest score
 * whatever the reward model, which never saw one, makes of it.
 */
function rolloutRewards(rollouts: SampledReply[], normalised: number[], cfg: LearnerConfig): number[] {
  return rollouts.map((r, i) => {
    const replyTokens = r.seq.ids.length - r.seq.promptLength;
    const clipped = r.text === '' ? -cfg.rewardClip : Math.min(Math.max(normalised[i]!, -cfg.rewardClip), cfg.rewardClip);
    return clipped + (r.ended ? 0 : cfg.missingEotReward) - cfg.lengthPenalty * replyTokens;
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/**
 * Improves `policy` in place: the prompts are split into iterations of rolloutBatchPrompts, each
 * sampled samplesPerPrompt times, scored by `rm` and used for one ppoStep; β adapts between them.
 */
export async function trainPpo(
  policy: GPT,
  reference: GPT,
  rm: RewardModel,
  tokenizer: Tokenizer,
  prompts: Turn[][],
  normaliser: Normaliser,
  cfg: LearnerConfig,
  opts: PpoOptions,
): Promise<PpoResult> {
  if (prompts.length === 0) throw new Error('PPO needs rollout prompts: pass at least one conversation');
  const padId = tokenizer.special.pad;
  const rand = mulberry32(opts.seed);
  const optimizer = new Adam(cfg.ppoLr);
  const klCtl = new AdaptiveKLController(opts.klCoef ?? cfg.initKlCoef, cfg.klTarget, cfg.klHorizon, cfg.adaptiveKl);
  const batches: Turn[][][] = [];
  for (let i = 0; i < prompts.length; i += cfg.rolloutBatchPrompts) batches.push(prompts.slice(i, i + cfg.rolloutBatchPrompts));
  const sampling = { numSamples: cfg.samplesPerPrompt, maxNewTokens: cfg.maxNewTokens, temperature: cfg.temperature };
  const score = (rollouts: SampledReply[]) =>
    scoreReplies(rm, tokenizer, rollouts.map((r) => ({ context: r.context, reply: r.text })), normaliser, cfg.rmMaxReplyTokens, opts.pool);

  const all: PpoStepStats[] = [];
  let meanRewardBefore = NaN;
  let rolloutMs = 0;
  let updateMs = 0;
  try {
    for (const [it, batch] of batches.entries()) {
      let started = performance.now();
      const rollouts = await sampleReplies(policy, tokenizer, batch, { ...sampling, seed: opts.seed + 100_003 * (it + 1) }, opts.pool);
      const normalised = await score(rollouts);
      if (it === 0) meanRewardBefore = mean(normalised);
      rolloutMs += performance.now() - started;
      started = performance.now();
      const stats = await ppoStep(policy, reference, rollouts, rolloutRewards(rollouts, normalised, cfg), klCtl.value, optimizer, padId, cfg, rand, opts.pool);
      updateMs += performance.now() - started;
      klCtl.update(stats.kl, rollouts.length);
      all.push(stats);
      opts.onProgress?.(it + 1, batches.length, { ...stats, meanReward: mean(normalised) });
    }
  } finally {
    optimizer.dispose();
  }
  const after = await score(await sampleReplies(policy, tokenizer, batches[0]!, { ...sampling, seed: opts.seed + 7 }, opts.pool));
  const avg = (key: keyof PpoStepStats) => mean(all.map((s) => Number(s[key])));
  return {
    meanRewardBefore,
    meanRewardAfter: mean(after),
    kl: avg('kl'),
    klCoef: klCtl.value,
    clipFraction: avg('clipFraction'),
    entropy: avg('entropy'),
    approxKl: avg('approxKl'),
    valueLoss: avg('valueLoss'),
    policyLoss: avg('policyLoss'),
    steps: all.reduce((a, s) => a + s.steps, 0),
    iterations: all.length,
    earlyStopped: all.filter((s) => s.earlyStopped).length,
    rolloutSeconds: Math.round(rolloutMs / 100) / 10,
    updateSeconds: Math.round(updateMs / 100) / 10,
  };
}
