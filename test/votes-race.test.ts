// No vote lost: a crowd of voters reacting at once through the real ChatService (with a real tiny
// policy answering the messages) leaves exactly the votes each voter last asked for — with
// redelivered events, a voter changing their mind on many prompts at once, and many voters on one
// prompt. On PostgreSQL also through an outage, played by cutting a proxy in front of the server.
// scripts/load-votes.ts runs the same workload with thousands of votes and a real server stop.
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatService, type ServiceOptions } from '../src/chat/service.ts';
import type { ChatReply } from '../src/chat/types.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import type { LivePolicy } from '../src/model/live-policy.ts';
import { countRows, createTestPgDatabase, drivers, dropTestPgDatabase, freshDatabase } from './helpers/db.ts';
import { publishTinyPolicy, startLivePolicy } from './helpers/policy.ts';
import { TcpProxy } from './helpers/tcp-proxy.ts';
import { checkVotes, flagVoters, planVotes, postPrompts, runVotes, type VoteLoadConfig } from './helpers/vote-load.ts';

const RACE: VoteLoadConfig = {
  prompts: 12,
  messageConcurrency: 4,
  voters: 32,
  promptsPerVoter: 4,
  hotPrompts: 3,
  maxActionsPerPair: 4,
  duplicateShare: 0.2,
  concurrency: 24,
  flaggedVoters: 3,
  seed: 11,
};

const serviceOptions = (voteRetryMs: number): ServiceOptions => ({
  maxMessageChars: 2000,
  rateLimitPerMinute: 100_000,
  contextTurns: 4,
  allowVoteOnOwnPrompt: true,
  admins: new Set(),
  voteRetryMs,
});

describe.each(drivers)('a racing crowd of voters on %s', (driver) => {
  let database: Database;
  let policy: LivePolicy;
  let service: ChatService;

  beforeAll(async () => {
    database = await freshDatabase(driver);
    await publishTinyPolicy(database);
    policy = await startLivePolicy(database);
    service = new ChatService(database, policy, serviceOptions(5000));
  });
  afterAll(async () => {
    await policy?.stop();
    await database?.close();
  });

  it('answers each message event once and stores exactly each voter’s last acknowledged reaction', async () => {
    const messages = await postPrompts(service, RACE);
    expect(messages.duplicated).toBeGreaterThan(0);
    expect(messages.inconsistent).toEqual([]);
    expect(await countRows(database, 'prompts')).toBe(RACE.prompts);
    expect(await countRows(database, 'candidates')).toBe(2 * RACE.prompts);

    const plan = planVotes(messages.prompts, RACE);
    await flagVoters(database, plan);
    expect(plan.reactions).toBeGreaterThan(500);
    const votes = await runVotes(service, plan, RACE);
    expect(votes.failures).toEqual([]);
    expect(votes.wrongOutcomes).toEqual([]);
    expect(votes.acknowledged).toBe(plan.reactions);
    const check = await checkVotes(database, plan, votes);
    expect(check.checked).toBe(plan.pairs.length);
    expect(check.mismatches).toEqual([]);
    expect(check.unexpected).toEqual([]);
    // The workload really ends in both states: live votes and withdrawn ones.
    const live = [...votes.expected.values()].filter((v) => v !== null).length;
    expect(live).toBeGreaterThan(plan.pairs.length / 3);
    expect(live).toBeLessThan(plan.pairs.length);
  });
});

describe.runIf(process.env.DATABASE_URL)('votes through a PostgreSQL outage (a cut proxy)', () => {
  const OUTAGE_MS = 1500;
  let url: string;
  let proxy: TcpProxy;
  let database: Database;
  let policy: LivePolicy;
  let service: ChatService;

  beforeAll(async () => {
    url = await createTestPgDatabase();
    const direct = new URL(url);
    proxy = await TcpProxy.start(direct.hostname, Number(direct.port || 5432));
    database = await openDatabase({ url: proxy.via(url), poolSize: 4 });
    await publishTinyPolicy(database);
    policy = await startLivePolicy(database);
    service = new ChatService(database, policy, serviceOptions(30_000));
  });
  afterAll(async () => {
    await policy?.stop();
    await database?.close();
    await proxy?.close();
    if (url) await dropTestPgDatabase(url);
  });

  /** Pool clients not given back although nothing runs: leaked. */
  const checkedOut = () => {
    const pool = (database.db as unknown as { $client: pg.Pool }).$client;
    return pool.totalCount - pool.idleCount;
  };

  it('gives back a pooled client whose transaction fails at BEGIN because the server vanished', async () => {
    const tries = 4;
    // Warm the pool: idle clients whose connections the cut resets before they notice.
    await Promise.all(Array.from({ length: tries }, () => database.db.transaction((tx) => tx.execute(sql`select pg_sleep(0.05)`))));
    proxy.cut();
    const failed = await Promise.all(Array.from({ length: tries }, () => database.db.transaction((tx) => tx.execute(sql`select 1`)).then(() => null, (err: Error) => err)));
    proxy.restore();
    expect(failed.every((err) => err instanceof Error)).toBe(true);
    expect(checkedOut()).toBe(0);
    await Promise.all(Array.from({ length: 8 }, () => database.db.transaction((tx) => tx.execute(sql`select 1`))));
  });

  it('stores every acknowledged vote, tells chatters it is unavailable, and recovers its pool and notifications', async () => {
    const cfg: VoteLoadConfig = { ...RACE, voters: 24, prompts: 10, seed: 12 };
    const messages = await postPrompts(service, cfg);
    const plan = planVotes(messages.prompts, cfg);
    await flagVoters(database, plan);
    let duringOutage: Promise<ChatReply> | undefined;
    let restored: Promise<void> | undefined;
    const votes = await runVotes(service, plan, cfg, (acked) => {
      if (restored || acked < plan.reactions / 3) return;
      proxy.cut();
      const message = service.handleMessage({ user: { platform: 'web', externalId: 'chatter', isBot: false }, channelId: 'c', eventId: 'during-outage', text: 'still there?' });
      duringOutage = message;
      // The server stays away until the message is answered, however busy the pool was.
      restored = Promise.all([message.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))]).then(() => proxy.restore());
    });
    await restored;
    expect(votes.failures).toEqual([]);
    expect(votes.wrongOutcomes).toEqual([]);
    const check = await checkVotes(database, plan, votes);
    expect(check.mismatches).toEqual([]);
    expect(check.unexpected).toEqual([]);
    expect(await duringOutage).toMatchObject({ kind: 'text', text: expect.stringMatching(/briefly unavailable/) });

    expect(checkedOut()).toBe(0);
    // One notification connection again, and a version published after the outage is served.
    const next = await publishTinyPolicy(database, { seed: 5, parentId: policy.liveVersion() });
    await expect.poll(() => policy.liveVersion(), { timeout: 15_000, interval: 100 }).toBe(next.id);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const { rows } = await admin.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'`);
      expect(rows[0].n).toBe(1);
    } finally {
      await admin.end();
    }
  });
});
