// Benchmarks the default model on the default backend: reply latency (both candidates in one
// batch; the fused wasm decoder, the KV cache in TF.js kernels, and no cache) and PPO-shaped training throughput, whose FLOP/s is
// compared with the backend's own 1024x1024 matMul measured in the same run.
// Run: npm run bench:model [-- --runs 20]   (PAIRWISE_BACKEND picks the backend)
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { Adam } from '../src/learn/adam.ts';
import { initBackend } from '../src/model/backend.ts';
import { canDecodeFused } from '../src/model/decoder.ts';
import { generate } from '../src/model/generate.ts';
import { nextTokenLogProbs } from '../src/learn/sequences.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { countParams, DEFAULT_MODEL_SIZE, GPT, MODEL_SIZES, tokenLogProbs, type ModelConfig } from '../src/model/transformer.ts';

const BENCH = {
  /** Vocabulary of the default tokenizer. */
  vocabSize: 2048,
  /** Prompt tokens of the measured message. */
  promptTokens: 64,
  /** New tokens per candidate (no early stop). */
  replyTokens: 48,
  /** Candidates per message. */
  candidates: 2,
  /** Timed replies per setting (after three warm-ups). */
  runs: 20,
  /** Sequences per PPO-shaped training step. */
  trainBatch: 8,
  /** Tokens per training sequence (prompt + reply). */
  trainTokens: 112,
  /** Timed training steps (after two warm-ups). */
  trainSteps: 8,
  /** Timed 1024x1024 matMuls for the peak. */
  peakRuns: 8,
};

const runsFlag = process.argv.indexOf('--runs');
if (runsFlag >= 0) {
  BENCH.runs = Number(process.argv[runsFlag + 1]);
  if (!Number.isInteger(BENCH.runs) || BENCH.runs < 1) throw new Error('--runs needs a positive integer, e.g. --runs 20');
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const median = (xs: number[]) => percentile(xs, 0.5);

/**
 * Wall and CPU milliseconds of each run. The wasm backend is single-threaded, so on a shared
 * host the CPU time of this process is the figure an idle machine would show as wall time.
 */
interface Timings {
  wall: number[];
  cpu: number[];
}

async function timed(runs: number, warmups: number, f: (i: number) => unknown): Promise<Timings> {
  const t: Timings = { wall: [], cpu: [] };
  for (let i = -warmups; i < runs; i++) {
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await f(i);
    if (i < 0) continue;
    t.wall.push(performance.now() - wall0);
    const cpu = process.cpuUsage(cpu0);
    t.cpu.push((cpu.user + cpu.system) / 1000);
  }
  return t;
}

/** How generate() runs the steps: GenerateOptions' useCache and fused. */
const REPLY_PATHS = {
  'fused decoder': { useCache: true, fused: true },
  'KV cache in TF.js kernels': { useCache: true, fused: false },
  'no cache': { useCache: false },
};

function replyLatencies(model: GPT, path: keyof typeof REPLY_PATHS): Promise<Timings> {
  const rand = mulberry32(1);
  const prompt = Array.from({ length: BENCH.promptTokens }, () => Math.floor(rand() * BENCH.vocabSize));
  const opts = { numSamples: BENCH.candidates, maxNewTokens: BENCH.replyTokens, temperature: 1, topP: 0.95, eotId: -1, ...REPLY_PATHS[path] };
  // Warm-ups let V8 compile and XNNPACK pack the weights.
  return timed(BENCH.runs, 3, (i) => generate(model, prompt, { ...opts, seed: i }));
}

/** Forward, backward and Adam on a PPO-like loss (clipped-ratio surrogate + value MSE). */
async function trainingSteps(model: GPT): Promise<Timings> {
  const { trainBatch: B, trainTokens: T, vocabSize: V } = BENCH;
  const rand = mulberry32(2);
  const batch = (f: () => number) => tf.tensor2d(Array.from({ length: B * T }, f), [B, T]);
  const ids = tf.cast(batch(() => Math.floor(rand() * V)), 'int32') as tf.Tensor2D;
  const targets = tf.cast(batch(() => Math.floor(rand() * V)), 'int32') as tf.Tensor2D;
  const oldLogProbs = batch(() => -Math.log(V));
  const advantages = batch(() => rand() - 0.5);
  const returns = batch(() => rand());
  const optimizer = new Adam(1e-4);
  const loss = () => {
    const { logits, values } = model.forward(ids);
    const ratio = tf.exp(tf.sub(tokenLogProbs(logits, targets), oldLogProbs));
    const surrogate = tf.minimum(tf.mul(ratio, advantages), tf.mul(tf.clipByValue(ratio, 0.8, 1.2), advantages));
    return tf.sub(tf.mean(tf.square(tf.sub(values, returns))), tf.mean(surrogate)) as tf.Scalar;
  };
  const t = await timed(BENCH.trainSteps, 2, () => optimizer.minimize(loss, true, model.trainableVariables())?.dispose());
  optimizer.dispose();
  tf.dispose([ids, targets, oldLogProbs, advantages, returns]);
  return t;
}

/** FLOPs of one training step: 6·params·tokens plus attention's QKᵀ and PV, forward and backward. */
function trainingFlops(cfg: ModelConfig): number {
  const { trainBatch: B, trainTokens: T } = BENCH;
  return 6 * countParams(cfg) * B * T + 3 * cfg.nLayer * 2 * (2 * B * T * T * cfg.nEmbd);
}

/** The backend's best 1024x1024 matMul, as FLOPs per wall and per CPU second. */
async function matMulPeak(): Promise<{ wall: number; cpu: number }> {
  const n = 1024;
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  const t = await timed(BENCH.peakRuns, 1, () => {
    const c = tf.matMul(a, b);
    c.dataSync(); // outside any tidy: tidy would walk the returned values one by one
    c.dispose();
  });
  tf.dispose([a, b]);
  const flops = 2 * n ** 3;
  return { wall: flops / (Math.min(...t.wall) / 1000), cpu: flops / (Math.min(...t.cpu) / 1000) };
}

/** Kernel time by kernel name of one call of `f` (tf.profile), largest first, with each kernel's share. */
async function kernelProfile(f: () => void): Promise<{ kernels: number; rows: [string, number, number][] }> {
  const info = await tf.profile(f);
  const byName = new Map<string, [number, number]>();
  for (const k of info.kernels) {
    // An op's scope, or a custom gradient's ("unnamed scope"): their kernels are listed on their own.
    if (k.name.endsWith('__op') || k.name === 'unnamed scope') continue;
    const [n, ms] = byName.get(k.name) ?? [0, 0];
    byName.set(k.name, [n + 1, ms + Number(k.kernelTimeMs)]);
  }
  const rows = [...byName].map(([name, [n, ms]]): [string, number, number] => [name, n, ms]).sort((a, b) => b[2] - a[2]);
  return { kernels: rows.reduce((a, r) => a + r[1], 0), rows };
}

function printProfile(title: string, p: { kernels: number; rows: [string, number, number][] }): void {
  const total = p.rows.reduce((a, r) => a + r[2], 0);
  console.log(`\n${title}: ${p.kernels} kernels, ${total.toFixed(2)} ms of kernel time`);
  for (const [name, n, ms] of p.rows.slice(0, 8)) console.log(`  ${name.padEnd(24)} x${String(n).padEnd(4)} ${ms.toFixed(2).padStart(8)} ms  ${((ms / total) * 100).toFixed(0).padStart(3)}%`);
}

/** Profiles one generation step after the prompt (batch of candidates, KV cache) and one training step. */
async function profiles(model: GPT): Promise<void> {
  const rand = mulberry32(4);
  const prompt = Array.from({ length: BENCH.promptTokens }, () => Math.floor(rand() * BENCH.vocabSize));
  const cache = model.initCache(1);
  tf.tidy(() => model.nextLogits(tf.tensor2d([prompt], [1, prompt.length], 'int32'), cache));
  cache.repeat(BENCH.candidates);
  const step = () => tf.dispose(model.nextLogits(tf.tensor2d(prompt.slice(0, BENCH.candidates), [BENCH.candidates, 1], 'int32'), cache));
  step(); // warm
  printProfile(`one generation step in TF.js kernels (${BENCH.candidates} candidates, KV cache)`, await kernelProfile(step));
  cache.dispose();
  const { trainBatch: B, trainTokens: T } = BENCH;
  const ids = tf.tensor2d(Array.from({ length: B * T }, () => Math.floor(rand() * BENCH.vocabSize)), [B, T], 'int32');
  const grads = () => {
    const { value, grads: g } = tf.variableGrads(() => tf.mean(nextTokenLogProbs(model, ids, new Float32Array(B * (T - 1)).fill(1)).logprobs) as tf.Scalar, model.trainableVariables());
    tf.dispose([value, ...Object.values(g)]);
  };
  grads(); // warm
  printProfile(`one training step's forward and backward (${B} x ${T} tokens)`, await kernelProfile(grads));
  ids.dispose();
}

const backend = await initBackend();
const cfg = { ...MODEL_SIZES[DEFAULT_MODEL_SIZE], vocabSize: BENCH.vocabSize };
const model = new GPT(cfg, { seed: 0 });
const load = () => loadavg()[0].toFixed(1);
console.log(`model ${DEFAULT_MODEL_SIZE} (${(countParams(cfg) / 1e6).toFixed(2)}M params, context ${cfg.contextLength}) on ${backend}; load average ${load()}`);

const fused = canDecodeFused(model) ? await replyLatencies(model, 'fused decoder') : undefined;
const cached = await replyLatencies(model, 'KV cache in TF.js kernels');
const uncached = await replyLatencies(model, 'no cache');
const steps = await trainingSteps(model);
const peak = await matMulPeak();
const stepFlops = trainingFlops(cfg);
const tokensPerStep = BENCH.trainBatch * BENCH.trainTokens;

const ms = (x: number) => `${x.toFixed(0)} ms`;
const stepWall = median(steps.wall);
const stepCpu = median(steps.cpu);
const reply = `reply, ${BENCH.candidates} x ${BENCH.replyTokens} new tokens after a ${BENCH.promptTokens}-token prompt (${BENCH.runs} runs)`;
const rows: [string, string, string][] = [
  ['', 'wall', 'CPU'],
  ...(fused
    ? ([
        [`${reply}, fused decoder, p50`, ms(median(fused.wall)), ms(median(fused.cpu))],
        [`${reply}, fused decoder, p95`, ms(percentile(fused.wall, 0.95)), ms(percentile(fused.cpu, 0.95))],
        ['fused decoder speed-up over the TF.js KV cache (p50)', `${(median(cached.wall) / median(fused.wall)).toFixed(1)}x`, `${(median(cached.cpu) / median(fused.cpu)).toFixed(1)}x`],
      ] as [string, string, string][])
    : []),
  [`${reply}, KV cache in TF.js kernels, p50`, ms(median(cached.wall)), ms(median(cached.cpu))],
  [`${reply}, KV cache in TF.js kernels, p95`, ms(percentile(cached.wall, 0.95)), ms(percentile(cached.cpu, 0.95))],
  [`${reply}, no cache, p50`, ms(median(uncached.wall)), ms(median(uncached.cpu))],
  [`${reply}, no cache, p95`, ms(percentile(uncached.wall, 0.95)), ms(percentile(uncached.cpu, 0.95))],
  ['TF.js KV cache speed-up over no cache (p50)', `${(median(uncached.wall) / median(cached.wall)).toFixed(1)}x`, `${(median(uncached.cpu) / median(cached.cpu)).toFixed(1)}x`],
  [`training step, PPO loss, ${BENCH.trainBatch} x ${BENCH.trainTokens} tokens, Adam (median of ${BENCH.trainSteps})`, ms(stepWall), ms(stepCpu)],
  ['training throughput', `${((tokensPerStep / stepWall) * 1000).toFixed(0)} tokens/s`, `${((tokensPerStep / stepCpu) * 1000).toFixed(0)} tokens/s`],
  ['training FLOP/s (6·params·tokens + attention)', `${(stepFlops / stepWall / 1e6).toFixed(2)} G`, `${(stepFlops / stepCpu / 1e6).toFixed(2)} G`],
  ['1024x1024 matMul FLOP/s (best run)', `${(peak.wall / 1e9).toFixed(2)} G`, `${(peak.cpu / 1e9).toFixed(2)} G`],
  ['training / matMul peak', `${((stepFlops / (stepWall / 1000) / peak.wall) * 100).toFixed(0)}%`, `${((stepFlops / (stepCpu / 1000) / peak.cpu) * 100).toFixed(0)}%`],
];
const w0 = Math.max(...rows.map((r) => r[0].length));
const w1 = Math.max(...rows.map((r) => r[1].length));
for (const [k, a, b] of rows) console.log(`${k.padEnd(w0)}  ${a.padStart(w1)}  ${b}`);
console.log(`load average at the end ${load()}: other processes on these cores inflate wall times; CPU times are this process's own`);
await profiles(model);
model.dispose();
