import { beforeAll, describe, expect, it } from 'vitest';
import { loadCorpus } from '../src/learn/corpus.ts';
import { sftExample, supervisedLoss, trainSupervised } from '../src/learn/sft.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadDefaultTokenizer, type Turn } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES } from '../src/model/transformer.ts';

const tokenizer = loadDefaultTokenizer();
const tiny = (seed = 1) => new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed });
const dialogues = loadCorpus(new URL('../data/corpus.jsonl', import.meta.url)).slice(0, 8);

beforeAll(async () => {
  await initBackend();
});

describe('sftExample', () => {
  it('targets only bot text and the bot turn eot', () => {
    const { user, bot, eot } = tokenizer.special;
    const hi = tokenizer.encode('hi');
    const hello = tokenizer.encode('Hello!');
    const ex = sftExample(tokenizer, [{ role: 'user', text: 'hi' }, { role: 'bot', text: 'Hello!' }], 64)!;
    expect(ex.ids).toEqual([user, ...hi, eot, bot, ...hello, eot]);
    expect(ex.isTarget).toEqual([false, ...hi.map(() => false), false, false, ...hello.map(() => true), true]);
  });

  it('keeps the newest tokens of a dialogue longer than the context, or drops it without a bot target', () => {
    const long: Turn[] = [{ role: 'user', text: 'word '.repeat(100) }, { role: 'bot', text: 'ok' }];
    const ex = sftExample(tokenizer, long, 16)!;
    expect(ex.ids).toHaveLength(16);
    expect(ex.ids.slice(-2)).toEqual([...tokenizer.encode('ok'), tokenizer.special.eot]);
    expect(sftExample(tokenizer, [{ role: 'bot', text: 'x' }, { role: 'user', text: 'word '.repeat(100) }], 16)).toBeUndefined();
  });
});

describe('trainSupervised', () => {
  it('starts near ln(V) and the loss falls on a handful of dialogues', async () => {
    const model = tiny();
    try {
      const before = await supervisedLoss(model, tokenizer, dialogues);
      expect(Math.abs(before - Math.log(tokenizer.vocabSize))).toBeLessThan(0.5);
      const progress: number[] = [];
      const { losses } = await trainSupervised(model, tokenizer, dialogues, {
        steps: 40,
        batchSize: 4,
        lr: 3e-3,
        seed: 1,
        onProgress: (done, total) => progress.push(done / total),
      });
      expect(losses).toHaveLength(40);
      expect(progress.at(-1)).toBe(1);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(losses.slice(-5))).toBeLessThan(0.6 * mean(losses.slice(0, 5)));
      expect(await supervisedLoss(model, tokenizer, dialogues)).toBeLessThan(0.6 * before);
    } finally {
      model.dispose();
    }
  });

  it('is reproducible for a seed', async () => {
    const run = async () => {
      const model = tiny();
      try {
        return (await trainSupervised(model, tokenizer, dialogues, { epochs: 1, batchSize: 4, lr: 1e-3, seed: 7 })).losses;
      } finally {
        model.dispose();
      }
    };
    const first = await run();
    expect(first).toHaveLength(2); // ceil(1 epoch · 8 dialogues / 4)
    expect(await run()).toEqual(first);
  });

  it('rejects bad options with a clear error', async () => {
    const model = tiny();
    try {
      await expect(trainSupervised(model, tokenizer, dialogues, { batchSize: 4, lr: 1e-3, seed: 1 })).rejects.toThrow(/exactly one of steps or epochs/);
      await expect(trainSupervised(model, tokenizer, dialogues, { steps: 1, batchSize: 0, lr: 1e-3, seed: 1 })).rejects.toThrow(/batchSize/);
      const other = new GPT({ ...MODEL_SIZES.tiny, vocabSize: 300 });
      await expect(trainSupervised(other, tokenizer, dialogues, { steps: 1, batchSize: 4, lr: 1e-3, seed: 1 })).rejects.toThrow(/vocabSize = tokenizer.vocabSize/);
      other.dispose();
    } finally {
      model.dispose();
    }
  });
});
