// Every learner hyperparameter, named once with its default and what it means (one flat object in
// the style of TRL's PPOConfig; the prefix says which stage reads it).
//
// The defaults were chosen with `pairwise simulate` (the shipped small policy, 1,000 votes in 5
// rounds, 10% voter noise, wasm on a shared 2-core machine). "win" is how often the hidden rule
// prefers a live reply over a bootstrap reply to 64 held-out prompts (ties half):
//   ppoLr 1e-4 -> 3e-4      shorter: round-1 win 68% -> 73%, KL 1.6 -> 2.3. At 3e-4 every iteration
//                           already stops early on updateKlLimit, so a larger lr buys nothing.
//   rolloutPrompts 128 -> 256, initKlCoef 0.05 -> 0.02
//                           words: 80.9% -> 90.2% at 1,000 votes (KL 8.6 -> 17);
//                           shorter: 85.9% -> 98% at 400 votes.
//   rmEpochs 2, warm start  reward model agrees with the rule on 87-97% of held-out pairs by 1,000 votes.
//   dpoLr 3e-4, 4 epochs    (5e-5, 2 epochs barely moved: words 54% after 600 votes) words 91.4% at
//                           1,000 votes; its KL reaches gateMaxKl by the fifth cycle, where the gate stops it.
//   klTarget 15, klHorizon 2000: the KL the rules needed (8-17 nats) under the gate's 30; β moves at
//   most ~5% per cycle, and carries over only when the caller passes the last klCoef to trainPpo.
//   Cost: a cycle on 987 pairs of full-length replies took 142 CPU seconds (reward model ~75,
//   PPO 44, gate ~20): under the 5-minute budget with room for a busy machine.

export interface LearnerConfig {
  /** How the policy improves: PPO against the reward model, or DPO straight from the pairs. */
  algorithm: 'ppo' | 'dpo';
  /** Most preference pairs one cycle trains on (new pairs first, then a replay sample of older ones). */
  maxPairsPerCycle: number;

  // ---- reward model (Bradley–Terry)
  /** Passes over the training pairs per cycle. */
  rmEpochs: number;
  /** Adam learning rate. */
  rmLr: number;
  /** Preference pairs per gradient step (each pair is two sequences). */
  rmBatchSize: number;
  /** Share of prompts held out to measure accuracy; split by prompt, so no prompt is on both sides. */
  rmHeldOutFraction: number;
  /** Decoupled (AdamW-style) weight decay of the weight matrices, per step and scaled by the lr. */
  rmWeightDecay: number;
  /** Start from the previous cycle's reward model (true) rather than from the live policy's trunk. */
  rmWarmStart: boolean;
  /** Reply tokens the reward model reads (the end token included); the context gets the rest. */
  rmMaxReplyTokens: number;

  // ---- PPO
  /** Rollout prompts per cycle (the gate's held-out prompts come on top). */
  rolloutPrompts: number;
  /** Prompts per PPO iteration (rollouts, then updates); a cycle runs rolloutPrompts / this iterations. */
  rolloutBatchPrompts: number;
  /** Replies sampled per rollout prompt. */
  samplesPerPrompt: number;
  /** Longest sampled reply, in tokens. */
  maxNewTokens: number;
  /** Rollout sampling temperature; the training log-probabilities use the same temperature. */
  temperature: number;
  /** Optimisation passes over each rollout batch. */
  ppoEpochs: number;
  /** Sequences per PPO gradient step. */
  minibatchSize: number;
  /** Adam learning rate of the policy (and its value head). */
  ppoLr: number;
  /** Policy ratio clip range ε. */
  clipRange: number;
  /** Clip range of the value prediction around its rollout value. */
  clipRangeValue: number;
  /** Weight of the value loss against the policy loss. */
  valueCoef: number;
  /** Discount γ. */
  gamma: number;
  /** GAE λ. */
  lambda: number;
  /** Initial KL penalty coefficient β (per token, against the reference policy). */
  initKlCoef: number;
  /** Adapt β towards klTarget (Ziegler et al. 2019); false keeps β fixed. */
  adaptiveKl: boolean;
  /** KL to the reference per reply (nats) the adaptive controller aims for. */
  klTarget: number;
  /** Horizon of the adaptive controller, in rollouts: larger means slower β changes. */
  klHorizon: number;
  /** Stop an iteration's remaining epochs when the mean per-token KL(old‖new) exceeds this. */
  updateKlLimit: number;
  /** Global gradient-norm clip (PPO, reward model and DPO). */
  maxGradNorm: number;
  /** The normalised reward-model score is clipped to ±this. */
  rewardClip: number;
  /** Reward subtracted per reply token (0 = none). */
  lengthPenalty: number;
  /** Reward added to a reply cut at maxNewTokens without its end token (negative = a penalty). */
  missingEotReward: number;
  /** Normalise advantages to mean 0, std 1 over each rollout batch. */
  whitenAdvantages: boolean;

  // ---- DPO
  /** β: strength of DPO's implicit KL constraint to the reference. */
  dpoBeta: number;
  /** Passes over the preference pairs per cycle. */
  dpoEpochs: number;
  /** Adam learning rate. */
  dpoLr: number;
  /** Pairs per gradient step. */
  dpoBatchSize: number;

  // ---- gate
  /** The candidate's mean normalised reward must beat the live policy's by at least this. */
  gateMinRewardMargin: number;
  /** Largest allowed mean KL to the reference policy per reply (nats). */
  gateMaxKl: number;
  /** Reject when distinct-2 falls below the live policy's divided by this factor. */
  gateDistinct2CollapseFactor: number;
  /** Reject when the mean reply length moves by more than this factor (either way) from the live policy's. */
  gateMaxLengthRatio: number;
  /** Reject a reward gain that comes with replies longer by more than this factor: the reward model likely pays for length (measured: a length-paying reward model's PPO grew replies 1.27x and passed a 3x bound). */
  gateMaxLengthGrowth: number;
  /** Reject a reward gain while identical-pair or repetition share rises by more than this (absolute). */
  gateMaxSignalWorsening: number;
  /** Held-out prompts sampled (two replies each) for the gate's measurements. */
  gateHeldOutPrompts: number;
  /** Sampling temperature of the gate's replies. */
  gateTemperature: number;
}

export const defaultLearnerConfig: Readonly<LearnerConfig> = Object.freeze({
  algorithm: 'ppo',
  maxPairsPerCycle: 1000,

  rmEpochs: 2,
  rmLr: 3e-4,
  rmBatchSize: 16,
  rmHeldOutFraction: 0.15,
  rmWeightDecay: 0.01,
  rmWarmStart: true,
  rmMaxReplyTokens: 48,

  rolloutPrompts: 256,
  rolloutBatchPrompts: 32,
  samplesPerPrompt: 2,
  maxNewTokens: 48,
  temperature: 1,
  ppoEpochs: 4,
  minibatchSize: 16,
  ppoLr: 3e-4,
  clipRange: 0.2,
  clipRangeValue: 0.2,
  valueCoef: 0.1,
  gamma: 1,
  lambda: 0.95,
  initKlCoef: 0.02,
  adaptiveKl: true,
  klTarget: 15,
  klHorizon: 2000,
  updateKlLimit: 0.05,
  maxGradNorm: 1,
  rewardClip: 5,
  lengthPenalty: 0,
  missingEotReward: -1,
  whitenAdvantages: true,

  dpoBeta: 0.1,
  dpoEpochs: 4,
  dpoLr: 3e-4,
  dpoBatchSize: 16,

  gateMinRewardMargin: 0.05,
  gateMaxKl: 30,
  gateDistinct2CollapseFactor: 2,
  gateMaxLengthRatio: 3,
  gateMaxLengthGrowth: 1.2,
  gateMaxSignalWorsening: 0.15,
  gateHeldOutPrompts: 32,
  gateTemperature: 1,
});

const POSITIVE_INTS = [
  'maxPairsPerCycle',
  'rmEpochs',
  'rmBatchSize',
  'rmMaxReplyTokens',
  'rolloutPrompts',
  'rolloutBatchPrompts',
  'samplesPerPrompt',
  'maxNewTokens',
  'ppoEpochs',
  'minibatchSize',
  'dpoEpochs',
  'dpoBatchSize',
  'gateHeldOutPrompts',
] as const;
const POSITIVES = [
  'rmLr',
  'temperature',
  'ppoLr',
  'clipRange',
  'clipRangeValue',
  'klTarget',
  'klHorizon',
  'updateKlLimit',
  'maxGradNorm',
  'rewardClip',
  'dpoBeta',
  'dpoLr',
  'gateMaxKl',
  'gateTemperature',
] as const;
const NON_NEGATIVES = ['rmWeightDecay', 'valueCoef', 'initKlCoef', 'lengthPenalty', 'gateMaxSignalWorsening'] as const;
const FINITES = ['missingEotReward', 'gateMinRewardMargin'] as const;
const UNIT = ['gamma', 'lambda'] as const;
const AT_LEAST_ONE = ['gateDistinct2CollapseFactor', 'gateMaxLengthRatio', 'gateMaxLengthGrowth'] as const;

/** The defaults with `overrides` applied; throws one line naming the first bad value. */
export function learnerConfig(overrides: Partial<LearnerConfig> = {}): LearnerConfig {
  const unknown = Object.keys(overrides).find((k) => !(k in defaultLearnerConfig));
  if (unknown) throw new Error(`unknown learner setting "${unknown}": see LearnerConfig in src/learn/config.ts for the names`);
  const cfg: LearnerConfig = { ...defaultLearnerConfig, ...overrides };
  const bad = (key: string, want: string): never => {
    throw new Error(`learner setting ${key} must be ${want}, got ${JSON.stringify(cfg[key as keyof LearnerConfig])}`);
  };
  if (cfg.algorithm !== 'ppo' && cfg.algorithm !== 'dpo') bad('algorithm', '"ppo" or "dpo"');
  for (const k of POSITIVE_INTS) if (!Number.isInteger(cfg[k]) || cfg[k] < 1) bad(k, 'a positive integer');
  for (const k of POSITIVES) if (!(Number.isFinite(cfg[k]) && cfg[k] > 0)) bad(k, 'a positive number');
  for (const k of NON_NEGATIVES) if (!(Number.isFinite(cfg[k]) && cfg[k] >= 0)) bad(k, 'a number >= 0');
  for (const k of FINITES) if (!Number.isFinite(cfg[k])) bad(k, 'a finite number');
  for (const k of UNIT) if (!(cfg[k] >= 0 && cfg[k] <= 1)) bad(k, 'in [0, 1]');
  for (const k of AT_LEAST_ONE) if (!(cfg[k] >= 1)) bad(k, 'a number >= 1');
  if (!(cfg.rmHeldOutFraction >= 0 && cfg.rmHeldOutFraction < 1)) bad('rmHeldOutFraction', 'in [0, 1)');
  for (const k of ['rmWarmStart', 'adaptiveKl', 'whitenAdvantages'] as const) if (typeof cfg[k] !== 'boolean') bad(k, 'true or false');
  return cfg;
}
