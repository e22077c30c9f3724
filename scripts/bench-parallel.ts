// Throughput of the learner's phases on the default model in this thread and data parallel across
// worker threads (src/learn/parallel.ts): supervised steps, reward-model training, and PPO
// iterations (rollout sampling and statistics, then clipped updates). Settings alternate within
// each round so load drifts hit both; the table quotes medians over the rounds.
// Run: npm run bench:parallel [-- --rounds 3]   (PAIRWISE_BACKEND picks the backend)
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { learnerConfig } from '../src/learn/config.ts';
import { loadCorpus } from '../src/learn/corpus.ts';
import { ModelPool } from '../src/learn/parallel.ts';
import { trainPpo } from '../src/learn/ppo.ts';
import { trainRewardModel, type RewardPair } from '../src/learn/reward.ts';
import { sftExample, trainSupervised } from '../src/learn/sft.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { DEFAULT_MODEL_SIZE, GPT, MODEL_SIZES, RewardModel } from '../src/model/transformer.ts';
import { printTable } from './bench/table.ts';

const BENCH = {
  /** Alternations of the settings. */
  rounds: 3,
  /** SFT steps per run, warm-ups included. */
  steps: 18,
  /** Untimed first SFT steps: the first starts the workers, and each worker is a fresh V8 isolate whose JS kernels need a few steps to get compiled. */
  warmups: 10,
  /** Dialogues per SFT step, as in bootstrap. */
  batchSize: 16,
  /** Preference pairs the reward model trains on per run (one epoch, the learner's batch size). */
  rewardPairs: 160,
  /** PPO rollout prompts per run: rolloutPrompts / rolloutBatchPrompts iterations at the learner's defaults. */
  ppoPrompts: 64,
  /** Worker counts compared; 1 is the single-thread path. */
  settings: [...new Set([1, availableParallelism()])],
};
const roundsFlag = process.argv.indexOf('--rounds');
if (roundsFlag >= 0) {
  BENCH.rounds = Number(process.argv[roundsFlag + 1]);
  if (!Number.isInteger(BENCH.rounds) || BENCH.rounds < 1) throw new Error('--rounds needs a positive integer, e.g. --rounds 3');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const backend = await initBackend();
const tokenizer = loadDefaultTokenizer();
const config = { ...MODEL_SIZES[DEFAULT_MODEL_SIZE], vocabSize: tokenizer.vocabSize };
const dialogues = loadCorpus('data/corpus.jsonl');
const lengths = dialogues.flatMap((d) => sftExample(tokenizer, d, config.contextLength)?.ids.length ?? []);
// Same seed in every run: both settings train on the same batches, so their ratio is exact.
const tokensPerStep = BENCH.batchSize * (lengths.reduce((a, b) => a + b, 0) / lengths.length);

/**
 * Wall and CPU milliseconds (all threads of the process) of each step after the warm-up. On a
 * shared host the CPU time shows the work the parallel path adds; the wall time, what it gains.
 */
interface Timings {
  wall: number[];
  cpu: number[];
}

async function stepTimes(workers: number, into: Timings): Promise<void> {
  const model = new GPT(config, { seed: 1 });
  const stamps: { wall: number; cpu: number }[] = [];
  const stamp = () => {
    const { user, system } = process.cpuUsage();
    stamps.push({ wall: performance.now(), cpu: (user + system) / 1000 });
  };
  try {
    await trainSupervised(model, tokenizer, dialogues, { steps: BENCH.steps, batchSize: BENCH.batchSize, lr: 1e-3, seed: 1, workers, onProgress: stamp });
  } finally {
    model.dispose();
  }
  for (let i = BENCH.warmups; i < stamps.length; i++) {
    into.wall.push(stamps[i]!.wall - stamps[i - 1]!.wall);
    into.cpu.push(stamps[i]!.cpu - stamps[i - 1]!.cpu);
  }
}

/**
 * What sending the weights every step costs: the main thread's copy into the shared buffer plus
 * one worker's load from it (the same ops, timed here). Applying the same Adam update in every
 * worker instead would save at most this, since the gradients must be gathered either way.
 */
function weightSyncMs(): number {
  const model = new GPT(config, { seed: 1 });
  const vars = model.trainableVariables();
  const shared = new Float32Array(new SharedArrayBuffer(vars.reduce((n, v) => n + v.size, 0) * 4));
  const runs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    let at = 0;
    for (const v of vars) {
      shared.set(v.dataSync() as Float32Array, at);
      at += v.size;
    }
    at = 0;
    for (const v of vars) tf.tidy(() => v.assign(tf.tensor(shared.subarray(at, (at += v.size)), v.shape)));
    runs.push(performance.now() - t0);
  }
  model.dispose();
  return median(runs);
}

/** Wall seconds of one reward-model run and one PPO run (two iterations) at `workers`, on fresh models, with the cycle's pool. */
async function phaseTimes(workers: number) {
  const cfg = learnerConfig({ rmEpochs: 1, rolloutPrompts: BENCH.ppoPrompts });
  const policy = new GPT(config, { seed: 1 });
  const reference = new GPT(config, { seed: 1 });
  const rm = RewardModel.fromPolicy(policy, 2);
  let started = performance.now();
  const pool = workers > 1 ? await ModelPool.start({ policy, reference, reward: rm }, workers, backend) : undefined;
  const poolStart = (performance.now() - started) / 1000;
  try {
    // Untimed first: fresh worker isolates (and this thread, the first time) compile their JS
    // kernels over the first steps. A learn cycle pays that once; it is the pool start line's cost.
    await trainRewardModel(rm, tokenizer, pairs.slice(0, 48), cfg, { seed: 2, pool });
    await trainPpo(policy, reference, rm, tokenizer, prompts.slice(0, cfg.rolloutBatchPrompts), { mean: 0, std: 1 }, cfg, { seed: 2, pool });
    started = performance.now();
    const reward = await trainRewardModel(rm, tokenizer, pairs, cfg, { seed: 1, pool });
    const rewardSeconds = (performance.now() - started) / 1000;
    const ppo = await trainPpo(policy, reference, rm, tokenizer, prompts, reward.normaliser, cfg, { seed: 1, pool });
    return { poolStart, reward: rewardSeconds, rollouts: ppo.rolloutSeconds, updates: ppo.updateSeconds };
  } finally {
    await pool?.close();
    [policy, reference, rm].forEach((m) => m.dispose());
  }
}

// Pairs and prompts from the corpus: a bot reply preferred to the same reply cut short.
const pairs: RewardPair[] = dialogues.slice(0, BENCH.rewardPairs).map((d, i) => ({ promptKey: String(i), context: d.slice(0, 1), chosen: d[1]!.text, rejected: d[1]!.text.slice(0, 20) }));
const prompts = dialogues.slice(0, BENCH.ppoPrompts).map((d) => d.slice(0, 1));

const times = new Map<number, Timings>(BENCH.settings.map((w) => [w, { wall: [], cpu: [] }]));
const phases = new Map<number, Awaited<ReturnType<typeof phaseTimes>>[]>(BENCH.settings.map((w) => [w, []]));
for (let r = 0; r < BENCH.rounds; r++) {
  for (const w of r % 2 ? [...BENCH.settings].reverse() : BENCH.settings) {
    await stepTimes(w, times.get(w)!);
    phases.get(w)!.push(await phaseTimes(w));
  }
}

console.log(`backend ${backend}, ${DEFAULT_MODEL_SIZE} model, ${BENCH.rounds} rounds, load ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`);
console.log(`weight sync (write + load of every weight, as a pool does after each step): ${weightSyncMs().toFixed(1)} ms`);
const sftMs = (w: number) => median(times.get(w)!.wall);
const phase = (w: number, key: keyof Awaited<ReturnType<typeof phaseTimes>>) => median(phases.get(w)!.map((p) => p[key]));
const rows: [string, (w: number) => number, string][] = [
  [`SFT step, batch ${BENCH.batchSize} (~${Math.round(tokensPerStep)} tokens)`, (w) => sftMs(w) / 1000, 's'],
  [`reward model, ${BENCH.rewardPairs} pairs x 1 epoch + scoring`, (w) => phase(w, 'reward'), 's'],
  [`PPO rollouts + statistics, ${BENCH.ppoPrompts} prompts x 2 samples`, (w) => phase(w, 'rollouts'), 's'],
  [`PPO updates, 4 epochs over ${BENCH.ppoPrompts * 2} rollouts`, (w) => phase(w, 'updates'), 's'],
];
const [one, ...more] = BENCH.settings;
printTable(
  `medians over ${BENCH.rounds} alternating rounds; speed-up = time with 1 worker ÷ time with N`,
  ['phase', ...BENCH.settings.map((w) => `${w === 1 ? 'this thread' : `${w} workers`} s`), ...more.map((w) => `speed-up ${w}W`)],
  rows.map(([what, f]) => [what, ...BENCH.settings.map((w) => f(w).toFixed(2)), ...more.map((w) => `${(f(one!) / f(w)).toFixed(2)}x`)]),
);
for (const w of more) console.log(`starting ${w} workers (once per learn cycle): ${phase(w, 'poolStart').toFixed(1)} s`);
