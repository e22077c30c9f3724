import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as q from '../src/db/queries.ts';
import { describeRun, liveVotesSinceRun } from '../src/db/reports.ts';
import type { LearnerRun } from '../src/db/schema.ts';
import { formatStatus, statusCommand, statusReport } from '../src/status.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { person, seedMatch, seedPrompt, seedVersion, seedVote } from './helpers/seed.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return { out, err };
}
afterEach(() => vi.restoreAllMocks());

describe('run outcomes', () => {
  const run = (patch: Partial<LearnerRun>): LearnerRun => ({
    id: 1,
    startedAt: new Date(),
    finishedAt: null,
    status: 'running',
    stage: 'start',
    counts: {},
    metrics: {},
    error: null,
    policyVersionId: null,
    rewardModelId: null,
    ...patch,
  });
  it('says what each run came to in a few words', () => {
    expect(describeRun(run({ stage: 'ppo' }))).toBe('running (stage ppo)');
    expect(describeRun(run({ status: 'succeeded', policyVersionId: 7 }))).toBe('succeeded: made v7');
    expect(describeRun(run({ status: 'rejected', error: 'reward fell', metrics: { gate: { pass: false } } }))).toBe('rejected by the gate: reward fell');
    expect(describeRun(run({ status: 'skipped', error: '3 new preference pairs, fewer than the 16 a cycle needs' }))).toBe('skipped: 3 new preference pairs, fewer than the 16 a cycle needs');
    expect(describeRun(run({ status: 'failed', stage: 'reward', error: 'out of memory' }))).toBe('failed at stage reward: out of memory');
  });
});

describe('pairwise status without data', () => {
  it('exits 1 with one line when the database is unreachable, in both output modes', async () => {
    const { out, err } = capture();
    const config = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere', PAIRWISE_DATA_DIR: './unused' };
    expect(await statusCommand(config, false)).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^pairwise status: Cannot connect to PostgreSQL at 127\.0\.0\.1:1\/nowhere \(ECONNREFUSED\)/);
    expect(await statusCommand(config, true)).toBe(1);
    expect(JSON.parse(out[0])).toEqual({ database: { ok: false, error: expect.stringMatching(/Cannot connect/) } });
  });

  it('reports an empty database: no live version, no run, no votes', async () => {
    const { out } = capture();
    expect(await statusCommand({ DATABASE_URL: undefined, PAIRWISE_DATA_DIR: 'memory://' }, true)).toBe(0);
    expect(JSON.parse(out[0])).toEqual({
      database: { ok: true, driver: 'pglite', where: 'memory' },
      live: null,
      lastRun: null,
      votesSinceLastRun: 0,
      alerts: [],
    });
    const text = formatStatus(JSON.parse(out[0]));
    expect(text).toBe(
      ['database   ok: pglite at memory', 'live       none: run `pairwise bootstrap` to train the first policy', 'last run   none yet', 'votes      0 since the start'].join('\n'),
    );
  });
});

describe.each(drivers)('pairwise status on %s', (driver) => {
  let database: TestDatabase;
  let v1: number;
  let v2: number;
  beforeAll(async () => {
    database = await freshDatabase(driver);
    const db = database.db;
    v1 = await seedVersion(db, { status: 'live', kind: 'sft' });
    v2 = await seedVersion(db, { status: 'candidate', parentId: v1 });
    await q.makeLive(db, v2);
    const published = await q.startRun(db);
    await q.finishRun(db, published, 'succeeded', { policyVersionId: v2, metrics: { rmAccuracy: 0.7 } });
    // v2 loses 2 of 20 evaluation votes to its parent: a clear loss.
    await seedMatch(db, [v1, v2], Array.from({ length: 18 }, () => 'a' as const));
    await seedMatch(db, [v1, v2], ['b', 'b']);
    const rejected = await q.startRun(db);
    await q.finishRun(db, rejected, 'rejected', { metrics: { gate: { reason: 'distinct-2 fell to 0.12', distinct2: 0.12 } } });
    await new Promise((r) => setTimeout(r, 20));
    for (const voter of ['x', 'y']) await seedVote(db, await seedPrompt(db, { user: person('asker'), versions: [v2, v2] }), person(voter), 'a');
  });
  afterAll(() => database?.close());

  it('summarises the live version, the last run and the votes since it, with the alert', async () => {
    const report = await statusReport(database);
    expect(report.live).toMatchObject({ id: v2, kind: 'ppo', parentId: v1 });
    expect(report.lastRun).toMatchObject({ status: 'rejected', outcome: 'rejected by the gate: distinct-2 fell to 0.12' });
    expect(report.votesSinceLastRun).toBe(2);
    expect(report.alerts).toHaveLength(1);
    expect(report.alerts[0]).toMatchObject({ versionId: v2, parentId: v1, games: 20, wins: 2, alert: true, command: 'pairwise policy rollback' });
    const text = formatStatus(report);
    expect(text).toMatch(new RegExp(`^database   ok: ${driver} at `));
    expect(text).toContain(`live       v${v2} (ppo, parent v${v1}), published `);
    expect(text).toMatch(/last run   #\d+ rejected by the gate: distinct-2 fell to 0\.12; started .* UTC \(just now\)/);
    expect(text).toContain('votes      2 since the last run started');
    expect(text).toContain(`ALERT      v${v2} wins 10% (95% CI`);
    expect(text).toContain('roll back with `pairwise policy rollback`');
  });

  // The command opens its own connection: only a server database is visible to it.
  if (driver === 'pg') {
    it('runs end to end as a command against the server', async () => {
      const { out } = capture();
      expect(await statusCommand({ DATABASE_URL: database.url, PAIRWISE_DATA_DIR: './unused' }, true)).toBe(0);
      const json = JSON.parse(out[0]);
      expect(json.database).toMatchObject({ ok: true, driver: 'pg' });
      expect(json.live.id).toBe(v2);
      expect(json.votesSinceLastRun).toBe(2);
    });
  }
});

describe.each(drivers)('votes since a run on %s', (driver) => {
  it('compares to the microsecond: a vote in the same millisecond just before the start is not after it', async () => {
    const database = await freshDatabase(driver);
    try {
      const db = database.db;
      const v1 = await seedVersion(db, { status: 'live', kind: 'sft' });
      for (const voter of ['early', 'late']) await seedVote(db, await seedPrompt(db, { user: person('asker'), versions: [v1, v1] }), person(voter), 'a');
      const runId = await q.startRun(db);
      // A test-only write of exact times: the run starts at .000900, one vote came at .000500 (before), one at .000950.
      await db.execute(sql`update learner_runs set started_at = '2030-01-01 00:00:00.0009+00' where id = ${runId}`);
      await db.execute(sql`update votes set updated_at = '2030-01-01 00:00:00.0005+00' where user_id = (select id from users where external_id = 'early')`);
      await db.execute(sql`update votes set updated_at = '2030-01-01 00:00:00.00095+00' where user_id = (select id from users where external_id = 'late')`);
      expect(await liveVotesSinceRun(db, runId)).toBe(1);
      expect(await liveVotesSinceRun(db)).toBe(2);
    } finally {
      await database.close();
    }
  });
});
