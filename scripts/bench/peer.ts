// Side-by-side with PyTorch: the same policy (scripts/bench/peer.py mirrors src/model/transformer.ts
// and is checked to give the same logits, values and PPO loss on the same weights), the same
// PPO-shaped training step (src/learn/ppo.ts's losses and optimiser step) and the same KV-cached
// generation of two candidates (Pairwise's through its fused wasm decoder, src/model/decoder.ts,
// as the bot generates). Pairwise runs in this process; PyTorch in a Python subprocess per
// thread count, spoken to with JSON lines. Each contender times its own work; rounds alternate
// the order of the contenders, and the table quotes medians over the rounds.
//
// Run: npm run bench:peer [-- --rounds 5]
// Python: PEER_PYTHON, else /usr/bin/python3 (Debian's python3-torch), else python3 on PATH.
// Pairwise trains in this thread (one wasm thread) and data parallel over one worker per core;
// PyTorch runs with 2 threads (both cores) and with 1.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { Adam } from '../../src/learn/adam.ts';
import { defaultLearnerConfig } from '../../src/learn/config.ts';
import { optimiserStep } from '../../src/learn/optim.ts';
import { ModelPool, splitShards } from '../../src/learn/parallel.ts';
import { ppoMinibatchLoss, type PpoMinibatch } from '../../src/learn/ppo.ts';
import { initBackend } from '../../src/model/backend.ts';
import { generate } from '../../src/model/generate.ts';
import { mulberry32 } from '../../src/model/prng.ts';
import { loadDefaultTokenizer } from '../../src/model/tokenizer.ts';
import { countParams, GPT, MODEL_SIZES, type ModelConfig } from '../../src/model/transformer.ts';
import { percentile } from '../../test/helpers/stats.ts';
import { printTable } from './table.ts';

const PEER = {
  /** Vocabulary of the default tokenizer (2,048). */
  vocabSize: loadDefaultTokenizer().vocabSize,
  /** Prompt tokens: of each training sequence and of the generation prompt. */
  promptTokens: 64,
  /** Reply tokens: the rest of each training sequence, and the new tokens per candidate. */
  replyTokens: 48,
  /** Candidates generated per message (A and B), in one batch. */
  candidates: 2,
  /** Sequences per training step: the learner's PPO minibatch. */
  trainBatch: defaultLearnerConfig.minibatchSize,
  /** Timed rounds per training case (after warm-ups); each round times every contender once. */
  trainRounds: 5,
  /** Timed rounds per generation case. */
  generateRounds: 15,
  /**
   * Untimed steps or generations per contender first (kernel set-up, allocator growth). A fresh
   * worker isolate needs ~8 training steps before its JS kernels are compiled (measured: a
   * 2-worker step fell from ~550 to ~320 ms over the first 10); a learn cycle runs 100+.
   */
  warmups: 10,
  /** PyTorch thread counts: 2 uses both cores; 1 matches Pairwise's single wasm thread. */
  torchThreads: [2, 1],
  /** Pairwise training threads: 1 (this thread) and one worker per core (the learner's data-parallel step, src/learn/parallel.ts). */
  pairwiseWorkers: [...new Set([1, os.availableParallelism()])],
  /** Sampling, as the bot samples. */
  temperature: 1,
  topP: 0.95,
  /** Largest |difference| of logits, values and loss the same-model check accepts (float32 sums in another order). */
  checkTolerance: 1e-3,
};

/** The sizes compared: the default policy, and a ~5M-parameter one (5.30M with this vocabulary). */
const SIZES: Record<string, Omit<ModelConfig, 'vocabSize'>> = {
  small: MODEL_SIZES.small,
  '5M': { contextLength: 128, nLayer: 6, nHead: 8, nEmbd: 256 },
};
const SIZE_NAMES = Object.keys(SIZES);

/** The PPO hyperparameters the loss and step use, as the learner's defaults have them. */
const HP = {
  lr: defaultLearnerConfig.ppoLr,
  clipRange: defaultLearnerConfig.clipRange,
  clipRangeValue: defaultLearnerConfig.clipRangeValue,
  valueCoef: defaultLearnerConfig.valueCoef,
  maxGradNorm: defaultLearnerConfig.maxGradNorm,
};

const flags = (() => {
  try {
    return parseArgs({ options: { rounds: { type: 'string' } } }).values;
  } catch (err) {
    console.error(`bench:peer: ${(err as Error).message}`);
    process.exit(2);
  }
})();
if (flags.rounds !== undefined) {
  const n = Number(flags.rounds);
  if (!Number.isInteger(n) || n < 1) {
    console.error('bench:peer: --rounds needs a positive integer, e.g. --rounds 5 (training rounds; generation runs 3x as many)');
    process.exit(2);
  }
  PEER.trainRounds = n;
  PEER.generateRounds = 3 * n;
}

const trainTokens = PEER.promptTokens + PEER.replyTokens;
/** Both sides train on this same minibatch. */
const TRAIN_BATCH_SEED = 2;
const median = (xs: number[]) => percentile(xs, 0.5);

// ---------------------------------------------------------------------------------------------
// The PPO-shaped batch and loss, shared by the timed step and the same-model check.

/** One fixed minibatch: ids (B, T) and the rollout statistics of its T-1 next-token positions. */
type PpoBatch = Pick<PpoMinibatch, 'ids' | 'mask' | 'oldLogp' | 'oldValues' | 'adv' | 'ret'>;

/** `promptTokens`: positions before the reply, whose tokens the loss does not read. */
function makeBatch(batch: number, tokens: number, seed: number, promptTokens = PEER.promptTokens): PpoBatch {
  const rand = mulberry32(seed);
  const grid = (cols: number, f: (t: number) => number) => Array.from({ length: batch }, () => Array.from({ length: cols }, (_, t) => f(t)));
  const cols = tokens - 1;
  return {
    ids: grid(tokens, () => Math.floor(rand() * PEER.vocabSize)),
    mask: grid(cols, (t) => (t >= promptTokens - 1 ? 1 : 0)), // positions whose next token is a reply token
    oldLogp: grid(cols, () => -Math.log(PEER.vocabSize) + (rand() - 0.5)),
    oldValues: grid(cols, () => rand()),
    adv: grid(cols, () => rand() - 0.5),
    ret: grid(cols, () => rand()),
  };
}

/** The learner's minibatch payload (src/learn/ppo.ts) for a slice of the batch's rows. */
function minibatch(b: PpoBatch, rows = b.ids.map((_, i) => i)): PpoMinibatch {
  const take = (src: number[][]) => rows.map((i) => src[i]!);
  return {
    ids: take(b.ids),
    mask: take(b.mask),
    oldLogp: take(b.oldLogp),
    oldValues: take(b.oldValues),
    adv: take(b.adv),
    ret: take(b.ret),
    padId: 0,
    temperature: 1,
    clipRange: HP.clipRange,
    clipRangeValue: HP.clipRangeValue,
    valueCoef: HP.valueCoef,
  };
}

// ---------------------------------------------------------------------------------------------
// The PyTorch side.

class TorchPeer {
  /** Requests sent and not yet answered, oldest first (answers come back in order). */
  private readonly pending: { answer: (line: string) => void; fail: (err: Error) => void }[] = [];
  private stderr = '';
  private failure: Error | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    python: string,
    readonly threads: number,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => this.pending.shift()?.answer(line));
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    // Its own words first (e.g. how to install torch), else why it could not run at all.
    child.on('exit', (code) => this.failAll(new Error(this.stderr.trim() || `peer.py exited with code ${code}`)));
    child.on('error', (err) => this.failAll(new Error(`cannot run ${python} (${err.message}): set PEER_PYTHON to a Python 3 that has torch`)));
    child.stdin.on('error', () => {}); // a peer that died is reported by 'exit' above
  }

  static async start(python: string, threads: number): Promise<{ peer: TorchPeer; hello: { torch: string; threads: number; python: string } }> {
    const script = new URL('./peer.py', import.meta.url).pathname;
    const env = { ...process.env, OMP_WAIT_POLICY: ompWaitPolicy() };
    const peer = new TorchPeer(spawn(python, [script, String(threads)], { stdio: ['pipe', 'pipe', 'pipe'], env }), python, threads);
    return { peer, hello: await peer.ask({ op: 'hello' }) };
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) p.fail(this.failure);
  }

  /** Sends one request and waits for its answer line. */
  ask<T>(req: Record<string, unknown>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({
        answer: (line) => {
          const out = JSON.parse(line) as T & { error?: string };
          if (out.error) reject(new Error(`peer.py: ${out.error}`));
          else resolve(out);
        },
        fail: reject,
      });
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
  }
}

/**
 * OpenMP's wait policy for PyTorch's threads, PASSIVE unless set: idle threads then sleep rather
 * than spin. On a shared machine, spinning threads whose partner lost its core made 2 threads 5-20x
 * slower than 1 (a 1.07M-parameter PPO step took 2.5 s instead of 0.3 s); passive costs a little
 * on an idle machine.
 */
function ompWaitPolicy(): string {
  return process.env.OMP_WAIT_POLICY ?? 'PASSIVE';
}

function pythonPath(): string {
  if (process.env.PEER_PYTHON) return process.env.PEER_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

// ---------------------------------------------------------------------------------------------
// The same-model check: Pairwise's weights in PyTorch must give the same logits, values and loss.

/** Writes every parameter as raw float32 with a manifest of names, shapes and offsets. */
function exportWeights(model: GPT, dir: string): { path: string; manifest: { name: string; shape: number[]; offset: number }[] } {
  const manifest: { name: string; shape: number[]; offset: number }[] = [];
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of model.getWeights()) {
    const data = t.dataSync() as Float32Array;
    manifest.push({ name, shape: t.shape, offset });
    parts.push(data);
    offset += data.length;
  }
  const all = new Float32Array(offset);
  let at = 0;
  for (const p of parts) all.set(p, (at += p.length) - p.length);
  const file = path.join(dir, 'weights.f32');
  writeFileSync(file, new Uint8Array(all.buffer));
  return { path: file, manifest };
}

async function sameModelCheck(peer: TorchPeer, cfg: ModelConfig, dir: string): Promise<number> {
  const model = new GPT(cfg, { seed: 7 });
  const batch = makeBatch(2, 24, 8, 10);
  try {
    const [logits, values, loss] = tf.tidy(() => {
      const { logits: l, values: v } = model.forward(tf.tensor2d(batch.ids, undefined, 'int32'));
      return [l.dataSync(), v.dataSync(), ppoMinibatchLoss(model, minibatch(batch)).loss.dataSync()[0]!] as const;
    });
    const theirs = await peer.ask<{ logits: number[]; values: number[]; loss: number }>({ op: 'check', config: cfg, weights: exportWeights(model, dir), batch, hp: HP });
    const worst = (a: ArrayLike<number>, b: number[]) => b.reduce((m, x, i) => Math.max(m, Math.abs(x - a[i]!)), 0);
    if (theirs.logits.length !== logits.length || theirs.values.length !== values.length) throw new Error('peer.py returned logits or values of another shape');
    return Math.max(worst(logits, theirs.logits), worst(values, theirs.values), Math.abs(loss - theirs.loss));
  } finally {
    model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Contenders.

/** Times one unit of a case (a training step, a generation) and returns its milliseconds. */
type Timer = () => Promise<number>;

interface Contender {
  name: string;
  train(cfg: ModelConfig): Timer;
  /** Absent where it would time the same thing as another contender. */
  generate?(cfg: ModelConfig): Timer;
}

function pairwise(models: Map<string, GPT>, pools: ModelPool[], workers: number, backend: string): Contender {
  const model = (cfg: ModelConfig) => {
    const key = JSON.stringify(cfg);
    if (!models.has(key)) models.set(key, new GPT(cfg, { seed: 1 }));
    return models.get(key)!;
  };
  return {
    name: workers === 1 ? 'Pairwise' : `Pairwise ${workers}W`,
    train(cfg) {
      const m = model(cfg);
      const optimizer = new Adam(HP.lr);
      const batch = makeBatch(PEER.trainBatch, trainTokens, TRAIN_BATCH_SEED);
      const opts = { maxGradNorm: HP.maxGradNorm };
      if (workers === 1) {
        return async () => {
          const start = performance.now();
          optimiserStep(optimizer, m.trainableVariables(), () => ppoMinibatchLoss(m, minibatch(batch)).loss, opts);
          return performance.now() - start;
        };
      }
      // The learner's data-parallel step: every row has the same reply tokens, so equal weights.
      const shards = splitShards(batch.ids.map((_, i) => i), workers).map((rows) => ({ payload: minibatch(batch, rows), weight: rows.length / batch.ids.length }));
      let pool: Promise<ModelPool> | undefined;
      return async () => {
        pool ??= ModelPool.start({ policy: m }, workers, backend).then((p) => (pools.push(p), p));
        const p = await pool;
        const start = performance.now();
        await p.step(optimizer, m, 'ppo', shards, opts);
        return performance.now() - start;
      };
    },
    generate: workers > 1 ? undefined : (cfg) => {
      const m = model(cfg);
      const rand = mulberry32(3);
      const prompt = Array.from({ length: PEER.promptTokens }, () => Math.floor(rand() * PEER.vocabSize));
      let seed = 0;
      return async () => {
        const start = performance.now();
        await generate(m, prompt, { numSamples: PEER.candidates, maxNewTokens: PEER.replyTokens, temperature: PEER.temperature, topP: PEER.topP, seed: seed++, eotId: -1 });
        return performance.now() - start;
      };
    },
  };
}

function torch(peer: TorchPeer): Contender {
  let seed = 0;
  const batch = makeBatch(PEER.trainBatch, trainTokens, TRAIN_BATCH_SEED);
  return {
    name: `PyTorch ${peer.threads}T`,
    train: (cfg) => async () => (await peer.ask<{ ms: number }>({ op: 'train', config: cfg, seed: 1, batch, hp: HP })).ms,
    generate: (cfg) => async () =>
      (
        await peer.ask<{ ms: number }>({
          op: 'generate',
          config: cfg,
          seed: seed++,
          promptTokens: PEER.promptTokens,
          newTokens: PEER.replyTokens,
          samples: PEER.candidates,
          temperature: PEER.temperature,
          topP: PEER.topP,
        })
      ).ms,
  };
}

/** Warms each contender up, then runs `rounds` rounds, each timing every contender once, the order rotating. */
async function race(timers: Timer[], rounds: number): Promise<number[][]> {
  for (const time of timers) for (let i = 0; i < PEER.warmups; i++) await time();
  const times: number[][] = timers.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < timers.length; k++) {
      const c = (r + k) % timers.length;
      times[c].push(await timers[c]());
    }
  }
  return times;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const backend = await initBackend();
  const python = pythonPath();
  const peers: TorchPeer[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  const models = new Map<string, GPT>();
  const dir = mkdtempSync(path.join(tmpdir(), 'pairwise-peer-'));
  try {
    let torchVersion = '';
    for (const threads of PEER.torchThreads) {
      const { peer, hello } = await TorchPeer.start(python, threads);
      if (hello.threads !== threads) throw new Error(`peer.py runs ${hello.threads} threads, asked for ${threads}`);
      peers.push(peer);
      torchVersion = `PyTorch ${hello.torch} (Python ${hello.python})`;
    }
    const wasmThreads = backend === 'wasm' && !tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? '1 thread' : 'threads: see backend';
    console.log(`Pairwise: TF.js ${tf.version_core} ${backend} (${wasmThreads}${backend === 'wasm' && tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ', SIMD' : ''}), Node ${process.versions.node}`);
    console.log(`PyTorch:  ${torchVersion} via ${python}, torch.set_num_threads(${PEER.torchThreads.join(') and (')}), OMP_WAIT_POLICY=${ompWaitPolicy()}, in subprocesses`);

    for (const [name, size] of Object.entries(SIZES)) {
      const cfg = { ...size, vocabSize: PEER.vocabSize };
      const theirs = await peers[0].ask<{ params: number }>({ op: 'params', config: cfg });
      if (theirs.params !== countParams(cfg)) throw new Error(`peer.py's ${name} model has ${theirs.params} parameters, Pairwise's ${countParams(cfg)}: the models differ`);
      const diff = await sameModelCheck(peers[0], cfg, dir);
      if (!(diff <= PEER.checkTolerance)) throw new Error(`peer.py's ${name} model computes something else: max |difference| ${diff} on the same weights`);
      console.log(`same model (${name}): ${theirs.params.toLocaleString('en')} parameters each; same weights give logits, values and PPO loss within ${diff.toExponential(1)}`);
    }

    const pools: ModelPool[] = [];
    closers.push(() => Promise.all(pools.map((p) => p.close())));
    const poolTiming = () =>
      pools.map((p) => `Pairwise ${p.size}W ${p === pools[0] ? SIZE_NAMES[0] : SIZE_NAMES[1]} steps: ${(p.timing.stepMs / p.timing.steps).toFixed(0)} ms each, the slowest worker's part ${(p.timing.slowestWorkerMs / p.timing.steps).toFixed(0)} ms`);
    const ours = PEER.pairwiseWorkers.map((w) => pairwise(models, pools, w, backend));
    const theirs = peers.map(torch);
    const contenders = [...ours, ...theirs];
    interface Row {
      what: string;
      tokens: number;
      ms: number[];
    }
    const rows: Row[] = [];
    for (const [name, size] of Object.entries(SIZES)) {
      const cfg = { ...size, vocabSize: PEER.vocabSize };
      const params = `${(countParams(cfg) / 1e6).toFixed(2)}M`;
      const tokens = PEER.trainBatch * trainTokens;
      const train = await race(contenders.map((c) => c.train(cfg)), PEER.trainRounds);
      rows.push({ what: `PPO step, ${name} (${params}), ${PEER.trainBatch}x${trainTokens} tok`, tokens, ms: train.map(median) });
      const generating = contenders.filter((c) => c.generate);
      const gen = (await race(generating.map((c) => c.generate!(cfg)), PEER.generateRounds)).map(median);
      rows.push({ what: `generate ${PEER.candidates}x${PEER.replyTokens} tok, ${name}, KV cache`, tokens: PEER.candidates * PEER.replyTokens, ms: contenders.map((c) => (c.generate ? gen[generating.indexOf(c)]! : NaN)) });
      console.error(`  measured ${name}`);
    }

    const names = contenders.map((c) => c.name);
    const pairs = ours.flatMap((o) => theirs.map((t) => [contenders.indexOf(o), contenders.indexOf(t)] as const));
    const header = ['case', ...names.map((n) => `${n} p50 ms`), ...names.map((n) => `${n} tok/s`), ...pairs.map(([o, t]) => `${names[o]} / ${names[t]}`)];
    const cell = (x: number, f: (x: number) => string) => (Number.isNaN(x) ? '—' : f(x));
    const table = rows.map((r) => [
      r.what,
      ...r.ms.map((ms) => cell(ms, (x) => x.toFixed(x < 100 ? 1 : 0))),
      ...r.ms.map((ms) => cell(ms, (x) => ((r.tokens / x) * 1000).toFixed(0))),
      ...pairs.map(([o, t]) => cell(r.ms[t]! / r.ms[o]!, (x) => `${x.toFixed(2)}x`)),
    ]);
    printTable(
      `medians of ${PEER.trainRounds} (training) and ${PEER.generateRounds} (generation) alternating rounds; ratio = Pairwise tokens/s ÷ PyTorch tokens/s (above 1: Pairwise faster)`,
      header,
      table,
    );
    for (const line of poolTiming()) console.log(line);
    console.log(`load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores as it ended: other work on the machine slows both sides`);
    console.log(JSON.stringify({ rows: rows.map((r) => ({ case: r.what, tokens: r.tokens, p50Ms: Object.fromEntries(names.map((n, i) => [n, Math.round(r.ms[i] * 10) / 10])) })) }));
  } finally {
    for (const close of closers) await close();
    for (const p of peers) p.close();
    for (const m of models.values()) m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`bench:peer: ${err.message}`);
  process.exit(1);
});
