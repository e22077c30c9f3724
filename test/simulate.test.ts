import { beforeAll, describe, expect, it } from 'vitest';
import { RULES, ruleCompare, runSimulation, simulatedVote, type RoundRecord } from '../src/learn/simulate.ts';
import { initBackend } from '../src/model/backend.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { loadDefaultTokenizer } from '../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES } from '../src/model/transformer.ts';

describe('hidden voting rules', () => {
  it('prefer shorter replies, friendly words, and questions; ties are 0', () => {
    expect(ruleCompare(RULES.shorter, 'ok', 'that is fine')).toBe(1);
    expect(ruleCompare(RULES.shorter, 'that is fine', 'ok')).toBe(-1);
    expect(ruleCompare(RULES.shorter, 'ab', 'cd')).toBe(0);
    expect(ruleCompare(RULES.words, 'What a lovely day', 'What a day')).toBe(1);
    expect(ruleCompare(RULES.words, 'Gladly', 'ok')).toBe(0); // whole words only
    expect(ruleCompare(RULES.question, 'Sure.', 'And you?')).toBe(-1);
    expect(ruleCompare(RULES.question, 'Why? Because.', 'Sure.')).toBe(0); // the reply must end with it
  });

  it('err at the noise rate: a decisive vote flips, a tie becomes A or B', () => {
    const rand = mulberry32(5);
    const votes = Array.from({ length: 4000 }, () => simulatedVote(RULES.shorter, 'ok', 'a longer reply', 0.1, rand));
    const flipped = votes.filter((v) => v === 'b').length / votes.length;
    expect(flipped).toBeGreaterThan(0.08);
    expect(flipped).toBeLessThan(0.12);
    expect(votes.every((v) => v === 'a' || v === 'b')).toBe(true);
    const ties = Array.from({ length: 1000 }, () => simulatedVote(RULES.question, 'a?', 'b?', 0.1, rand));
    expect(new Set(ties)).toEqual(new Set(['tie', 'a', 'b']));
    expect(simulatedVote(RULES.question, 'a?', 'b.', 0, rand)).toBe('a');
  });
});

describe('runSimulation', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('runs the loop end to end on a tiny model: votes through the service, a learner cycle, a measured round', async () => {
    const tokenizer = loadDefaultTokenizer();
    const model = new GPT({ ...MODEL_SIZES.tiny, vocabSize: tokenizer.vocabSize }, { seed: 1 });
    const rounds: RoundRecord[] = [];
    const records = await runSimulation({
      rule: 'shorter',
      votes: 12,
      rounds: 1,
      noise: 0.1,
      seed: 3,
      evalPrompts: 6,
      corpusPath: 'data/corpus.jsonl',
      modelSize: 'tiny',
      sampling: { temperature: 1, topP: 1, maxNewTokens: 8 },
      policy: { model, tokenizer },
      learner: {
        rmEpochs: 1,
        rmMaxReplyTokens: 8,
        maxNewTokens: 8,
        rolloutPrompts: 4,
        rolloutBatchPrompts: 4,
        ppoEpochs: 1,
        minibatchSize: 8,
        gateHeldOutPrompts: 4,
      },
      onRound: (r) => rounds.push(r),
    });
    model.dispose();
    expect(records).toEqual(rounds);
    expect(records.map((r) => r.round)).toEqual([0, 1]);
    const [start, end] = records as [RoundRecord, RoundRecord];
    expect(start.votes).toBe(0);
    expect(start.cycle).toBeNull();
    expect(end.votes).toBe(12);
    expect(end.pairs).toBeGreaterThan(6); // a few votes are ties or land on equal-length replies
    expect(['succeeded', 'rejected']).toContain(end.cycle);
    expect(end.rmRuleAccuracy).not.toBeNull();
    expect(end.rmVoteAccuracy === null || (end.rmVoteAccuracy >= 0 && end.rmVoteAccuracy <= 1)).toBe(true);
    for (const r of records) {
      expect(r.winRate).toBeGreaterThanOrEqual(0);
      expect(r.winRate).toBeLessThanOrEqual(1);
    }
    expect(end.learner).toHaveProperty('gate');
  });
});
