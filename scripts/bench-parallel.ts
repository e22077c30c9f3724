// Throughput of supervised training steps on the default model in this thread and data parallel
// across worker threads (src/learn/parallel.ts), alternating settings so load drifts hit both.
// Run: npm run bench:parallel [-- --rounds 3]   (PAIRWISE_BACKEND picks the backend)
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { loadCorpus } from '../src/learn/corpus.ts';
import { sftExample, trainSupervised } from '../src/learn/sft.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { DEFAULT_MODEL_SIZE, GPT, MODEL_SIZES } from '../src/model/transformer.ts';

const BENCH = {
  /** Alternations of the settings. */
  rounds: 3,
  /** Steps per run, warm-ups included. */
  steps: 10,
  /** Untimed first steps: the first starts the workers, and each worker is a fresh V8 isolate whose JS kernels need a few steps to get compiled. */
  warmups: 3,
  /** Dialogues per step, as in bootstrap. */
  batchSize: 16,
  /** Worker counts compared; 1 is the single-thread path. */
  settings: [1, 2],
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

const times = new Map<number, Timings>(BENCH.settings.map((w) => [w, { wall: [], cpu: [] }]));
for (let r = 0; r < BENCH.rounds; r++) for (const w of BENCH.settings) await stepTimes(w, times.get(w)!);

console.log(`backend ${backend}, ${DEFAULT_MODEL_SIZE} model, batch ${BENCH.batchSize} (~${Math.round(tokensPerStep)} tokens), ${BENCH.rounds} rounds x ${BENCH.steps - BENCH.warmups} timed steps, load ${loadavg()[0]!.toFixed(2)}`);
console.log(`weight sync (write + load, ${Math.round(tokensPerStep)}-token step): ${weightSyncMs().toFixed(1)} ms`);
const base = median(times.get(1)!.wall);
for (const [w, t] of times) {
  const ms = median(t.wall);
  const tokensPerSecond = Math.round((tokensPerStep * 1000) / ms);
  console.log(`workers ${w}: median step ${ms.toFixed(0)} ms wall, ${median(t.cpu).toFixed(0)} ms CPU; ${tokensPerSecond} tokens/s, ${(base / ms).toFixed(2)}x`);
}
