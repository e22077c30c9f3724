// Abuse: one voter cannot outweigh everyone (a per-run cap on the votes that count), accounts
// flagged as bots and people who opted out are never learned from, whenever they voted, and voters
// who disagree with everyone far more than chance are found.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VoteChoice } from '../src/chat/types.ts';
import * as q from '../src/db/queries.ts';
import type { Prompt } from '../src/db/schema.ts';
import { binomialTail, findOutliers, outlierReport, voterAgreement } from '../src/learn/outliers.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { person, seedPrompt, seedVersion, seedVote } from './helpers/seed.ts';

describe('binomial tail', () => {
  it('matches exact values and stays finite for large n', () => {
    expect(binomialTail(10, 8, 0.5)).toBeCloseTo((45 + 10 + 1) / 1024, 12);
    expect(binomialTail(10, 0, 0.3)).toBe(1);
    expect(binomialTail(10, 11, 0.3)).toBe(0);
    expect(binomialTail(5, 1, 0)).toBe(0);
    expect(binomialTail(20_000, 10_500, 0.5)).toBeGreaterThan(0);
    expect(binomialTail(20_000, 10_500, 0.5)).toBeLessThan(1e-10);
    expect(binomialTail(20_000, 9_900, 0.5)).toBeGreaterThan(0.9);
  });

  it('refuses nonsense settings with a clear message', () => {
    expect(() => findOutliers([], { minVotes: 0, alpha: 0.01 })).toThrow(/minVotes >= 1 and 0 < alpha < 1/);
  });
});

describe.each(drivers)('abuse limits on %s', (driver) => {
  let database: TestDatabase;
  let version: number;
  beforeAll(async () => {
    database = await freshDatabase(driver);
    version = await seedVersion(database.db, { status: 'live', kind: 'sft' });
  });
  afterAll(() => database?.close());

  const newPrompt = (asker = 'asker') => seedPrompt(database.db, { user: person(asker), versions: [version, version] });
  /** Moves every vote on `prompt` `minutes` into the past, as if cast then. */
  const age = (prompt: Prompt, minutes: number) => database.db.execute(sql`update votes set updated_at = now() - make_interval(mins => ${minutes}) where prompt_id = ${prompt.id}`);
  const pairIds = async (opts: q.PreferenceOptions) => new Set((await q.preferencePairs(database.db, opts)).pairs.map((p) => p.promptId));

  it('counts only each voter’s most recent votes of the window, and every older vote as before', async () => {
    // Before the last run: the spammer's and an honest voter's votes on `old`.
    const old = await newPrompt();
    await seedVote(database.db, old, person('spammer'), 'b');
    await age(old, 60);
    const since = new Date(Date.now() - 30 * 60_000);
    // Since the last run: 12 spammer votes, one prompt each (ages spread so "most recent" is exact)...
    const spammed: Prompt[] = [];
    for (let i = 0; i < 12; i++) {
      const prompt = await newPrompt();
      await seedVote(database.db, prompt, person('spammer'), 'a');
      await age(prompt, 20 - i);
      spammed.push(prompt);
    }
    // ...and an honest voter who agrees with the spammer's old vote.
    await seedVote(database.db, old, person('honest'), 'b');

    const all = await pairIds({ since });
    expect(all).toEqual(new Set([old.id, ...spammed.map((p) => p.id)]));
    const capped = await q.preferencePairs(database.db, { since, maxVotesPerUser: 3 });
    // The spammer's three newest votes count; the old one counts as before, beside the honest one.
    expect(new Set(capped.pairs.map((p) => p.promptId))).toEqual(new Set([old.id, ...spammed.slice(-3).map((p) => p.id)]));
    expect(capped.pairs.find((p) => p.promptId === old.id)!.votes).toEqual({ a: 0, b: 2, tie: 0, both_bad: 0 });
    // Without a window, the cap takes each voter's newest votes of all time.
    expect(await pairIds({ maxVotesPerUser: 1 })).toEqual(new Set([old.id, spammed.at(-1)!.id]));
    await expect(q.preferencePairs(database.db, { maxVotesPerUser: 0 })).rejects.toThrow(/LEARNER_MAX_VOTES_PER_USER/);
  });

  it('never learns from accounts flagged as bots or people who opted out, even from votes cast before', async () => {
    const prompt = await newPrompt();
    await seedVote(database.db, prompt, person('later-bot'), 'a');
    await seedVote(database.db, prompt, person('later-out'), 'a');
    await seedVote(database.db, prompt, person('person'), 'b');
    expect((await q.preferencePairs(database.db)).pairs.find((p) => p.promptId === prompt.id)?.chosenSlot).toBe('a');
    await q.upsertUser(database.db, { ...person('later-bot'), isBot: true });
    await q.setOptOut(database.db, person('later-out'), true);
    const pair = (await q.preferencePairs(database.db)).pairs.find((p) => p.promptId === prompt.id);
    expect(pair?.votes).toEqual({ a: 0, b: 1, tie: 0, both_bad: 0 });
    expect(pair?.chosenSlot).toBe('b');
  });

  it('finds the voter who disagrees with everyone far more than chance, and only them', async () => {
    const rand = mulberry32(3);
    const honest = Array.from({ length: 8 }, (_, i) => person(`honest-${i}`, 'slack'));
    const contrarian = person('contrarian', 'slack');
    const fresh = person('newcomer', 'slack');
    for (let p = 0; p < 30; p++) {
      const prompt = await newPrompt('outlier-asker');
      const better: VoteChoice = rand() < 0.5 ? 'a' : 'b';
      const worse: VoteChoice = better === 'a' ? 'b' : 'a';
      // Honest voters pick the better reply 85% of the time; the contrarian 10%; the newcomer votes too little to judge.
      for (const voter of honest) await seedVote(database.db, prompt, voter, rand() < 0.85 ? better : worse);
      await seedVote(database.db, prompt, contrarian, rand() < 0.1 ? better : worse);
      if (p < 5) await seedVote(database.db, prompt, fresh, worse);
      if (p % 3 === 0) await seedVote(database.db, prompt, person('tie-voter', 'slack'), 'tie');
    }
    const records = (await voterAgreement(database.db)).filter((r) => r.platform === 'slack');
    const contrarianRecord = records.find((r) => r.externalId === 'contrarian')!;
    // Prompts where the others split evenly have no consensus and do not count.
    expect(contrarianRecord.votes).toBeGreaterThan(25);
    expect(contrarianRecord.votes).toBeLessThanOrEqual(30);
    expect(contrarianRecord.disagreements / contrarianRecord.votes).toBeGreaterThan(0.75);
    expect(records.find((r) => r.externalId === 'tie-voter')).toBeUndefined();

    const report = await outlierReport(database.db, { minVotes: 20, alpha: 0.01 });
    expect(report.outliers.map((o) => o.externalId)).toEqual(['contrarian']);
    expect(report.outliers[0].pValue).toBeLessThan(report.threshold);
    expect(report.tested).toBe(9);
    expect(report.baseRate).toBeGreaterThan(0.1);
    expect(report.baseRate).toBeLessThan(0.3);
  });
});
