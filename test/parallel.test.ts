import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCorpus } from '../src/learn/corpus.ts';
import { splitShards, trainWorkerCount } from '../src/learn/parallel.ts';
import { trainSupervised } from '../src/learn/sft.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES } from '../src/model/transformer.ts';

const tokenizer = loadDefaultTokenizer();
const dialogues = loadCorpus(new URL('../data/corpus.jsonl', import.meta.url)).slice(0, 12);
let backend = '';

beforeAll(async () => {
  backend = await initBackend();
});

describe('trainSupervised with workers', () => {
  const models: GPT[] = [];
  afterAll(() => models.forEach((m) => m.dispose()));

  it('gives the single-thread weights and losses after 3 steps', async () => {
    const train = async (workers: number) => {
      const model = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed: 3 });
      models.push(model);
      // batchSize 5 over 2 workers: unequal shards of unequal token counts exercise the weighting.
      const { losses } = await trainSupervised(model, tokenizer, dialogues, { steps: 3, batchSize: 5, lr: 1e-2, seed: 2, workers });
      return { losses, weights: model.trainableVariables().map((v) => v.dataSync() as Float32Array) };
    };
    const single = await train(1);
    const parallel = await train(2);
    expect(parallel.losses).toHaveLength(3);
    parallel.losses.forEach((l, i) => expect(l).toBeCloseTo(single.losses[i]!, 5));
    let maxDiff = 0;
    let moved = 0;
    const init = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed: 3 });
    models.push(init);
    const start = init.trainableVariables().map((v) => v.dataSync());
    single.weights.forEach((w, i) =>
      w.forEach((x, j) => {
        maxDiff = Math.max(maxDiff, Math.abs(x - parallel.weights[i]![j]!));
        moved = Math.max(moved, Math.abs(x - start[i]![j]!));
      }),
    );
    expect(moved).toBeGreaterThan(1e-2); // training did change the weights
    expect(maxDiff).toBeLessThan(1e-4);
  });
});

describe('GradientPool', () => {
  it('lets the process exit on its own after training (no hanging worker handles)', () => {
    const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    const script = `
      import { initBackend } from ${url('../src/model/backend.ts')};
      import { trainSupervised } from ${url('../src/learn/sft.ts')};
      import { loadCorpus } from ${url('../src/learn/corpus.ts')};
      import { loadDefaultTokenizer } from ${url('../src/model/tokenizer.ts')};
      import { GPT, MODEL_SIZES } from ${url('../src/model/transformer.ts')};
      await initBackend();
      const tokenizer = loadDefaultTokenizer();
      const model = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize });
      const dialogues = loadCorpus(new URL(${url('../data/corpus.jsonl')})).slice(0, 4);
      const { losses } = await trainSupervised(model, tokenizer, dialogues, { steps: 1, batchSize: 4, lr: 1e-3, seed: 1, workers: 2 });
      console.log('losses', losses.length);`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LOG_LEVEL: 'warn' } });
    // A null signal: it exited by itself, not killed by the timeout.
    expect({ status: run.status, signal: run.signal, stderr: run.stderr.slice(-400) }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(run.stdout).toContain('losses 1');
  });
});

describe('splitShards', () => {
  it('splits contiguously into near-equal non-empty shards', () => {
    expect(splitShards([1, 2, 3, 4, 5], 2)).toEqual([[1, 2, 3], [4, 5]]);
    expect(splitShards([1], 3)).toEqual([[1]]);
  });
});

describe('trainWorkerCount', () => {
  it('reads TRAIN_WORKERS, else one per core, and 1 on node-gpu', () => {
    expect(trainWorkerCount(backend, { TRAIN_WORKERS: '3' })).toBe(3);
    expect(trainWorkerCount('node-gpu', {})).toBe(1);
    expect(trainWorkerCount('wasm', {})).toBeGreaterThanOrEqual(1);
    expect(() => trainWorkerCount('wasm', { TRAIN_WORKERS: 'two' })).toThrow(/TRAIN_WORKERS must be a positive integer/);
  });
});
