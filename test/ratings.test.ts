import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withdrawVote } from '../src/db/queries.ts';
import { evaluationComparisons } from '../src/db/reports.ts';
import {
  bootstrapIntervals,
  comparisonFromVote,
  DEFAULT_RATING_CONFIG,
  fitBradleyTerry,
  headToHead,
  parentMatches,
  rateVersions,
  wilsonInterval,
  type Comparison,
} from '../src/learn/ratings.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { person, seedMatch, seedPrompt, seedVersion, seedVote } from './helpers/seed.ts';

const noPrior = { ...DEFAULT_RATING_CONFIG, priorGames: 0 };
const repeat = (n: number, c: Comparison) => Array.from({ length: n }, () => c);

/**
 * Hand-computed case: strengths 4 : 2 : 1 satisfy the Bradley–Terry likelihood equations exactly for
 * 1 beats 2 twice of 3 (one win, two ties), 2 beats 3 twice of 3, 1 beats 3 four times of 5:
 * 1 scores 2 + 4 = 6 = 3·4/6 + 5·4/5; 2 scores 1 + 2 = 3 = 3·2/6 + 3·2/3; 3 scores 1 + 1 = 2 = 3·1/3 + 5·1/5.
 * On the 400·log10 scale around a mean of 1000: 1000 ± 400·log10(2) = 1120.41 / 1000 / 879.59.
 */
const handCase: Comparison[] = [
  { a: 1, b: 2, score: 1 },
  { a: 1, b: 2, score: 0.5 },
  { a: 2, b: 1, score: 0.5 },
  ...repeat(2, { a: 2, b: 3, score: 1 }),
  { a: 3, b: 2, score: 1 },
  ...repeat(4, { a: 1, b: 3, score: 1 }),
  { a: 1, b: 3, score: 0 },
];

describe('Bradley–Terry ratings', () => {
  it('maps votes to comparisons: a/b win, tie half, both-bad and same-version votes say nothing', () => {
    expect(comparisonFromVote({ versionA: 1, versionB: 2, choice: 'a' })).toEqual({ a: 1, b: 2, score: 1 });
    expect(comparisonFromVote({ versionA: 1, versionB: 2, choice: 'b' })).toEqual({ a: 1, b: 2, score: 0 });
    expect(comparisonFromVote({ versionA: 1, versionB: 2, choice: 'tie' })).toEqual({ a: 1, b: 2, score: 0.5 });
    expect(comparisonFromVote({ versionA: 1, versionB: 2, choice: 'both_bad' })).toBeNull();
    expect(comparisonFromVote({ versionA: 3, versionB: 3, choice: 'a' })).toBeNull();
  });

  it('recovers the hand-computed ratings of a three-version case', () => {
    const r = fitBradleyTerry(handCase, noPrior);
    expect(r.get(1)).toBeCloseTo(1000 + 400 * Math.log10(2), 4);
    expect(r.get(2)).toBeCloseTo(1000, 4);
    expect(r.get(3)).toBeCloseTo(1000 - 400 * Math.log10(2), 4);
    expect(r.get(1)).toBeCloseTo(1120.412, 2);
  });

  it('gives 400·log10(3) between two versions that split 3 : 1', () => {
    const r = fitBradleyTerry([...repeat(3, { a: 5, b: 6, score: 1 }), { a: 6, b: 5, score: 1 }], noPrior);
    expect(r.get(5)! - r.get(6)!).toBeCloseTo(400 * Math.log10(3), 4);
    expect((r.get(5)! + r.get(6)!) / 2).toBeCloseTo(1000, 6);
  });

  it('keeps an undefeated version finite with the prior, and ranks it first', () => {
    const r = fitBradleyTerry(repeat(5, { a: 1, b: 2, score: 1 }));
    expect(Number.isFinite(r.get(1)!)).toBe(true);
    expect(r.get(1)! - r.get(2)!).toBeGreaterThan(100);
    expect(r.get(1)! - r.get(2)!).toBeLessThan(1000);
  });

  it('bootstraps seeded intervals that contain the rating and narrow with more votes', () => {
    const small = bootstrapIntervals(handCase);
    expect(bootstrapIntervals(handCase)).toEqual(small);
    const big = [...handCase, ...handCase, ...handCase, ...handCase, ...handCase, ...handCase, ...handCase, ...handCase];
    const report = rateVersions(big, new Map([[1, null], [2, 1], [3, 2]]));
    for (const r of report.ratings) {
      expect(r.low).toBeLessThanOrEqual(r.rating);
      expect(r.high).toBeGreaterThanOrEqual(r.rating);
      const s = small.get(r.versionId)!;
      expect(r.high - r.low).toBeLessThan(s.high - s.low);
    }
    expect(report.ratings.find((r) => r.versionId === 1)!.games).toBe(8 * 8);
    expect(report.comparisons).toBe(big.length);
  });

  it('computes the Wilson interval by hand: 8 of 10 gives [0.4902, 0.9433]', () => {
    const w = wilsonInterval(8, 10);
    expect(w.low).toBeCloseTo(0.4902, 4);
    expect(w.high).toBeCloseTo(0.9433, 4);
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
  });

  it('scores head-to-head records from either side, ties half', () => {
    const h = headToHead(handCase, 2, 1);
    expect(h.games).toBe(3);
    expect(h.wins).toBeCloseTo(1);
    expect(h.winRate).toBeCloseTo(1 / 3);
    expect(headToHead(handCase, 9, 1).games).toBe(0);
  });

  it('alerts only when the whole interval against the parent lies below one half', () => {
    const comparisons = [
      ...repeat(18, { a: 1, b: 2, score: 1 }),
      ...repeat(2, { a: 2, b: 1, score: 1 }),
      ...repeat(6, { a: 3, b: 2, score: 1 }),
      ...repeat(4, { a: 2, b: 3, score: 1 }),
    ];
    const matches = parentMatches(comparisons, new Map([[1, null], [2, 1], [3, 2], [4, 3]]));
    expect(matches.map((m) => m.versionId)).toEqual([2, 3]);
    const [two, three] = matches;
    expect(two.winRate).toBeCloseTo(0.1);
    expect(two.high).toBeLessThan(0.5);
    expect(two.alert).toBe(true);
    expect(three.winRate).toBeCloseTo(0.6);
    expect(three.alert).toBe(false);
  });
});

describe.each(drivers)('evaluation comparisons on %s', (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await freshDatabase(driver);
  });
  afterAll(() => database?.close());

  it('loads live votes of eval and challenger prompts between two versions only', async () => {
    const db = database.db;
    const v1 = await seedVersion(db, { status: 'retired', kind: 'sft' });
    const v2 = await seedVersion(db, { status: 'live', parentId: v1 });
    await seedMatch(db, [v1, v2], ['a', 'b', 'tie', 'both_bad']);
    await seedMatch(db, [v2, v1], ['a'], 'challenger');
    await seedMatch(db, [v2, v2], ['a'], 'eval');
    await seedMatch(db, [v1, v2], ['a'], 'normal');
    const withdrawn = await seedPrompt(db, { user: person('asker'), kind: 'eval', versions: [v1, v2] });
    await seedVote(db, withdrawn, person('fickle'), 'a');
    await withdrawVote(db, withdrawn, person('fickle'));

    const comparisons = await evaluationComparisons(db);
    expect(comparisons).toEqual([
      { a: v1, b: v2, score: 1 },
      { a: v1, b: v2, score: 0 },
      { a: v1, b: v2, score: 0.5 },
      { a: v2, b: v1, score: 1 },
    ]);
  });
});
