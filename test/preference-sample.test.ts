import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as q from '../src/db/queries.ts';
import type { Prompt } from '../src/db/schema.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { person, seedPrompt, seedVersion, seedVote } from './helpers/seed.ts';

const pause = () => new Promise((r) => setTimeout(r, 20));
const ids = (pairs: { promptId: string }[]) => pairs.map((p) => p.promptId).sort();

describe.each(drivers)('samplePreferencePairs on %s', (driver) => {
  let database: TestDatabase;
  let version: number;
  const decided: Prompt[] = [];

  beforeAll(async () => {
    database = await freshDatabase(driver);
    const db = database.db;
    version = await seedVersion(db, { status: 'live' });
    const prompt = () => seedPrompt(db, { user: person('asker'), versions: [version, version] });
    for (let i = 0; i < 12; i++) {
      const p = await prompt();
      await seedVote(db, p, person('v1'), i % 2 ? 'a' : 'b');
      await seedVote(db, p, person('v2'), i % 2 ? 'a' : 'b');
      if (i % 3 === 0) await seedVote(db, p, person('v3'), i % 2 ? 'b' : 'a'); // a dissent the majority outvotes
      decided.push(p);
    }
    const undecided: string[][] = [
      ['a', 'b'],
      ['tie', 'tie'],
      ['both_bad', 'both_bad', 'a'],
    ];
    for (const choices of undecided) {
      const p = await prompt();
      for (const [i, choice] of choices.entries()) await seedVote(db, p, person(`u${i}`), choice as 'a');
    }
    const withdrawn = await prompt();
    await seedVote(db, withdrawn, person('v1'), 'a');
    await q.withdrawVote(db, withdrawn, person('v1'));
    // A vote from an account flagged as a bot afterwards does not count.
    const botVoted = await prompt();
    await seedVote(db, botVoted, person('later-bot'), 'b');
    await q.upsertUser(db, { ...person('later-bot'), isBot: true });
  });

  afterAll(async () => {
    await database?.close();
  });

  it('samples decided pairs only, each exactly as preferencePairs builds it, at most `count`', async () => {
    const all = await q.preferencePairs(database.db);
    expect(ids(all.pairs)).toEqual(ids(decided.map((p) => ({ promptId: p.id }))));
    const built = new Map(all.pairs.map((p) => [p.promptId, p]));

    const sample = await q.samplePreferencePairs(database.db, { count: 5 });
    expect(sample).toHaveLength(5);
    expect(new Set(ids(sample)).size).toBe(5);
    for (const pair of sample) expect(pair).toEqual(built.get(pair.promptId));

    expect(ids(await q.samplePreferencePairs(database.db, { count: 100 }))).toEqual(ids(all.pairs));
  });

  it('draws at random: repeated samples reach beyond any one of them', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) for (const p of await q.samplePreferencePairs(database.db, { count: 3 })) seen.add(p.promptId);
    // The same 3 of 12 ten times over has probability (1/220)^9.
    expect(seen.size).toBeGreaterThan(3);
  });

  it('with `before`, leaves out exactly the prompts preferencePairs({ since: before }) returns', async () => {
    const db = database.db;
    await pause();
    const before = new Date();
    await pause();
    const changed = decided[1];
    await seedVote(db, changed, person('v1'), 'tie'); // a change of mind after `before`; v2's A still wins
    const fresh = await seedPrompt(db, { user: person('asker'), versions: [version, version] });
    await seedVote(db, fresh, person('v1'), 'a');

    const newer = await q.preferencePairs(db, { since: before });
    expect(ids(newer.pairs)).toEqual(ids([{ promptId: changed.id }, { promptId: fresh.id }]));
    const older = await q.samplePreferencePairs(db, { count: 100, before });
    expect(ids(older)).toEqual(ids(decided.filter((p) => p !== changed).map((p) => ({ promptId: p.id }))));
  });
});
